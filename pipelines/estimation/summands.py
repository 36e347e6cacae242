"""Step 1 of every estimate: the per-row quantities (linearised summands) to sum per PSU.

An estimand is an `Estimand` (a label, a variable and, for a ratio, a denominator). `build_summands`
turns a list of them into polars expressions and says which summand plays which role for each
estimand: ``a`` (``w y``), ``b`` (``w x``, or ``w`` over the rows where the variable is present),
``n`` (those rows), ``W`` (their weights, for a ratio) and ``q`` (``w y^2``, for ``deff``); ``__w``
(the weight) and ``__n`` (the row count) stand in wherever nothing is missing. Missing values (null
or NaN) put a row out of that variable's domain (R ``na.rm=TRUE``). Variables missing on exactly
the same rows (the indicators of one universe, typically) share their ``b`` and ``n`` summands. The
expressions are summed in one pass by `reduce.psu_sums`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from pipelines.estimation.checks import ColumnStats

ROLES = ("a", "b", "n", "W", "q")


@dataclass(frozen=True, slots=True)
class Estimand:
    """One estimand: a label and the column(s) it needs."""

    label: str
    y: str
    x: str | None = None  # ratio denominator


@dataclass(frozen=True, slots=True)
class Summands:
    """The per-row expressions to sum (None counts the rows), and per role the summand of each estimand.

    ``roles[r][j]`` names the summand playing role ``r`` (one of `ROLES`) for estimand ``j``.
    """

    exprs: dict[str, pl.Expr | None]
    roles: dict[str, list[str]]


def build_summands(
    estimands: list[Estimand],
    stats: dict[str, ColumnStats],
    schema: pl.Schema,
    *,
    weight: str,
    patterns: Mapping[str, int] | None = None,
) -> Summands:
    """The per-row quantities to sum per PSU and their roles (module docstring).

    ``stats`` are the columns' `checks.ColumnStats`, ``schema`` the data's schema and ``weight`` the
    design weight column. ``patterns`` numbers the missingness pattern of each variable with missing
    values (equal numbers: missing on the same rows); without it no summand is shared.
    """

    def value(col: str) -> pl.Expr:
        e = pl.col(col).cast(pl.Float64)
        if schema[col].is_float() and stats[col].missing:
            e = e.fill_nan(None)
        return e

    w = pl.col(weight).cast(pl.Float64)
    exprs: dict[str, pl.Expr | None] = {"__w": w, "__n": None}
    roles: dict[str, list[str]] = {r: [] for r in ROLES}

    def add(role: str, name: str, expr: pl.Expr | None = None) -> None:
        if expr is not None:
            exprs.setdefault(name, expr)
        roles[role].append(name)

    for j, s in enumerate(estimands):
        y = value(s.y)
        has_missing = bool(stats[s.y].missing) or (s.x is not None and bool(stats[s.x].missing))
        if s.x is None:
            add("a", f"a{j}", w * y)
            if has_missing:
                ok = y.is_not_null()
                shared = f"@{patterns[s.y]}" if patterns and s.y in patterns else str(j)
                add("b", f"b{shared}", pl.when(ok).then(w))
                add("n", f"n{shared}", ok.cast(pl.UInt32))
            else:
                add("b", "__w")
                add("n", "__n")
            add("W", "__w")
            if stats[s.y].non_binary != 0:  # y^2 != y: sum w y^2 for deff
                add("q", f"q{j}", w * y * y)
            else:
                add("q", f"a{j}")
        else:
            x = value(s.x)
            if has_missing:
                ok = y.is_not_null() & x.is_not_null()
                add("a", f"a{j}", pl.when(ok).then(w * y))
                add("b", f"b{j}", pl.when(ok).then(w * x))
                add("W", f"W{j}", pl.when(ok).then(w))
                add("n", f"n{j}", ok.cast(pl.UInt32))
            else:
                add("a", f"a{j}", w * y)
                add("b", f"b{j}", w * x)
                add("W", "__w")
                add("n", "__n")
            add("q", f"a{j}")  # unused: a ratio has no deff
    return Summands(exprs=exprs, roles=roles)
