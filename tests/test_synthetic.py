"""Synthetic II ENPOVE 2022 round: read and harmonised by the real pipeline, INEI's layout, universes, determinism."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipelines.harmonise import harmonise_round
from pipelines.read import CONSOLIDATED, find_module_files, read_module, read_round
from pipelines.specs import load_round_spec
from pipelines.synthetic import is_synthetic_round, write_synthetic_round
from pipelines.synthetic.settings import read_layout

SPEC_DIR = Path(__file__).resolve().parents[1] / "surveys" / "enpove_2022"
FORMATS = ("csv", "csv_bare", "sav")
HOUSEHOLDS = 400  # small and fast; big enough for every stratum to get several PSUs
REAL_WEIGHTED_MIGRANTS = 1_078_853.5  # data README: the generator calibrates the weights to it


@pytest.fixture(scope="module")
def spec(enpove_2022_spec):
    return enpove_2022_spec


@pytest.fixture(scope="module")
def by_format(tmp_path_factory, spec):
    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic_round(out, households=HOUSEHOLDS, seed=7, formats=FORMATS, spec=spec)
    return out


def _harmonise(spec, folder):
    return harmonise_round(spec, read_round(folder, spec), synthetic=is_synthetic_round(folder))


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle))


def test_every_format_harmonises_to_identical_tables(spec, by_format):
    rounds = {fmt: _harmonise(spec, by_format / fmt) for fmt in FORMATS}
    first = rounds["csv"]
    assert first.households.height == HOUSEHOLDS
    assert first.households["synthetic"].all() and first.persons["synthetic"].all()
    for fmt in FORMATS[1:]:
        assert rounds[fmt].households.equals(first.households), fmt
        assert rounds[fmt].persons.equals(first.persons), fmt


def test_consolidated_file_harmonises_like_separate_modules(spec, tmp_path):
    write_synthetic_round(tmp_path / "a", households=HOUSEHOLDS, seed=3, spec=spec)
    write_synthetic_round(tmp_path / "b", households=HOUSEHOLDS, seed=3, spec=spec, consolidated=True)
    assert sorted(find_module_files(tmp_path / "b", spec)) == ["100", CONSOLIDATED]
    a, b = _harmonise(spec, tmp_path / "a"), _harmonise(spec, tmp_path / "b")
    assert a.households.equals(b.households)
    assert a.persons.equals(b.persons)


def test_headers_follow_layout_csv(spec, by_format):
    layout = read_layout(SPEC_DIR)
    found = find_module_files(by_format / "csv", spec)
    assert sorted(found) == sorted(spec.main_modules())
    for module, file in found.items():
        assert _header(file.path) == list(layout[module]), module
        assert file.path.read_bytes().startswith(b"\xef\xbb\xbf")


def test_csv_writes_code_label_and_single_space_blanks(by_format):
    frame = pl.read_csv(by_format / "csv" / "Características de los residentes del hogar.csv", infer_schema=False)
    assert frame["P204"].str.contains(r"^[12]\.(Hombre|Mujer)$").all()
    infants = frame.filter(pl.col("P205_A") == " ")
    assert infants.height > 0 and (infants["P205_B"] != " ").all()
    assert frame["CONGLOMERADO"].str.contains(r"^\d{5}$").all()
    assert "factorfinal" in frame.columns


def test_keys_unique_and_universes_respected(spec, by_format):
    folder = by_format / "csv_bare"
    found = find_module_files(folder, spec)
    residents = read_module(found["200"], ("CONGLOMERADO", "VIVIENDA", "NHOGAR", "P200_N", "P205_A", "P208")).frame
    age = residents["P205_A"].cast(pl.Int16).fill_null(0)
    migrants = residents.with_columns(age.alias("age")).filter(pl.col("P208") == "1")
    for module, min_age in {"300": 0, "500": 3, "600": 5, "700": 5, "800": 18}.items():
        frame = read_module(found[module], spec.person_key).frame
        assert not frame.is_duplicated().any(), module
        expected = migrants.filter(pl.col("age") >= min_age).select(spec.person_key)
        assert frame.sort(spec.person_key).equals(expected.sort(spec.person_key)), module
    households = read_module(found["100"], spec.household_key).frame
    assert not households.is_duplicated().any()


def test_fies_items_correlate_positively(spec, by_format):
    households = _harmonise(spec, by_format / "csv").households
    items = households.select(pl.col("^fies_.*$").cast(pl.Int8)).to_numpy()
    corr = np.corrcoef(items.T)
    assert (corr[np.triu_indices_from(corr, 1)] > 0).all()
    raw = pl.read_csv(by_format / "csv_bare" / "Características de la vivienda y del hogar.csv", infer_schema=False)
    answered = raw.filter(pl.col("P112_1") != " ")
    # P112_2 is reverse-worded: "1" (could eat healthy food) goes with "2" (not worried) on P112_1.
    assert np.corrcoef(answered["P112_1"].cast(pl.Int8), answered["P112_2"].cast(pl.Int8))[0, 1] < 0


def _digest(folder: Path) -> dict[str, str]:
    """Bytes of each file (a .sav header is stamped with the round's fieldwork start, not the time of writing)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files(spec, tmp_path):
    for name in ("a", "b"):
        write_synthetic_round(tmp_path / name, households=150, seed=11, formats=FORMATS, spec=spec)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    write_synthetic_round(tmp_path / "c", households=150, seed=12, formats=FORMATS, spec=spec)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_thousand_households_have_the_expected_scale(spec, tmp_path):
    write_synthetic_round(tmp_path, households=1000, seed=2022, spec=spec)
    assert is_synthetic_round(tmp_path)
    result = _harmonise(spec, tmp_path)
    households, persons = result.households, result.persons
    assert households.height == 1000
    assert 3.0 <= persons.height / 1000 <= 3.6  # mean household size about 3.3
    assert 0.90 <= persons["migrant"].mean() <= 0.96
    weighted = persons.filter("migrant")["weight"].sum()
    assert weighted == pytest.approx(REAL_WEIGHTED_MIGRANTS, rel=1e-6)
    assert households["city"].n_unique() == 8 and households["lima_zone"].drop_nulls().n_unique() == 5
    assert households.group_by("stratum").agg(pl.col("psu").n_unique())["psu"].min() >= 2
    assert 0.85 <= (households["tenure"] == "rented").mean() <= 0.95
    assert 0.45 <= (persons["sex"] == "female").mean() <= 0.55


def test_marker_is_required(tmp_path):
    assert not is_synthetic_round(tmp_path)


def test_generator_names_no_source_variable():
    """A round is data: no column of any round's layout appears as a string literal in the generator's Python."""
    import ast

    root = Path(__file__).resolve().parents[1]
    layouts = [read_layout(path.parent) for path in root.glob("surveys/*/layout.csv")]
    columns = {c for layout in layouts for module_columns in layout.values() for c in module_columns}
    named = set()
    for path in (root / "pipelines" / "synthetic").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in columns:
                named.add(f"{path.name}: {node.value}")
    assert not named


def test_settings_are_read_from_the_round_folder(spec, tmp_path):
    """Changing the round folder's synthetic/ data changes the output: nothing is left in the generator's code."""
    import shutil

    folder = tmp_path / "spec"
    shutil.copytree(SPEC_DIR, folder)
    settings = folder / "synthetic" / "synthetic.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace("1078853.5", "2000000"), encoding="utf-8")
    write_synthetic_round(tmp_path / "out", folder, households=200, seed=1)
    result = _harmonise(load_round_spec(folder), tmp_path / "out")
    assert result.persons.filter("migrant")["weight"].sum() == pytest.approx(2_000_000, rel=1e-6)
