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
from scipy import sparse


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
    present = np.asarray(present)
    if z.ndim == 1:
        z, present = z[:, None], present[:, None]
    k = z.shape[1]
    n_h = strata.n_psu.astype(float)
    n_strata = strata.n_strata
    cells = cell_matrix(domain, stratum, n_domains=n_domains, n_strata=n_strata)
    idx = cells.indices_of_rows
    shape = (n_domains, n_strata, k)
    rows_in_cell = cells.counts.reshape(n_domains, n_strata, 1)
    s1 = (cells.matrix @ z).reshape(shape)
    zbar = s1 / n_h[None, :, None]  # mean over all n_h PSUs of the stratum, absent ones counting as 0
    dev = z - zbar.reshape(-1, k)[idx]
    ss = (cells.matrix @ (dev * dev)).reshape(shape)
    ss += (n_h[None, :, None] - rows_in_cell) * zbar**2  # the PSUs holding no case of the domain
    has = (cells.matrix @ present.astype(float)).reshape(shape) > 0
    lonely = (n_h == 1)[None, :, None]
    regular = ~lonely
    f_h = strata.fpc_factor[None, :, None]
    scale = np.where(regular, f_h * n_h[None, :, None] / np.where(regular, n_h[None, :, None] - 1, 1.0), f_h)
    contrib = scale * ss  # lonely strata: ss == 0 here (one PSU, centred at itself)
    if lonely.any():
        if lonely_psu == "adjust":
            psus = (has * n_h[None, :, None]).sum(
                axis=1, keepdims=True
            )  # PSUs of the strata the domain reaches
            centre = s1.sum(axis=1, keepdims=True) / np.maximum(psus, 1.0)
            contrib = np.where(lonely & has, f_h * (s1 - centre) ** 2, contrib)
        else:  # remove, average: lonely strata contribute nothing
            contrib = np.where(lonely, 0.0, contrib)
    v = contrib.sum(axis=1)
    if lonely_psu == "average" and lonely.any():
        nstrat = has.sum(axis=1)
        nokstrat = (has & regular).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.where(nokstrat > 0, v * nstrat / nokstrat, np.where(nstrat > 0, np.nan, 0.0))
    return v


@dataclass(frozen=True, slots=True)
class CellMatrix:
    """Sparse (domain x stratum) by row indicator: ``matrix @ values`` sums rows into cells."""

    matrix: sparse.csr_matrix
    indices_of_rows: np.ndarray
    counts: np.ndarray


def cell_matrix(domain: np.ndarray, stratum: np.ndarray, *, n_domains: int, n_strata: int) -> CellMatrix:
    """The indicator matrix of each row's (domain, stratum) cell."""
    idx = domain.astype(np.int64) * n_strata + stratum.astype(np.int64)
    rows = idx.shape[0]
    matrix = sparse.csr_matrix((np.ones(rows), (idx, np.arange(rows))), shape=(n_domains * n_strata, rows))
    return CellMatrix(
        matrix=matrix,
        indices_of_rows=idx,
        counts=np.bincount(idx, minlength=n_domains * n_strata).astype(float),
    )


def domain_df(
    domain: np.ndarray, stratum: np.ndarray, present: np.ndarray, *, n_domains: int, n_strata: int
) -> np.ndarray:
    """R ``degf`` of each domain: its PSUs with a case minus its strata with a case.

    ``present`` has shape ``(rows, k)``; returns ``(n_domains, k)`` integers (0 for an empty domain).
    """
    present = np.asarray(present)
    if present.ndim == 1:
        present = present[:, None]
    cells = cell_matrix(domain, stratum, n_domains=n_domains, n_strata=n_strata)
    per_cell = (cells.matrix @ present.astype(float)).reshape(n_domains, n_strata, -1)
    psus = np.rint(per_cell.sum(axis=1)).astype(np.int64)
    return psus - (per_cell > 0).sum(axis=1)
