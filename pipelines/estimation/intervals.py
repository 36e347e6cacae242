"""Confidence intervals, vectorised over rows, following R ``survey``'s formulas.

Every interval uses Student's t with the row's design degrees of freedom (R ``degf``), the rule
R's ``svyciprop`` applies. R's ``confint`` on ``svymean``/``svytotal`` defaults to the Normal
quantile instead; pass ``df=inf`` to get that.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from pipelines.errors import DesignError

PROPORTION_METHODS = ("logit", "beta", "asin", "wald", "mean")


def t_quantile(level: float, df: np.ndarray) -> np.ndarray:
    """Two-sided t quantile ``qt(1 - (1 - level) / 2, df)``; NaN where ``df <= 0``."""
    df = np.asarray(df, dtype=float)
    q = np.full(df.shape, np.nan)
    ok = df > 0
    q[ok] = special.stdtrit(df[ok], 0.5 + level / 2)  # what scipy.stats.t.ppf computes, without its import
    return q


def wald(estimate: np.ndarray, se: np.ndarray, df: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``estimate -/+ t * se`` (R ``confint(..., df=degf(design))``; ``svyciprop(method="mean")``)."""
    q = t_quantile(level, df)
    return estimate - q * se, estimate + q * se


def check_method(method: str) -> None:
    """Fail early, naming the choices, on an interval method this module does not know."""
    if method not in PROPORTION_METHODS:
        raise DesignError(
            f"unknown proportion interval method {method!r}",
            where="SurveyDesign.proportion",
            got=repr(method),
            hint=f"use one of {', '.join(PROPORTION_METHODS)}.",
        )


def proportion_ci(
    p: np.ndarray, se: np.ndarray, df: np.ndarray, n: np.ndarray, level: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Interval for a proportion by R ``svyciprop``'s ``method``.

    ``logit``: ``expit(logit(p) -/+ t * se / (p (1 - p)))``, the Wald interval of the
    intercept-only quasi-binomial ``svyglm`` that ``svyciprop`` fits (its SE on the logit scale is
    the delta-method SE used here). ``beta``: Korn-Graubard, the Clopper-Pearson interval at the
    effective sample size ``p (1 - p) / var * (qt(a/2, n - 1) / qt(a/2, df))^2``, where ``n`` is the
    number of sample cases in the domain (R ``nrow(design)`` of the subset). ``asin``:
    ``sin(asin(sqrt(p)) -/+ t * se / (2 sqrt(p (1 - p))))^2``. ``wald`` (alias ``mean``):
    ``p -/+ t * se``. A proportion of exactly 0 or 1 gets the degenerate interval ``[p, p]`` under
    ``logit`` and ``asin`` (R fails there), and under ``beta`` the Clopper-Pearson interval at the nominal ``n`` (R returns NaN there).
    """
    check_method(method)
    p = np.asarray(p, dtype=float)
    se = np.asarray(se, dtype=float)
    q = t_quantile(level, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        interior = (p > 0) & (p < 1)
        if method in ("wald", "mean"):
            return p - q * se, p + q * se
        if method == "logit":
            eta = np.log(p / (1 - p))
            half = q * se / (p * (1 - p))
            lo = np.where(interior, 1 / (1 + np.exp(-(eta - half))), p)
            hi = np.where(interior, 1 / (1 + np.exp(-(eta + half))), p)
            return lo, hi
        if method == "asin":
            centre = np.arcsin(np.sqrt(p))
            half = q * se / (2 * np.sqrt(p * (1 - p)))
            lo = np.where(interior, np.sin(np.clip(centre - half, 0, np.pi / 2)) ** 2, p)
            hi = np.where(interior, np.sin(np.clip(centre + half, 0, np.pi / 2)) ** 2, p)
            return lo, hi
        # beta (Korn-Graubard)
        from scipy import stats  # imported here: scipy.stats alone takes longer to import than a verb runs

        alpha = 1 - level
        n = np.asarray(n, dtype=float)
        n_eff = p * (1 - p) / se**2
        ratio = np.full(p.shape, np.nan)
        ok = (n > 1) & (np.asarray(df, dtype=float) > 0)
        ratio[ok] = stats.t.ppf(alpha / 2, n[ok] - 1) / stats.t.ppf(alpha / 2, np.asarray(df, float)[ok])
        n_eff = np.where(interior, n_eff * ratio**2, n)
        lo = np.where(p > 0, stats.beta.ppf(alpha / 2, n_eff * p, n_eff * (1 - p) + 1), 0.0)
        hi = np.where(p < 1, stats.beta.ppf(1 - alpha / 2, n_eff * p + 1, n_eff * (1 - p)), 1.0)
        return lo, hi
