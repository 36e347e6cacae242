"""`SurveyDesign`: a survey design declared once, and its estimators (mean, total, proportion, ratio,
contrast, quantile).

The design is declared once: construction validates the design columns and encodes strata and PSUs
into dense integer codes (`checks.inspect_design`, `encode`). Every estimator then runs the same
steps:

1. encode the domains (``by=``) once per column and combine them with the PSU into one integer
   key per row (`encode.combine`), both kept for later verbs;
2. build the linearised summands (``w*y``, ``w``, ...) as polars expressions, one set per variable
   (`summands.build_summands`);
3. reduce every summand of every variable and domain to sums per key in one pass
   (`reduce.psu_sums`, engine-neutral);
4. on that small table, form the domain estimates, the PSU totals of the scores and their
   variance with the one kernel in `variance.domain_variance` (`domains`), vectorised.

`by_each` and `contrast_each` run several verb calls (several sets of domains) from one evaluation
of the summands, which step 3 sums by each call's key: a summand does not depend on the domain.
`contrast` runs the same pass and then differences the sides' per-PSU scores (`contrasts`);
`quantile` adds a pass that collects each domain's values to invert the weighted distribution,
then runs the mean engine on the indicators ``y <= q_hat`` (`quantiles`).

The design and analysis columns are validated in `checks`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from itertools import pairwise
from typing import Literal

import numpy as np
import polars as pl

from pipelines.errors import DesignError
from pipelines.estimation.checks import (
    ColumnStats,
    DesignColumns,
    DesignInfo,
    LonelyPSU,
    check_declaration,
    check_variables,
    inspect_design,
    require_binary,
)
from pipelines.estimation.contrasts import Side, contrast_columns, contrast_variance
from pipelines.estimation.encode import Codes, combine, encode, representatives
from pipelines.estimation.flags import Reliability
from pipelines.estimation.from_sums import domain_estimates, result_frame
from pipelines.estimation.intervals import check_method, proportion_ci, t_quantile, wald
from pipelines.estimation.quantiles import WeightedSample, woodruff
from pipelines.estimation.reduce import psu_sums
from pipelines.estimation.summands import Estimand, Summands, build_summands

CONTRAST_COLUMNS = (
    "variable",
    "a",
    "b",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p_value",
    "estimate_a",
    "se_a",
    "estimate_b",
    "se_b",
    "cov_ab",
    "n_a",
    "n_b",
)

MISSING_LABEL = "(missing)"  # label of a null domain value in a contrast's side


def _label(value: object) -> str:
    """A side's domain label: the value as text, tuples joined with " / ", null as ``(missing)``."""
    if isinstance(value, tuple):
        return " / ".join(_label(v) for v in value)
    return MISSING_LABEL if value is None else str(value)


def _sort_key(value: object) -> tuple:
    """Sort domain values (scalars or tuples) in order, nulls last."""
    parts = value if isinstance(value, tuple) else (value,)
    return tuple((v is None, v if v is not None else 0) for v in parts)


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


@dataclass(frozen=True, slots=True)
class _ContrastCall:
    """One `SurveyDesign.contrast` call, checked: its domains, and its variables or pairs of variables."""

    by_cols: list[str]
    columns: list[str]  # the variables it estimates, each once
    names: list[str]  # between domains: the variables
    var_pairs: list  # between variables: the pairs (y_a, y_b)
    pairs: Sequence[tuple[object, object]] | Literal["adjacent", "all"] | None


def _contrast_call(
    where: str,
    variables: str | Sequence[str] | Sequence[tuple[str, str]],
    by: str | Sequence[str] | None = None,
    pairs: Sequence[tuple[object, object]] | Literal["adjacent", "all"] | None = None,
) -> _ContrastCall:
    """A `SurveyDesign.contrast` request checked before any pass over the data."""
    names: list[str] = []
    var_pairs: list = []
    by_cols = _names(by)
    if pairs is not None:
        if not by_cols:
            raise DesignError(
                "contrasts between domains need by=",
                where=where,
                got=f"pairs={pairs!r}",
                hint="name the domain column(s), e.g. by='sex', pairs=[('female', 'male')].",
            )
        names = _names(variables)  # type: ignore[arg-type]
        if not names or not all(isinstance(v, str) for v in names):
            raise DesignError(
                "contrasts between domains take column names",
                where=where,
                got=repr(variables),
                hint="pass variables='y' or ['y1', 'y2']; pairs of variables go without pairs=.",
            )
        columns = list(dict.fromkeys(names))
    else:
        var_pairs = list(variables) if not isinstance(variables, str) else [variables]
        if not var_pairs or not all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(c, str) for c in p)
            for p in var_pairs
        ):
            raise DesignError(
                "contrasts between variables take pairs of column names",
                where=where,
                got=repr(variables),
                hint="pass [('y_a', 'y_b')], or give pairs= (and by=) to contrast domains.",
            )
        columns = list(dict.fromkeys(c for p in var_pairs for c in p))
    return _ContrastCall(by_cols=by_cols, columns=columns, names=names, var_pairs=var_pairs, pairs=pairs)


def _chosen_pairs(
    pairs: Sequence[tuple[object, object]] | Literal["adjacent", "all"],
    domains: pl.DataFrame,
    by_cols: list[str],
    where: str,
) -> tuple[list[tuple], dict]:
    """The pairs of domain values a between-domains contrast asks for, each value checked against the
    data's domains, and the lookup of a domain value's row of ``domains``."""
    keys = [row if len(by_cols) > 1 else row[0] for row in domains.rows()]
    lookup = {k: i for i, k in enumerate(keys)}
    order = sorted(range(len(keys)), key=lambda i: _sort_key(keys[i]))
    if pairs == "adjacent":
        chosen = [(keys[i], keys[j]) for i, j in pairwise(order)]
    elif pairs == "all":
        chosen = [
            (keys[order[i]], keys[order[j]]) for i in range(len(order)) for j in range(i + 1, len(order))
        ]
    elif isinstance(pairs, str):
        raise DesignError(
            f"unknown pairs {pairs!r}",
            where=where,
            got=pairs,
            hint="use 'adjacent', 'all' or a list of pairs.",
        )
    else:
        chosen = [tuple(p) for p in pairs]  # type: ignore[misc]
    for p in chosen:
        if len(p) != 2:
            raise DesignError("each pair has two domain values", where=where, got=repr(p))
        for v in p:
            if (tuple(v) if isinstance(v, list) else v) not in lookup:
                raise DesignError(
                    f"domain {v!r} of {by_cols} is not in the data",
                    where=where,
                    got=repr(v),
                    hint=f"domains present: {', '.join(_label(k) for k in keys[:12])}.",
                )
    return chosen, lookup


# Post-reduction arrays are (variables, groups): a verb's variables are taken in chunks of at most this many
# values per array (of its largest set of domains), so that its memory stays bounded however many variables
# and (PSU, domain) groups it has.
CHUNK_VALUES = 1 << 23


@dataclass(frozen=True, slots=True)
class _Groups:
    """The reduction's key for one set of domains: each row's (PSU, domain) group, each group's codes."""

    groups: Codes | None  # None: every row is a group (no PSU column)
    psu: np.ndarray  # per group: its PSU code
    d: np.ndarray  # its domain code, a row of ``domains``
    h: np.ndarray  # its stratum code
    n_domains: int
    domains: pl.DataFrame  # the by columns' values of each domain code (no columns without by)

    @property
    def size(self) -> int:
        return int(self.psu.shape[0])


@dataclass(frozen=True, slots=True)
class _PSUTable:
    """What the one pass returns: sums per (domain, PSU) group, which sum plays which role, the groups."""

    values: np.ndarray  # (summands, groups)
    names: list[str]  # the summands, in the order of ``values``' rows
    roles: dict[str, list[str]]  # per role, each variable's summand (`summands.Summands`)
    groups: _Groups


@dataclass(slots=True)
class _Memo:
    """What a design learns while it answers verbs, kept for the next ones (never a change of meaning)."""

    domains: dict[tuple[str, ...], tuple[Codes, pl.DataFrame]] = field(default_factory=dict)
    # per tuple of by columns, its (PSU, domain) key: n_rows codes each, but a domain nested in the PSUs
    # (a city) holds the PSUs' own, and a round's verbs name the same few domains again and again
    groups: dict[tuple[str, ...], _Groups] = field(default_factory=dict)
    pattern_of: dict[str, int] = field(default_factory=dict)  # column -> its missingness pattern
    patterns: dict[bytes, int] = field(default_factory=dict)  # packed missing-row mask -> pattern
    stats: dict[str, ColumnStats] = field(default_factory=dict)  # column -> its missing and non-0/1 counts


@dataclass(frozen=True, slots=True)
class SurveyDesign:
    """A complex survey design (weights, strata, PSUs, fpc) bound to its data; never mutated.

    Parameters
    ----------
    frame
        The sample, one row per responding unit (`polars.DataFrame`, or a `polars.LazyFrame`,
        collected once here: the design's codes are aligned with the rows, which a plan whose row
        order varies between collections could not guarantee).
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
    ``adjust`` takes their single PSU total about 0 instead of the undefined stratum mean, as R
    ``survey`` 4.1-1 does (for means, proportions and ratios, whose scores sum to zero, that is the
    grand mean of the PSU totals; for totals it is not, and R >= 4.4-1, svy's ``"center"`` and Stata's
    ``singleunit(centered)`` centre at the grand mean instead); ``average`` replaces
    their contribution by the average of the other strata (multiplies the variance by
    ``strata / strata with two or more PSUs``, counted within the domain).

    **Domains** (``by=``) keep the whole design, as R's ``svyby``/``subset`` do: rows outside the
    domain contribute zero to the scores but their PSUs and strata stay in the variance. A ``by``
    column's null is its own domain. A domain where a variable has no case gives a row with null
    estimate and flag ``empty``.

    **Declared once.** Construction checks the design columns and encodes strata and PSUs into dense
    integer codes; a verb encodes each ``by`` column the first time it is named (kept for the next
    verbs) and reduces every variable in every domain in one pass over one integer key per row, so
    the producer's labels (zero-padded strings, say) are hashed once per design, not once per verb.

    **Missing values** follow R's ``na.rm=TRUE``: a row whose analysis variable is null (or NaN) is out
    of that variable's domain (its weight is set to zero for that variable), the design is kept. Each
    variable has its own missingness; for a ratio, a row needs both numerator and denominator.

    **Degrees of freedom and intervals.** ``df`` is R's ``degf`` of the design restricted to the
    domain's cases with a non-null variable: PSUs with a case minus strata with a case (for the whole
    sample, PSUs minus strata). Every interval uses Student's t with that ``df``, which is what R's
    ``svyciprop`` does; R's ``confint`` on a ``svymean``/``svytotal`` uses the Normal quantile instead
    (``df=Inf``). Intervals are null where ``df`` is 0. `contrast` counts the cases of either side;
    `quantile` uses the t interval on the probability scale (Woodruff).

    **Reference version.** R ``survey`` 4.1-1; where 4.4-1 and later differ (``adjust`` for totals,
    `quantile` when one value holds more than ``q`` of the weight) this follows 4.1-1.

    **Design effect** (``deff``) is R's ``svymean(..., deff=TRUE)``: the design variance over the
    variance under simple random sampling *without* replacement of the same size from a population of
    size ``N = sum(w)``, ``s^2 (N - n) / (N n)`` for a mean (times ``N^2`` for a total), where ``s^2`` is
    the weighted population variance estimate ``n/(n-1) sum w (y - ybar)^2 / sum w`` (R ``svyvar``), all
    within the domain. It is null for ratios, and where ``sum(w) <= n`` (rescaled weights).

    Examples
    --------
    >>> design = SurveyDesign(frame, weight="pw", strata="stype", psu="dnum", fpc="fpc", lonely_psu="adjust")
    >>> design.mean(["api00", "enroll"], by=["stype"])
    >>> design.contrast("api00", by="stype", pairs=[("E", "H")])  # E - H, covariance included
    >>> design.quantile("enroll", q=0.5, by="stype")  # medians with Woodruff intervals
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
    _data: pl.DataFrame = field(init=False, repr=False, compare=False)
    _schema: pl.Schema = field(init=False, repr=False, compare=False)
    _info: DesignInfo = field(init=False, repr=False, compare=False)
    _memo: _Memo = field(init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    def __post_init__(self) -> None:
        cols = DesignColumns(
            weight=self.weight,
            strata=self.strata,
            psu=self.psu,
            fpc=self.fpc,
            lonely_psu=self.lonely_psu,
            nest=self.nest,
        )
        data, schema = check_declaration(self.frame, cols)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_info", inspect_design(data, cols))
        object.__setattr__(self, "_memo", _Memo())

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
        estimands = [Estimand(v, v) for v in _names(variables)]
        return self._estimate("mean", estimands, by=by, level=level, ci="wald", reliability=reliability)

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
        estimands = [Estimand(v, v) for v in _names(variables)]
        return self._estimate("total", estimands, by=by, level=level, ci="wald", reliability=reliability)

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
        estimands = [Estimand(v, v) for v in _names(variables)]
        return self._estimate("proportion", estimands, by=by, level=level, ci=method, reliability=reliability)

    def by_each(
        self,
        statistic: Literal["mean", "total", "proportion"],
        variables: str | Sequence[str],
        domains: Sequence[str | Sequence[str] | None],
        *,
        ci: Literal["logit", "beta", "asin", "wald", "mean"] = "logit",
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> list[pl.DataFrame]:
        """`mean`, `total` or `proportion` in several sets of domains, each estimated separately (one R
        ``svyby`` call per set), from one evaluation of the per-row summands.

        Parameters
        ----------
        statistic
            ``mean``, ``total`` or ``proportion``.
        variables
            As the verb takes them.
        domains
            Per set, the ``by=`` of one verb call: a column, several (crossed), or None (the whole
            sample).
        ci
            Interval method of a proportion (`proportion`); ignored otherwise.
        level
            Confidence level.
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        list of polars.DataFrame
            One per entry of ``domains``, equal to ``verb(variables, by=entry, ...)``.

        Notes
        -----
        The summands of a domain estimate (``w y``, ``w``, ...) do not depend on the domain, which
        enters only through the (domain, PSU) key they are summed by: here they are evaluated once
        and summed by each set's key, which saves most of the work of the calls after the first.

        Examples
        --------
        >>> overall, by_sex, by_region = design.by_each("proportion", ["poor"], [None, "sex", "region"])
        """
        where = "SurveyDesign.by_each"
        if statistic not in ("mean", "total", "proportion"):
            raise DesignError(
                f"unknown statistic {statistic!r}",
                where=where,
                got=repr(statistic),
                hint="use mean, total or proportion.",
            )
        method = "wald" if statistic != "proportion" or ci == "mean" else ci
        check_method(method)
        estimands = [Estimand(v, v) for v in _names(variables)]
        return self._estimate_each(
            statistic, estimands, domains, level=level, ci=method, reliability=reliability
        )

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
        estimands = [Estimand(f"{y}/{x}", y, x) for y, x in zip(ys, xs)]
        return self._estimate("ratio", estimands, by=by, level=level, ci="wald", reliability=reliability)

    def quantile(
        self,
        variables: str | Sequence[str],
        q: float | Sequence[float] = 0.5,
        *,
        by: str | Sequence[str] | None = None,
        level: float = 0.95,
        reliability: Reliability | None = None,
    ) -> pl.DataFrame:
        """Population quantiles with a Woodruff interval (R ``svyquantile(..., ci=TRUE)`` defaults).

        Parameters
        ----------
        variables
            Numeric columns.
        q
            Probabilities in [0, 1] (default the median).
        by
            Domain columns; one row per variable x q x domain.
        level
            Confidence level of ``ci_low``/``ci_high``.
        reliability
            Flag thresholds; defaults to the design's.

        Returns
        -------
        polars.DataFrame
            The ``by`` columns, then ``variable, q, estimate, se, ci_low, ci_high, df, n, weighted_n,
            cv, deff, flag`` (``deff`` is null). A domain where the variable has no case gives a null
            estimate and flag ``empty``; an interval end beyond [0, 1] on the probability scale is
            null, and then so is ``se`` (R: ``NaN``).

        Raises
        ------
        DesignError
            A variable is missing or not numeric; ``q`` outside [0, 1]; ``level`` outside (0, 1).

        Notes
        -----
        R ``svyquantile(~y, design, quantiles=q, ci=TRUE, na.rm=TRUE)`` of survey 4.1-1 (and
        ``svyby(..., svyquantile)`` for domains), with its defaults:

        * **rule** ``qrule="math"``: the smallest value whose cumulative weight share reaches ``q``
          (no interpolation; see `quantiles` for R's one quirk, reproduced);
        * **interval** ``interval.type="mean"`` (Woodruff): the proportion ``P(y <= q_hat)`` is
          estimated with its design SE in the domain, its interval ``m -/+ t(df) se`` is mapped back
          through the rule; an end beyond [0, 1] is null;
        * **SE** ``(ci_high - ci_low) / (2 t(df))``, as R reports it, with ``df`` R ``degf`` of the
          domain's non-missing cases (the df ``svyquantile`` uses).

        Two passes over the data: one collects the domain's values and weights to find ``q_hat``, one
        reduces the indicators ``y <= q_hat`` to PSU sums for their variance (the other verbs' pass).

        Examples
        --------
        >>> design.quantile("income", q=0.5, by="sex")  # medians with Woodruff intervals
        >>> design.quantile(["income", "rent"], q=[0.25, 0.5, 0.75])
        """
        where = "SurveyDesign.quantile"
        names = _names(variables)
        probs = [float(q)] if isinstance(q, (int, float)) else [float(x) for x in q]
        if not names:
            raise DesignError(
                "no variables given", where=where, got="[]", hint="pass at least one column name."
            )
        if not probs or not all(0 <= p <= 1 for p in probs):
            raise DesignError(
                "q must lie in [0, 1]", where=where, got=repr(q), hint="e.g. q=0.5 or q=[0.25, 0.75]."
            )
        if not (0 < level < 1):
            raise DesignError("level must lie in (0, 1)", where=where, got=repr(level))
        by_cols = _names(by)
        stats = self._stats("quantile", names, by_cols)

        def value(col: str) -> pl.Expr:
            e = pl.col(col).cast(pl.Float64)
            return e.fill_nan(None) if self._schema[col].is_float() else e

        # Pass 1: every domain's values and weights, in the data's order (R sorts stably).
        domains, _ = self._domains(by_cols)
        samples = self._samples([value(y) for y in names], domains)
        # Each (variable, q): q_hat per domain, and the indicator y <= q_hat (null where y is null).
        estimands, ind_stats, extra = [], {}, {}
        qhat = np.empty((domains.size, len(names) * len(probs)))
        for j, y in enumerate(names):
            for i, p in enumerate(probs):
                col = f"__le{j}_{i}"
                qhat[:, len(estimands)] = [ss[j].quantile(p) for ss in samples]
                estimands.append(Estimand(col, col))
                ind_stats[col] = ColumnStats(missing=stats[y].missing, non_binary=0)
                extra[col] = (j, y)
        n_q = len(estimands)
        data = self._data.with_columns(  # each row's domain's q_hat, gathered by its domain code
            (value(extra[s.y][1]) <= pl.Series(qhat[domains.codes, c])).cast(pl.Float64).alias(s.y)
            for c, s in enumerate(estimands)
        )
        schema = pl.Schema({**dict(self._schema), **dict.fromkeys((s.y for s in estimands), pl.Float64)})
        # Pass 2: the indicators' PSU sums, then their means and SEs (the other verbs' engine).
        table = self._reduce(
            build_summands(estimands, ind_stats, schema, weight=self.weight), [self._groups(by_cols)], data
        )[0]
        res = self._estimates("mean", [False] * n_q, table)
        n_dom = table.groups.n_domains
        est, se, lo, hi = (np.full((n_dom, n_q), np.nan) for _ in range(4))
        t = t_quantile(level, res["df"])
        for r in range(n_dom):
            for c in range(n_q):
                sample = samples[r][extra[estimands[c].y][0]]
                if sample.n == 0:
                    continue
                est[r, c] = qhat[r, c]
                lo[r, c], hi[r, c], se[r, c] = woodruff(
                    sample, res["estimate"][r, c], res["se"][r, c], t[r, c]
                )
        with np.errstate(divide="ignore", invalid="ignore"):
            cv = np.where(est != 0, se / np.abs(est), np.nan)
        out = result_frame(
            [names[extra[s.y][0]] for s in estimands],
            {
                "estimate": est,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "df": res["df"],
                "n": res["n"],
                "weighted_n": res["weighted_n"],
                "cv": cv,
                "deff": np.full((n_dom, n_q), np.nan),
            },
        ).with_columns(pl.Series("q", np.tile(np.tile(probs, len(names)), n_dom), dtype=pl.Float64))
        out = out.select("variable", "q", *[c for c in out.columns if c not in ("variable", "q")])
        if by_cols:
            dom_rows = table.groups.domains.select(pl.all().gather(np.repeat(np.arange(n_dom), n_q)))
            out = pl.concat([dom_rows, out], how="horizontal").sort(
                by_cols, nulls_last=True, maintain_order=True
            )
        return out.with_columns((reliability or self.reliability).flag_expr())

    def contrast(
        self,
        variables: str | Sequence[str] | Sequence[tuple[str, str]],
        *,
        by: str | Sequence[str] | None = None,
        pairs: Sequence[tuple[object, object]] | Literal["adjacent", "all"] | None = None,
        statistic: Literal["mean", "proportion", "total"] = "mean",
        level: float = 0.95,
    ) -> pl.DataFrame:
        """Differences between estimates sharing the design, with their covariance (R ``svyby(...,
        covmat=TRUE)`` then ``svycontrast``), in one pass over the data.

        Two forms:

        * **between domains** (``pairs`` given, ``by`` required): for every variable and every pair
          ``(a, b)`` of domain values, ``estimate(domain a) - estimate(domain b)``: women vs men,
          Lima vs the rest (a boolean ``by`` column), each age group vs the next (``"adjacent"``).
        * **between variables** (``pairs`` None): ``variables`` is a list of column pairs ``(y_a,
          y_b)``, two definitions of one concept measured on the same units (overcrowding per room
          vs per bedroom); for each pair, ``estimate(y_a) - estimate(y_b)`` in the whole sample, or
          in every domain of ``by``.

        Parameters
        ----------
        variables
            Column names (between domains) or pairs of column names (between variables).
        by
            Domain columns.
        pairs
            Pairs of domain values ``(a, b)``; with several ``by`` columns each value is a tuple
            (``None`` is the domain of null values). ``"adjacent"``: each domain against the next in
            sorted order (nulls last); ``"all"``: every pair ``i < j`` of that order.
        statistic
            ``mean`` (default), ``proportion`` (0/1 variables, as `proportion`) or ``total``.
        level
            Confidence level of ``ci_low``/``ci_high``.

        Returns
        -------
        polars.DataFrame
            Between domains: ``variable, a, b`` (the sides' domain labels as text), then
            ``estimate`` (a - b), ``se``, ``ci_low``, ``ci_high``, ``df``, ``p_value``, and each
            side's ``estimate_a, se_a, estimate_b, se_b``, their covariance ``cov_ab``, ``n_a, n_b``.
            Between variables: the ``by`` columns first, ``variable`` reads ``"y_a - y_b"``, ``a``
            and ``b`` name the variables; same columns.

        Raises
        ------
        DesignError
            ``pairs`` without ``by``, a domain value of ``pairs`` not in the data, variables that are
            not pairs in the between-variables form, or (``proportion``) a variable not 0/1.

        Notes
        -----
        **Covariance.** Each side's linearised score (as in `mean`, `proportion`, `total`; zero
        outside its domain and where its variable is null) is summed to PSU level; the contrast's
        score is their difference and its variance is the design's one variance kernel applied to
        it (``c' V c`` with ``V`` the ``svyby(covmat=TRUE)`` matrix and ``c = (1, -1)``). Domains
        sharing PSUs (women and men of the same households) are positively correlated and the SE
        of their difference is smaller than ``sqrt(se_a^2 + se_b^2)``. As in R, ``V`` is computed on
        the whole design: under ``lonely_psu="average"`` the factor ``strata / strata with two or
        more PSUs`` is the whole design's (the sides' own ``se_a``/``se_b`` keep their domain's
        counts, as `mean` and R's ``svyby`` column ``se``). ``cov_ab = (V(a+b) - V(a-b)) / 4``.

        **Degrees of freedom and interval.** ``df`` is R ``degf`` of the design restricted to the
        cases of either side (PSUs with a case minus strata with a case); the interval is
        ``estimate -/+ t(df) se`` and ``p_value`` the two-sided t test of a zero difference, the
        convention of every verb here (R's ``confint(svycontrast(...))`` uses the Normal quantile;
        ``confint(..., df=)`` reproduces ours). A proportion's difference gets this Wald interval
        too. A side with no case gives null estimate and SE.

        Examples
        --------
        >>> design.contrast("employed", by="sex", pairs=[("female", "male")], statistic="proportion")
        >>> design.contrast("income", by="age_group", pairs="adjacent")
        >>> design.contrast([("crowded_room", "crowded_bedroom")], by="lima", statistic="proportion")
        """
        return self.contrast_each(
            [{"variables": variables, "by": by, "pairs": pairs}], statistic=statistic, level=level
        )[0]

    def contrast_each(
        self,
        requests: Sequence[Mapping[str, object]],
        *,
        statistic: Literal["mean", "proportion", "total"] = "mean",
        level: float = 0.95,
    ) -> list[pl.DataFrame]:
        """Several `contrast` calls on the design, from one evaluation of the per-row summands.

        Parameters
        ----------
        requests
            Per call, its ``variables`` and, if any, its ``by`` and ``pairs``, as `contrast` takes them.
        statistic
            As in `contrast`, for every call.
        level
            Confidence level, for every call.

        Returns
        -------
        list of polars.DataFrame
            One per request, equal to ``contrast(**request, statistic=statistic, level=level)``.

        Notes
        -----
        As in `by_each`, the summands of every variable named are evaluated once and summed by each
        call's (domain, PSU) key: the domain enters only through that key.

        Examples
        --------
        >>> by_sex, variants = design.contrast_each(
        ...     [
        ...         {"variables": ["poor"], "by": "sex", "pairs": [("female", "male")]},
        ...         {"variables": [("crowded_room", "crowded_bedroom")]},
        ...     ],
        ...     statistic="proportion",
        ... )
        """
        where = "SurveyDesign.contrast"
        if statistic not in ("mean", "proportion", "total"):
            raise DesignError(
                f"unknown statistic {statistic!r}",
                where=where,
                got=repr(statistic),
                hint="use mean, proportion or total.",
            )
        if not (0 < level < 1):
            raise DesignError("level must lie in (0, 1)", where=where, got=repr(level))
        calls = [_contrast_call(where, **request) for request in requests]  # type: ignore[arg-type]
        columns = list(dict.fromkeys(c for call in calls for c in call.columns))
        estimands = [Estimand(c, c) for c in columns]
        stats = self._stats(
            statistic, columns, list(dict.fromkeys(c for call in calls for c in call.by_cols))
        )
        if statistic == "proportion":
            require_binary(self._data.lazy(), columns, stats, where)
        summands = build_summands(
            estimands, stats, self._schema, weight=self.weight, patterns=self._patterns(columns, stats)
        )
        tables = self._reduce(summands, [self._groups(call.by_cols) for call in calls])
        kind = "total" if statistic == "total" else "mean"
        # each table dropped once its contrasts are formed: their sums are the largest arrays here
        return [self._contrast_frame(call, kind, columns, tables.pop(0), level, where) for call in calls]

    def _contrast_frame(
        self, call: _ContrastCall, kind: str, columns: list[str], table: _PSUTable, level: float, where: str
    ) -> pl.DataFrame:
        """One `contrast` call's table from the PSU sums of ``columns`` by its domains."""
        by_cols, names, var_pairs, pairs = call.by_cols, call.names, call.var_pairs, call.pairs
        domains = table.groups.domains
        res = self._estimates(kind, [False] * len(columns), table, keep_scores=True)
        col = {c: j for j, c in enumerate(columns)}
        sides: list[tuple[Side, Side]] = []
        labels: list[tuple[str, str, str]] = []
        dom_index: list[int] = []
        if pairs is not None:
            chosen, lookup = _chosen_pairs(pairs, domains, by_cols, where)
            for name in names:
                for a, b in chosen:
                    a_i = lookup[tuple(a) if isinstance(a, list) else a]
                    b_i = lookup[tuple(b) if isinstance(b, list) else b]
                    sides.append((Side(a_i, col[name]), Side(b_i, col[name])))
                    labels.append((name, _label(a), _label(b)))
        else:
            for k in range(table.groups.n_domains):
                for y_a, y_b in var_pairs:
                    sides.append((Side(k, col[y_a]), Side(k, col[y_b])))
                    labels.append((f"{y_a} - {y_b}", y_a, y_b))
                    dom_index.append(k)
        cv = contrast_variance(
            sides,
            res["z"],
            res["present"],
            table.groups.d,
            table.groups.h,
            table.groups.psu,
            strata=self._info.strata,
            lonely_psu=self.lonely_psu,
        )
        pick = {
            key: np.array([res[key][a.domain, a.variable] for a, _ in sides])
            for key in ("estimate", "se", "n")
        }
        pick_b = {
            key: np.array([res[key][b.domain, b.variable] for _, b in sides])
            for key in ("estimate", "se", "n")
        }
        empty = (pick["n"] == 0) | (pick_b["n"] == 0)
        var = np.where(empty, np.nan, cv["var"])
        cols = contrast_columns(pick["estimate"], pick_b["estimate"], var, cv["df"], level)
        data = {
            "variable": [lab[0] for lab in labels],
            "a": [lab[1] for lab in labels],
            "b": [lab[2] for lab in labels],
            **cols,
            "df": cv["df"],
            "estimate_a": pick["estimate"],
            "se_a": pick["se"],
            "estimate_b": pick_b["estimate"],
            "se_b": pick_b["se"],
            "cov_ab": np.where(empty, np.nan, cv["cov"]),
            "n_a": pick["n"],
            "n_b": pick_b["n"],
        }
        schema = {
            c: (
                pl.String
                if c in ("variable", "a", "b")
                else pl.Int64
                if c in ("df", "n_a", "n_b")
                else pl.Float64
            )
            for c in CONTRAST_COLUMNS
        }
        out = pl.DataFrame({c: data[c] for c in CONTRAST_COLUMNS}, schema=schema).with_columns(
            pl.col(pl.Float64).fill_nan(None)
        )
        if pairs is None and by_cols:
            dom_rows = domains.select(pl.all().gather(np.asarray(dom_index)))
            out = pl.concat([dom_rows, out], how="horizontal").sort(
                by_cols, nulls_last=True, maintain_order=True
            )
        return out

    # ------------------------------------------------------------------ engine
    def _domains(self, by_cols: list[str]) -> tuple[Codes, pl.DataFrame]:
        """The domains of ``by_cols`` as dense codes and each code's values of ``by_cols`` (no columns
        without ``by``), encoded the first time a verb names them."""
        key, memo = tuple(by_cols), self._memo.domains
        if key not in memo:  # kept per tuple of columns only: a row's code per column would be n_rows each
            parts = [memo[(c,)][0] if (c,) in memo else encode(self._data[c]) for c in by_cols]
            codes = combine(parts, self._info.n_rows)
            labels = self._data.select(by_cols).gather(representatives(codes)) if by_cols else pl.DataFrame()
            memo[key] = (codes, labels)
        return memo[key]

    def _groups(self, by_cols: list[str]) -> _Groups:
        """Each row's (PSU, domain) group: the one integer key of the reduction."""
        if tuple(by_cols) in self._memo.groups:
            return self._memo.groups[tuple(by_cols)]
        info, n = self._info, self._info.n_rows
        domains, labels = self._domains(by_cols)
        if info.units is None:  # every row is its own PSU: nothing to group
            groups, psu, d, h = None, np.arange(n), domains.codes, info.unit_strata
        elif domains.size == 1:  # no domains: the PSUs are the groups
            groups, psu, d = info.units, np.arange(info.units.size), np.zeros(info.units.size, dtype=np.intp)
            h = info.unit_strata
        else:
            groups = combine([info.units, domains], n)
            if groups.size == info.units.size:  # one domain per PSU (a city): the groups are the PSUs,
                # numbered alike (codes follow the values, PSU first), so the PSU key's rows can serve
                # and `psu_sums` reduces the summands once for both
                groups = Codes(codes=info.units.codes, values=groups.values, counts=groups.counts)
            psu, d = np.divmod(groups.values, domains.size)
            h = info.unit_strata[psu]
        out = _Groups(groups=groups, psu=psu, d=d, h=h, n_domains=domains.size, domains=labels)
        self._memo.groups[tuple(by_cols)] = out
        return out

    def _stats(self, kind: str, columns: list[str], by_cols: list[str]) -> dict[str, ColumnStats]:
        """`checks.check_variables`, each column's stats computed once per design and kept."""
        stats = check_variables(
            self._data.lazy(),
            self._schema,
            kind,
            columns,
            by_cols,
            n_rows=self._info.n_rows,
            known=self._memo.stats,
        )
        self._memo.stats.update(stats)
        return stats

    def _patterns(self, columns: list[str], stats: dict[str, ColumnStats]) -> dict[str, int]:
        """Number each column's missing rows (null, or NaN), equal numbers for equal rows, so that
        variables of one universe share their summands of the weights and counts present."""
        memo = self._memo
        for col in dict.fromkeys(c for c in columns if stats[c].missing and c not in memo.pattern_of):
            missing = self._data[col].is_null()
            if self._schema[col].is_float():
                missing = missing | self._data[col].is_nan().fill_null(True)
            key = np.packbits(missing.to_numpy()).tobytes()
            memo.pattern_of[col] = memo.patterns.setdefault(key, len(memo.patterns))
        return {c: memo.pattern_of[c] for c in columns if c in memo.pattern_of}

    def _samples(self, values: list[pl.Expr], domains: Codes) -> list[list[WeightedSample]]:
        """Per domain code, each expression's non-null values with their weights, in the data's order."""
        columns = (
            self._data.select(
                *(v.alias(f"__y{j}") for j, v in enumerate(values)),
                pl.col(self.weight).cast(pl.Float64).alias("__w"),
            )
            .to_numpy()
            .T
        )
        w = columns[-1]
        order = np.argsort(domains.codes, kind="stable")  # rows grouped by domain, in order within each
        ends = np.cumsum(domains.counts)
        samples = []
        for rows in np.split(order, ends[:-1]):
            w_d = w[rows]
            samples.append([])
            for y in columns[:-1]:
                y_d = y[rows]
                ok = ~np.isnan(y_d)  # null (or NaN) values are out of the domain
                samples[-1].append(WeightedSample.of(y_d[ok], w_d[ok]))
        return samples

    def _reduce(
        self, summands: Summands, groups: Sequence[_Groups], data: pl.DataFrame | None = None
    ) -> list[_PSUTable]:
        """The one pass over the data: the summands per (domain, PSU) group, for each set of domains.

        ``data`` is the design's data with extra columns, rows in the same order (default: the data).
        """
        # a, b, n, W, q each in consecutive rows of the sums: `domains.rows` then takes views.
        ordered = dict(sorted(summands.exprs.items(), key=lambda item: (item[0][:1], len(item[0]), item[0])))
        sums = psu_sums(self._data if data is None else data, [g.groups for g in groups], ordered)
        return [
            _PSUTable(values=values, names=list(ordered), roles=summands.roles, groups=g)
            for values, g in zip(sums, groups, strict=True)
        ]

    def _estimates(
        self, kind: str, is_ratio: list[bool], table: _PSUTable, *, keep_scores: bool = False
    ) -> dict[str, np.ndarray]:
        """`domains.domain_estimates` of one PSU table, with the design's strata and lonely-PSU rule."""
        return domain_estimates(
            kind,
            np.array(is_ratio, dtype=bool),
            table.values,
            table.names,
            table.roles,
            table.groups.d,
            table.groups.h,
            n_domains=table.groups.n_domains,
            strata=self._info.strata,
            lonely_psu=self.lonely_psu,
            keep_scores=keep_scores,
        )

    def _estimate(
        self,
        kind: str,
        estimands: list[Estimand],
        *,
        by: str | Sequence[str] | None,
        level: float,
        ci: str,
        reliability: Reliability | None,
    ) -> pl.DataFrame:
        """One verb's estimates in the domains of ``by`` (`_estimate_each` with one set of domains)."""
        return self._estimate_each(kind, estimands, [by], level=level, ci=ci, reliability=reliability)[0]

    def _estimate_each(
        self,
        kind: str,
        estimands: list[Estimand],
        by_each: Sequence[str | Sequence[str] | None],
        *,
        level: float,
        ci: str,
        reliability: Reliability | None,
    ) -> list[pl.DataFrame]:
        """The estimates in the domains of each entry of ``by_each``, from one evaluation of the summands."""
        where = f"SurveyDesign.{kind}"
        if not estimands:
            raise DesignError(
                "no variables given", where=where, got="[]", hint="pass at least one column name."
            )
        if not (0 < level < 1):
            raise DesignError("level must lie in (0, 1)", where=where, got=repr(level))
        by_cols = [_names(by) for by in by_each]
        columns = [s.y for s in estimands] + [s.x for s in estimands if s.x is not None]
        stats = self._stats(kind, columns, list(dict.fromkeys(c for cols in by_cols for c in cols)))
        if kind == "proportion":
            require_binary(self._data.lazy(), [s.y for s in estimands], stats, where)
        groups = [self._groups(cols) for cols in by_cols]
        patterns = self._patterns(columns, stats)
        per_chunk = max(1, CHUNK_VALUES // (3 * max(1, *(g.size for g in groups))))
        parts: list[list[dict[str, np.ndarray]]] = [[] for _ in groups]
        for start in range(0, len(estimands), per_chunk):  # the same keys for every chunk of variables
            chunk = estimands[start : start + per_chunk]
            summands = build_summands(chunk, stats, self._schema, weight=self.weight, patterns=patterns)
            is_ratio = [s.x is not None for s in chunk]
            tables = self._reduce(summands, groups)
            for part in parts:  # each table dropped once estimated: their sums are the verb's largest arrays
                part.append(self._estimates(kind, is_ratio, tables.pop(0)))
        return [
            self._result_frame(
                kind, estimands, cols, g.domains, part, level=level, ci=ci, reliability=reliability
            )
            for cols, g, part in zip(by_cols, groups, parts, strict=True)
        ]

    def _result_frame(
        self,
        kind: str,
        estimands: list[Estimand],
        by_cols: list[str],
        domains: pl.DataFrame,
        parts: list[dict[str, np.ndarray]],
        *,
        level: float,
        ci: str,
        reliability: Reliability | None,
    ) -> pl.DataFrame:
        """One set of domains' estimates (computed in chunks of variables) as the verb's table."""
        res = {key: np.concatenate([part[key] for part in parts], axis=1) for key in parts[0]}
        if kind == "proportion":
            res["ci_low"], res["ci_high"] = proportion_ci(
                res["estimate"], res["se"], res["df"], res["n"], level, ci
            )
        else:
            res["ci_low"], res["ci_high"] = wald(res["estimate"], res["se"], res["df"], level)
        out = result_frame([s.label for s in estimands], res)
        if by_cols:
            dom_rows = domains.select(pl.all().gather(np.repeat(np.arange(domains.height), len(estimands))))
            out = pl.concat([dom_rows, out], how="horizontal").sort(
                by_cols, nulls_last=True, maintain_order=True
            )
        return out.with_columns((reliability or self.reliability).flag_expr())
