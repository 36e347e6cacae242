"""Reliability flags attached to every estimate row.

One rule, applied by every verb: a row is ``empty`` when its domain has no sample case with a
non-null variable, ``n<{min_n}`` when it has fewer cases than `Reliability.min_n`, ``cv>{max_cv}``
when its coefficient of variation exceeds `Reliability.max_cv`, and ``ok`` otherwise. The first
rule that matches wins (empty > n < min_n > cv > max_cv > ok).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.errors import DesignError


@dataclass(frozen=True, slots=True)
class Reliability:
    """Thresholds for the ``flag`` column.

    Parameters
    ----------
    min_n
        Fewest unweighted sample cases for a publishable estimate. Default 30: INEI (and most
        national statistical offices) suppress or footnote estimates resting on fewer than 30
        sample cases, by convention.
    max_cv
        Largest coefficient of variation (``se / |estimate|``) for a reliable estimate. Default
        0.30: the NCHS (US National Center for Health Statistics) presentation standard treats
        relative standard errors of 30 % or more as unreliable. INEI is stricter and publishes
        estimates with a CV above 15 % as *referential* only; pass ``Reliability(max_cv=0.15)``
        to apply INEI's rule (the flag then reads ``cv>0.15``).

    Notes
    -----
    The flag's text carries the threshold (``n<30``, ``cv>0.3``), so a table never hides which rule
    produced it.
    """

    min_n: int = 30
    max_cv: float = 0.30

    def __post_init__(self) -> None:
        if not (isinstance(self.min_n, int) and self.min_n >= 0):
            raise DesignError(
                "min_n must be a non-negative integer", where="Reliability", got=repr(self.min_n)
            )
        if not (self.max_cv > 0):
            raise DesignError("max_cv must be positive", where="Reliability", got=repr(self.max_cv))

    @property
    def labels(self) -> tuple[str, str, str, str]:
        """The four flag values, best first: ok, cv>max_cv, n<min_n, empty."""
        return ("ok", f"cv>{self.max_cv:g}", f"n<{self.min_n}", "empty")

    def flag_expr(self) -> pl.Expr:
        """A polars expression computing ``flag`` from the ``n`` and ``cv`` columns."""
        ok, high_cv, small_n, empty = self.labels
        return (
            pl.when(pl.col("n") == 0)
            .then(pl.lit(empty))
            .when(pl.col("n") < self.min_n)
            .then(pl.lit(small_n))
            .when(pl.col("cv").is_null() | pl.col("cv").is_nan() | (pl.col("cv") > self.max_cv))
            .then(pl.lit(high_cv))
            .otherwise(pl.lit(ok))
            .alias("flag")
        )
