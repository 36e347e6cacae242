"""Inspection and validation of a survey's columns, for `SurveyDesign`.

At construction (`check_declaration`, then `inspect_design`) the design columns (weight, strata,
PSU, fpc) are checked, and the strata and PSUs are encoded once into dense integer codes
(`encode`): what construction learns (each row's PSU code, each PSU's stratum, PSUs and fpc factor
per stratum, degrees of freedom, lonely strata) is kept as a `DesignInfo` and reused by every verb.
At each estimate (`check_variables`, `require_binary`) the analysis columns are checked and
summarised in one cheap pass as `ColumnStats`. Every failure raises `DesignError` naming the column,
the count of offending rows and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from pipelines.errors import DesignError
from pipelines.estimation.encode import Codes, combine, dense, encode, representatives
from pipelines.estimation.variance import CERTAINTY_TOL, StrataInfo

LonelyPSU = Literal["adjust", "remove", "average", "fail"]
LONELY_RULES = ("adjust", "remove", "average", "fail")

_WHERE = "SurveyDesign"


def preview(values: Sequence[object], limit: int = 5) -> str:
    """The first ``limit`` values, repr'd and comma-separated, with a count of the rest."""
    shown = ", ".join(repr(v) for v in list(values)[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")


@dataclass(frozen=True, slots=True)
class DesignInfo:
    """What construction learns about the design columns (computed once, reused by every verb).

    Attributes
    ----------
    units
        Each row's PSU as a dense code (`encode.Codes`), unique across strata; None when every row
        is its own PSU (no PSU column).
    unit_strata
        Each PSU's stratum code (per row when ``units`` is None); a stratum's code is the position
        of its label in ``strata_labels``.
    """

    strata: StrataInfo
    n_rows: int
    n_psu: int
    degf: int
    lonely_strata: tuple[object, ...]
    strata_labels: pl.Series | None  # sorted: a stratum's code is its position here
    units: Codes | None
    unit_strata: np.ndarray


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """What one cheap pass learns about an analysis column."""

    missing: int  # null or NaN values
    non_binary: int | None  # rows not in {0, 1} (None: some, not counted yet); 0 means an indicator


@dataclass(frozen=True, slots=True)
class DesignColumns:
    """The design's column names and options, as declared on `SurveyDesign`."""

    weight: str
    strata: str | None
    psu: str | None
    fpc: str | None
    lonely_psu: str
    nest: bool

    def roles(self) -> dict[str, str | None]:
        return {"weight": self.weight, "strata": self.strata, "psu": self.psu, "fpc": self.fpc}


# ---------------------------------------------------------------------- construction
def check_declaration(frame: object, cols: DesignColumns) -> tuple[pl.DataFrame, pl.Schema]:
    """Check the frame type, the lonely-PSU rule and the design columns' presence and dtypes.

    Returns the frame as a DataFrame (a LazyFrame is collected here, once: the design's codes are
    aligned with its rows, and a plan whose row order varies between collections, such as a
    ``group_by``, would otherwise pair a row with another row's PSU) and its schema.
    """
    if not isinstance(frame, (pl.DataFrame, pl.LazyFrame)):
        raise DesignError(
            "frame must be a polars DataFrame or LazyFrame",
            where=_WHERE,
            got=type(frame).__name__,
            hint="convert with pl.from_pandas(...) or pl.DataFrame(...).",
        )
    if cols.lonely_psu not in LONELY_RULES:
        raise DesignError(
            f"unknown lonely_psu rule {cols.lonely_psu!r}",
            where=_WHERE,
            got=repr(cols.lonely_psu),
            hint=f"use one of {', '.join(LONELY_RULES)}.",
        )
    schema = frame.collect_schema()
    for role, col in cols.roles().items():
        if col is not None and col not in schema:
            raise DesignError(
                f"{role} column {col!r} is not in the data",
                where=_WHERE,
                got=col,
                hint=f"available columns: {preview(list(schema.names()), 12)}.",
            )
    for role in ("weight", "fpc"):
        col = cols.roles()[role]
        if col is not None and not schema[col].is_numeric():
            raise DesignError(
                f"{role} column {col!r} has dtype {schema[col]}, not numeric",
                where=_WHERE,
                got=str(schema[col]),
                hint=f"cast it: pl.col({col!r}).cast(pl.Float64).",
            )
    return (frame.collect() if isinstance(frame, pl.LazyFrame) else frame), schema


def inspect_design(df: pl.DataFrame, cols: DesignColumns) -> DesignInfo:
    """Validate the design columns' values, encode strata and PSUs, learn the per-stratum constants.

    One pass counts rows and bad weights; strata and PSUs are then encoded (`encode`) and every
    later check (PSUs nested in strata, fpc constant within a stratum, PSUs per stratum) runs on the
    integer codes. Strata are numbered by their sorted labels (`DesignInfo.strata_labels`). With PSU
    labels unique across strata (``nest=False``) the PSUs are encoded first and the stratum is read
    as the PSU's attribute: its labels are encoded once per PSU, and each row's label is checked
    against its PSU's.
    """
    c = df.select(_count_exprs(cols)).row(0, named=True)
    n_rows = int(c["rows"])
    _check_counts(c, n_rows, cols)
    units = None
    if cols.psu and cols.strata and not cols.nest:
        units = encode(df[cols.psu])
        strata_labels, unit_strata = _strata_of_units(df, cols, units)
        h = unit_strata[units.codes] if cols.fpc else None
    else:
        strata_labels, stratum_codes, h = _strata(df, cols)
        unit_strata = h
        if cols.psu:  # with nest=True the unit is the (stratum, PSU label) pair
            units = combine([stratum_codes, encode(df[cols.psu])], n_rows) if cols.strata else encode(df[cols.psu])
            unit_strata = np.zeros(units.size, dtype=np.intp)
            unit_strata[units.codes] = h
    n_strata = 1 if strata_labels is None else strata_labels.len()
    n_psu = np.bincount(unit_strata, minlength=n_strata).astype(np.int64)
    fpc_factor = _fpc_factor(df, h, n_psu, strata_labels, cols) if cols.fpc else np.ones(n_strata)
    lonely_labels = _lonely_strata(strata_labels, n_psu, fpc_factor, cols)
    total_psu = int(n_psu.sum())
    return DesignInfo(
        strata=StrataInfo(n_psu=n_psu, fpc_factor=fpc_factor),
        n_rows=n_rows,
        n_psu=total_psu,
        degf=total_psu - n_strata,
        lonely_strata=lonely_labels,
        strata_labels=strata_labels,
        units=units,
        unit_strata=unit_strata,
    )


def _strata(df: pl.DataFrame, cols: DesignColumns) -> tuple[pl.Series | None, Codes, np.ndarray]:
    """The sorted stratum labels (None without strata), the strata's `Codes` and each row's stratum
    code renumbered to the rank of its label (the design's stratum numbering)."""
    if not cols.strata:
        codes = combine([], df.height)
        return None, codes, codes.codes
    labels, h = _sorted_codes(df[cols.strata])
    return labels, dense(h, labels.len()), h


def _sorted_codes(labels: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The distinct labels sorted, and each value's position among them."""
    codes = encode(labels)
    distinct = labels.gather(representatives(codes))
    order = distinct.arg_sort().to_numpy()
    rank = np.empty(codes.size, dtype=np.intp)
    rank[order] = np.arange(codes.size, dtype=np.intp)
    return distinct.gather(order), rank[codes.codes]


def _strata_of_units(df: pl.DataFrame, cols: DesignColumns, units: Codes) -> tuple[pl.Series, np.ndarray]:
    """The sorted stratum labels and each PSU's stratum code, read at one row of each PSU; raise naming the
    PSU labels found in more than one stratum (R ``svydesign`` without ``nest=TRUE``)."""
    labels = df[cols.strata]
    per_unit = labels.gather(representatives(units))
    at_rows = per_unit.gather(units.codes)
    if not labels.equals(at_rows):
        _raise_unnested(df, cols, units, (labels != at_rows).to_numpy())
    return _sorted_codes(per_unit)


def _raise_unnested(df: pl.DataFrame, cols: DesignColumns, units: Codes, elsewhere: np.ndarray) -> None:
    """Raise naming the PSU labels found in more than one stratum (and their rows); ``elsewhere`` marks the
    rows whose stratum differs from another row's of their PSU."""
    bad = np.unique(units.codes[elsewhere])
    labels = df[cols.psu].gather(representatives(units)[bad]).to_list()
    raise DesignError(
        f"PSU column {cols.psu!r}: {bad.size} PSU label(s) appear in more than one stratum of "
        f"{cols.strata!r} ({int(units.counts[bad].sum())} rows), e.g. {preview(labels, 3)}",
        where=_WHERE,
        got=f"{bad.size} PSUs in several strata",
        hint="if PSU labels are only unique within strata pass nest=True "
        "(R svydesign(nest=TRUE)); otherwise fix the labels.",
    )


def _count_exprs(cols: DesignColumns) -> list[pl.Expr]:
    """Row count, bad weights, and nulls of each design column, as one-row aggregations."""
    w = pl.col(cols.weight).cast(pl.Float64)
    checks = [
        pl.len().alias("rows"),
        w.is_null().sum().alias("w_null"),
        ((w <= 0) | ~w.is_finite()).sum().alias("w_bad"),
    ]
    for role in ("strata", "psu", "fpc"):
        col = cols.roles()[role]
        if col is not None:
            checks.append(pl.col(col).is_null().sum().alias(f"{role}_null"))
    return checks


def _check_counts(c: Mapping[str, Any], n_rows: int, cols: DesignColumns) -> None:
    """Raise on null or non-positive weights, null design labels, or an empty frame."""
    if c["w_null"]:
        raise DesignError(
            f"weight column {cols.weight!r} is null in {c['w_null']} of {n_rows} rows",
            where=_WHERE,
            got=f"{c['w_null']} null weights",
            hint="drop or impute those rows before declaring the design; a design weight is never missing.",
        )
    if c["w_bad"]:
        raise DesignError(
            f"weight column {cols.weight!r} is zero, negative or not finite in {c['w_bad']} of {n_rows} rows",
            where=_WHERE,
            got=f"{c['w_bad']} non-positive weights",
            hint="weights are 1/probability and must be > 0; to leave rows out of an estimate use by= (domains).",
        )
    for role in ("strata", "psu", "fpc"):
        col = cols.roles()[role]
        if col is not None and c[f"{role}_null"]:
            raise DesignError(
                f"{role} column {col!r} is null in {c[f'{role}_null']} of {n_rows} rows",
                where=_WHERE,
                got=f"{c[f'{role}_null']} nulls",
                hint=f"every row needs a {role} value; fill it from the sample frame.",
            )
    if n_rows == 0:
        raise DesignError("the data has no rows", where=_WHERE, got="0 rows")


def certainty(fpc_factor: np.ndarray) -> np.ndarray:
    """Strata sampled completely (``1 - n_h/N_h`` below R ``onestrat``'s 1e-7): no variance."""
    return np.asarray(fpc_factor) < CERTAINTY_TOL


def _fpc_factor(
    df: pl.DataFrame, h: np.ndarray, n_psu: np.ndarray, labels: pl.Series | None, cols: DesignColumns
) -> np.ndarray:
    """``1 - n_h/N_h`` per stratum (``1 - f_h`` for sampling fractions), after checking the fpc.

    Notes
    -----
    As R ``svydesign``: the fpc is constant within a stratum and positive; all values <= 1 are
    sampling fractions, all values >= 1 population counts of PSUs (never fewer than the sampled
    PSUs); a mix of the two conventions is an error.
    """
    fpc = df[cols.fpc].cast(pl.Float64).to_numpy()
    first = np.empty(n_psu.shape[0])
    first[h] = fpc  # one row's value per stratum; every row must agree with it
    varying = np.unique(h[fpc != first[h]])
    if varying.size:
        raise DesignError(
            f"fpc column {cols.fpc!r} varies within {varying.size} stratum/strata",
            where=_WHERE,
            got=preview(labels.gather(varying).to_list()) if labels is not None else "varies",
            hint="the first-stage fpc is one number per stratum (population PSUs or sampling fraction).",
        )
    lo = hi = first
    if (lo <= 0).any():
        raise DesignError(
            f"fpc column {cols.fpc!r} has non-positive values",
            where=_WHERE,
            got=str(lo.min()),
            hint="give population sizes (>= sampled PSUs) or sampling fractions in (0, 1].",
        )
    if (hi <= 1).all():
        return 1.0 - hi
    if (lo >= 1).all():
        small = hi < n_psu
        if small.any():
            raise DesignError(
                f"fpc column {cols.fpc!r} is smaller than the number of sampled PSUs in "
                f"{int(small.sum())} stratum/strata",
                where=_WHERE,
                got=f"fpc {hi[small][0]:g} < {n_psu[small][0]} PSUs",
                hint="fpc is the population count of PSUs in the stratum (or a sampling fraction <= 1).",
            )
        return 1.0 - n_psu / hi
    raise DesignError(
        f"fpc column {cols.fpc!r} mixes sampling fractions (<= 1) and population sizes (> 1)",
        where=_WHERE,
        got=f"min {lo.min():g}, max {hi.max():g}",
        hint="use one convention for every stratum, as R svydesign requires.",
    )


def _lonely_strata(
    labels: pl.Series | None, n_psu: np.ndarray, fpc_factor: np.ndarray, cols: DesignColumns
) -> tuple[object, ...]:
    """Labels of the strata with a single PSU; raise if there are any and the rule is ``fail``.

    A single PSU that is the whole stratum's population (fpc factor 0: a certainty PSU) is not
    lonely: it contributes no variance whatever the rule, as in R ``svydesign``/``onestrat``.
    """
    lonely = (n_psu == 1) & ~certainty(fpc_factor)
    lonely_labels = (
        tuple(labels.filter(pl.Series(lonely)).to_list())
        if labels is not None
        else (("(whole sample)",) if lonely.any() else ())
    )
    if lonely.any() and cols.lonely_psu == "fail":
        raise DesignError(
            f"{int(lonely.sum())} stratum/strata of {cols.strata!r} have a single PSU: {preview(lonely_labels, 10)}",
            where=_WHERE,
            got=f"{int(lonely.sum())} lonely PSUs",
            hint='choose a rule: lonely_psu="adjust" (the lonely PSU about 0, as R 4.1-1), "remove" or "average", '
            "as R options(survey.lonely.psu=...), or collapse those strata.",
        )
    return lonely_labels


# ---------------------------------------------------------------------- analysis variables
def check_variables(
    lf: pl.LazyFrame,
    schema: pl.Schema,
    kind: str,
    columns: list[str],
    by: list[str],
    *,
    n_rows: int,
    known: Mapping[str, ColumnStats] | None = None,
) -> dict[str, ColumnStats]:
    """Check names and dtypes; count missing (null or NaN) and non-0/1 values per column (except the
    columns whose stats are ``known`` already, from an earlier verb on the same data)."""
    where = f"SurveyDesign.{kind}"
    for col in [*columns, *by]:
        if col not in schema:
            raise DesignError(
                f"column {col!r} is not in the data",
                where=where,
                got=col,
                hint=f"available columns: {preview(list(schema.names()), 12)}.",
            )
    for col in columns:
        dtype = schema[col]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise DesignError(
                f"variable {col!r} has dtype {dtype}, not numeric or boolean ({n_rows} rows)",
                where=where,
                got=str(dtype),
                hint=f"recode it to a number or an indicator first, e.g. (pl.col({col!r}) == 'yes').",
            )
    known = known or {}
    todo = [col for col in dict.fromkeys(columns) if col not in known]
    exprs = []
    for col in todo:
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
    stats = lf.select(exprs).collect().row(0, named=True) if exprs else {}
    out: dict[str, ColumnStats] = {col: known[col] for col in dict.fromkeys(columns) if col in known}
    for col in todo:
        if schema[col] == pl.Boolean:
            bad = 0
        elif schema[col].is_integer():
            bad = None if not stats[f"binary:{col}"] else 0  # counted only if needed
        else:
            bad = int(stats[f"nonbinary:{col}"])
        out[col] = ColumnStats(missing=int(stats[f"missing:{col}"]), non_binary=bad)
    return out


def count_non_binary(lf: pl.LazyFrame, col: str) -> int:
    """Rows whose ``col`` is neither 0, 1 nor null (for the error message)."""
    c = pl.col(col)
    return int(lf.select((c.is_not_null() & (c != 0) & (c != 1)).sum()).collect().item())


def require_binary(lf: pl.LazyFrame, variables: list[str], stats: dict[str, ColumnStats], where: str) -> None:
    """Raise unless every variable of a proportion is an indicator (0/1)."""
    for y in variables:
        if stats[y].non_binary != 0:
            bad = stats[y].non_binary
            bad = count_non_binary(lf, y) if bad is None else bad
            raise DesignError(
                f"variable {y!r} holds values other than 0 and 1 in {bad} rows",
                where=where,
                got=f"{bad} rows not in {{0, 1}}",
                hint=f"a proportion needs an indicator; recode it, e.g. (pl.col({y!r}) == 1), or use mean().",
            )
