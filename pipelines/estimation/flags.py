"""Reliability flags attached to every estimate row.

One rule, applied by every verb: a row is ``empty`` when its domain has no sample case with a
non-null variable, ``small_n`` when it has fewer cases than `Reliability.min_n`, ``high_cv`` when
its coefficient of variation exceeds `Reliability.max_cv`, and ``ok`` otherwise. The first rule that
matches wins (empty > small_n > high_cv > ok).

The four words are defined here once (`FLAGS`): the engine writes them, the indicator table stores
them as they come, and the report keys its words and symbols on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipelines.errors import DesignError

OK, HIGH_CV, SMALL_N, EMPTY = "ok", "high_cv", "small_n", "empty"
FLAGS = (OK, HIGH_CV, SMALL_N, EMPTY)
"""The reliability flags, best first."""
CAUTION = (HIGH_CV, SMALL_N)
"""The flags of an estimate that is there but must be read with caution (the report draws it hollow)."""


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
        to apply INEI's rule.

    Notes
    -----
    The flag names the rule (``small_n``, ``high_cv``), not its threshold: the thresholds are this
    object's, and a reader that prints them takes them from where the thresholds were set (the
    catalogue's ``parameters.yaml`` for the indicator table).
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

    def flag_expr(self) -> pl.Expr:
        """A polars expression computing ``flag`` (one of `FLAGS`) from the ``n`` and ``cv`` columns."""
        return (
            pl.when(pl.col("n") == 0)
            .then(pl.lit(EMPTY))
            .when(pl.col("n") < self.min_n)
            .then(pl.lit(SMALL_N))
            .when(pl.col("cv").is_null() | pl.col("cv").is_nan() | (pl.col("cv") > self.max_cv))
            .then(pl.lit(HIGH_CV))
            .otherwise(pl.lit(OK))
            .alias("flag")
        )
