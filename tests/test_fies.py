"""FIES Rasch model and equating (``pipelines.fies``) checked against FAO's R package RM.weights 2.0.

The reference files in ``../shared/reference/fies/`` hold, for RM.weights' four sample countries, the
results of::

    library(RM.weights)
    data(data.FAO_country1); XX <- as.matrix(data.FAO_country1[, 1:8]); wt <- data.FAO_country1$wt
    rr <- RM.w(XX, wt)            # beta = rr$b, se_beta = rr$se.b, theta = rr$a, se_theta = rr$se.a, ...
    ee <- equating.fun(rr)        # equate_scale = ee$scale, equate_shift = ee$shift, equate_prevs = ee$prevs

They are read in place; a missing file fails the test (it never skips).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.errors import DesignError, SchemaViolation, SurveysError
from pipelines.fies import (
    GLOBAL_STANDARD_2014_2016,
    ITEMS,
    ITEMS_7,
    elementary_symmetric_functions,
    equate_to_global_standard,
    fit_rasch,
    respondent_probabilities,
)

REFERENCE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "fies"
COUNTRIES = [1, 2, 3, 4]

# Tolerances (achieved deviations are in docs/fies.md).
# R maximises the conditional likelihood with optim(BFGS) on finite-difference gradients and stops at a
# relative change of 1e-8; the README states 2e-4 as what an independent implementation meets.
ITEM_SEVERITY_TOL = 2e-4
# Item SEs, infit and outfit are smooth functions of the severities; a 2e-4 shift in the severities
# moves them by well under these bounds.
ITEM_SE_TOL = 1e-5
ITEM_FIT_TOL = 1e-4
# R estimates the 7 non-extreme raw-score severities jointly by optim(BFGS) with numerical gradients,
# which stops up to ~7e-3 short of the optimum (test_raw_score_severities_solve_the_ml_equations shows
# that ours is the exact optimum and R's is not); SEs (1/sqrt of the information at theta) follow.
RAW_SCORE_SEVERITY_TOL = 1e-2
RAW_SCORE_SE_TOL = 5e-3
# Reliability is a ratio of variances of those raw-score severities and SEs.
RELIABILITY_TOL = 1e-3
# README: equating scale/shift 1e-3; the adjusted thresholds are (threshold - shift) / scale.
EQUATING_TOL = 1e-3
CORRELATION_TOL = 1e-4
# README: prevalences 5e-3; they inherit the raw-score severity differences above.
PREVALENCE_TOL = 5e-3
# Weighted sums by raw score involve no estimation: only floating-point error.
EXACT_TOL = 1e-9


def load_country(country: int) -> tuple[pl.DataFrame, dict]:
    """Return RM.weights' sample data for ``country`` and R's results on it."""
    data = pl.read_csv(REFERENCE_DIR / f"FAO_country{country}.csv")
    reference = json.loads((REFERENCE_DIR / f"r_reference_country{country}.json").read_text())
    return data, reference


def fit_country(country: int, item_names: tuple[str, ...] = ITEMS):
    data, reference = load_country(country)
    model = fit_rasch(data, data["wt"].to_numpy(), item_names=item_names)
    return data, reference, model


def max_abs_diff(ours, theirs) -> float:
    return float(np.max(np.abs(np.asarray(ours, dtype=float) - np.asarray(theirs, dtype=float))))


@pytest.mark.parametrize("country", COUNTRIES)
def test_csv_is_the_data_r_was_given(country):
    data, reference = load_country(country)
    ours = data.select(ITEMS).to_numpy().astype(float)
    theirs = np.array([[np.nan if v in (None, "NA") else v for v in row] for row in reference["data"]], float)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_allclose(data["wt"].to_numpy(), reference["weights"], rtol=1e-12)
    assert list(reference["items"]) == list(ITEMS)


@pytest.mark.parametrize("country", COUNTRIES)
def test_item_parameters_match_rm_w(country):
    _, reference, model = fit_country(country)
    assert model.n_nonextreme == reference["n_complete"]
    assert max_abs_diff(model.item_severity, reference["beta"]) < ITEM_SEVERITY_TOL
    assert max_abs_diff(model.item_se, reference["se_beta"]) < ITEM_SE_TOL
    assert max_abs_diff(model.infit, reference["infit"]) < ITEM_FIT_TOL
    assert max_abs_diff(model.outfit, reference["outfit"]) < ITEM_FIT_TOL
    assert abs(model.item_severity.sum()) < 1e-10


@pytest.mark.parametrize("country", COUNTRIES)
def test_raw_score_parameters_match_rm_w(country):
    _, reference, model = fit_country(country)
    assert reference["pseudo_extreme"] == [model.extreme_offset, len(ITEMS) - model.extreme_offset]
    assert max_abs_diff(model.raw_score_severity, reference["theta"]) < RAW_SCORE_SEVERITY_TOL
    assert max_abs_diff(model.raw_score_se, reference["se_theta"]) < RAW_SCORE_SE_TOL
    assert max_abs_diff(model.raw_score_weight, reference["weighted_raw_score_dist"]) < EXACT_TOL
    assert abs(model.reliability - reference["reliab"]) < RELIABILITY_TOL
    assert abs(model.reliability_flat - reference["reliab_fl"]) < RELIABILITY_TOL


def expected_score(severity: np.ndarray, theta: float) -> float:
    return float(np.sum(1.0 / (1.0 + np.exp(severity - theta))))


@pytest.mark.parametrize("country", COUNTRIES)
def test_raw_score_severities_solve_the_ml_equations(country):
    """Ours solve sum_j P_j(theta_r) = r exactly (0.5 and k - 0.5 for the extremes); R's do so less well."""
    _, reference, model = fit_country(country)
    k = len(ITEMS)
    targets = np.concatenate([[0.5], np.arange(1, k), [k - 0.5]])
    ours = [expected_score(model.item_severity, t) for t in model.raw_score_severity]
    theirs = [expected_score(np.asarray(reference["beta"]), t) for t in reference["theta"]]
    assert max_abs_diff(ours, targets) < 1e-10
    assert max_abs_diff(ours, targets) <= max_abs_diff(theirs, targets)


@pytest.mark.parametrize("spread", [0.1, 1.0, 4.0, 12.0])
def test_raw_score_severity_solver_reaches_machine_precision(spread):
    """Newton with a bisection guard: the root to a few ulps of the expected score, even with items so far apart
    that the expected score is flat between them (where a bare Newton step shoots out of [-50, 50])."""
    from pipelines.fies.rasch import _severity_for_score

    rng = np.random.default_rng(int(spread * 10))
    for _ in range(50):
        severity = rng.normal(0.0, spread, 8)
        severity -= severity.mean()
        for score in [0.5, *rng.uniform(0.01, 7.99, 5), 7.5]:
            theta = _severity_for_score(severity, score)
            assert abs(expected_score(severity, theta) - score) < 1e-13


@pytest.mark.parametrize("country", COUNTRIES)
def test_equating_matches_equating_fun(country):
    _, reference, model = fit_country(country)
    eq = equate_to_global_standard(model)
    assert abs(eq.scale - reference["equate_scale"]) < EQUATING_TOL
    assert abs(eq.shift - reference["equate_shift"]) < EQUATING_TOL
    expected_common = tuple(i for i, c in zip(ITEMS, reference["equate_common"]) if c == "Common")
    assert eq.common == expected_common
    assert set(eq.unique) == set(ITEMS) - set(expected_common)
    assert max_abs_diff(eq.country_thresholds, reference["equate_adj_thres"]) < EQUATING_TOL
    assert abs(eq.correlation - reference["equate_correlation"]) < CORRELATION_TOL
    assert eq.thresholds == (GLOBAL_STANDARD_2014_2016["ATELESS"], GLOBAL_STANDARD_2014_2016["WHLDAY"])


@pytest.mark.parametrize("country", COUNTRIES)
def test_prevalences_match_equating_fun(country):
    _, reference, model = fit_country(country)
    eq = equate_to_global_standard(model)
    ours = [eq.prevalence_moderate_severe, eq.prevalence_severe]
    assert max_abs_diff(ours, reference["equate_prevs"]) < PREVALENCE_TOL


@pytest.mark.parametrize("country", COUNTRIES)
def test_weighted_mean_of_respondent_probabilities_gives_the_prevalences(country):
    data, reference, model = fit_country(country)
    eq = equate_to_global_standard(model)
    probs = respondent_probabilities(data, eq)
    assert probs.height == data.height
    complete = data.select(pl.all_horizontal(pl.col(ITEMS).is_not_null())).to_series()
    assert probs["raw_score"].is_null().to_list() == (~complete).to_list()
    weighted = pl.concat([probs, data.select("wt")], how="horizontal").filter(complete).select(
        (pl.col(c) * pl.col("wt")).sum() / pl.col("wt").sum() for c in ("p_moderate_severe", "p_severe")
    ).row(0)
    assert max_abs_diff(weighted, [eq.prevalence_moderate_severe, eq.prevalence_severe]) < EXACT_TOL
    assert max_abs_diff(weighted, reference["equate_prevs"]) < PREVALENCE_TOL


@pytest.mark.parametrize("country", COUNTRIES)
def test_seven_item_variant_equates_on_the_shared_items(country):
    data, _, model = fit_country(country, ITEMS_7)
    eq = equate_to_global_standard(model)
    assert model.items == ITEMS_7 and len(model.raw_score_severity) == 8
    assert set(eq.common) | set(eq.unique) == set(ITEMS_7)
    assert eq.probability_by_raw_score["raw_score"].to_list() == list(range(8))
    from_array = fit_rasch(data.select(ITEMS_7).to_numpy(), data["wt"].to_numpy(), item_names=ITEMS_7)
    np.testing.assert_allclose(from_array.item_severity, model.item_severity, atol=1e-12)
    assert respondent_probabilities(data, eq).height == data.height


def test_elementary_symmetric_functions_of_ones_are_binomial_coefficients():
    np.testing.assert_allclose(elementary_symmetric_functions(np.ones(8)), [math.comb(8, r) for r in range(9)])


def test_results_are_immutable():
    _, _, model = fit_country(1)
    with pytest.raises(ValueError):
        model.item_severity[0] = 0.0
    with pytest.raises(AttributeError):
        model.reliability = 0.0


def test_nulls_and_nans_are_the_same_incomplete_cases():
    data, _, model = fit_country(3)
    as_array = fit_rasch(data.select(ITEMS).to_numpy().astype(float), data["wt"].to_numpy())
    np.testing.assert_array_equal(as_array.item_severity, model.item_severity)
    assert model.n_complete == data.drop_nulls(ITEMS).height


def test_bad_inputs_fail_with_the_package_errors():
    data, _ = load_country(1)
    weights = data["wt"].to_numpy()
    with pytest.raises(SchemaViolation, match="0/1"):
        fit_rasch(data.with_columns(pl.col("HUNGRY") * 2), weights)
    with pytest.raises(SchemaViolation, match="missing"):
        fit_rasch(data.drop("WHLDAY"), weights)
    with pytest.raises(DesignError):
        fit_rasch(data, -weights)
    with pytest.raises(DesignError):
        fit_rasch(data, weights[:-1])


def test_an_item_nobody_endorses_is_not_identified():
    answers, weights = simulate(7)
    answers[:, ITEMS.index("WHLDAY")] = np.where(np.isnan(answers[:, 0]), np.nan, 0.0)
    with pytest.raises(SurveysError, match="not identified"):
        fit_rasch(answers, weights)


def test_equating_the_standard_to_itself_is_the_identity():
    _, _, model = fit_country(1)
    standard = np.array([GLOBAL_STANDARD_2014_2016[item] for item in ITEMS])
    eq = equate_to_global_standard(dataclasses.replace(model, item_severity=standard))
    assert math.isclose(eq.scale, 1.0) and abs(eq.shift) < 1e-12
    assert eq.common == ITEMS and eq.unique == ()
    np.testing.assert_allclose(eq.country_thresholds, eq.thresholds)


def test_one_displaced_item_is_flagged_unique_and_left_out_of_scale_and_shift():
    """equating.fun's rule: an item 0.35 or more from the standard (after standardising) is unique."""
    _, _, model = fit_country(1)
    standard = np.array([GLOBAL_STANDARD_2014_2016[item] for item in ITEMS])
    country = (standard - 0.2) / 1.3
    country[ITEMS.index("HUNGRY")] += 1.0
    eq = equate_to_global_standard(dataclasses.replace(model, item_severity=country))
    assert eq.unique == ("HUNGRY",)
    assert math.isclose(eq.scale, 1.3) and math.isclose(eq.shift, 0.2)


def simulate(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Rasch answers for the global-standard items and lognormal weights (seeded by hypothesis)."""
    rng = np.random.default_rng(seed)
    severity = np.array([GLOBAL_STANDARD_2014_2016[item] for item in ITEMS])
    theta = rng.normal(0.0, 1.5, n)
    answers = (rng.random((n, len(ITEMS))) < 1 / (1 + np.exp(severity - theta[:, None]))).astype(float)
    answers[rng.random((n, len(ITEMS))) < 0.01] = np.nan
    return answers, rng.lognormal(0.0, 0.5, n)


PROPERTY_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), factor=st.floats(1e-3, 1e3))
def test_scaling_the_weights_changes_nothing(seed, factor):
    answers, weights = simulate(seed)
    base = equate_to_global_standard(fit_rasch(answers, weights))
    scaled = equate_to_global_standard(fit_rasch(answers, weights * factor))
    assert math.isclose(base.scale, scaled.scale, rel_tol=1e-9)
    assert math.isclose(base.prevalence_severe, scaled.prevalence_severe, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(base.prevalence_moderate_severe, scaled.prevalence_moderate_severe, rel_tol=1e-9)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_probabilities_are_proportions_and_severities_rise_with_the_raw_score(seed):
    """Probabilities need not rise with the raw score: a low score's larger SE fattens its upper tail."""
    answers, weights = simulate(seed)
    model = fit_rasch(answers, weights)
    probs = equate_to_global_standard(model).probability_by_raw_score
    for column in ("p_moderate_severe", "p_severe"):
        p = probs[column].to_numpy()
        assert p[0] == 0.0 and np.all((p >= 0) & (p <= 1))
    assert np.all(probs["p_severe"].to_numpy() <= probs["p_moderate_severe"].to_numpy())
    assert np.all(np.diff(model.raw_score_severity) > 0)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(seed):
    answers, weights = simulate(seed)
    order = np.random.default_rng(seed).permutation(len(weights))
    base, permuted = fit_rasch(answers, weights), fit_rasch(answers[order], weights[order])
    np.testing.assert_allclose(base.item_severity, permuted.item_severity, atol=1e-10)
    np.testing.assert_allclose(base.raw_score_severity, permuted.raw_score_severity, atol=1e-10)
