"""The one pass over the data: sums of summands per (domain, stratum, PSU).

This step is engine-neutral on purpose: its contract is "group the rows by these keys and sum
these per-row quantities", which any engine (polars here; DuckDB, Spark or a GPU frame elsewhere)
can do. Everything after it works on the small table it returns, so swapping the engine only means
reimplementing `psu_sums`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

# Names of the stratum and PSU keys in the tables built from `psu_sums` and at construction.
STRATUM_KEY = "__stratum__"
PSU_KEY = "__psu__"


def psu_sums(
    frame: pl.LazyFrame,
    *,
    keys: Sequence[pl.Expr],
    summands: Mapping[str, pl.Expr | None],
    firsts: Sequence[pl.Expr] = (),
    per_row: bool = False,
) -> pl.DataFrame:
    """Sum every summand within each group of ``keys`` in one pass.

    Parameters
    ----------
    frame
        The survey rows.
    keys
        Grouping expressions, normally the domain columns, the stratum and the PSU. Null key values
        form their own group.
    summands
        Output name -> per-row expression to sum; None counts the rows. Nulls count as 0 (they are
        left out of the sum).
    firsts
        Expressions constant within each group (an attribute of the group, such as the stratum of
        a PSU): the group's first value is returned rather than grouping by them too.
    per_row
        When the design has no PSU column every row is its own PSU, so there is nothing to reduce:
        return the keys and summands row by row instead of grouping.

    Returns
    -------
    polars.DataFrame
        One row per group (or per input row with ``per_row``): the keys, then one column per summand,
        then the ``firsts``.
    """
    if per_row:
        cols = [
            pl.lit(1, dtype=pl.UInt32).alias(name) if expr is None else expr.fill_null(0).alias(name)
            for name, expr in summands.items()
        ]
        return frame.select(*keys, *cols, *firsts).collect()
    aggs = [
        pl.len().alias(name) if expr is None else expr.sum().alias(name) for name, expr in summands.items()
    ]
    return frame.group_by(*keys).agg(*aggs, *(e.first() for e in firsts)).collect()
