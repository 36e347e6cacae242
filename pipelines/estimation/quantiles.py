"""Weighted quantiles and their Woodruff interval, as R ``svyquantile`` (survey 4.1-1) computes them
by default (``qrule="math"``, ``interval.type="mean"``, ``df=degf(design)``).

* **Rule** (``qrule_math``): the weighted empirical distribution is inverted: sort the domain's
  values (stably), accumulate their weights ``C_i`` (total ``W``), and take the first ``x_(i)``
  whose ``C_i >= p W`` (a value whose cumulative share equals ``p`` exactly is returned itself,
  without averaging with the next). R's helper has one quirk, reproduced: when even the smallest
  value's weight exceeds ``p W`` (always at ``p = 0``) it returns the *second* smallest value
  (``last()`` of an all-false vector is 1, and the "not exact" test ``wlow == 0`` then steps to the
  next value). R survey 4.4-1 and later test ``wlow <= 0`` and return the smallest value there.
* **Interval** (Woodruff 1952): the proportion ``m = P(y <= q_hat)`` is estimated with its design
  SE (a `mean` of the indicator, in the same domain); its Wald interval ``m -/+ t(df) se`` on the
  probability scale is mapped back through the same rule. An end outside [0, 1] is null, as in R.
* **SE** as R reports it: ``(upper - lower) / (2 t(df))``, the half-width over the quantile of t.

Cumulative weights are accumulated in extended precision (``numpy.longdouble``) and rounded to
double at each step, as R's ``cumsum`` and ``sum`` do, so that the comparisons ``C_i <= p W`` tie
exactly where R's do (equal weights make exact ties common).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class WeightedSample:
    """One domain's non-missing values, sorted (stably), with R-style cumulative weights."""

    x: np.ndarray
    cumw: np.ndarray
    total: float

    @classmethod
    def of(cls, x: np.ndarray, w: np.ndarray) -> WeightedSample:
        order = np.argsort(x, kind="stable")
        cum = np.cumsum(w[order].astype(np.longdouble))
        total = float(np.cumsum(w.astype(np.longdouble))[-1]) if w.size else 0.0
        return cls(x=x[order], cumw=cum.astype(np.float64), total=total)

    @property
    def n(self) -> int:
        return int(self.x.size)

    def quantile(self, p: float) -> float:
        """R ``survey:::qrule_math(x, w, p)``; NaN for an empty sample or a NaN ``p``."""
        if self.n == 0 or not np.isfinite(p):
            return float("nan")
        pos = int(np.searchsorted(self.cumw, p * self.total, side="right")) - 1  # last C_i <= pW
        pos = max(pos, 0)  # R's last() of an all-false vector is the first position
        if p - self.cumw[pos] / self.total == 0:
            return float(self.x[pos])
        return float(self.x[min(pos + 1, self.n - 1)])


def woodruff(sample: WeightedSample, m: float, se: float, t: float) -> tuple[float, float, float]:
    """Woodruff interval and R's SE from the estimated ``m = P(y <= q_hat)`` and its ``se``.

    ``t`` is the t quantile with the domain's df (NaN when df is 0). Returns ``(lower, upper, se)``;
    an end whose probability falls outside [0, 1] (or is NaN) is NaN, and so is the SE then.
    """
    p_lo, p_hi = m - t * se, m + t * se
    lower = sample.quantile(p_lo) if np.isfinite(p_lo) and p_lo >= 0 else float("nan")
    upper = sample.quantile(p_hi) if np.isfinite(p_hi) and p_hi <= 1 else float("nan")
    return lower, upper, (upper - lower) / (2 * t)
