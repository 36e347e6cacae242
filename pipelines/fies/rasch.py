"""Weighted Rasch model by conditional maximum likelihood: mirrors ``RM.weights::RM.w`` (RM.weights 2.0).

Defaults are ``RM.w``'s: ``.d = c(0.5, k - 0.5)`` for the extreme raw scores and ``se.control = TRUE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.errors import SurveysError
from pipelines.fies.items import ITEMS, checked_weights, frozen, item_matrix

_MAX_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-10
# Newton steps are capped: the conditional log-likelihood is concave, but a full step from a poor start
# can overshoot when an item is endorsed by almost nobody (or almost everybody).
_MAX_STEP = 1.0
# Steps of the raw-score severity solver: Newton takes a handful, bisection ~60 to reach one ulp from [-50, 50].
_MAX_ROOT_STEPS = 200


@dataclass(frozen=True, eq=False)
class RaschModel:
    """A fitted weighted Rasch model, as returned by ``RM.w``.

    Attributes
    ----------
    items : tuple of str
        Item names, in column order.
    item_severity, item_se : numpy.ndarray
        CML item severities (sum zero) and standard errors (``b``, ``se.b``).
    infit, outfit : numpy.ndarray
        Weighted item infit and outfit (``infit``, ``outfit``).
    raw_score_severity, raw_score_se : numpy.ndarray
        Severity and standard error of raw scores ``0..k`` (``a``, ``se.a``).
    raw_score_weight : numpy.ndarray
        Sum of the weights of complete cases by raw score ``0..k`` (``wt.rs``).
    reliability, reliability_flat : float
        Rasch reliability, weighted by the raw-score distribution and flat (``reliab``, ``reliab.fl``).
    extreme_offset : float
        The raw scores 0 and k are given the severities of raw scores ``offset`` and ``k - offset``.
    n_complete, n_nonextreme : int
        Number of complete cases, and of those with raw score between 1 and k-1 (``n.compl``).
    """

    items: tuple[str, ...]
    item_severity: np.ndarray
    item_se: np.ndarray
    infit: np.ndarray
    outfit: np.ndarray
    raw_score_severity: np.ndarray
    raw_score_se: np.ndarray
    raw_score_weight: np.ndarray
    reliability: float
    reliability_flat: float
    extreme_offset: float
    n_complete: int
    n_nonextreme: int

    def item_table(self) -> pl.DataFrame:
        """Return one row per item: ``item, severity, se, infit, outfit``."""
        return pl.DataFrame({
            "item": list(self.items), "severity": self.item_severity, "se": self.item_se,
            "infit": self.infit, "outfit": self.outfit,
        })

    def raw_score_table(self) -> pl.DataFrame:
        """Return one row per raw score: ``raw_score, severity, se, weighted_n``."""
        return pl.DataFrame({
            "raw_score": np.arange(len(self.items) + 1), "severity": self.raw_score_severity,
            "se": self.raw_score_se, "weighted_n": self.raw_score_weight,
        })



def elementary_symmetric_functions(eps: np.ndarray) -> np.ndarray:
    """Return the elementary symmetric functions ``gamma_0..gamma_k`` of ``eps`` (summation algorithm)."""
    gamma = np.ones(1)
    for e in eps:
        gamma = np.append(gamma, 0.0) + e * np.insert(gamma, 0, 0.0)
    return gamma


def conditional_probabilities(severity: np.ndarray) -> np.ndarray:
    """Return ``P(x_i = 1 | raw score r)`` for ``r = 0..k`` (rows) and items ``i`` (columns).

    Notes
    -----
    ``P(x_i = 1 | r) = eps_i gamma_{r-1}(eps without i) / gamma_r(eps)`` with ``eps = exp(-severity)``;
    it does not depend on the respondent's severity, which is what makes CML conditional.
    """
    eps = np.exp(-severity)
    k = len(eps)
    gamma = elementary_symmetric_functions(eps)
    p = np.zeros((k + 1, k))
    for i in range(k):
        gamma_without_i = elementary_symmetric_functions(np.delete(eps, i))
        p[1:, i] = eps[i] * gamma_without_i / gamma[1:]
    return p


def _conditional_covariances(severity: np.ndarray) -> np.ndarray:
    """Return ``Cov(x | r)`` for ``r = 0..k``: a (k+1) x k x k array (the CML information per case)."""
    eps = np.exp(-severity)
    k = len(eps)
    gamma = elementary_symmetric_functions(eps)
    p = conditional_probabilities(severity)
    pair = np.zeros((k + 1, k, k))
    for i in range(k):
        pair[:, i, i] = p[:, i]
        for j in range(i + 1, k):
            gamma_ij = elementary_symmetric_functions(np.delete(eps, [i, j]))
            pair[2:, i, j] = pair[2:, j, i] = eps[i] * eps[j] * gamma_ij / gamma[2:]
    return pair - p[:, :, None] * p[:, None, :]


def _cml_severities(x: np.ndarray, raw: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Maximise the weighted conditional likelihood by Newton-Raphson; return sum-zero severities."""
    k = x.shape[1]
    observed = w @ x
    weight_by_score = np.bincount(raw, weights=w, minlength=k + 1)
    share = observed / w.sum() if w.sum() > 0 else np.zeros(k)
    if np.any((share <= 0) | (share >= 1)):
        raise SurveysError(
            "item severities are not identified: an item has only yes or only no answers (or there is no "
            "weight) among complete cases with raw scores 1..k-1", where="fies fit_rasch",
            got=f"weighted share of yes by item: {np.round(share, 3).tolist()}",
            hint="Check the item coding, or fit on a larger sample.")
    severity = np.log((1 - share) / share)
    severity -= severity.mean()
    for _ in range(_MAX_NEWTON_STEPS):
        expected = weight_by_score @ conditional_probabilities(severity)
        information = np.einsum("r,rij->ij", weight_by_score, _conditional_covariances(severity))
        step = np.linalg.pinv(information) @ (expected - observed)
        step *= min(1.0, _MAX_STEP / max(np.max(np.abs(step)), 1e-300))
        severity = severity + step - step.mean()
        if np.max(np.abs(step)) < _NEWTON_TOLERANCE:
            return severity
    raise SurveysError("the weighted CML item estimation did not converge", where="fies fit_rasch",
                       hint="Check that every item has both yes and no answers among raw scores 1..k-1.")


def _severity_for_score(severity: np.ndarray, score: float) -> float:
    """Return the severity ``theta`` at which the expected raw score ``sum_j P_j(theta)`` equals ``score``.

    The expected score rises strictly with ``theta`` (its slope is the test information ``sum_j P_j (1 - P_j)``),
    so Newton's method converges from any start; a step that would leave the bracket known to hold the root is
    replaced by bisection, so a flat stretch far out cannot throw it off. Iterated until a step no longer moves
    ``theta`` by more than a few ulps: the root to machine precision, without importing scipy.optimize (half a
    second of every indicators run).
    """
    low, high = -50.0, 50.0
    theta = float(np.mean(severity) + np.log(score / (len(severity) - score)))
    for _ in range(_MAX_ROOT_STEPS):
        p = 1.0 / (1.0 + np.exp(severity - theta))
        gap, slope = float(np.sum(p) - score), float(np.sum(p * (1 - p)))
        if gap == 0.0:
            return theta
        low, high = (theta, high) if gap < 0 else (low, theta)
        step = gap / slope if slope > 0 else np.inf
        proposed = theta - step
        if not low < proposed < high:
            proposed = 0.5 * (low + high)
        if abs(proposed - theta) <= 4 * np.finfo(float).eps * max(1.0, abs(theta)):
            return proposed
        theta = proposed
    raise SurveysError(f"the severity of raw score {score} did not converge", where="fies fit_rasch")


def _severity_se(severity: np.ndarray, theta: float) -> float:
    p = 1.0 / (1.0 + np.exp(severity - theta))
    return float(1.0 / np.sqrt(np.sum(p * (1 - p))))


def _raw_score_severities(severity: np.ndarray, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Return ML severities and SEs of raw scores ``0..k``, extremes placed at ``offset`` and ``k - offset``.

    Notes
    -----
    As ``RM.w`` with ``se.control = TRUE``, both extreme scores take the standard error computed at
    raw score 0.5 (``opt.a.mid``), whatever ``offset`` is.
    """
    k = len(severity)
    scores = np.concatenate([[offset], np.arange(1, k), [k - offset]])
    theta = np.array([_severity_for_score(severity, s) for s in scores])
    se = np.array([_severity_se(severity, t) for t in theta])
    se[[0, k]] = _severity_se(severity, _severity_for_score(severity, 0.5))
    return theta, se


def _item_fit(x: np.ndarray, raw: np.ndarray, w: np.ndarray, severity: np.ndarray):
    """Return weighted (infit, outfit), with expectations conditional on the raw score (as ``RM.w``)."""
    expected = conditional_probabilities(severity)[raw]
    variance = expected * (1 - expected)
    z2 = (x - expected) ** 2 / variance
    outfit = (w @ z2) / w.sum()
    infit = (w @ (variance * z2)) / (w @ variance)
    return infit, outfit


def _reliability(theta: np.ndarray, se: np.ndarray, weight: np.ndarray) -> float:
    """Return model variance / (model + error variance) of non-extreme raw-score severities."""
    mean = np.sum(theta * weight) / weight.sum()
    model = np.sum((theta - mean) ** 2 * weight)
    return float(model / (model + np.sum(se**2 * weight)))


def _normalised(w: np.ndarray) -> np.ndarray:
    """Rescale weights to sum to their count, as ``RM.w`` does for SEs and fit statistics."""
    total = w.sum()
    return w * (len(w) / total) if total > 0 else np.zeros_like(w)


def fit_rasch(items: np.ndarray | pl.DataFrame, weights: np.ndarray, *,
              item_names: tuple[str, ...] = ITEMS, extreme_offset: float = 0.5) -> RaschModel:
    """Fit the weighted Rasch model by conditional maximum likelihood, as ``RM.weights::RM.w``.

    Parameters
    ----------
    items : numpy.ndarray or polars.DataFrame
        n x k answers coded 1 = yes, 0 = no, missing as NaN/null. A frame is selected by
        ``item_names``; an array must have its columns in ``item_names`` order.
    weights : numpy.ndarray
        Sampling weights, one per row (use ``np.ones(n)`` for an unweighted fit).
    item_names : tuple of str, default ITEMS
        The items; pass :data:`ITEMS_7` for the seven-item variant without HEALTHY.
    extreme_offset : float, default 0.5
        Raw score 0 gets the severity of score ``extreme_offset`` and raw score k that of
        ``k - extreme_offset`` (``RM.w``'s ``.d = c(0.5, k - 0.5)``).

    Returns
    -------
    RaschModel

    Notes
    -----
    Only complete cases are used. Item severities maximise the weighted conditional likelihood of the
    complete cases with raw scores 1..k-1 (extremes carry no information); they are identified by
    summing to zero. Their SEs are ``1 / sqrt(sum_n w_n P_ni (1 - P_ni))`` with weights rescaled to sum
    to the number of non-extreme cases, as in ``RM.w``: so the SEs depend on the sample size, not on the
    weights' scale. Raw-score severities solve ``sum_j P_j(theta) = r`` given the item severities, with
    SEs ``1 / sqrt(sum_j P_j (1 - P_j))``; both extremes take the SE at raw score 0.5 (``se.control``).
    Nothing depends on the scale of the weights.

    Differences from ``RM.w``, all in R's numerical optimisation rather than in the estimand: R's
    ``optim(BFGS)`` with finite-difference gradients stops short of the optimum (item severities within
    about 1e-4, raw-score severities within about 1e-2 on the sample data), while these are solved to
    machine precision; a raw score 1..k-1 that no complete case has keeps R's starting value in ``RM.w``
    but gets its ML severity here. ``RM.w``'s ``.d = c(d1, d2)`` places raw score 0 at ``1 - d1`` and raw
    score k at ``d2``; ``extreme_offset`` is the symmetric case ``1 - d1 = k - d2``.
    """
    x = item_matrix(items, item_names)
    w = checked_weights(weights, x.shape[0])
    k = len(item_names)
    if not 0 < extreme_offset < 1:
        raise ValueError(f"extreme_offset must lie strictly between 0 and 1, got {extreme_offset}")
    complete = ~np.isnan(x).any(axis=1)
    x, w = x[complete], w[complete]
    raw = x.sum(axis=1).astype(int)
    inner = (raw > 0) & (raw < k)
    x_in, raw_in, w_in = x[inner], raw[inner], _normalised(w[inner])
    severity = _cml_severities(x_in, raw_in, w_in)
    p = conditional_probabilities(severity)[raw_in]
    theta, theta_se = _raw_score_severities(severity, extreme_offset)
    infit, outfit = _item_fit(x_in, raw_in, w_in, severity)
    inner_weight = np.bincount(raw_in, weights=w_in, minlength=k + 1)[1:k]
    return RaschModel(
        items=tuple(item_names), item_severity=frozen(severity),
        item_se=frozen(1.0 / np.sqrt(w_in @ (p * (1 - p)))),
        infit=frozen(infit), outfit=frozen(outfit),
        raw_score_severity=frozen(theta), raw_score_se=frozen(theta_se),
        raw_score_weight=frozen(np.bincount(raw, weights=w, minlength=k + 1)),
        reliability=_reliability(theta[1:k], theta_se[1:k], inner_weight),
        reliability_flat=_reliability(theta[1:k], theta_se[1:k], np.ones(k - 1)),
        extreme_offset=float(extreme_offset), n_complete=int(complete.sum()), n_nonextreme=int(inner.sum()),
    )


