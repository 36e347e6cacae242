"""Synthetic ENPOVE 2018 round: INEI's 2018 SPSS chapters, stored by refresh; the embedded default holds both rounds."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from pipelines.compare import run_compare
from pipelines.indicators.estimate import run_indicators
from pipelines.read import find_module_files
from pipelines.refresh import refresh, refresh_embedded_default
from pipelines.store import current_version, read_manifest
from pipelines.synthetic import is_synthetic_round, synthetic_specs, write_synthetic_round
from pipelines.synthetic.settings import load_settings, read_layout

SPEC_DIR = Path(__file__).resolve().parents[1] / "surveys" / "enpove_2018"
HOUSEHOLDS = 400
REAL_WEIGHTED_MIGRANTS = 630_715.4  # data README: P207 = 1 weighted by FACTOR_DE_EXPANSION


@pytest.fixture(scope="module")
def spec(enpove_2018_spec):
    return enpove_2018_spec


@pytest.fixture(scope="module")
def stored(tmp_path_factory, spec):
    raw = tmp_path_factory.mktemp("raw18")
    write_synthetic_round(raw / "enpove" / "2018", spec, households=HOUSEHOLDS, seed=18)
    store = raw.parent / f"{raw.name}-store"
    report = refresh(raw, store)
    return raw / "enpove" / "2018", store, report


def test_files_are_inei_2018_chapters_in_layout_order(spec, stored):
    folder, _, _ = stored
    settings = load_settings(SPEC_DIR)
    layout = read_layout(SPEC_DIR)
    found = find_module_files(folder, spec)
    assert sorted(found) == sorted(m for m in settings.files if m in layout)
    for module, file in found.items():
        assert file.path.name == f"{settings.files[module]}.sav.sav"
        _, meta = pyreadstat.read_sav(str(file.path), metadataonly=True, output_format="polars")
        assert meta.column_names == list(layout[module]), module
    assert is_synthetic_round(folder)


def test_refresh_stores_the_2018_round_as_synthetic(spec, stored):
    _, store, report = stored
    assert report.ok, report.failed
    assert report.written == ["enpove/2018"]
    households = pl.read_parquet(current_version(store) / "households")
    persons = pl.read_parquet(current_version(store) / "persons")
    assert households.height == HOUSEHOLDS
    assert households["synthetic"].all() and persons["synthetic"].all()
    assert read_manifest(store)["enpove/2018"].synthetic
    assert persons.filter("migrant")["weight"].sum() == pytest.approx(REAL_WEIGHTED_MIGRANTS, rel=1e-6)
    assert 2.4 <= persons.height / HOUSEHOLDS <= 3.0  # real: 2.66 residents per household
    assert set(households["city"]) == {"Lima", "Arequipa", "Cusco", "Trujillo", "Tumbes"}
    assert households.group_by("stratum").agg(pl.col("psu").n_unique())["psu"].min() >= 2  # lonely_psu: fail


def test_long_parts_and_universes(spec, stored):
    _, store, report = stored
    persons = pl.read_parquet(current_version(store) / "persons")
    migrants = persons.filter("migrant")
    # 300_318: every migrant is asked, a migrant without a row left no one behind (0, False).
    counted = [v.harmonised_var for v in spec.variables if v.module in spec.modules
               and spec.modules[v.module].unit == "person_long" and v.rule == "count_rows"]
    for column in counted:
        assert migrants[column].null_count() == 0 and migrants[column].max() >= 2, column
    checks = [re.search(r"(\d+) rows outside it, (\d+) persons of it without a row", n)
              for n in report.notes["enpove/2018"]]
    assert [m.groups() for m in checks if m] == [("0", "0")] * 6  # modules 300-800 hold exactly their universes


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    store = tmp_path_factory.mktemp("embedded") / "store"
    return store, refresh_embedded_default(store)


def test_embedded_default_holds_both_rounds_synthetic(embedded):
    store, report = embedded
    names = {s.name for s in synthetic_specs()}
    assert {"enpove/2018", "enpove/2022"} <= names
    assert report.ok, report.failed
    assert sorted(report.written) == sorted(names)
    manifest = read_manifest(store)
    assert all(manifest[name].synthetic for name in names)
    persons = pl.read_parquet(current_version(store) / "persons")
    assert persons["synthetic"].all() and set(persons["round"]) == {"2018", "2022"}
    assert refresh_embedded_default(store).unchanged == sorted(names)  # deterministic: a rerun does no work


def test_embedded_default_compares_the_two_rounds(embedded):
    store, _ = embedded
    run_indicators(store)
    run_compare(store)
    comparisons = pl.read_parquet(current_version(store) / "comparisons")
    across = comparisons.filter((pl.col("source_a") == "enpove") & (pl.col("source_b") == "enpove"))
    assert {frozenset(p) for p in across.select("round_a", "round_b").rows()} >= {frozenset({"2018", "2022"})}
