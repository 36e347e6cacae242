"""Step 1 of every estimate: the per-row quantities (linearised summands) to sum per PSU.

An estimand is a `Spec` (a label, a variable and, for a ratio, a denominator). `build_summands`
turns a list of them into polars expressions: ``a{j}`` (``w y``), ``b{j}`` (``w x`` or ``w`` over
the rows where the variable is present), ``n{j}`` (those rows), ``W{j}`` (their weights, for a
ratio) and ``q{j}`` (``w y^2``, for ``deff``), plus ``__w`` (the weight) and ``__n`` (the row
count). Missing values (null or NaN) put a row out of that variable's domain (R ``na.rm=TRUE``).
The expressions are summed in one pass by `reduce.psu_sums`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.estimation.checks import ColumnStats


@dataclass(frozen=True, slots=True)
class Spec:
    """One estimand: a label and the column(s) it needs."""

    label: str
    y: str
    x: str | None = None  # ratio denominator


def build_summands(
    specs: list[Spec], stats: dict[str, ColumnStats], schema: pl.Schema, *, weight: str
) -> dict[str, pl.Expr | None]:
    """The per-row quantities to sum per PSU: ``a`` (w y), ``b`` (w x or w), ``n``, ``W``, ``q``.

    Columns ``b``, ``n``, ``W`` and ``q`` exist only where they differ from ``__w``, ``__n``,
    ``__w`` and ``a`` (no missing values, 0/1 variable): `domains.sums` falls back to those.
    ``stats`` are the columns' `checks.ColumnStats`, ``schema`` the data's schema and ``weight``
    the design weight column.
    """

    def value(col: str) -> pl.Expr:
        e = pl.col(col).cast(pl.Float64)
        if schema[col].is_float() and stats[col].missing:
            e = e.fill_nan(None)
        return e

    w = pl.col(weight).cast(pl.Float64)
    out: dict[str, pl.Expr | None] = {"__w": w, "__n": None}
    for j, s in enumerate(specs):
        y = value(s.y)
        has_missing = bool(stats[s.y].missing) or (s.x is not None and bool(stats[s.x].missing))
        if s.x is None:
            out[f"a{j}"] = w * y
            if has_missing:
                ok = y.is_not_null()
                out[f"b{j}"] = pl.when(ok).then(w)
                out[f"n{j}"] = ok.cast(pl.UInt32)
            if stats[s.y].non_binary != 0:  # y^2 != y: sum w y^2 for deff
                out[f"q{j}"] = w * y * y
        else:
            x = value(s.x)
            if has_missing:
                ok = y.is_not_null() & x.is_not_null()
                out[f"a{j}"] = pl.when(ok).then(w * y)
                out[f"b{j}"] = pl.when(ok).then(w * x)
                out[f"W{j}"] = pl.when(ok).then(w)
                out[f"n{j}"] = ok.cast(pl.UInt32)
            else:
                out[f"a{j}"] = w * y
                out[f"b{j}"] = w * x
    return out
