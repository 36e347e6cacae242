"""Food Insecurity Experience Scale (FIES): weighted Rasch model and equating to the FAO global standard.

Mirrors FAO's R package ``RM.weights`` 2.0 (Cafiero, Viviani & Nord 2018):

- :func:`fit_rasch` mirrors ``RM.w(.data, .w)`` with its defaults (``.d = c(0.5, k - 0.5)``,
  ``se.control = TRUE``): weighted conditional maximum likelihood (CML) item severities, their standard
  errors, raw-score severities, item infit/outfit and Rasch reliability.
- :func:`equate_to_global_standard` mirrors ``equating.fun(rr, st = NULL, tol = 0.35, maxuniq = 3)``:
  iterative equating to the FAO 2014-2016 global standard and probabilistic assignment of each raw score
  to the moderate-or-severe (ATELESS) and severe (WHLDAY) classes.
- :func:`respondent_probabilities` gives each respondent its raw score's probabilities (``probs.rs``), so
  that the survey estimator can turn them into design-based prevalences with standard errors.

Conventions are stated in the docstrings' Notes and in ``docs/fies.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import optimize, stats

from pipelines.errors import DesignError, SchemaViolation, SurveysError

ITEMS: tuple[str, ...] = (
    "WORRIED", "HEALTHY", "FEWFOOD", "SKIPPED", "ATELESS", "RUNOUT", "HUNGRY", "WHLDAY",
)
"""The eight FIES items, in the questionnaire order the global standard uses."""

ITEMS_7: tuple[str, ...] = tuple(item for item in ITEMS if item != "HEALTHY")
"""The seven-item variant without HEALTHY."""

# FAO 2014-2016 global standard item severities: the default `st` of RM.weights::equating.fun
# (R/equating.fun.r in RM.weights 2.0). It is the published reference metric, not a tuning parameter.
GLOBAL_STANDARD_2014_2016: dict[str, float] = {
    "WORRIED": -1.2230564, "HEALTHY": -0.8471210, "FEWFOOD": -1.1056616, "SKIPPED": 0.3509848,
    "ATELESS": -0.3117999, "RUNOUT": 0.5065051, "HUNGRY": 0.7546138, "WHLDAY": 1.8755353,
}
# Items whose global severities are the thresholds (equating.fun: thres = st[c(5, 8)]).
THRESHOLD_ITEMS: tuple[str, str] = ("ATELESS", "WHLDAY")

_MAX_NEWTON_STEPS = 100
_NEWTON_TOLERANCE = 1e-12


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


@dataclass(frozen=True, eq=False)
class Equating:
    """A country scale equated to a reference (global) standard, as returned by ``equating.fun``.

    Attributes
    ----------
    items : tuple of str
        The model's items (its raw scores run from 0 to ``len(items)``).
    scale, shift : float
        ``global = shift + scale * country`` (``scale``, ``shift``).
    common, unique : tuple of str
        Items kept as common with the standard, and items flagged as unique.
    thresholds : tuple of float
        Moderate-or-severe and severe thresholds on the global metric.
    country_thresholds : tuple of float
        The same thresholds on the country metric (``adj.thres``).
    correlation : float
        Correlation of the common items' equated and standard severities (``cor.comm.items``).
    probability_by_raw_score : polars.DataFrame
        ``raw_score, p_moderate_severe, p_severe`` for raw scores ``0..k`` (``probs.rs``); raw score 0
        has probability 0.
    prevalence_moderate_severe, prevalence_severe : float
        Weighted means of those probabilities over the complete cases used to fit the model (``prevs``).
    """

    items: tuple[str, ...]
    scale: float
    shift: float
    common: tuple[str, ...]
    unique: tuple[str, ...]
    thresholds: tuple[float, float]
    country_thresholds: tuple[float, float]
    correlation: float
    probability_by_raw_score: pl.DataFrame
    prevalence_moderate_severe: float
    prevalence_severe: float


def _frozen(values) -> np.ndarray:
    array = np.array(values, dtype=float)
    array.setflags(write=False)
    return array


def _item_matrix(items: np.ndarray | pl.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """Return an n x k float matrix (NaN for missing), checking that answers are 0/1."""
    if isinstance(items, pl.DataFrame):
        missing = [name for name in names if name not in items.columns]
        if missing:
            raise SchemaViolation(
                f"item columns {missing} are missing", where="fies items",
                hint=f"Available columns: {items.columns[:12]}; pass items=... to name the items.")
        matrix = items.select([pl.col(name).cast(pl.Float64) for name in names]).to_numpy()
    else:
        matrix = np.asarray(items, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise SchemaViolation(f"expected an n x {len(names)} item matrix, got shape {matrix.shape}",
                              where="fies items", hint=f"Columns must be, in order: {names}.")
    bad = np.unique(matrix[~np.isnan(matrix) & (matrix != 0) & (matrix != 1)])
    if bad.size:
        raise SchemaViolation(f"item answers must be 0/1 or missing, got {bad[:5].tolist()}",
                              where="fies items", hint="Recode yes=1, no=0 and refusals to missing.")
    return matrix


def _checked_weights(weights: np.ndarray, n: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DesignError(f"weights must be {n} finite non-negative numbers", where="fies weights",
                          got=f"{w.shape[0]} values", hint="Pass the survey weight of every row.")
    return w


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
    share = observed / w.sum()
    severity = np.log((1 - share) / share)
    severity -= severity.mean()
    for _ in range(_MAX_NEWTON_STEPS):
        expected = weight_by_score @ conditional_probabilities(severity)
        information = np.einsum("r,rij->ij", weight_by_score, _conditional_covariances(severity))
        step = np.linalg.pinv(information) @ (expected - observed)
        severity = severity + step - step.mean()
        if np.max(np.abs(step)) < _NEWTON_TOLERANCE:
            return severity
    raise SurveysError("the weighted CML item estimation did not converge", where="fies fit_rasch",
                       hint="Check that every item has both yes and no answers among raw scores 1..k-1.")


def _severity_for_score(severity: np.ndarray, score: float) -> float:
    """Return the severity ``theta`` at which the expected raw score ``sum_j P_j(theta)`` equals ``score``."""
    def gap(theta: float) -> float:
        return float(np.sum(1.0 / (1.0 + np.exp(severity - theta))) - score)

    return optimize.brentq(gap, -50.0, 50.0, xtol=1e-14, rtol=1e-14)


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
    weights' scale. Raw-score severities solve ``sum_j P_j(theta) = r`` given the item severities. The
    fit does not depend on the scale of the weights.
    """
    x = _item_matrix(items, item_names)
    w = _checked_weights(weights, x.shape[0])
    k = len(item_names)
    complete = ~np.isnan(x).any(axis=1)
    x, w = x[complete], w[complete]
    raw = x.sum(axis=1).astype(int)
    inner = (raw > 0) & (raw < k)
    x_in, raw_in, w_in = x[inner], raw[inner], w[inner] * inner.sum() / w[inner].sum()
    severity = _cml_severities(x_in, raw_in, w_in)
    p = conditional_probabilities(severity)[raw_in]
    theta, theta_se = _raw_score_severities(severity, extreme_offset)
    infit, outfit = _item_fit(x_in, raw_in, w_in, severity)
    inner_weight = np.bincount(raw_in, weights=w_in, minlength=k + 1)[1:k]
    return RaschModel(
        items=tuple(item_names), item_severity=_frozen(severity),
        item_se=_frozen(1.0 / np.sqrt(w_in @ (p * (1 - p)))),
        infit=_frozen(infit), outfit=_frozen(outfit),
        raw_score_severity=_frozen(theta), raw_score_se=_frozen(theta_se),
        raw_score_weight=_frozen(np.bincount(raw, weights=w, minlength=k + 1)),
        reliability=_reliability(theta[1:k], theta_se[1:k], inner_weight),
        reliability_flat=_reliability(theta[1:k], theta_se[1:k], np.ones(k - 1)),
        extreme_offset=float(extreme_offset), n_complete=int(complete.sum()), n_nonextreme=int(inner.sum()),
    )


def _flag_unique_items(country: np.ndarray, standard: np.ndarray, tol: float, max_unique: int) -> np.ndarray:
    """Return the mask of common items after ``equating.fun``'s iterative search (``iterative = TRUE``).

    Notes
    -----
    The country severities are first standardised to the mean and SD of the standard. At step ``a`` the
    item with the ``a``-th largest absolute difference is flagged unique if that difference is at least
    ``tol`` (or put back as common if not), the country severities are re-standardised on the current
    common items, and the search stops when the flags no longer change or more than ``max_unique`` items
    are unique. All items are paired with a standard item (the a priori common set).
    """
    common = np.ones(len(country), dtype=bool)
    equated = (country - country.mean()) / country.std(ddof=1) * standard.std(ddof=1) + standard.mean()
    for step in range(len(country)):
        previous = common.copy()
        diff = np.abs(equated - standard)
        item = np.argsort(-diff, kind="stable")[step]
        common[item] = diff[item] < tol
        scale = standard[common].std(ddof=1) / equated[common].std(ddof=1)
        equated = standard[common].mean() + (equated - equated[common].mean()) * scale
        if np.array_equal(previous, common) or (~common).sum() > max_unique:
            break
    return common


def _exceedance(threshold: float, theta: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Return ``P(severity > threshold)`` for severities ~ Normal(theta, se); raw score 0 gets 0."""
    p = stats.norm.sf(threshold, loc=theta, scale=se)
    p[0] = 0.0
    return p


def equate_to_global_standard(model: RaschModel, *, standard: dict[str, float] | None = None,
                              tol: float = 0.35, max_unique: int = 3) -> Equating:
    """Equate a fitted model to the global standard and assign raw scores to classes, as ``equating.fun``.

    Parameters
    ----------
    model : RaschModel
        Output of :func:`fit_rasch`.
    standard : dict of str to float, optional
        Reference item severities; default :data:`GLOBAL_STANDARD_2014_2016` (``st = NULL``). It must
        contain every model item and the two :data:`THRESHOLD_ITEMS`.
    tol : float, default 0.35
        An item whose standardised severity differs from the standard by ``tol`` or more is unique.
    max_unique : int, default 3
        Stop flagging once more than this many items are unique (``maxuniq``).

    Returns
    -------
    Equating

    Notes
    -----
    Items are paired with the standard by name, so a seven-item model (:data:`ITEMS_7`) is equated on the
    seven shared items (``equating.fun``'s ``spec.com1 = 1:7, spec.com2 = c(1, 3:8)``); the thresholds
    remain the standard's ATELESS and WHLDAY. ``scale = sd(standard[common]) / sd(country[common])`` and
    ``shift = mean(standard[common]) - scale * mean(country[common])`` on the *unstandardised* country
    severities. A raw score's probability of exceeding a threshold assumes the respondent's severity is
    Normal(raw-score severity, raw-score SE); on the global metric both are multiplied by ``scale`` (after
    adding ``shift`` to the mean). Raw score 0 has probability 0; raw score k uses its extreme severity.
    Prevalences average these probabilities over all complete cases (raw scores 0..k, including 0 in the
    denominator) with the sampling weights.
    """
    standard = GLOBAL_STANDARD_2014_2016 if standard is None else standard
    st = np.array([standard[item] for item in model.items])
    b = model.item_severity
    common = _flag_unique_items(b, st, tol, max_unique)
    scale = float(st[common].std(ddof=1) / b[common].std(ddof=1))
    shift = float(st[common].mean() - b[common].mean() * scale)
    thresholds = tuple(float(standard[item]) for item in THRESHOLD_ITEMS)
    country_thresholds = tuple((t - shift) / scale for t in thresholds)
    theta, se = model.raw_score_severity, model.raw_score_se
    probs = pl.DataFrame({
        "raw_score": np.arange(len(b) + 1),
        "p_moderate_severe": _exceedance(country_thresholds[0], theta, se),
        "p_severe": _exceedance(country_thresholds[1], theta, se),
    })
    share = model.raw_score_weight / model.raw_score_weight.sum()
    return Equating(
        items=model.items, scale=scale, shift=shift,
        common=tuple(i for i, c in zip(model.items, common) if c),
        unique=tuple(i for i, c in zip(model.items, common) if not c),
        thresholds=thresholds, country_thresholds=country_thresholds,
        correlation=float(np.corrcoef(st[common], shift + scale * b[common])[0, 1]),
        probability_by_raw_score=probs,
        prevalence_moderate_severe=float(share @ probs["p_moderate_severe"].to_numpy()),
        prevalence_severe=float(share @ probs["p_severe"].to_numpy()),
    )


def respondent_probabilities(items: np.ndarray | pl.DataFrame, equating: Equating) -> pl.DataFrame:
    """Return each respondent's probabilities of moderate-or-severe and of severe food insecurity.

    Parameters
    ----------
    items : numpy.ndarray or polars.DataFrame
        The respondents' answers, as for :func:`fit_rasch` with ``item_names = equating.items``.
    equating : Equating
        Output of :func:`equate_to_global_standard`.

    Returns
    -------
    polars.DataFrame
        One row per input row, in order: ``raw_score``, ``p_moderate_severe``, ``p_severe``; all null
        for incomplete cases.

    Notes
    -----
    The weighted mean of these probabilities over complete cases equals ``equating.prevalence_*`` when
    the weights are those of the fit; a design-based estimator should treat incomplete cases as outside
    the universe (zero weight), not drop them.
    """
    x = _item_matrix(items, equating.items)
    raw = pl.Series("raw_score", np.where(np.isnan(x).any(axis=1), np.nan, x.sum(axis=1)),
                    nan_to_null=True).cast(pl.Int64)
    return pl.DataFrame(raw).join(equating.probability_by_raw_score, on="raw_score", how="left",
                                  maintain_order="left")
