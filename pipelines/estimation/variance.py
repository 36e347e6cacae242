"""The one variance kernel: stratified, with-replacement first stage, on PSU totals of scores.

Every estimator (mean, total, proportion, ratio) hands this kernel the PSU totals of its
linearised score ``z`` (Taylor linearisation / influence function) for every domain; the kernel
returns ``Var(sum z)`` per domain, exactly as R ``survey:::svyrecvar`` does for a one-stage
(ultimate-cluster) design:

    V_d = sum_h  f_h * n_h / (n_h - 1) * sum_{i=1..n_h} (z_dhi - zbar_dh)^2

where ``n_h`` is the number of PSUs of stratum ``h`` in the *whole* design, PSUs of ``h`` that hold
no case of domain ``d`` enter with ``z = 0`` (R pads them with zeros after ``subset``), and
``f_h = 1 - n_h / N_h`` is the first-stage finite population correction (1 without fpc).

Strata with a single PSU ("lonely") follow R's ``options(survey.lonely.psu=)``:

* ``remove``: contribute 0.
* ``adjust``: contribute ``f_h * (z_dh1 - c_d)^2``, the single PSU total centred at the grand mean
  of the PSU totals instead of the undefined stratum mean (R ``survey.lonely.psu="adjust"``, Stata
  ``singleunit(centered)``, svy ``"center"``). ``c_d = sum z_d / P_d`` where ``P_d`` counts the PSUs
  of the strata in which domain ``d`` has a case (the design R sees after ``subset``). For a mean,
  proportion or ratio the scores sum to zero, so ``c_d = 0``; for a total it matters. Only lonely
  strata where the domain has a case contribute.
* ``average``: contribute 0, and the summed variance is multiplied by ``nstrat / nokstrat``, the
  strata of the domain over its strata with at least two PSUs (``survey:::onestage``).
* ``fail``: never reaches the kernel; `SurveyDesign` raises at construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class StrataInfo:
    """Per-stratum design constants, indexed by stratum code ``0..H-1``.

    Attributes
    ----------
    n_psu
        PSUs per stratum in the whole design (R ``fpc$sampsize``).
    fpc_factor
        ``1 - n_h / N_h`` (``1 - f_h`` for a sampling fraction), 1 without fpc.
    """

    n_psu: np.ndarray
    fpc_factor: np.ndarray

    @property
    def n_strata(self) -> int:
        return int(self.n_psu.shape[0])


def domain_variance(
    z: np.ndarray,
    domain: np.ndarray,
    stratum: np.ndarray,
    present: np.ndarray,
    *,
    n_domains: int,
    strata: StrataInfo,
    lonely_psu: str,
) -> np.ndarray:
    """Variance of the domain totals of ``z`` under the design.

    Parameters
    ----------
    z
        Scores summed to PSU level, shape ``(rows, k)``: one row per (domain, stratum, PSU) that holds
        at least one case of the domain, one column per estimand.
    domain, stratum
        Integer codes of each row's domain (``0..n_domains-1``) and stratum (``0..H-1``).
    present
        Boolean ``(rows, k)``: the PSU holds at least one case of the domain with a non-null variable
        (R's ``weights != 0`` after ``subset``/``na.rm``). Used for lonely strata and ``average``.
    n_domains
        Number of domains.
    strata
        Design constants per stratum.
    lonely_psu
        ``adjust``, ``remove``, ``average`` (or ``fail``, treated as having no lonely strata).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_domains, k)``.
    """
    z = np.asarray(z, dtype=float)
    if z.ndim == 1:
        z = z[:, None]
        present = np.asarray(present)[:, None]
    n_h = strata.n_psu.astype(float)
    n_strata = strata.n_strata
    cells = n_domains * n_strata
    idx = domain.astype(np.int64) * n_strata + stratum.astype(np.int64)
    rows_in_cell = np.bincount(idx, minlength=cells).astype(float).reshape(n_domains, n_strata)
    lonely = n_h == 1
    regular = ~lonely
    scale = np.where(regular, strata.fpc_factor * n_h / np.where(regular, n_h - 1, 1.0), strata.fpc_factor)

    out = np.empty((n_domains, z.shape[1]))
    for j in range(z.shape[1]):
        zj = z[:, j]
        s1 = np.bincount(idx, weights=zj, minlength=cells).reshape(n_domains, n_strata)
        zbar = s1 / n_h  # mean over all n_h PSUs of the stratum, absent ones counting as 0
        dev = zj - zbar.ravel()[idx]
        ss = np.bincount(idx, weights=dev * dev, minlength=cells).reshape(n_domains, n_strata)
        ss += (n_h - rows_in_cell) * zbar**2  # the PSUs holding no case of the domain
        contrib = scale * ss  # lonely strata: ss == 0 here (one PSU, centred at itself)
        has = np.bincount(idx, weights=present[:, j].astype(float), minlength=cells).reshape(
            n_domains, n_strata
        ) > 0
        if lonely.any():
            if lonely_psu == "adjust":
                psus = (has * n_h).sum(axis=1, keepdims=True)  # PSUs of the strata the domain reaches
                centre = s1.sum(axis=1, keepdims=True) / np.maximum(psus, 1.0)
                contrib = np.where(lonely & has, strata.fpc_factor * (s1 - centre) ** 2, contrib)
            else:  # remove, average: lonely strata contribute nothing
                contrib = np.where(lonely, 0.0, contrib)
        v = contrib.sum(axis=1)
        if lonely_psu == "average" and lonely.any():
            nstrat = has.sum(axis=1)
            nokstrat = (has & regular).sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(nokstrat > 0, v * nstrat / nokstrat, np.where(nstrat > 0, np.nan, 0.0))
        out[:, j] = v
    return out


def domain_df(
    domain: np.ndarray, stratum: np.ndarray, present: np.ndarray, *, n_domains: int, n_strata: int
) -> np.ndarray:
    """R ``degf`` of each domain: its PSUs with a case minus its strata with a case.

    ``present`` has shape ``(rows, k)``; returns ``(n_domains, k)`` integers (0 for an empty domain).
    """
    present = np.asarray(present)
    if present.ndim == 1:
        present = present[:, None]
    idx = domain.astype(np.int64) * n_strata + stratum.astype(np.int64)
    out = np.empty((n_domains, present.shape[1]), dtype=np.int64)
    for j in range(present.shape[1]):
        pj = present[:, j].astype(float)
        psus = np.bincount(domain, weights=pj, minlength=n_domains)
        cell = np.bincount(idx, weights=pj, minlength=n_domains * n_strata).reshape(n_domains, n_strata)
        out[:, j] = np.rint(psus).astype(np.int64) - (cell > 0).sum(axis=1)
    return out
