"""Equating to the FAO global standard and probabilistic assignment: mirrors ``RM.weights::equating.fun``.

Defaults are ``equating.fun``'s: ``st = NULL`` (the 2014-2016 global standard), ``tol = 0.35``,
``maxuniq = 3``, ``iterative = TRUE``, thresholds ``st[c(5, 8)]`` (ATELESS, WHLDAY).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import special

from pipelines.fies.items import GLOBAL_STANDARD_2014_2016, THRESHOLD_ITEMS, item_matrix
from pipelines.fies.rasch import RaschModel


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
    with np.errstate(divide="ignore", invalid="ignore"):  # scipy.stats.norm.sf, without its import
        p = np.where(se > 0, special.ndtr(-((threshold - theta) / se)), np.nan)
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
    x = item_matrix(items, equating.items)
    raw = pl.Series("raw_score", np.where(np.isnan(x).any(axis=1), np.nan, x.sum(axis=1)),
                    nan_to_null=True).cast(pl.Int64)
    return pl.DataFrame(raw).join(equating.probability_by_raw_score, on="raw_score", how="left",
                                  maintain_order="left")
