"""Estimate: each catalogue definition checked on the real ENPOVE 2022 modules against numbers computed here
straight from INEI's files (plain polars, no crosswalk), and on the fixture round for the modules we lack.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from pipelines.derive import code_of
from pipelines.fies import ITEMS, equate_to_global_standard, fit_rasch
from pipelines.indicators.catalogue import load_catalogue
from pipelines.indicators.estimate import RoundContext, estimate_round
from pipelines.indicators.tables import INDICATORS
from tests.helpers import shared_path

HOUSEHOLDS = "Características de la vivienda y del hogar.csv"
RESIDENTS = "Características de los residentes del hogar.csv"
REAL = RoundContext("enpove", "2022", "microdata", "adjust", date(2022, 2, 1), "II ENPOVE 2022")


@pytest.fixture(scope="module")
def real_table(real_enpove_2022):
    _, result = real_enpove_2022
    return estimate_round(result.households, result.persons, REAL)


@pytest.fixture(scope="module")
def raw_households() -> pl.DataFrame:
    """Responding households straight from INEI's file, with their resident counts from module 200."""
    raw = pl.read_csv(shared_path("data", "enpove", "2022", HOUSEHOLDS), infer_schema=False)
    residents = pl.read_csv(shared_path("data", "enpove", "2022", RESIDENTS), infer_schema=False)
    sizes = residents.group_by("CONGLOMERADO", "VIVIENDA", "NHOGAR").agg(pl.len().alias("size"))
    return (
        raw.filter(code_of(pl.col("RESFIN")).is_in(["1", "2"]) & code_of(pl.col("P15")).eq("1"))
        .join(sizes, on=["CONGLOMERADO", "VIVIENDA", "NHOGAR"], how="left")
        .with_columns(pl.col("factorfinal").cast(pl.Float64).alias("w"))
    )


def weighted_share(frame: pl.DataFrame, condition: pl.Expr) -> float:
    return frame.select((condition.cast(pl.Float64) * pl.col("w")).sum() / pl.col("w").sum()).item()


def overall(table: pl.DataFrame, indicator_id: str) -> dict:
    rows = table.filter((pl.col("indicator_id") == indicator_id) & (pl.col("domain") == "all"))
    assert rows.height == 1, f"{indicator_id}: {rows.height} overall rows"
    return rows.row(0, named=True)


CODE_CHECKS = {
    "internet": code_of(pl.col("P108_4")) == "1",
    "rented_dwelling": code_of(pl.col("P107")) == "1",
    "water_network_inside": code_of(pl.col("P108_1")) == "1",
    "sanitation_network_inside": code_of(pl.col("P108_2")) == "1",
    "electricity": code_of(pl.col("P108_3")) == "1",
    "one_room_dwelling": pl.col("P105").cast(pl.Int32) == 1,
    "overcrowding_room": pl.col("size") / pl.col("P105").cast(pl.Float64) > 3,
    "overcrowding_inei": pl.col("size") / pl.col("P105").cast(pl.Float64) > 3.4,
    "overcrowding_bedroom": pl.col("size") / pl.max_horizontal(pl.col("P106").cast(pl.Float64), 1) > 3,
    "fies_worried": code_of(pl.col("P112_1")) == "1",
    "fies_healthy": code_of(pl.col("P112_2")) == "2",  # reversed: could NOT eat healthy food
    "fies_whlday": code_of(pl.col("P112_8")) == "1",
}


@pytest.mark.parametrize("indicator_id", sorted(CODE_CHECKS))
def test_household_indicator_matches_inei_file(real_table, raw_households, indicator_id):
    row = overall(real_table, indicator_id)
    assert row["estimate"] == pytest.approx(weighted_share(raw_households, CODE_CHECKS[indicator_id]), rel=1e-12)
    assert row["n"] == 3739
    assert row["se"] > 0 and row["ci_low"] < row["estimate"] < row["ci_high"]
    assert row["origin"] == "microdata" and row["flag"] == "ok"


def test_every_measured_household_indicator_is_estimated(real_table):
    catalogue = load_catalogue()
    household = {i.indicator_id for i in catalogue.indicators if i.unit == "household" and i.numerator}
    assert household <= set(real_table["indicator_id"])
    assert real_table.schema == INDICATORS


def test_person_indicators_absent_when_their_module_is_missing(real_table):
    """The real files lack modules 300-800: those indicators have no row ("no registra"), not a zero."""
    assert "no_health_insurance" not in set(real_table["indicator_id"])


def test_raw_score_distributions_sum_to_one(real_table, raw_households):
    for indicator_id, top in (("fies_raw_score_8", 8), ("fies_raw_score_7", 7)):
        rows = real_table.filter(pl.col("indicator_id") == indicator_id)
        assert rows["domain"].unique().to_list() == ["raw_score"]
        assert sorted(rows["domain_value"].cast(pl.Int32).to_list()) == list(range(top + 1))
        assert rows["estimate"].sum() == pytest.approx(1.0, abs=1e-12)
    insecure = sum(code_of(pl.col(f"P112_{k}")).eq("2" if k == 2 else "1").cast(pl.Int32) for k in range(1, 9))
    eight = real_table.filter((pl.col("indicator_id") == "fies_raw_score_8") & (pl.col("domain_value") == "8"))
    assert eight["estimate"].item() == pytest.approx(weighted_share(raw_households, insecure == 8), rel=1e-12)


def test_fies_prevalence_equals_the_rasch_model_on_the_raw_file(real_table, raw_households):
    answers = raw_households.select(
        (code_of(pl.col(f"P112_{k}")).eq("2" if k == 2 else "1")).cast(pl.Float64).alias(item)
        for k, item in enumerate(ITEMS, start=1)
    )
    equating = equate_to_global_standard(fit_rasch(answers, raw_households["w"].to_numpy()))
    assert overall(real_table, "fies_moderate_severe")["estimate"] == pytest.approx(
        equating.prevalence_moderate_severe, rel=1e-9)
    assert overall(real_table, "fies_severe")["estimate"] == pytest.approx(equating.prevalence_severe, rel=1e-9)
    individual = overall(real_table, "fies_severe_individuals")
    probs = equating.probability_by_raw_score
    score = answers.sum_horizontal().cast(pl.Int64)
    p = score.to_frame("raw_score").join(probs, on="raw_score", how="left")["p_severe"].to_numpy()
    w = raw_households["w"].to_numpy() * raw_households["size"].to_numpy()
    assert individual["estimate"] == pytest.approx(float(np.sum(w * p) / np.sum(w)), rel=1e-9)


def test_domains_partition_the_universe(real_table):
    total = overall(real_table, "internet")["weighted_n"]
    for domain in ("city", "lima"):
        rows = real_table.filter((pl.col("indicator_id") == "internet") & (pl.col("domain") == domain))
        assert rows["weighted_n"].sum() == pytest.approx(total, rel=1e-12)
    assert set(real_table.filter(pl.col("domain") == "lima")["domain_value"]) == {"Lima", "rest"}


def test_person_indicators_on_the_fixture_round(enpove_2022_fixture_round):
    """Modules 300-800 come from fixtures in INEI's layout: numerators and universes checked by hand-built masks."""
    result = enpove_2022_fixture_round
    table = estimate_round(result.households, result.persons, REAL)
    persons = result.persons.with_columns(pl.col("weight").alias("w"))
    migrants = persons.filter(pl.col("migrant") & pl.col("has_health_insurance").is_not_null())
    assert overall(table, "no_health_insurance")["estimate"] == pytest.approx(
        weighted_share(migrants, ~pl.col("has_health_insurance")), rel=1e-12)
    adults = persons.filter(
        pl.col("migrant") & (pl.col("age") >= 14) & pl.col("worked_last_week").is_not_null()
        & (pl.col("worked_last_week") | pl.col("has_job_to_return")).is_not_null()
    )
    employed = pl.col("worked_last_week") | pl.col("has_job_to_return")
    assert overall(table, "employed")["estimate"] == pytest.approx(weighted_share(adults, employed), rel=1e-12)
    assert overall(table, "employed")["n"] == adults.height
    workers = adults.filter(employed & pl.col("has_contract_or_receipt").is_not_null())
    assert overall(table, "informal")["estimate"] == pytest.approx(
        weighted_share(workers, ~pl.col("has_contract_or_receipt")), rel=1e-12)
    assert overall(table, "informal")["flag"] == "small_n"  # a 60-person fixture is below the reliability threshold


def _filtered_share(frame: pl.DataFrame, indicator, catalogue) -> float | None:
    """The indicator as a plain weighted mean over the rows of its universe (filter first, then average)."""
    from pipelines.indicators.estimate import universe_expr

    inside = frame.filter(universe_expr(catalogue.universes[indicator.universe]).fill_null(False))
    inside = inside.filter(pl.col(indicator.numerator).is_not_null())
    if inside.height == 0:
        return None
    weight = "weight_individuals" if indicator.statistic == "fies_prevalence_individuals" else "weight"
    return inside.select((pl.col(indicator.numerator).cast(pl.Float64) * pl.col(weight)).sum()
                         / pl.col(weight).sum()).item()


def _filtered_median(frame: pl.DataFrame, indicator, catalogue) -> float | None:
    """R svyquantile's rule on the rows of the universe: the smallest value whose weight share reaches one half."""
    from pipelines.indicators.estimate import universe_expr

    inside = frame.filter(universe_expr(catalogue.universes[indicator.universe]).fill_null(False)
                          & pl.col(indicator.numerator).is_not_null()).sort(indicator.numerator)
    if inside.height == 0:
        return None
    share = inside["weight"].cum_sum() / inside["weight"].sum()
    return inside.filter(share >= 0.5)[indicator.numerator][0]


def test_every_catalogue_indicator_equals_its_filtered_weighted_mean(real_enpove_2022, enpove_2022_fixture_round):
    """Universes zero weights rather than drop rows; for the point estimate that must equal filtering first.
    Household indicators on the real modules, person indicators on the fixture round (modules 300-800)."""
    from pipelines.indicators.estimate import _prepare_households, _prepare_persons

    catalogue = load_catalogue()
    _, real = real_enpove_2022
    fixture = enpove_2022_fixture_round
    frames = {
        "household": _prepare_households(real.households, catalogue),
        "person": _prepare_persons(fixture.persons, fixture.households, catalogue, REAL),
    }
    tables = {"household": estimate_round(real.households, real.persons, REAL),
              "person": estimate_round(fixture.households, fixture.persons, REAL)}
    checked = 0
    for indicator in catalogue.indicators:
        if not indicator.numerator or indicator.statistic == "distribution":
            continue
        if indicator.statistic == "median":
            expected = _filtered_median(frames[indicator.unit], indicator, catalogue)
        else:
            expected = _filtered_share(frames[indicator.unit], indicator, catalogue)
        rows = tables[indicator.unit].filter(
            (pl.col("indicator_id") == indicator.indicator_id) & (pl.col("domain") == "all"))
        if expected is None:
            assert rows.height == 0, f"{indicator.indicator_id}: a row for a universe with no answers"
            continue
        assert rows["estimate"].item() == pytest.approx(expected, rel=1e-10, abs=1e-12), indicator.indicator_id
        checked += 1
    assert checked >= 35
