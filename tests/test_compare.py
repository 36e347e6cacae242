"""Comparisons: the three kinds, each with its variance; pairing; comparable vs testable; families; R references.

Hand-made indicator rows pin the rules; the real store built from ../shared/data pins the table a user gets and,
against `tests/reference/enpove_design/enpove_design.json` (R `survey`), a within-round contrast with its
covariance and a 2018 → 2022 difference.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipelines.compare import LEVEL, adjust_pvalues, compare_rounds, run_compare, t_test, welch_df
from pipelines.indicators.estimate import run_indicators
from pipelines.indicators.tables import COMPARISONS, CONTRASTS, INDICATORS
from pipelines.store import current_version, read_derived
from tests.helpers import REPO, shared_path

REFERENCE = REPO / "tests" / "reference" / "enpove_design" / "enpove_design.json"


def indicator_rows(rows: list[dict]) -> pl.DataFrame:
    base = dict.fromkeys(INDICATORS)
    base.update(domain="all", domain_value="all", statistic="proportion", unit="proportion", flag="ok",
                theme="health", definition_variant="any_insurance", recall_period="current", df=700.0)
    frame = pl.DataFrame([{**base, **r, "period": r.get("period", r["round"])} for r in rows])
    return frame.select(pl.col(n).cast(t) for n, t in INDICATORS.items())


def insurance(source: str, round_: str, origin: str, estimate: float, se: float | None = None, **kw) -> dict:
    row = dict(indicator_id="no_health_insurance", concept_id="no_health_insurance", source=source, round=round_,
               origin=origin, estimate=estimate, se=se, flag="published" if origin == "published" else "ok",
               ci_low=None if se is None else estimate - 2 * se, ci_high=None if se is None else estimate + 2 * se,
               df=None if se is None else 700.0)
    return {**row, **kw}


def test_p_adjust_matches_r():
    # R: p.adjust(c(0.001, 0.04, 0.03, 0.2), "holm") and "BH"
    p = np.array([0.001, 0.04, 0.03, 0.2])
    assert adjust_pvalues(p, "holm") == pytest.approx([0.004, 0.09, 0.09, 0.2])
    assert adjust_pvalues(p, "bh") == pytest.approx([0.004, 0.16 / 3, 0.16 / 3, 0.2])
    # R: p.adjust(c(.01, .02, .03, .04, .05), "holm")
    assert adjust_pvalues(np.array([.01, .02, .03, .04, .05]), "holm") == pytest.approx([.05, .08, .09, .09, .09])


def test_independent_rounds_difference_se_and_welch_t():
    rows = indicator_rows([insurance("enpove", "2018", "microdata", 0.90, 0.01, df=400.0),
                           insurance("enpove", "2022", "microdata", 0.85, 0.02, df=1300.0)])
    table = compare_rounds(rows)
    assert table.schema == COMPARISONS
    row = table.row(0, named=True)
    assert row["kind"] == "across_rounds" and row["coverage"] == "as_fielded"
    assert row["difference"] == pytest.approx(-0.05) and row["covariance"] == 0
    se = np.hypot(0.01, 0.02)
    df = (0.01 ** 2 + 0.02 ** 2) ** 2 / (0.01 ** 4 / 400 + 0.02 ** 4 / 1300)
    assert row["se_difference"] == pytest.approx(se) and row["df"] == pytest.approx(df)
    assert welch_df(0.01, 400, 0.02, 1300) == pytest.approx(df)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(0.05 / se, df))
    assert row["ci_low"] == pytest.approx(-0.05 - stats.t.ppf(0.975, df) * se)
    assert row["p_adjusted"] == pytest.approx(row["p_value"])  # a family of one
    assert row["family"] == "across_rounds" and row["family_size"] == 1
    assert row["comparable"] and row["testable"] and row["flags"] == ""


@pytest.mark.parametrize("df", [1.0, 2.5, 7.0, 38.6, 412.3, 1e6])
@pytest.mark.parametrize("difference", [-0.31, -1e-4, 0.0, 0.02, 5.0])
def test_t_test_is_scipy_stats_t_to_the_last_bit(difference, df):
    # t_test calls scipy.special's stdtrit / stdtr, as scipy.stats.t does inside, to spare scipy.stats' import.
    se = 0.013
    test = t_test(difference, se, df)
    q = stats.t.ppf(1 - (1 - LEVEL) / 2, df)
    assert test["ci_low"] == difference - q * se and test["ci_high"] == difference + q * se
    assert test["statistic"] == difference / se
    assert test["p_value"] == 2 * stats.t.sf(abs(difference / se), df)


def test_t_test_is_null_without_an_se_or_df():
    empty = {"ci_low": None, "ci_high": None, "statistic": None, "p_value": None}
    assert t_test(0.1, None, 30.0) == t_test(0.1, 0.0, 30.0) == t_test(0.1, 0.01, None) == empty
    assert t_test(0.1, 0.01, 0.0) == t_test(0.1, float("nan"), 30.0) == empty


def test_a_round_compared_with_itself_gives_zero():
    same = dict(indicator_id="internet", concept_id="internet", source="enpove", origin="microdata",
                estimate=0.6, se=0.01, theme="housing", definition_variant="service")
    table = compare_rounds(indicator_rows([{**same, "round": "2022"}, {**same, "round": "2023"}]))
    assert table["difference"].item() == 0 and table["p_value"].item() == pytest.approx(1.0)


def test_microdata_pairs_with_microdata_and_the_published_figure_of_that_round_is_reconciled():
    """The issue's case: 2018 microdata, 2018 published and 2022 microdata together. The design-based
    2018 → 2022 test stays; the published 2018 figure sits beside the 2018 microdata, not in the chain."""
    rows = indicator_rows([insurance("enpove", "2018", "microdata", 0.915, 0.006),
                           insurance("enpove", "2018", "published", 0.915),
                           insurance("enpove", "2022", "microdata", 0.80, 0.01)])
    table = compare_rounds(rows)
    across = table.filter(pl.col("kind") == "across_rounds")
    assert across.select("origin_a", "round_a", "origin_b", "round_b").rows() == [
        ("microdata", "2018", "microdata", "2022")]
    assert across["testable"].item() and across["p_value"].item() < 1e-10
    reconciled = table.filter(pl.col("kind") == "reconciliation").row(0, named=True)
    assert (reconciled["origin_a"], reconciled["round_a"], reconciled["origin_b"], reconciled["round_b"]) == (
        "published", "2018", "microdata", "2018")
    assert reconciled["inside"] and reconciled["comparable"] and not reconciled["testable"]
    assert reconciled["p_value"] is None and reconciled["family"] is None


def test_a_published_figure_is_reconciled_with_real_microdata_only_never_with_a_synthetic_round():
    """A synthetic round carries a real round's name; its estimates say nothing about the published figure."""
    rows = indicator_rows([insurance("enpove", "2018", "synthetic", 0.70, 0.01),
                           insurance("enpove", "2018", "published", 0.915)])
    assert compare_rounds(rows).filter(pl.col("kind") == "reconciliation").is_empty()


def test_a_published_figure_enters_across_rounds_only_without_microdata_and_untested():
    rows = indicator_rows([insurance("enpove", "2018", "published", 0.915),
                           insurance("enpove", "2022", "microdata", 0.80, 0.01)])
    row = compare_rounds(rows).row(0, named=True)
    assert row["kind"] == "across_rounds" and row["origin_a"] == "published"
    assert not row["testable"] and row["se_difference"] is None and row["p_value"] is None
    assert row["comparable"], "same concept, definition, recall and sampling: comparable, only not testable"


def test_another_source_of_the_same_period_is_flagged_for_what_differs():
    rows = indicator_rows([insurance("multisector_lima", "2022", "published", 0.652),
                           insurance("enpove", "2022", "microdata", 0.5, 0.01)])
    row = compare_rounds(rows).row(0, named=True)
    assert row["kind"] == "across_rounds" and not row["testable"]
    assert set(row["flags"].split(";")) == {"universe", "non_probability", "geography"} and not row["comparable"]
    assert "beneficiary_list" in row["reasons"] and "Lima Metropolitana" in row["reasons"]


def test_geography_as_fielded_is_flagged_and_common_coverage_is_not():
    cities = {"2018": ["Lima", "Arequipa", "Cusco"], "2022": ["Lima", "Arequipa", "Piura"]}
    rows = []
    for round_, names in cities.items():
        rows.append(insurance("enpove", round_, "microdata", 0.8, 0.01))
        rows.append(insurance("enpove", round_, "microdata", 0.8, 0.01, domain="coverage", domain_value="common"))
        rows += [insurance("enpove", round_, "microdata", 0.8, 0.02, domain="city", domain_value=c) for c in names]
    table = compare_rounds(indicator_rows(rows)).filter(pl.col("kind") == "across_rounds")
    fielded = table.filter(pl.col("domain") == "all").row(0, named=True)
    assert fielded["flags"] == "geography" and "2018 only: Cusco" in fielded["reasons"]
    assert "2022 only: Piura" in fielded["reasons"]
    common = table.filter(pl.col("domain") == "coverage").row(0, named=True)
    assert common["coverage"] == "common" and common["comparable"]
    assert set(table.filter(pl.col("domain") == "city")["domain_value_a"]) == {"Lima", "Arequipa"}


def test_within_round_rows_carry_the_contrast_covariance():
    rows = indicator_rows([
        insurance("enpove", "2022", "microdata", 0.40, 0.02, domain="sex", domain_value="male"),
        insurance("enpove", "2022", "microdata", 0.46, 0.02, domain="sex", domain_value="female"),
    ])
    contrast = pl.DataFrame([{
        "source": "enpove", "round": "2022", "origin": "microdata", "concept_id": "no_health_insurance",
        "theme": "health", "domain": "sex", "indicator_a": "no_health_insurance", "domain_value_a": "male",
        "indicator_b": "no_health_insurance", "domain_value_b": "female", "estimate_a": 0.40, "se_a": 0.02,
        "n_a": 500, "estimate_b": 0.46, "se_b": 0.02, "n_b": 520, "difference": 0.06,
        "se_difference": float(np.sqrt(0.02 ** 2 * 2 - 2 * 0.0001)), "covariance": 0.0001, "df": 650.0,
        "ci_low": 0.03, "ci_high": 0.09, "p_value": 0.0004,
    }], schema=CONTRASTS)
    row = compare_rounds(rows, contrast).filter(pl.col("kind") == "within_round").row(0, named=True)
    assert row["se_difference"] == pytest.approx(np.sqrt(0.0006)) and row["covariance"] == 0.0001
    # The engine's interval and p-value as stored; the t statistic is the difference over its SE.
    assert (row["ci_low"], row["ci_high"], row["p_value"]) == (0.03, 0.09, 0.0004)
    assert row["statistic"] == pytest.approx(0.06 / np.sqrt(0.0006))
    assert row["se_difference"] < np.hypot(0.02, 0.02), "women and men of one sample are positively correlated"
    assert (row["domain_value_a"], row["domain_value_b"]) == ("male", "female") and row["family"] == "within_round"
    assert row["ci_low_b"] == pytest.approx(0.42), "each side keeps its own interval from the indicator table"


def test_holm_by_default_bh_on_request_within_each_kind():
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
    assert set(holm["family_size"]) == {3}


# ------------------------------------------------------------------ the real rounds in ../shared/data

@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    from pipelines.refresh import refresh

    store = tmp_path_factory.mktemp("compare") / "store"
    assert refresh(shared_path("data"), store).ok
    run_indicators(store)
    run_compare(store)
    return store


def test_every_concept_of_both_enpove_rounds_is_compared_as_fielded_and_on_common_coverage(real_store):
    indicators = read_derived(real_store, "indicators")
    table = read_derived(real_store, "comparisons")
    micro = indicators.filter((pl.col("source") == "enpove") & (pl.col("origin") == "microdata")
                              & (pl.col("domain") == "all") & (pl.col("flag") != "empty"))
    both = set(micro.filter(pl.col("round") == "2018")["indicator_id"]) & set(
        micro.filter(pl.col("round") == "2022")["indicator_id"])
    assert len(both) >= 15
    across = table.filter((pl.col("kind") == "across_rounds") & (pl.col("source_a") == "enpove")
                          & (pl.col("round_a") == "2018") & (pl.col("round_b") == "2022"))
    for coverage, domain in (("as_fielded", "all"), ("common", "coverage")):
        rows = across.filter((pl.col("coverage") == coverage) & (pl.col("domain") == domain))
        assert set(rows["indicator_a"]) >= both, coverage
        assert rows.select("difference", "se_difference", "ci_low", "p_value", "p_adjusted").null_count().row(0) == (
            0, 0, 0, 0, 0)
        assert rows["testable"].all()
    fielded = across.filter(pl.col("domain") == "all")
    assert set(fielded["flags"]) == {"geography"}, "ENPOVE 2018 covered Cusco; 2022 added four cities"
    assert "2018 only: Cusco" in fielded["reasons"][0] and "Chiclayo" in fielded["reasons"][0]
    assert across.filter(pl.col("coverage") == "common")["comparable"].all()


def test_every_indicator_of_each_round_has_within_round_domain_contrasts(real_store):
    indicators = read_derived(real_store, "indicators").filter(pl.col("origin") == "microdata")
    within = read_derived(real_store, "comparisons").filter(pl.col("kind") == "within_round")
    for round_ in ("2018", "2022"):
        measured = indicators.filter((pl.col("round") == round_) & (pl.col("domain") == "all")
                                     & pl.col("statistic").is_in(["proportion", "mean", "prevalence"]))
        contrasted = set(within.filter(pl.col("round_a") == round_)["indicator_b"])
        assert set(measured["indicator_id"]) <= contrasted, round_
    sex = within.filter(pl.col("domain") == "sex")
    assert set(sex.select("domain_value_a", "domain_value_b").rows()) == {("male", "female")}
    crowding = within.filter((pl.col("domain") == "all") & (pl.col("concept_id") == "overcrowding"))
    assert set(crowding.select("indicator_a", "indicator_b").rows()) == {
        ("overcrowding_room", "overcrowding_inei"), ("overcrowding_room", "overcrowding_bedroom")}
    assert (crowding["covariance"] > 0).all(), "two definitions on the same households are correlated"
    ages = within.filter((pl.col("domain") == "age_group") & (pl.col("indicator_b") == "employed")
                         & (pl.col("round_a") == "2018"))
    assert ages.select("domain_value_a", "domain_value_b").rows() == [
        ("14-17", "18-29"), ("18-29", "30-44"), ("30-44", "45-59"), ("45-59", "60+")]


def test_reconciliation_lists_every_published_enpove_figure_with_a_microdata_counterpart(real_store):
    indicators = read_derived(real_store, "indicators")
    table = read_derived(real_store, "comparisons").filter(pl.col("kind") == "reconciliation")
    micro = indicators.filter((pl.col("origin") == "microdata") & (pl.col("domain") == "all"))
    published = indicators.filter((pl.col("origin") == "published") & (pl.col("source") == "enpove"))
    expected = {(r["indicator_id"], r["round"]) for r in published.iter_rows(named=True)
                if micro.filter((pl.col("round") == r["round"]) & (pl.col("concept_id") == r["concept_id"])).height}
    assert expected and {(a, r) for a, r in table.select("indicator_a", "round_a").rows()} == expected
    # INEI's "62,4 % de migrantes" living in one room is a share of persons; the household share is near 70 %.
    one_room = {r["indicator_b"]: r for r in table.filter(pl.col("indicator_a") == "enpove_lives_in_one_room")
                .iter_rows(named=True)}
    assert one_room["lives_in_one_room_dwelling"]["inside"] and one_room["lives_in_one_room_dwelling"]["comparable"]
    households = one_room["one_room_dwelling"]
    assert not households["inside"] and households["estimate_b"] == pytest.approx(0.72, abs=0.01)
    assert "persons_living_in_one_room vs one_room" in households["reasons"]


def test_a_filter_selects_what_is_shown_and_never_rewrites_the_stored_table(real_store):
    before = read_derived(real_store, "comparisons")
    lines = run_compare(real_store, indicator="no_such_indicator")
    after = read_derived(real_store, "comparisons")
    assert after.equals(before) and any("0 of them" in line for line in lines)
    lines = run_compare(real_store, theme="housing")
    assert read_derived(real_store, "comparisons").equals(before)


def test_within_round_contrast_and_across_round_difference_match_r(real_store):
    """R: svyby(~discriminated, ~woman, subset(design), svymean, covmat = TRUE) + svycontrast; and the 2018 → 2022
    difference of two svymean estimates with the package's Welch t (enpove_design.R)."""
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    table = read_derived(real_store, "comparisons")
    designs = {"2018": "enpove_2018", "2022": "enpove_2022_conglomerado"}
    for round_, design in designs.items():
        r = reference["designs"][design]["person"]["contrasts"][0]
        row = table.filter((pl.col("kind") == "within_round") & (pl.col("round_a") == round_)
                           & (pl.col("domain") == "sex") & (pl.col("indicator_b") == "discriminated_since_arrival")
                           ).row(0, named=True)
        assert row["difference"] == pytest.approx(r["estimate"], rel=1e-9)
        assert row["se_difference"] == pytest.approx(r["se"], rel=1e-9)
        assert row["covariance"] == pytest.approx(r["covariance"], rel=1e-9)
        assert row["df"] == r["degf"] and row["p_value"] == pytest.approx(r["p_t"], rel=1e-7)
        assert [row["ci_low"], row["ci_high"]] == pytest.approx(r["ci_t"], rel=1e-9)
    names = {"rented": "rented_dwelling", "discriminated": "discriminated_since_arrival"}
    for r in reference["across_rounds"]:
        row = table.filter((pl.col("kind") == "across_rounds") & (pl.col("domain") == "all")
                           & (pl.col("indicator_a") == names[r["name"]]) & (pl.col("round_a") == "2018")
                           & (pl.col("round_b") == "2022")).row(0, named=True)
        assert row["difference"] == pytest.approx(r["estimate"], rel=1e-9)
        assert row["se_difference"] == pytest.approx(r["se"], rel=1e-9)
        assert row["df"] == pytest.approx(r["welch_df"], rel=1e-9)
        assert row["p_value"] == pytest.approx(r["p_t"], rel=1e-7)
        assert [row["ci_low"], row["ci_high"]] == pytest.approx(r["ci_t"], rel=1e-9)


def test_contrasts_are_stored_by_the_estimate_stage(real_store):
    contrasts = read_derived(real_store, "contrasts")
    assert contrasts.schema == CONTRASTS and current_version(real_store) is not None
    assert set(contrasts["round"]) == {"2018", "2022"}
