"""`SurveyDesign.contrast`: identities and input handling (R parity is in test_r_extra.py)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.errors import DesignError
from pipelines.estimation import SurveyDesign
from tests.estimation.helpers import designs

REL_IDENTITY = 1e-10  # exact in real arithmetic; only summation order differs


def _dclus1(frame: pl.DataFrame, **kw) -> SurveyDesign:
    return SurveyDesign(frame, weight="pw", psu="dnum", fpc="fpc", **kw)


def test_sides_are_the_domain_estimates(apiclus1: pl.DataFrame) -> None:
    """``estimate_a``/``se_a``/``estimate_b``/``se_b`` are `mean(by=)`'s rows; estimate is their difference;
    ``se^2 = se_a^2 + se_b^2 - 2 cov_ab``."""
    design = _dclus1(apiclus1)
    means = design.mean("api00", by="stype")
    got = design.contrast("api00", by="stype", pairs=[("E", "H")]).row(0, named=True)
    e = means.filter(pl.col("stype") == "E").row(0, named=True)
    h = means.filter(pl.col("stype") == "H").row(0, named=True)
    assert (got["a"], got["b"], got["variable"]) == ("E", "H", "api00")
    assert got["estimate_a"] == pytest.approx(e["estimate"], rel=REL_IDENTITY)
    assert got["se_b"] == pytest.approx(h["se"], rel=REL_IDENTITY)
    assert got["estimate"] == pytest.approx(e["estimate"] - h["estimate"], rel=REL_IDENTITY)
    var = got["se_a"] ** 2 + got["se_b"] ** 2 - 2 * got["cov_ab"]
    assert got["se"] ** 2 == pytest.approx(var, rel=1e-8)
    assert (got["n_a"], got["n_b"]) == (e["n"], h["n"])
    assert got["ci_low"] < got["estimate"] < got["ci_high"]
    assert 0 <= got["p_value"] <= 1


def test_domains_in_separate_strata_are_independent(apistrat: pl.DataFrame) -> None:
    """Domains that are whole strata share no PSU: covariance 0, se = sqrt(se_a^2 + se_b^2)."""
    design = SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc")
    got = design.contrast("api00", by="stype", pairs=[("E", "M")]).row(0, named=True)
    assert abs(got["cov_ab"]) < 1e-9 * got["se_a"] * got["se_b"]
    assert got["se"] == pytest.approx(np.hypot(got["se_a"], got["se_b"]), rel=REL_IDENTITY)


def test_contrast_of_a_variable_with_itself_or_a_shift(apiclus1: pl.DataFrame) -> None:
    """mean(y) - mean(y) = 0 with SE 0; mean(y) - mean(y + 5) = -5 with SE 0 (same units, same scores)."""
    frame = apiclus1.with_columns(api_copy=pl.col("api00"), api_shift=pl.col("api00") + 5.0)
    design = _dclus1(frame)
    out = design.contrast([("api00", "api_copy"), ("api00", "api_shift")], by="stype")
    assert out.height == 6 and out["stype"].to_list() == ["E", "E", "H", "H", "M", "M"]
    assert out["variable"].to_list()[:2] == ["api00 - api_copy", "api00 - api_shift"]
    np.testing.assert_allclose(out["estimate"].to_numpy(), np.tile([0.0, -5.0], 3), atol=1e-9)
    np.testing.assert_allclose(out["se"].to_numpy(), 0.0, atol=1e-9)


def test_total_contrast_equals_total_of_signed_variable(apiclus1: pl.DataFrame) -> None:
    """total(y in E) - total(y in H) is the total of y*(E) - y*(H): same estimate and SE."""
    frame = apiclus1.with_columns(
        signed=pl.col("enroll")
        * ((pl.col("stype") == "E").cast(pl.Int8) - (pl.col("stype") == "H").cast(pl.Int8))
    )
    design = _dclus1(frame)
    got = design.contrast("enroll", by="stype", pairs=[("E", "H")], statistic="total").row(0, named=True)
    ref = design.total("signed").row(0, named=True)
    assert got["estimate"] == pytest.approx(ref["estimate"], rel=REL_IDENTITY)
    assert got["se"] == pytest.approx(ref["se"], rel=REL_IDENTITY)


def test_adjacent_and_all_pairs(apiclus1: pl.DataFrame) -> None:
    """``"adjacent"``: each domain against the next in sorted order; ``"all"``: every pair."""
    design = _dclus1(apiclus1)
    adj = design.contrast(["api00", "api99"], by="stype", pairs="adjacent")
    assert adj.select("variable", "a", "b").rows() == [
        ("api00", "E", "H"),
        ("api00", "H", "M"),
        ("api99", "E", "H"),
        ("api99", "H", "M"),
    ]
    assert design.contrast("api00", by="stype", pairs="all").select("a", "b").rows() == [
        ("E", "H"),
        ("E", "M"),
        ("H", "M"),
    ]


def test_multi_column_domains_and_boolean_rest(apiclus1: pl.DataFrame) -> None:
    """Several ``by`` columns take tuples; a boolean column gives "this domain vs the rest"."""
    frame = apiclus1.with_columns(is_e=pl.col("stype") == "E")
    design = _dclus1(frame)
    out = design.contrast("api00", by=["stype", "sch.wide"], pairs=[(("E", "Yes"), ("E", "No"))])
    assert out.select("a", "b").row(0) == ("E / Yes", "E / No")
    rest = design.contrast("api00", by="is_e", pairs=[(True, False)]).row(0, named=True)
    means = design.mean("api00", by="is_e")
    assert rest["estimate"] == pytest.approx(
        means.filter(pl.col("is_e"))["estimate"].item() - means.filter(~pl.col("is_e"))["estimate"].item(),
        rel=REL_IDENTITY,
    )


def test_proportion_contrast_requires_indicator(apiclus1: pl.DataFrame) -> None:
    design = _dclus1(apiclus1)
    with pytest.raises(DesignError, match="other than 0 and 1"):
        design.contrast("api00", by="stype", pairs=[("E", "H")], statistic="proportion")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variables": "api00", "pairs": [("E", "H")]}, "need by="),
        ({"variables": "api00", "by": "stype", "pairs": [("E", "X")]}, "not in the data"),
        ({"variables": ["api00"]}, "pairs of column names"),
        ({"variables": "api00", "by": "stype", "pairs": "next"}, "unknown pairs"),
        ({"variables": "api00", "by": "stype", "pairs": "all", "statistic": "median"}, "unknown statistic"),
    ],
)
def test_contrast_errors(apiclus1: pl.DataFrame, kwargs: dict, message: str) -> None:
    design = _dclus1(apiclus1)
    variables = kwargs.pop("variables")
    with pytest.raises(DesignError, match=message):
        design.contrast(variables, **kwargs)


def test_empty_side_gives_null(apiclus1: pl.DataFrame) -> None:
    """A side whose variable has no case in its domain: null contrast, not an error."""
    frame = apiclus1.with_columns(y=pl.when(pl.col("stype") == "H").then(None).otherwise(pl.col("api00")))
    got = _dclus1(frame).contrast("y", by="stype", pairs=[("E", "H")]).row(0, named=True)
    assert got["n_b"] == 0 and got["estimate"] is None and got["se"] is None


# ---------------------------------------------------------------------- quantile
def test_quantile_with_equal_weights_is_the_inverted_cdf() -> None:
    """Equal weights: R's qrule="math" is numpy's ``inverted_cdf`` (for p above the first share)."""
    rng = np.random.default_rng(7)
    frame = pl.DataFrame({"y": rng.normal(size=301).round(1), "w": np.ones(301), "psu": np.arange(301) // 7})
    design = SurveyDesign(frame, weight="w", psu="psu")
    probs = [0.1, 0.25, 0.5, 0.9]
    got = design.quantile("y", q=probs)
    assert got["q"].to_list() == probs and got["variable"].to_list() == ["y"] * 4
    expected = np.quantile(frame["y"].to_numpy(), probs, method="inverted_cdf")
    np.testing.assert_array_equal(got["estimate"].to_numpy(), expected)
    assert (got["ci_low"] <= got["estimate"]).all() and (got["estimate"] <= got["ci_high"]).all()
    assert (got["df"] == 43 - 1).all()  # 43 PSUs, one stratum


def test_quantile_shapes_nulls_and_empty_domain(apiclus1: pl.DataFrame) -> None:
    """One row per domain x variable x q; null values are out of the domain; a domain where the
    variable is always null is ``empty`` with a null estimate."""
    frame = apiclus1.with_columns(
        y=pl.when(pl.col("stype") == "H").then(None).otherwise(pl.col("api00")).cast(pl.Float64)
    )
    design = _dclus1(frame)
    out = design.quantile(["y", "api99"], q=[0.5, 0.75], by="stype")
    assert out.height == 3 * 2 * 2
    assert out.columns[:4] == ["stype", "variable", "q", "estimate"]
    h = out.filter((pl.col("stype") == "H") & (pl.col("variable") == "y"))
    assert h["flag"].to_list() == ["empty", "empty"] and h["estimate"].null_count() == 2
    e = out.filter((pl.col("stype") == "E") & (pl.col("variable") == "y") & (pl.col("q") == 0.5)).row(
        0, named=True
    )
    ref = _dclus1(apiclus1).quantile("api00", by="stype").filter(pl.col("stype") == "E").row(0, named=True)
    assert (e["estimate"], e["se"], e["ci_low"], e["ci_high"]) == (
        ref["estimate"],
        ref["se"],
        ref["ci_low"],
        ref["ci_high"],
    )


@pytest.mark.parametrize(("kwargs", "message"), [({"q": 1.5}, "q must lie"), ({"q": []}, "q must lie")])
def test_quantile_errors(apiclus1: pl.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(DesignError, match=message):
        _dclus1(apiclus1).quantile("api00", **kwargs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(designs())
def test_total_contrast_is_a_signed_total_on_random_designs(design_args) -> None:
    """On random stratified cluster designs (single-PSU strata, fpc, every lonely rule), the contrast of
    two domain totals has the estimate and SE of the total of ``x * (1[a] - 1[b])`` over the whole
    sample: the covariance is that of the shared PSUs, nothing more."""
    frame, args = design_args
    frame = frame.with_columns(
        signed=pl.col("x")
        * ((pl.col("dom") == "a").cast(pl.Float64) - (pl.col("dom") == "b").cast(pl.Float64))
    )
    design = SurveyDesign(frame, **args)
    doms = set(frame["dom"].to_list())
    if not {"a", "b"} <= doms:
        return
    got = design.contrast("x", by="dom", pairs=[("a", "b")], statistic="total").row(0, named=True)
    ref = design.total("signed").row(0, named=True)
    scale = abs(ref["estimate"]) + frame["w"].max() * 5
    assert got["estimate"] == pytest.approx(ref["estimate"], rel=REL_IDENTITY, abs=1e-12 * scale)
    assert got["se"] == pytest.approx(ref["se"], rel=1e-9, abs=1e-12 * scale)


@pytest.mark.parametrize("statistic", ["mean", "proportion", "total"])
def test_contrast_each_equals_one_contrast_per_request(apiclus1: pl.DataFrame, statistic: str) -> None:
    """`contrast_each` gives, bit for bit, the table of one `contrast` call per request on a fresh design, the
    requests naming different domains (one nested in the PSUs), variables and forms."""
    frame = apiclus1.with_columns(
        part=pl.col("dnum") % 3,
        hi=(pl.col("api00") > 650).cast(pl.Int8),
        hi99=(pl.col("api99") > 650).cast(pl.Int8),
        hi_na=pl.when(pl.col("stype") == "M").then(None).otherwise(pl.col("api00") > 700),
    )
    names = ["hi", "hi_na"] if statistic == "proportion" else ["api00", "api99"]
    pairs = [("hi", "hi99")] if statistic == "proportion" else [("api00", "api99")]
    requests = [
        {"variables": names, "by": "stype", "pairs": "all"},
        {"variables": names[1:], "by": "part", "pairs": "adjacent"},
        {"variables": pairs},
        {"variables": pairs, "by": "stype"},
    ]
    together = _dclus1(frame).contrast_each(requests, statistic=statistic, level=0.9)  # type: ignore[arg-type]
    assert len(together) == len(requests)
    for request, table in zip(requests, together, strict=True):
        alone = _dclus1(frame).contrast(**request, statistic=statistic, level=0.9)  # type: ignore[arg-type]
        assert table.height > 0 and table.equals(alone), request


def test_contrast_each_checks_every_request_first(apiclus1: pl.DataFrame) -> None:
    with pytest.raises(DesignError, match="need by="):
        _dclus1(apiclus1).contrast_each([{"variables": "api00", "by": "stype", "pairs": "all"},
                                         {"variables": "api00", "pairs": "all"}])
