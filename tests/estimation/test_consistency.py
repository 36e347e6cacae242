"""Internal consistency (as R survey's tests/domain.R) and input validation of SurveyDesign."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.errors import DesignError
from pipelines.estimation import Reliability, SurveyDesign

# Identities that hold exactly in real arithmetic; only summation order differs.
REL_IDENTITY = 1e-10


def _dclus1(frame: pl.DataFrame, **kw) -> SurveyDesign:
    return SurveyDesign(frame, weight="pw", psu="dnum", fpc="fpc", **kw)


def test_domain_mean_equals_ratio_estimator(apiclus1: pl.DataFrame) -> None:
    """R domain.R: ``svyby(~api00, ~stype, dclus1, svymean)`` equals
    ``svyratio(~I(api00*(stype=="E")), ~as.numeric(stype=="E"), dclus1)``."""
    frame = apiclus1.with_columns(
        num=pl.col("api00") * (pl.col("stype") == "E"), den=(pl.col("stype") == "E").cast(pl.Float64)
    )
    design = _dclus1(frame)
    by = design.mean(["api00"], by=["stype"]).filter(pl.col("stype") == "E").row(0, named=True)
    ratio = design.ratio("num", "den").row(0, named=True)
    assert by["estimate"] == pytest.approx(ratio["estimate"], rel=REL_IDENTITY)
    assert by["se"] == pytest.approx(ratio["se"], rel=REL_IDENTITY)


def test_total_equals_mean_times_population(apistrat: pl.DataFrame) -> None:
    """``svytotal(~enroll)`` equals ``svymean(~enroll) * sum(weights)`` (estimate) per domain."""
    design = SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc")
    mean = design.mean(["enroll"], by=["stype"])
    total = design.total(["enroll"], by=["stype"])
    np.testing.assert_allclose(
        total["estimate"].to_numpy(), (mean["estimate"] * mean["weighted_n"]).to_numpy(), rtol=REL_IDENTITY
    )


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.floats(1e-3, 1e3))
def test_scaling_weights_leaves_means_and_ses(apiclus1_scale: float) -> None:
    """Multiplying every weight by c leaves means, proportions, ratios and their SEs unchanged."""
    frame = _api()
    base = _dclus1(frame, lonely_psu="adjust")
    scaled = _dclus1(frame.with_columns(pl.col("pw") * apiclus1_scale), lonely_psu="adjust")
    for verb in ("mean", "proportion"):
        vars_ = ["api00", "enroll"] if verb == "mean" else ["no"]
        a = getattr(base, verb)(vars_, by=["stype"])
        b = getattr(scaled, verb)(vars_, by=["stype"])
        np.testing.assert_allclose(a["estimate"].to_numpy(), b["estimate"].to_numpy(), rtol=REL_IDENTITY)
        np.testing.assert_allclose(a["se"].to_numpy(), b["se"].to_numpy(), rtol=REL_IDENTITY)
    a, b = base.ratio("api.stu", "enroll"), scaled.ratio("api.stu", "enroll")
    assert a["se"].item() == pytest.approx(b["se"].item(), rel=REL_IDENTITY)


_API_CACHE: dict[str, pl.DataFrame] = {}


def _api() -> pl.DataFrame:
    if "c1" not in _API_CACHE:
        from tests.estimation.helpers import load_api

        _API_CACHE["c1"] = load_api("apiclus1").with_columns(no=pl.col("sch.wide") == "No")
    return _API_CACHE["c1"]


@pytest.mark.parametrize("ci", ["logit", "beta", "asin", "wald", "mean"])
def test_proportions_and_intervals_in_unit_interval(ci: str) -> None:
    """Proportions lie in [0, 1]; logit/beta/asin intervals too, and contain the estimate."""
    out = _dclus1(_api()).proportion(["no"], by=["stype", "cname"], ci=ci)
    est = out["estimate"].drop_nulls()
    assert ((est >= 0) & (est <= 1)).all()
    if ci in ("logit", "beta", "asin"):
        ok = out.filter(pl.col("ci_low").is_not_null())
        assert ((ok["ci_low"] >= 0) & (ok["ci_high"] <= 1)).all()
        assert ((ok["ci_low"] <= ok["estimate"] + 1e-12) & (ok["estimate"] <= ok["ci_high"] + 1e-12)).all()


def test_null_by_value_is_its_own_domain() -> None:
    """A null in a by column forms a domain equal to the one defined by an explicit label."""
    frame = _api().with_columns(g=pl.when(pl.col("stype") == "H").then(None).otherwise(pl.col("stype")))
    design = _dclus1(frame)
    with_null = design.mean(["api00"], by=["g"])
    assert with_null["g"].to_list()[-1] is None  # nulls sort last
    explicit = design.mean(["api00"], by=["stype"]).filter(pl.col("stype") == "H")
    row = with_null.filter(pl.col("g").is_null())
    assert row["estimate"].item() == pytest.approx(explicit["estimate"].item(), rel=REL_IDENTITY)
    assert row["se"].item() == pytest.approx(explicit["se"].item(), rel=REL_IDENTITY)


def test_null_variable_is_out_of_domain_design_kept() -> None:
    """R ``svymean(~y, d, na.rm=TRUE)`` equals ``svymean(~y, subset(d, !is.na(y)))``: the same as a domain."""
    frame = _api().with_columns(
        y=pl.when(pl.col("snum") % 3 == 0).then(None).otherwise(pl.col("api00")),
        has=pl.when(pl.col("snum") % 3 == 0).then(pl.lit("no")).otherwise(pl.lit("yes")),
    )
    design = _dclus1(frame)
    nulls = design.mean(["y"]).row(0, named=True)
    domain = design.mean(["api00"], by=["has"]).filter(pl.col("has") == "yes").row(0, named=True)
    for key in ("estimate", "se", "weighted_n"):
        assert nulls[key] == pytest.approx(domain[key], rel=REL_IDENTITY)
    assert nulls["n"] == domain["n"] and nulls["df"] == domain["df"]


def test_empty_domain_row_and_flags() -> None:
    """A domain where the variable is always null gives estimate null and flag 'empty'; small n is 'small_n'."""
    frame = _api().with_columns(y=pl.when(pl.col("stype") == "H").then(None).otherwise(pl.col("api00")))
    out = _dclus1(frame).mean(["y"], by=["stype"])
    h = out.filter(pl.col("stype") == "H").row(0, named=True)
    assert h["estimate"] is None and h["se"] is None and h["n"] == 0 and h["flag"] == "empty"
    assert out.filter(pl.col("stype") == "M")["flag"].item() == "small_n"
    assert out.filter(pl.col("stype") == "E")["flag"].item() == "ok"
    strict = _dclus1(frame).mean(["y"], by=["stype"], reliability=Reliability(min_n=10, max_cv=0.01))
    assert strict.filter(pl.col("stype") == "M")["flag"].item() == "high_cv"


def test_output_columns_and_lazy_input(apistrat: pl.DataFrame) -> None:
    """Same tidy frame for every verb; a LazyFrame gives the same answer as a DataFrame."""
    eager = SurveyDesign(apistrat, weight="pw", strata="stype", fpc="fpc").mean(
        ["api00", "enroll"], by=["stype"]
    )
    lazy = SurveyDesign(apistrat.lazy(), weight="pw", strata="stype", fpc="fpc").mean(
        ["api00", "enroll"], by=["stype"]
    )
    assert eager.columns == [
        "stype",
        "variable",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "df",
        "n",
        "weighted_n",
        "cv",
        "deff",
        "flag",
    ]
    assert eager.equals(lazy)
    assert eager.height == 6


def test_design_is_frozen(apistrat: pl.DataFrame) -> None:
    design = SurveyDesign(apistrat, weight="pw", strata="stype")
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.weight = "other"  # type: ignore[misc]
    before = apistrat.clone()
    design.mean(["api00"], by=["stype"])
    assert apistrat.equals(before)


# ------------------------------------------------------------------ bad input


def test_missing_and_nonpositive_weights_raise(apistrat: pl.DataFrame) -> None:
    bad = apistrat.with_columns(pw=pl.when(pl.col("snum") % 50 == 0).then(None).otherwise(pl.col("pw")))
    n_null = bad["pw"].null_count()
    with pytest.raises(DesignError, match=rf"'pw' is null in {n_null} of 200 rows"):
        SurveyDesign(bad, weight="pw", strata="stype")
    neg = apistrat.with_columns(pw=pl.when(pl.col("snum") % 50 == 0).then(0.0).otherwise(pl.col("pw")))
    with pytest.raises(DesignError, match=r"'pw' is zero, negative or not finite in \d+ of 200 rows"):
        SurveyDesign(neg, weight="pw", strata="stype")
    with pytest.raises(DesignError, match="'nope' is not in the data"):
        SurveyDesign(apistrat, weight="nope")


def test_psu_in_two_strata_needs_nest(apiclus1: pl.DataFrame) -> None:
    """R ``svydesign(id=~dnum, strata=~stype, ...)`` errors: dnum labels repeat across stype; nest=TRUE accepts."""
    with pytest.raises(DesignError, match=r"PSU label\(s\) appear in more than one stratum .* rows") as err:
        SurveyDesign(apiclus1, weight="pw", strata="stype", psu="dnum")
    assert "nest=True" in str(err.value)
    design = SurveyDesign(apiclus1, weight="pw", strata="stype", psu="dnum", nest=True, lonely_psu="adjust")
    assert design.mean(["api00"])["estimate"].item() == pytest.approx(644.169398907104, rel=1e-12)


def test_non_numeric_variable_raises(apiclus1: pl.DataFrame) -> None:
    design = _dclus1(apiclus1)
    with pytest.raises(
        DesignError, match=r"variable 'sch.wide' has dtype String, not numeric or boolean \(183 rows\)"
    ):
        design.mean(["sch.wide"])
    with pytest.raises(DesignError, match=r"'api00' holds values other than 0 and 1 in 183 rows"):
        design.proportion(["api00"])


def test_lonely_fail_names_strata(apiclus1: pl.DataFrame) -> None:
    """R default ``survey.lonely.psu="fail"``: ``svymean(~api00, svydesign(id=~1, strata=~dnum, ...))`` errors."""
    with pytest.raises(DesignError, match=r"stratum/strata of 'dnum' have a single PSU: \d+"):
        SurveyDesign(apiclus1, weight="pw", strata="dnum")
    with pytest.raises(DesignError, match="unknown lonely_psu"):
        SurveyDesign(apiclus1, weight="pw", strata="dnum", lonely_psu="certainty")  # type: ignore[arg-type]


@pytest.mark.parametrize("psu", ["dnum", None])
@pytest.mark.parametrize("chunk_values", [None, 1])
def test_by_each_equals_one_verb_per_set_of_domains(
    psu: str | None, chunk_values: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`by_each` gives, bit for bit, the tables of one verb call per set of domains on a fresh design (so
    nothing learnt by a previous verb helps), also on a chunked frame and when the variables are reduced in
    chunks (``CHUNK_VALUES``) or the rows are the PSUs."""
    half = _api().height // 2
    frame = _api().with_columns(
        api_na=pl.when(pl.col("stype") == "M").then(None).otherwise(pl.col("api00")),
        g=pl.when(pl.col("stype") == "H").then(None).otherwise(pl.col("stype")),
    )
    frame = pl.concat([frame.slice(0, half), frame.slice(half)], rechunk=False)  # two chunks per column
    if chunk_values is not None:
        monkeypatch.setattr("pipelines.estimation.design.CHUNK_VALUES", chunk_values)
    domains = [None, "stype", ["g", "cname"], "g"]

    def design() -> SurveyDesign:
        return SurveyDesign(frame, weight="pw", psu=psu, fpc="fpc" if psu else None)

    for statistic, variables, verb in [
        ("mean", ["api00", "api_na", "enroll"], lambda d, by: d.mean(["api00", "api_na", "enroll"], by=by)),
        ("total", ["enroll", "api_na"], lambda d, by: d.total(["enroll", "api_na"], by=by)),
        ("proportion", ["no"], lambda d, by: d.proportion(["no"], by=by, ci="beta")),
    ]:
        together = design().by_each(statistic, variables, domains, ci="beta")
        assert len(together) == len(domains)
        for by, table in zip(domains, together, strict=True):
            assert table.equals(verb(design(), by)), (statistic, by)


def test_by_each_rejects_an_unknown_statistic() -> None:
    with pytest.raises(DesignError, match="unknown statistic"):
        _dclus1(_api()).by_each("median", ["api00"], [None])  # type: ignore[arg-type]


def test_domain_nested_in_psus_shares_the_psu_key(apiclus1: pl.DataFrame) -> None:
    """A domain constant within each PSU (a city) forms one group per PSU, numbered as the PSUs: the PSU key's
    codes serve for it, and summing by that shared key equals summing by a copy of it."""
    from pipelines.estimation.encode import Codes, combine
    from pipelines.estimation.reduce import psu_sums

    frame = apiclus1.with_columns(part=pl.col("dnum") % 3, w2=pl.col("pw") * pl.col("enroll"))
    design = _dclus1(frame)
    units = design._info.units
    assert np.array_equal(combine([units, design._domains(["part"])[0]], frame.height).codes, units.codes)
    nested, crossed = design._groups(["part"]), design._groups(["stype"])
    assert nested.groups.codes is units.codes and crossed.groups.codes is not units.codes
    copy = Codes(codes=units.codes.copy(), values=units.values, counts=units.counts)
    summands = {"w": pl.col("pw"), "n": None, "w2": pl.col("w2")}
    shared = psu_sums(frame, [units, nested.groups, crossed.groups, None], summands)
    apart = [psu_sums(frame, [key], summands)[0] for key in (copy, nested.groups, crossed.groups, None)]
    for a, b in zip(shared, apart, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(shared[0][0], np.bincount(units.codes, weights=frame["pw"].to_numpy()))
