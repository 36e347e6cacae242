"""Derivations the crosswalk cannot express as a lookup, referenced from `variables.csv` as `derive:<name>`.

Each derivation takes the source columns named in the crosswalk row (in order) as polars expressions and returns one
expression. Household aggregates (`count_*`) are evaluated per household over the person rows of their module.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

# INEI writes a category as `<code>.<label>` in its CSV and as the bare code in SPSS/Stata and the consolidated
# file; a number such as `36.84` is not a category (a digit follows the dot).
_CODE_LABEL = r"^(\d+)\.(?:\D|$)"


def code_of(value: pl.Expr) -> pl.Expr:
    """INEI's bare code of a category value (`2.Mujer` -> `2`, `2` -> `2`); other text passes unchanged."""
    return pl.coalesce(value.str.extract(_CODE_LABEL, 1), value)


def age_years(years: pl.Expr, months: pl.Expr) -> pl.Expr:
    """Completed years; INEI leaves years blank for infants under one year and fills months instead: age 0."""
    return (
        pl.when(years.is_not_null()).then(years.cast(pl.Int16))
        .when(months.is_not_null()).then(pl.lit(0, pl.Int16))
    )


def count_residents(order_number: pl.Expr) -> pl.Expr:
    """Usual residents: every person row of the household (module 200 lists residents only)."""
    return order_number.count().cast(pl.Int16)


def count_migrants(migrated: pl.Expr) -> pl.Expr:
    """Residents who migrated from Venezuela (code 1 = Sí)."""
    return code_of(migrated).eq("1").sum().cast(pl.Int16)


DERIVATIONS: dict[str, Callable[..., pl.Expr]] = {
    "age_years": age_years,
    "count_residents": count_residents,
    "count_migrants": count_migrants,
}
AGGREGATES = frozenset({"count_residents", "count_migrants"})
