"""Comparisons: pairs, difference and SE under independence, adjusted p-values (R's p.adjust), and flags."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipelines.compare import adjust_pvalues, compare_rounds
from pipelines.indicators import estimate_round
from pipelines.published import published_indicators
from pipelines.tables import COMPARISONS, INDICATORS
from tests.test_indicators import REAL


def indicator_rows(rows: list[dict]) -> pl.DataFrame:
    base = dict.fromkeys(INDICATORS)
    base.update(domain="all", domain_value="all", statistic="proportion", unit="proportion", flag="ok",
                theme="health", definition_variant="any_insurance", recall_period="current", period=None)
    frame = pl.DataFrame([{**base, **r, "period": r.get("period", r["round"])} for r in rows])
    return frame.select(pl.col(n).cast(t) for n, t in INDICATORS.items())


def test_p_adjust_matches_r():
    # R: p.adjust(c(0.001, 0.04, 0.03, 0.2), "holm") and "BH"
    p = np.array([0.001, 0.04, 0.03, 0.2])
    assert adjust_pvalues(p, "holm") == pytest.approx([0.004, 0.09, 0.09, 0.2])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.004, 0.16 / 3, 0.16 / 3, 0.2])
    # R: p.adjust(c(.01, .02, .03, .04, .05), "holm")
    assert adjust_pvalues(np.array([.01, .02, .03, .04, .05]), "holm") == pytest.approx([.05, .08, .09, .09, .09])


def test_difference_se_and_test_of_independent_rounds():
    rows = indicator_rows([
        dict(indicator_id="no_health_insurance", concept_id="no_health_insurance", source="enpove", round="2018",
             origin="microdata", estimate=0.90, se=0.01),
        dict(indicator_id="no_health_insurance", concept_id="no_health_insurance", source="enpove", round="2022",
             origin="microdata", estimate=0.85, se=0.02),
    ])
    table = compare_rounds(rows)
    assert table.schema == COMPARISONS
    row = table.row(0, named=True)
    assert row["kind"] == "consecutive_rounds" and row["difference"] == pytest.approx(-0.05)
    assert row["se_difference"] == pytest.approx(np.hypot(0.01, 0.02))
    z = -0.05 / np.hypot(0.01, 0.02)
    assert row["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert row["p_adjusted"] == pytest.approx(row["p_value"])  # a family of one
    assert row["comparable"] and row["flags"] == ""


def test_a_round_compared_with_itself_gives_zero():
    same = dict(indicator_id="internet", concept_id="internet", source="enpove", origin="microdata",
                estimate=0.6, se=0.01, theme="housing", definition_variant="service")
    table = compare_rounds(indicator_rows([{**same, "round": "2022"}, {**same, "round": "2023"}]))
    assert table["difference"].item() == 0 and table["p_value"].item() == pytest.approx(1.0)


def test_published_side_gets_no_se_and_is_flagged():
    rows = indicator_rows([
        dict(indicator_id="no_health_insurance", concept_id="no_health_insurance", source="multisector_lima",
             round="2022", origin="published", estimate=0.652, flag="published"),
        dict(indicator_id="no_health_insurance", concept_id="no_health_insurance", source="enpove", round="2022",
             origin="microdata", estimate=0.5, se=0.01),
    ])
    row = compare_rounds(rows).row(0, named=True)
    assert row["kind"] == "same_period_sources"
    assert row["se_difference"] is None and row["p_value"] is None and row["p_adjusted"] is None
    assert set(row["flags"].split(";")) == {"universe", "non_probability", "published"}
    assert "beneficiary_list" in row["reasons"]


def test_holm_by_default_bh_on_request():
    rows = indicator_rows([
        dict(indicator_id=f"x{i}", concept_id=f"x{i}", source="enpove", round=r, origin="microdata",
             estimate=e, se=0.01)
        for i, (e1, e2) in enumerate([(0.5, 0.53), (0.5, 0.52), (0.4, 0.41)])
        for r, e in (("2018", e1), ("2022", e2))
    ])
    holm, bh = compare_rounds(rows), compare_rounds(rows, adjust="bh")
    p = holm["p_value"].to_numpy()
    assert holm["p_adjusted"].to_numpy() == pytest.approx(adjust_pvalues(p, "holm"))
    assert bh["p_adjusted"].to_numpy() == pytest.approx(adjust_pvalues(p, "bh"))
    assert set(holm["adjust_method"]) == {"holm"} and set(bh["adjust_method"]) == {"bh"}


def test_comparison_table_spans_the_published_rounds_and_enpove_2022(real_enpove_2022, enpove_2022_spec):
    """ENPOVE 2018, EM 2019/2021/2022 (published) and ENPOVE 2022 (real microdata for housing and food; the
    fixture round for health insurance, whose module 400 we lack in real form) for the three headline concepts."""
    from tests.test_enpove_2022_modules import FIXTURES, _harmonise

    _, real = real_enpove_2022
    fixture = _harmonise(enpove_2022_spec, FIXTURES / "modules")
    table = pl.concat([
        estimate_round(real.households, real.persons, REAL),
        estimate_round(fixture.households, fixture.persons, REAL, theme="health"),
        published_indicators(),
    ])
    comparisons = compare_rounds(table)
    overall = comparisons.filter(pl.col("domain") == "all")
    for concept in ("no_health_insurance", "overcrowding", "food_insecurity_moderate_severe"):
        rows = overall.filter(pl.col("concept_id") == concept)
        sides = set(zip(rows["source_a"], rows["round_a"])) | set(zip(rows["source_b"], rows["round_b"]))
        assert ("enpove", "2022") in sides, concept
        assert any(s == "multisector_lima" for s, _ in sides), concept
    insurance = overall.filter(pl.col("concept_id") == "no_health_insurance")
    rounds = set(zip(insurance["source_a"], insurance["round_a"])) | set(zip(insurance["source_b"], insurance["round_b"]))
    assert {("enpove", "2018"), ("multisector_lima", "2019"), ("multisector_lima", "2021"),
            ("multisector_lima", "2022"), ("enpove", "2022")} <= rounds
    enpove = insurance.filter((pl.col("source_a") == "enpove") & (pl.col("source_b") == "enpove"))
    assert enpove["kind"].to_list() == ["consecutive_rounds"] and "published" in enpove["flags"].item()
    food = overall.filter((pl.col("concept_id") == "food_insecurity_moderate_severe")
                          & (pl.col("source_b") == "multisector_lima") & (pl.col("round_b") == "2022")
                          & (pl.col("source_a") == "enpove"))
    assert "definition" in food["flags"].item()
    crowding = overall.filter((pl.col("concept_id") == "overcrowding") & (pl.col("indicator_a") == "overcrowding_bedroom"))
    assert crowding.height > 0 and all("definition" in f for f in crowding["flags"])
