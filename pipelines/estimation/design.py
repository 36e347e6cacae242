"""`SurveyDesign`: a survey design declared once, and its estimators (mean, total, proportion, ratio).

Every estimator runs the same three steps:

1. build the linearised summands (``w*y``, ``w``, ...) as polars expressions, one set per variable;
2. reduce them to sums per (domain, stratum, PSU) in a single ``group_by`` (`reduce.psu_sums`);
3. on that small table, form the domain estimates, the PSU totals of the scores and their
   variance with the one kernel in `variance.domain_variance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from pipelines.errors import DesignError
from pipelines.estimation.flags import Reliability
from pipelines.estimation.intervals import check_method, proportion_ci, wald
from pipelines.estimation.reduce import psu_sums
from pipelines.estimation.variance import Cells, StrataInfo, domain_df, domain_variance

LonelyPSU = Literal["adjust", "remove", "average", "fail"]
LONELY_RULES = ("adjust", "remove", "average", "fail")
RESULT_COLUMNS = (
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
)

_H = "__stratum__"
_PSU = "__psu__"
_D = "__domain__"


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _preview(values: Sequence[object], limit: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")


@dataclass(frozen=True, slots=True)
class _DesignInfo:
    """What construction learns about the design columns (computed once, reused by every verb)."""

    strata: StrataInfo
    n_rows: int
    n_psu: int
    degf: int
    lonely_strata: tuple[object, ...]
    strata_labels: pl.Series | None  # sorted: a stratum's code is its position here


@dataclass(frozen=True, slots=True)
class _ColumnStats:
    """What one cheap pass learns about an analysis column."""

    missing: int  # null or NaN values
    non_binary: int | None  # rows not in {0, 1} (None: some, not counted yet); 0 means an indicator


@dataclass(frozen=True, slots=True)
class _Spec:
    """One estimand: a label and the column(s) it needs."""

    label: str
    y: str
    x: str | None = None  # ratio denominator


@dataclass(frozen=True, slots=True)
class SurveyDesign:
    """A complex survey design (weights, strata, PSUs, fpc) bound to its data; never mutated.

    Parameters
    ----------
    frame
        The sample, one row per responding unit (`polars.DataFrame` or `polars.LazyFrame`; kept lazy
        until an estimator collects).
    weight
        Sampling weight column (``1 / probability``). Must be present, non-null and positive on every row.
    strata
        First-stage stratum column, or None for an unstratified design.
    psu
        Primary sampling unit (first-stage cluster) column, or None when rows are the PSUs
        (R ``ids=~1``).
    fpc
        First-stage finite population correction: either the number of PSUs in the stratum's population
        (all values >= 1) or the first-stage sampling fraction (all values <= 1), constant within a stratum.
        None means sampling with replacement at the first stage.
    lonely_psu
        What a stratum with a single PSU contributes to the variance: ``fail`` (default, R's default),
        ``adjust``, ``remove`` or ``average``; see Notes.
    nest
        PSU labels are only unique within strata (R ``svydesign(nest=TRUE)``). With the default
        False, a PSU label found in two strata raises `DesignError`, as R does.
    reliability
        Thresholds of the ``flag`` column (`Reliability`).

    Raises
    ------
    DesignError
        A design column is missing; a weight is null, non-positive or not finite; a stratum or PSU label
        is null; a PSU label appears in two strata without ``nest=True``; the fpc is invalid; or
        ``lonely_psu="fail"`` and some stratum has a single PSU. Messages name the column, the count
        of offending rows and the fix.

    Notes
    -----
    **Variance.** Taylor linearisation with the with-replacement (ultimate cluster) approximation at
    the first stage, as R ``svydesign(ids=~psu, strata=~strata, weights=~w, fpc=~fpc)`` computes by
    default for a one-stage design: the variance of an estimate is the between-PSU variance of its
    linearised score totals within strata, ``sum_h (1 - f_h) n_h/(n_h-1) sum_i (z_hi - zbar_h)^2``.
    Later stages are not modelled (R also ignores them unless their fpc is given).

    **fpc.** Only the first stage's correction is applied: ``1 - n_h/N_h`` with ``N_h`` the
    population count of PSUs of stratum ``h`` (or ``1 - f_h`` for a sampling fraction). A stratum with
    ``N_h == n_h`` (certainty PSUs) contributes no variance. Without ``fpc`` the factor is 1.

    **Lonely PSUs** (strata with one PSU), R's ``options(survey.lonely.psu=)``: ``fail`` raises at
    construction naming the strata; ``remove`` drops their contribution (the variance is too small);
    ``adjust`` centres their single PSU total at the grand mean of the PSU totals (over the strata the
    domain reaches) instead of the stratum mean (zero for means, proportions and ratios, whose scores
    sum to zero; svy's ``"center"``); ``average`` replaces
    their contribution by the average of the other strata (multiplies the variance by
    ``strata / strata with two or more PSUs``, counted within the domain).

    **Domains** (``by=``) keep the whole design, as R's ``svyby``/``subset`` do: rows outside the
    domain contribute zero to the scores but their PSUs and strata stay in the variance. A ``by``
    column's null is its own domain. A domain where a variable has no case gives a row with null
    estimate and flag ``empty``.

    **Missing values** follow R's ``na.rm=TRUE``: a row whose analysis variable is null (or NaN) is out
    of that variable's domain (its weight is set to zero for that variable), the design is kept. Each
    variable has its own missingness; for a ratio, a row needs both numerator and denominator.

    **Degrees of freedom and intervals.** ``df`` is R's ``degf`` of the design restricted to the
    domain's cases with a non-null variable: PSUs with a case minus strata with a case (for the whole
    sample, PSUs minus strata). Every interval uses Student's t with that ``df``, which is what R's
    ``svyciprop`` does; R's ``confint`` on a ``svymean``/``svytotal`` uses the Normal quantile instead
    (``df=Inf``). Intervals are null where ``df`` is 0.

    **Design effect** (``deff``) is R's ``svymean(..., deff=TRUE)``: the design variance over the
    variance under simple random sampling *without* replacement of the same size from a population of
    size ``N = sum(w)``, ``s^2 (N - n) / (N n)`` for a mean (times ``N^2`` for a total), where ``s^2`` is
    the weighted population variance estimate ``n/(n-1) sum w (y - ybar)^2 / sum w`` (R ``svyvar``), all
    within the domain. It is null for ratios, and where ``sum(w) <= n`` (rescaled weights).

    Examples
    --------
    >>> design = SurveyDesign(frame, weight="pw", strata="stype", psu="dnum", fpc="fpc", lonely_psu="adjust")
    >>> design.mean(["api00", "enroll"], by=["stype"])
    """

    frame: pl.DataFrame | pl.LazyFrame
    _: KW_ONLY
    weight: str
    strata: str | None = None
    psu: str | None = None
    fpc: str | None = None
    lonely_psu: LonelyPSU = "fail"
    nest: bool = False
    reliability: Reliability = field(default_factory=Reliability)
    _lf: pl.LazyFrame = field(init=False, repr=False, compare=False)
    _schema: pl.Schema = field(init=False, repr=False, compare=False)
    _info: _DesignInfo = field(init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        where = "SurveyDesign"
        if not isinstance(self.frame, (pl.DataFrame, pl.LazyFrame)):
            raise DesignError(
                "frame must be a polars DataFrame or LazyFrame",
                where=where,
                got=type(self.frame).__name__,
                hint="convert with pl.from_pandas(...) or pl.DataFrame(...).",
            )
        if self.lonely_psu not in LONELY_RULES:
            raise DesignError(
                f"unknown lonely_psu rule {self.lonely_psu!r}",
                where=where,
                got=repr(self.lonely_psu),
                hint=f"use one of {', '.join(LONELY_RULES)}.",
            )
        lf = self.frame.lazy()
        schema = lf.collect_schema()
        for role in ("weight", "strata", "psu", "fpc"):
            col = getattr(self, role)
            if col is not None and col not in schema:
                raise DesignError(
                    f"{role} column {col!r} is not in the data",
                    where=where,
                    got=col,
                    hint=f"available columns: {_preview(list(schema.names()), 12)}.",
                )
        for role in ("weight", "fpc"):
            col = getattr(self, role)
            if col is not None and not schema[col].is_numeric():
                raise DesignError(
                    f"{role} column {col!r} has dtype {schema[col]}, not numeric",
                    where=where,
                    got=str(schema[col]),
                    hint=f"cast it: pl.col({col!r}).cast(pl.Float64).",
                )
        object.__setattr__(self, "_lf", lf)
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_info", self._inspect(lf))

    def _inspect(self, lf: pl.LazyFrame) -> _DesignInfo:
        where = "SurveyDesign"
        w = pl.col(self.weight).cast(pl.Float64)
        checks = [
            pl.len().alias("rows"),
            w.is_null().sum().alias("w_null"),
            ((w <= 0) | ~w.is_finite()).sum().alias("w_bad"),
        ]
        for role in ("strata", "psu", "fpc"):
            col = getattr(self, role)
            if col is not None:
                checks.append(pl.col(col).is_null().sum().alias(f"{role}_null"))
        h_keys = [pl.col(self.strata).alias(_H)] if self.strata else []
        fpc_aggs = (
            [
                pl.col(self.fpc).cast(pl.Float64).min().alias("fpc_min"),
                pl.col(self.fpc).cast(pl.Float64).max().alias("fpc_max"),
            ]
            if self.fpc
            else []
        )
        psus = pl.col(self.psu).n_unique() if self.psu else pl.len()
        check_nesting = bool(self.psu and self.strata and not self.nest)
        if check_nesting:
            # One pass per PSU: its stratum, and how many (nested iff 1); strata are counted from it.
            units = lf.group_by(pl.col(self.psu).alias(_PSU)).agg(
                pl.col(self.strata).first().alias(_H),
                pl.col(self.strata).n_unique().alias("h_labels"),
                *fpc_aggs,
            )
        else:
            aggs = [psus.alias("psus"), *fpc_aggs]
            units = lf.group_by(h_keys).agg(aggs) if h_keys else lf.select(aggs)
        counts, per_h = pl.collect_all([lf.select(checks), units])
        c = counts.row(0, named=True)
        n_rows = int(c["rows"])
        if c["w_null"]:
            raise DesignError(
                f"weight column {self.weight!r} is null in {c['w_null']} of {n_rows} rows",
                where=where,
                got=f"{c['w_null']} null weights",
                hint="drop or impute those rows before declaring the design; a design weight is never missing.",
            )
        if c["w_bad"]:
            raise DesignError(
                f"weight column {self.weight!r} is zero, negative or not finite in {c['w_bad']} of {n_rows} rows",
                where=where,
                got=f"{c['w_bad']} non-positive weights",
                hint="weights are 1/probability and must be > 0; to leave rows out of an estimate use by= (domains).",
            )
        for role in ("strata", "psu", "fpc"):
            col = getattr(self, role)
            if col is not None and c[f"{role}_null"]:
                raise DesignError(
                    f"{role} column {col!r} is null in {c[f'{role}_null']} of {n_rows} rows",
                    where=where,
                    got=f"{c[f'{role}_null']} nulls",
                    hint=f"every row needs a {role} value; fill it from the sample frame.",
                )
        if n_rows == 0:
            raise DesignError("the data has no rows", where=where, got="0 rows")

        # PSU nested in strata?
        if check_nesting and int(per_h["h_labels"].max()) > 1:
            pairs = lf.group_by(pl.col(self.strata).alias(_H), pl.col(self.psu).alias(_PSU)).agg(
                pl.len().alias("rows")
            )
            per_psu = pairs.group_by(_PSU).agg(pl.len().alias("n_strata"), pl.col("rows").sum()).collect()
            bad = per_psu.filter(pl.col("n_strata") > 1)
            raise DesignError(
                f"PSU column {self.psu!r}: {bad.height} PSU label(s) appear in more than one stratum of "
                f"{self.strata!r} ({int(bad['rows'].sum())} rows), e.g. {_preview(bad[_PSU].to_list(), 3)}",
                where=where,
                got=f"{bad.height} PSUs in several strata",
                hint="if PSU labels are only unique within strata pass nest=True "
                "(R svydesign(nest=TRUE)); otherwise fix the labels.",
            )

        if check_nesting:  # per-PSU table -> per-stratum table
            fpc_range = [pl.col("fpc_min").min(), pl.col("fpc_max").max()] if self.fpc else []
            per_h = per_h.group_by(_H).agg(pl.len().alias("psus"), *fpc_range)
        # Per-stratum table, strata in sorted order (their codes are ranks, see _estimate).
        if self.strata:
            per_h = per_h.sort(_H)
        n_psu = per_h["psus"].to_numpy().astype(np.int64)
        fpc_factor = np.ones(n_psu.shape[0])
        if self.fpc:
            lo, hi = per_h["fpc_min"].to_numpy(), per_h["fpc_max"].to_numpy()
            varying = lo != hi
            if varying.any():
                raise DesignError(
                    f"fpc column {self.fpc!r} varies within {int(varying.sum())} stratum/strata",
                    where=where,
                    got=_preview(per_h.filter(pl.Series(varying))[_H].to_list()) if self.strata else "varies",
                    hint="the first-stage fpc is one number per stratum (population PSUs or sampling fraction).",
                )
            if (lo <= 0).any():
                raise DesignError(
                    f"fpc column {self.fpc!r} has non-positive values",
                    where=where,
                    got=str(lo.min()),
                    hint="give population sizes (>= sampled PSUs) or sampling fractions in (0, 1].",
                )
            if (hi <= 1).all():
                fpc_factor = 1.0 - hi
            elif (lo >= 1).all():
                small = hi < n_psu
                if small.any():
                    raise DesignError(
                        f"fpc column {self.fpc!r} is smaller than the number of sampled PSUs in "
                        f"{int(small.sum())} stratum/strata",
                        where=where,
                        got=f"fpc {hi[small][0]:g} < {n_psu[small][0]} PSUs",
                        hint="fpc is the population count of PSUs in the stratum (or a sampling fraction <= 1).",
                    )
                fpc_factor = 1.0 - n_psu / hi
            else:
                raise DesignError(
                    f"fpc column {self.fpc!r} mixes sampling fractions (<= 1) and population sizes (> 1)",
                    where=where,
                    got=f"min {lo.min():g}, max {hi.max():g}",
                    hint="use one convention for every stratum, as R svydesign requires.",
                )
        lonely = n_psu == 1
        lonely_labels = (
            tuple(per_h.filter(pl.Series(lonely))[_H].to_list())
            if self.strata
            else (("(whole sample)",) if lonely.any() else ())
        )
        if lonely.any() and self.lonely_psu == "fail":
            raise DesignError(
                f"{int(lonely.sum())} stratum/strata of {self.strata!r} have a single PSU: {_preview(lonely_labels, 10)}",
                where=where,
                got=f"{int(lonely.sum())} lonely PSUs",
                hint='choose a rule: lonely_psu="adjust" (centre at the grand mean), "remove" or "average", '
                "as R options(survey.lonely.psu=...), or collapse those strata.",
            )
        total_psu = int(n_psu.sum())
        return _DesignInfo(
            strata=StrataInfo(n_psu=n_psu, fpc_factor=fpc_factor),
            n_rows=n_rows,
            n_psu=total_psu,
            degf=total_psu - int(n_psu.shape[0]),
            lonely_strata=lonely_labels,
            strata_labels=per_h[_H] if self.strata else None,
        )

    # ------------------------------------------------------------------ public properties
    @property
    def degf(self) -> int:
        """Design degrees of freedom of the whole sample: PSUs minus strata (R ``degf``)."""
        return self._info.degf

    @property
    def lonely_strata(self) -> tuple[object, ...]:
        """Labels of the strata with a single PSU."""
        return self._info.lonely_strata

    # ------------------------------------------------------------------ verbs
    def mean(
        self,
        variables: str | Sequence[str],
        *,
        by: str | Sequence[str] | None = None,
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> pl.DataFrame:
        """Population means (R ``svymean``, ``svyby(..., svymean)``).

        Parameters
        ----------
        variables
            Numeric or boolean columns.
        by
            Domain columns; one row per variable x domain.
        level
            Confidence level of ``ci_low``/``ci_high`` (t with ``df``).
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        polars.DataFrame
            The ``by`` columns, then ``variable, estimate, se, ci_low, ci_high, df, n, weighted_n, cv,
            deff, flag``.

        Notes
        -----
        The mean is the ratio ``sum(w y) / sum(w)`` over the domain's cases with non-null ``y``; its
        score is ``w (y - ybar) / sum(w)`` inside the domain and 0 outside. Intervals use t with the
        domain's ``degf`` (R ``confint`` would use the Normal quantile). See `SurveyDesign` Notes for
        fpc, lonely PSUs, nulls and ``deff``.
        """
        specs = [_Spec(v, v) for v in _names(variables)]
        return self._estimate("mean", specs, by=by, level=level, ci="wald", reliability=reliability)

    def total(
        self,
        variables: str | Sequence[str],
        *,
        by: str | Sequence[str] | None = None,
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> pl.DataFrame:
        """Population totals (R ``svytotal(na.rm=TRUE)``, ``svyby(..., svytotal)``).

        Parameters
        ----------
        variables
            Numeric or boolean columns.
        by
            Domain columns.
        level
            Confidence level (t with ``df``).
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        polars.DataFrame
            Same columns as `mean`.

        Notes
        -----
        The total is ``sum(w y)`` over the domain's non-null cases; the score is ``w y`` inside the
        domain. An empty domain gives a null estimate (not 0) and flag ``empty``. ``deff`` compares
        with SRS without replacement: ``V / (N^2 s^2 (N - n) / (N n))`` (R ``svytotal(deff=TRUE)``).
        """
        specs = [_Spec(v, v) for v in _names(variables)]
        return self._estimate("total", specs, by=by, level=level, ci="wald", reliability=reliability)

    def proportion(
        self,
        variables: str | Sequence[str],
        *,
        by: str | Sequence[str] | None = None,
        ci: Literal["logit", "beta", "asin", "wald", "mean"] = "logit",
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> pl.DataFrame:
        """Population proportions of 0/1 or boolean indicators (R ``svyciprop``).

        Parameters
        ----------
        variables
            Boolean columns, or numeric columns holding only 0 and 1 (and nulls).
        by
            Domain columns.
        ci
            Interval method, as R ``svyciprop(method=)``: ``logit`` (default, R's default),
            ``beta`` (Korn-Graubard), ``asin``, ``wald`` (R's ``mean``; ``"mean"`` is accepted).
        level
            Confidence level.
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        polars.DataFrame
            Same columns as `mean`; ``estimate`` lies in [0, 1].

        Raises
        ------
        DesignError
            A numeric variable holds values other than 0 and 1 (the message gives the count of rows).

        Notes
        -----
        The estimate and SE are those of `mean`. ``svyciprop`` uses t with ``degf(design)`` for every
        method (its ``logit`` interval is the Wald interval of a quasi-binomial ``svyglm`` on the
        logit scale). R's ``likelihood`` method (profile likelihood) is not implemented.
        """
        method = "wald" if ci == "mean" else ci
        check_method(method)  # before the pass over the data, not after it
        specs = [_Spec(v, v) for v in _names(variables)]
        return self._estimate("proportion", specs, by=by, level=level, ci=method, reliability=reliability)

    def ratio(
        self,
        numerator: str | Sequence[str],
        denominator: str | Sequence[str],
        *,
        by: str | Sequence[str] | None = None,
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> pl.DataFrame:
        """Ratios of population totals ``sum(w y) / sum(w x)`` (R ``svyratio``).

        Parameters
        ----------
        numerator, denominator
            Column names, paired element-wise; a single name is broadcast against a list.
        by
            Domain columns.
        level
            Confidence level.
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        polars.DataFrame
            Same columns as `mean`; ``variable`` reads ``"numerator/denominator"``. ``deff`` is null.

        Notes
        -----
        Score ``w (y - R x) / sum(w x)`` inside the domain. A row is in the domain only if both ``y`` and
        ``x`` are non-null (R ``na.rm=TRUE``). ``weighted_n`` is the sum of those rows' weights.
        """
        ys, xs = _names(numerator), _names(denominator)
        if len(ys) == 1 and len(xs) > 1:
            ys = ys * len(xs)
        if len(xs) == 1 and len(ys) > 1:
            xs = xs * len(ys)
        if len(ys) != len(xs):
            raise DesignError(
                "numerator and denominator lists differ in length",
                where="SurveyDesign.ratio",
                got=f"{len(ys)} numerators, {len(xs)} denominators",
                hint="pass lists of equal length, or a single name on one side.",
            )
        specs = [_Spec(f"{y}/{x}", y, x) for y, x in zip(ys, xs)]
        return self._estimate("ratio", specs, by=by, level=level, ci="wald", reliability=reliability)

    # ------------------------------------------------------------------ engine
    def _check_variables(self, kind: str, columns: list[str], by: list[str]) -> dict[str, _ColumnStats]:
        """Check names and dtypes; count missing (null or NaN) and non-0/1 values per column."""
        where = f"SurveyDesign.{kind}"
        schema = self._schema
        for col in [*columns, *by]:
            if col not in schema:
                raise DesignError(
                    f"column {col!r} is not in the data",
                    where=where,
                    got=col,
                    hint=f"available columns: {_preview(list(schema.names()), 12)}.",
                )
        for col in columns:
            dtype = schema[col]
            if not (dtype.is_numeric() or dtype == pl.Boolean):
                raise DesignError(
                    f"variable {col!r} has dtype {dtype}, not numeric or boolean ({self._info.n_rows} rows)",
                    where=where,
                    got=str(dtype),
                    hint=f"recode it to a number or an indicator first, e.g. (pl.col({col!r}) == 'yes').",
                )
        exprs = []
        for col in dict.fromkeys(columns):
            c = pl.col(col)
            miss = c.null_count()
            if schema[col].is_float():
                miss = miss + c.is_nan().sum()
            exprs.append(miss.alias(f"missing:{col}"))
            if schema[col] == pl.Boolean:
                continue
            if schema[col].is_integer():  # 0/1 iff min >= 0 and max <= 1: cheap vectorised reductions
                exprs.append(((c.min() >= 0) & (c.max() <= 1)).fill_null(True).alias(f"binary:{col}"))
            else:
                exprs.append((c.is_not_null() & (c != 0) & (c != 1)).sum().alias(f"nonbinary:{col}"))
        stats = self._lf.select(exprs).collect().row(0, named=True)
        out: dict[str, _ColumnStats] = {}
        for col in dict.fromkeys(columns):
            if schema[col] == pl.Boolean:
                bad = 0
            elif schema[col].is_integer():
                bad = None if not stats[f"binary:{col}"] else 0  # counted only if needed
            else:
                bad = int(stats[f"nonbinary:{col}"])
            out[col] = _ColumnStats(missing=int(stats[f"missing:{col}"]), non_binary=bad)
        return out

    def _count_non_binary(self, col: str) -> int:
        """Rows whose ``col`` is neither 0, 1 nor null (for the error message)."""
        c = pl.col(col)
        return int(self._lf.select((c.is_not_null() & (c != 0) & (c != 1)).sum()).collect().item())

    def _summands(self, specs: list[_Spec], stats: dict[str, _ColumnStats]) -> dict[str, pl.Expr | None]:
        """The per-row quantities to sum per PSU: ``a`` (w y), ``b`` (w x or w), ``n``, ``W``, ``q``.

        Columns ``b``, ``n``, ``W`` and ``q`` exist only where they differ from ``__w``, ``__n``,
        ``__w`` and ``a`` (no missing values, 0/1 variable): `_sums` falls back to those.
        """
        schema = self._schema

        def value(col: str) -> pl.Expr:
            e = pl.col(col).cast(pl.Float64)
            if schema[col].is_float() and stats[col].missing:
                e = e.fill_nan(None)
            return e

        w = pl.col(self.weight).cast(pl.Float64)
        summands: dict[str, pl.Expr | None] = {"__w": w, "__n": None}
        for j, s in enumerate(specs):
            y = value(s.y)
            has_missing = bool(stats[s.y].missing) or (s.x is not None and bool(stats[s.x].missing))
            if s.x is None:
                summands[f"a{j}"] = w * y
                if has_missing:
                    ok = y.is_not_null()
                    summands[f"b{j}"] = pl.when(ok).then(w)
                    summands[f"n{j}"] = ok.cast(pl.UInt32)
                if stats[s.y].non_binary != 0:  # y^2 != y: sum w y^2 for deff
                    summands[f"q{j}"] = w * y * y
            else:
                x = value(s.x)
                if has_missing:
                    ok = y.is_not_null() & x.is_not_null()
                    summands[f"a{j}"] = pl.when(ok).then(w * y)
                    summands[f"b{j}"] = pl.when(ok).then(w * x)
                    summands[f"W{j}"] = pl.when(ok).then(w)
                    summands[f"n{j}"] = ok.cast(pl.UInt32)
                else:
                    summands[f"a{j}"] = w * y
                    summands[f"b{j}"] = w * x
        return summands

    def _reduce(self, summands: dict[str, pl.Expr | None], by_cols: list[str]) -> pl.DataFrame:
        """The one pass over the data: ``summands`` per (domain, stratum, PSU); stratum labels in ``_H``."""
        keys = [pl.col(b) for b in by_cols]
        stratum = [pl.col(self.strata).alias(_H)] if self.strata else []
        firsts: list[pl.Expr] = []
        if self.psu and self.strata and not self.nest:
            # Construction checked that each PSU label lies in one stratum, so grouping by the PSU
            # alone gives the same groups; the narrower key hashes faster and the stratum rides along.
            firsts = stratum
        else:
            keys += stratum
        if self.psu:
            keys.append(pl.col(self.psu).alias(_PSU))
        return psu_sums(self._lf, keys=keys, summands=summands, firsts=firsts, per_row=self.psu is None)

    def _codes(self, table: pl.DataFrame, by_cols: list[str]) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """Each row's domain code (a row of the returned domains) and stratum code (rank, as at construction)."""
        if self.strata:
            labels = self._info.strata_labels
            codes = pl.Series(np.arange(labels.len(), dtype=np.int64))
            h = table[_H].replace_strict(labels, codes, return_dtype=pl.Int64).to_numpy()
        else:
            h = np.zeros(table.height, dtype=np.int64)
        if not by_cols:
            return pl.DataFrame(), np.zeros(table.height, dtype=np.int64), h
        # Domains are few: number the distinct ones, then look each row's up (cheaper than ranking).
        domains = table.select(by_cols).unique().with_row_index(_D)
        lookup = table.select(by_cols).join(
            domains, on=by_cols, how="left", nulls_equal=True, maintain_order="left"
        )
        return domains.drop(_D), lookup[_D].to_numpy().astype(np.int64), h

    def _sums(self, table: pl.DataFrame, k: int) -> tuple[np.ndarray, dict[str, list[int]]]:
        """The PSU sums as one float matrix ``(columns, rows)``, and for each of a, b, n, W, q the
        positions of its k columns."""

        def name(prefix: str, j: int, fallback: str) -> str:
            return f"{prefix}{j}" if f"{prefix}{j}" in table.columns else fallback

        names = {
            "a": [f"a{j}" for j in range(k)],
            "b": [name("b", j, "__w") for j in range(k)],
            "n": [name("n", j, "__n") for j in range(k)],
            "W": [name("W", j, "__w") for j in range(k)],
            "q": [name("q", j, f"a{j}") for j in range(k)],  # no q column: y^2 == y
        }
        used = list(dict.fromkeys(c for cols in names.values() for c in cols))
        # Variable-major (see `Cells`): polars exports column-major, so the transpose is free.
        values = table.select(pl.col(used).cast(pl.Float64)).to_numpy().T
        pos = {c: i for i, c in enumerate(used)}
        return values, {key: [pos[c] for c in cols] for key, cols in names.items()}

    def _estimate(
        self,
        kind: str,
        specs: list[_Spec],
        *,
        by: str | Sequence[str] | None,
        level: float,
        ci: str,
        reliability: Reliability | None,
    ) -> pl.DataFrame:
        where = f"SurveyDesign.{kind}"
        if not specs:
            raise DesignError(
                "no variables given", where=where, got="[]", hint="pass at least one column name."
            )
        if not (0 < level < 1):
            raise DesignError("level must lie in (0, 1)", where=where, got=repr(level))
        by_cols = _names(by)
        columns = [s.y for s in specs] + [s.x for s in specs if s.x is not None]
        stats = self._check_variables(kind, columns, by_cols)
        if kind == "proportion":
            self._require_binary(specs, stats, where)
        table = self._reduce(self._summands(specs, stats), by_cols)
        domains, d, h = self._codes(table, by_cols)
        res = self._domain_estimates(kind, specs, table, d, h, n_domains=max(domains.height, 1))
        if kind == "proportion":
            res["ci_low"], res["ci_high"] = proportion_ci(
                res["estimate"], res["se"], res["df"], res["n"], level, ci
            )
        else:
            res["ci_low"], res["ci_high"] = wald(res["estimate"], res["se"], res["df"], level)
        out = _result_frame(specs, res)
        if by_cols:
            dom_rows = domains.select(pl.all().gather(np.repeat(np.arange(domains.height), len(specs))))
            out = pl.concat([dom_rows, out], how="horizontal").sort(
                by_cols, nulls_last=True, maintain_order=True
            )
        return out.with_columns((reliability or self.reliability).flag_expr())

    def _require_binary(self, specs: list[_Spec], stats: dict[str, _ColumnStats], where: str) -> None:
        """Raise unless every variable of a proportion is an indicator (0/1)."""
        for s in specs:
            if stats[s.y].non_binary != 0:
                bad = stats[s.y].non_binary
                bad = self._count_non_binary(s.y) if bad is None else bad
                raise DesignError(
                    f"variable {s.y!r} holds values other than 0 and 1 in {bad} rows",
                    where=where,
                    got=f"{bad} rows not in {{0, 1}}",
                    hint=f"a proportion needs an indicator; recode it, e.g. (pl.col({s.y!r}) == 1), or use mean().",
                )

    def _domain_estimates(
        self,
        kind: str,
        specs: list[_Spec],
        table: pl.DataFrame,
        d: np.ndarray,
        h: np.ndarray,
        *,
        n_domains: int,
    ) -> dict[str, np.ndarray]:
        """Estimates, SEs, df, n, weighted n, cv and deff per (domain, variable) from the PSU sums."""
        cells = Cells.of(d, h, n_domains=n_domains, n_strata=self._info.strata.n_strata)
        values, cols = self._sums(table, len(specs))
        cell_totals = cells.sum(values)  # domain totals add up their cells
        A, B, N, W, Q = (cell_totals[:, :, cols[key]].sum(axis=1) for key in "abnWq")  # (domains, k)
        a, b, nj = (_rows(values, cols[key]) for key in "abn")  # (k, rows)
        ratio = np.array([s.x is not None for s in specs])
        nonempty = N > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            if kind == "total":
                e, z = A, a
            else:
                e = A / B
                z = _scores(a, b, e, B, N, d)
            mean = A / B
            s2 = N / (N - 1) * np.maximum(Q / B - mean**2, 0.0)
            srs = s2 * (B - N) / (B * N)  # SRS without replacement, R svymean(deff=TRUE)
            if kind == "total":
                srs = srs * B**2
            srs = np.where((N > 1) & (B > N) & ~ratio, srs, np.nan)
        psus_with_case = cells.sum(nj > 0)
        var = domain_variance(z, cells, psus_with_case, strata=self._info.strata, lonely_psu=self.lonely_psu)
        n_out = np.rint(N).astype(np.int64)
        var = np.where(n_out == 0, np.nan, var)
        est = np.where(nonempty, e, np.nan)
        se = np.sqrt(var)
        with np.errstate(divide="ignore", invalid="ignore"):
            deff = np.where(np.isfinite(srs) & (srs > 0), var / srs, np.nan)
            cv = np.where(est != 0, se / np.abs(est), np.nan)
        return {
            "estimate": est,
            "se": se,
            "df": domain_df(psus_with_case),
            "n": n_out,
            "weighted_n": np.where(ratio, W, B),
            "cv": cv,
            "deff": deff,
        }


def _scores(
    a: np.ndarray, b: np.ndarray, e: np.ndarray, B: np.ndarray, N: np.ndarray, d: np.ndarray
) -> np.ndarray:
    """Linearised scores ``(a - e b) / B`` of each row (``(k, rows)``), 0 in an empty domain.

    ``e``, ``B``, ``N`` are per domain ``(domains, k)``; ``d`` is each row's domain. The domain values
    are gathered in one take and the arithmetic runs in place: at PSU-table sizes every fresh
    ``(k, rows)`` array costs about as much as the arithmetic itself.
    """
    k = a.shape[0]
    at_row = np.take(np.hstack([e, B, N]).T, d, axis=1)  # (3k, rows)
    z, B_row, N_row = at_row[:k], at_row[k : 2 * k], at_row[2 * k :]
    np.multiply(z, b, out=z)
    np.subtract(a, z, out=z)
    np.divide(z, B_row, out=z)
    np.copyto(z, 0.0, where=N_row == 0)
    return z


def _rows(values: np.ndarray, idx: list[int]) -> np.ndarray:
    """``values[idx]``, as a view when ``idx`` repeats one row (e.g. every b is ``__w``) or runs
    through consecutive rows (the a columns): copying (k, rows) arrays costs as much as using them."""
    first, k = idx[0], len(idx)
    if idx == [first] * k:
        return np.broadcast_to(values[first], (k, values.shape[1]))
    if idx == list(range(first, first + k)):
        return values[first : first + k]
    return values[idx]


RESULT_SCHEMA = {
    "variable": pl.String,
    "estimate": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "df": pl.Int64,
    "n": pl.Int64,
    "weighted_n": pl.Float64,
    "cv": pl.Float64,
    "deff": pl.Float64,
}


def _result_frame(specs: list[_Spec], res: dict[str, np.ndarray]) -> pl.DataFrame:
    """One row per (domain, variable), domain-major: domain 0 (all variables), domain 1, ...; NaN -> null."""
    n_dom = res["estimate"].shape[0]
    labels = np.tile(np.array([s.label for s in specs], dtype=object), n_dom).tolist()
    data = {"variable": labels, **{c: res[c].reshape(-1) for c in list(RESULT_SCHEMA)[1:]}}
    return pl.DataFrame(data, schema=RESULT_SCHEMA).with_columns(pl.col(pl.Float64).fill_nan(None))
