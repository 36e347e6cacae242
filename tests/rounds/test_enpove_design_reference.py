"""The package's design-based estimates on the real ENPOVE rounds, built by its own pipeline, against R `survey`.

The reference is `tests/reference/enpove_design/enpove_design.json`, written by `enpove_design.R` beside it from
INEI's raw files (base R and `foreign`, independently of the package; CI never runs R). Three designs, each with
``options(survey.lonely.psu = "adjust")``, as household and person designs (persons carry their household's
stratum, PSU and weight):

* ``enpove_2022_segment``: INEI's SPSS module 100 (with ``SEGMENTO``) and the other 2022 modules; PSU = city x Lima
  zone x ``SEGMENTO`` (ficha tecnica 2.9: the segment is the only sampling unit), strata = city x Lima zone;
* ``enpove_2022_conglomerado``: the labelled CSV folder, which has no ``SEGMENTO``: PSU = ``CONGLOMERADO``;
* ``enpove_2018``: complete households, PSU = ``CONGLOMERADO``, strata = ``CIUDADES_DE_ESTUDIO``.

Each round folder is assembled in a temporary raw folder from symbolic links to ../shared (nothing is copied),
refreshed into a temporary store with `pipelines.refresh.refresh`, read back with `scan_table`, and estimated with
`SurveyDesign(..., lonely_psu="adjust")` on the harmonised columns. Domains go through ``by=`` (the whole design is
kept, as R's ``subset``); df is R's ``degf`` of the subset design and must agree exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from pipelines.estimation import SurveyDesign
from tests.helpers import REPO, shared_path

REFERENCE = REPO / "tests" / "reference" / "enpove_design" / "enpove_design.json"

# The project's parity target with R (docs/parity.md). R writes 15 significant digits; the package agrees to ~1e-15
# on these designs when given the same frames.
REL_R = 1e-6

CSV_100_2022 = "Características de la vivienda y del hogar.csv"
SPSS_100_2022 = "ENPOVE2022_V_100 Características de la vivienda y del hogar.sav"
DATA_FILES = (".csv", ".sav", ".dta")


def _link_folder(source: Path, target: Path) -> None:
    """The round folder as it is."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)


def _segment_round(target: Path) -> None:
    """INEI's SPSS module 100 (with SEGMENTO) and every other 2022 module, without the labelled CSV module 100."""
    target.mkdir(parents=True)
    spss = shared_path("data_spss", "enpove", "2022", SPSS_100_2022)
    (target / spss.name).symlink_to(spss)
    for path in sorted(shared_path("data", "enpove", "2022").iterdir()):
        if path.name != CSV_100_2022 and path.suffix.lower() in DATA_FILES:
            (target / path.name).symlink_to(path)


@dataclass(frozen=True)
class Round:
    round: str
    build: Callable[[Path], None]
    module_100: str  # the file the household module must come from
    psu: tuple[str, ...]  # the PSU option the manifest must record (source columns)


ROUNDS = {
    "enpove_2022_segment": Round("2022", _segment_round, SPSS_100_2022, ("CIUDAD", "CONO", "SEGMENTO")),
    "enpove_2022_conglomerado": Round(
        "2022", lambda target: _link_folder(shared_path("data", "enpove", "2022"), target), CSV_100_2022,
        ("CONGLOMERADO",),
    ),
    "enpove_2018": Round(
        "2018",
        lambda target: _link_folder(shared_path("data", "enpove", "2018"), target),
        "ENPOVE_Capitulo 100 - Carctaerísticas de la Vivienda y del Hogar.sav.sav",
        ("CONGLOMERADO",),
    ),
}


@dataclass(frozen=True)
class Indicator:
    """How the package estimates one R reference case from the harmonised columns."""

    table: str  # households | persons
    verb: str  # mean | proportion
    value: pl.Expr
    migrant: bool | None = None  # the domain: the `migrant` row of by="migrant"; None = the whole table


MIGRANT_FEMALE = pl.col("sex") == "female"
INDICATORS = {
    "internet": Indicator("households", "proportion", pl.col("internet")),
    "rented": Indicator("households", "proportion", pl.col("tenure") == "rented"),
    "electricity": Indicator("households", "proportion", pl.col("electricity")),
    "hh_size": Indicator("households", "mean", pl.col("hh_size")),
    "women": Indicator("persons", "proportion", MIGRANT_FEMALE, migrant=True),
    "women_non_migrants": Indicator("persons", "proportion", MIGRANT_FEMALE, migrant=False),
    # Null outside module 700 (migrants aged 5+) and where P701 is blank: out of the domain, as R's subset.
    "discriminated": Indicator("persons", "proportion", pl.col("discriminated_since_arrival"), migrant=True),
    # P401_5 = 1 ("not affiliated") is has_health_insurance = False.
    "no_health_insurance": Indicator("persons", "proportion", ~pl.col("has_health_insurance"), migrant=True),
}

LEVELS = {"household": "households", "person": "persons"}


def _reference() -> dict:
    assert REFERENCE.exists(), f"{REFERENCE} is missing: run tests/reference/enpove_design/enpove_design.R"
    return json.loads(REFERENCE.read_text(encoding="utf-8"))


def _cases() -> list[tuple[str, str, str]]:
    """(design, level, estimate name) of every reference case; a missing reference fails at collection."""
    reference = _reference()
    return [
        (design, level, case["name"])
        for design, spec in reference["designs"].items()
        for level in LEVELS
        for case in spec[level]["estimates"]
    ]


CASES = _cases()


@pytest.fixture(scope="module")
def reference() -> dict:
    return _reference()


@pytest.fixture(scope="module")
def harmonised(tmp_path_factory):
    """design name -> {"households": frame, "persons": frame, "manifest": dict}, refreshed once per design."""
    from pipelines.refresh import refresh
    from pipelines.store import scan_table

    cache: dict[str, dict] = {}

    def get(design: str) -> dict:
        if design not in cache:
            spec = ROUNDS[design]
            root = tmp_path_factory.mktemp(design)
            spec.build(root / "raw" / "enpove" / spec.round)
            store = root / "store"
            report = refresh(root / "raw", store)
            assert report.ok, report.failed
            assert report.written == [f"enpove/{spec.round}"]
            tables = {
                table: scan_table(store, table, source="enpove", round_=spec.round).collect()
                for table in LEVELS.values()
            }
            manifest = json.loads((store / "manifest.json").read_text(encoding="utf-8"))
            cache[design] = {**tables, "manifest": manifest["rounds"][f"enpove/{spec.round}"]}
        return cache[design]

    return get


def _design(frame: pl.DataFrame) -> SurveyDesign:
    return SurveyDesign(frame, weight="weight", strata="stratum", psu="psu", lonely_psu="adjust")


def _close(ours: float, theirs: float) -> bool:
    return math.isclose(ours, theirs, rel_tol=REL_R, abs_tol=0.0)


def test_every_reference_case_is_mapped(reference):
    names = {case["name"] for spec in reference["designs"].values() for level in LEVELS
             for case in spec[level]["estimates"]}
    assert names <= set(INDICATORS), f"reference cases without a package indicator: {names - set(INDICATORS)}"
    assert set(reference["designs"]) == set(ROUNDS)
    assert reference["options"]["survey.lonely.psu"] == "adjust"


@pytest.mark.parametrize("design", sorted(ROUNDS))
def test_household_module_and_psu_are_the_expected_ones(design, harmonised):
    """The segment design needs INEI's SPSS module 100 (the only file with SEGMENTO) to be the one read, and the
    manifest to say which PSU option the round used."""
    manifest = harmonised(design)["manifest"]
    inputs = {i["module"]: i["file"] for i in manifest["inputs"]}
    assert inputs["100"] == ROUNDS[design].module_100
    assert tuple(manifest["design"]["psu"]) == ROUNDS[design].psu


@pytest.mark.parametrize("level", sorted(LEVELS))
@pytest.mark.parametrize("design", sorted(ROUNDS))
def test_whole_design_matches_r(design, level, harmonised, reference):
    expected = reference["designs"][design][level]
    frame = harmonised(design)[LEVELS[level]]
    survey = _design(frame)
    assert frame.height == expected["rows"]
    assert frame["psu"].n_unique() == expected["psus"]
    assert frame["stratum"].n_unique() == expected["strata"]
    assert survey.degf == expected["degf"]
    assert len(survey.lonely_strata) == expected["lonely_strata"]


@pytest.mark.parametrize(("design", "level", "name"), CASES)
def test_estimate_matches_r(design, level, name, harmonised, reference):
    expected = next(c for c in reference["designs"][design][level]["estimates"] if c["name"] == name)
    indicator = INDICATORS[name]
    assert LEVELS[level] == indicator.table
    frame = harmonised(design)[indicator.table].with_columns(indicator.value.alias("y"))
    survey = _design(frame)
    by = None if indicator.migrant is None else "migrant"

    def one_row(result: pl.DataFrame) -> dict:
        if by is not None:
            result = result.filter(pl.col("migrant") == indicator.migrant)
        assert result.height == 1
        return result.row(0, named=True)

    if indicator.verb == "mean":
        t_row = one_row(survey.mean("y", by=by))
        logit_row = None
    else:
        t_row = one_row(survey.proportion("y", by=by, ci="wald"))
        logit_row = one_row(survey.proportion("y", by=by, ci="logit"))

    got = {
        "estimate": t_row["estimate"], "se": t_row["se"], "weighted_n": t_row["weighted_n"],
        "ci_t": [t_row["ci_low"], t_row["ci_high"]],
    }
    if logit_row is not None:
        got["ci_logit"] = [logit_row["ci_low"], logit_row["ci_high"]]
    want = {k: expected[k] for k in got}
    assert (t_row["df"], t_row["n"]) == (expected["degf"], expected["n"]), (got, want)
    for key in ("estimate", "se", "weighted_n"):
        assert _close(got[key], want[key]), f"{key}: ours {got[key]!r}, R {want[key]!r}"
    for key in ("ci_t", "ci_logit"):
        if key in got:
            assert all(_close(a, b) for a, b in zip(got[key], want[key])), f"{key}: ours {got[key]}, R {want[key]}"
