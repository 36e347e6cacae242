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
* ``adjust``: contribute ``f_h * z_dh1^2``, the single PSU total left uncentred, as R ``survey`` 4.1-1
  (the reference version) computes with ``survey.lonely.psu="adjust"``: its ``onestrat`` skips the
  centring sweep for a stratum with one PSU, so the PSU total is taken about 0. For a mean,
  proportion or ratio the scores of the whole domain sum to zero, so this equals centring at the
  grand mean of the PSU totals; for a total it does not. R >= 4.4-1 (and svy's ``"center"``, Stata's
  ``singleunit(centered)``) centre at ``sum z_d / P_d`` instead (``P_d`` the PSUs of the strata the
  domain reaches), which gives a smaller variance for totals; see docs/parity.md.
* ``average``: contribute 0, and the summed variance is multiplied by ``nstrat / nokstrat``, the
  strata of the domain over its strata with at least two PSUs (``survey:::onestage``).
* ``fail``: never reaches the kernel; `SurveyDesign` raises at construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CERTAINTY_TOL = 1e-7  # R survey:::onestrat: a stratum whose fpc factor is below this is self-representing


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
    cells: Cells,
    psus_with_case: np.ndarray,
    *,
    strata: StrataInfo,
    lonely_psu: str,
) -> np.ndarray:
    """Variance of the domain totals of ``z`` under the design.

    Parameters
    ----------
    z
        Scores summed to PSU level, shape ``(k, rows)``: one column per (domain, stratum, PSU) that
        holds at least one case of the domain, one row per estimand.
    cells
        Each column's (domain, stratum) cell (`Cells`).
    psus_with_case
        ``cells.sum(present)``, shape ``(n_domains, H, k)``: the PSUs of each cell holding at least one
        case of the domain with a non-null variable (R's ``weights != 0`` after ``subset``/``na.rm``).
        Used for lonely strata and ``average``.
    strata
        Design constants per stratum.
    lonely_psu
        ``adjust``, ``remove``, ``average`` (or ``fail``, treated as having no lonely strata).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_domains, k)``.
    """
    n_h = strata.n_psu.astype(float)[None, :, None]
    s1 = cells.sum(z)
    zbar = s1 / n_h  # mean over all n_h PSUs of the stratum, absent ones counting as 0
    dev = cells.at_rows(zbar)  # then, in place (fresh arrays cost as much as the arithmetic):
    np.subtract(z, dev, out=dev)
    ss = cells.sum(np.square(dev, out=dev))
    ss += (n_h - cells.counts[:, :, None]) * zbar**2  # the PSUs holding no case of the domain
    has = psus_with_case > 0
    f_h = strata.fpc_factor[None, :, None]
    # A certainty stratum (f_h ~ 0) contributes nothing and counts as a regular stratum, lonely or
    # not (R onestrat returns 0 before looking at the lonely rule).
    lonely = (n_h == 1) & (f_h >= CERTAINTY_TOL)
    regular = ~lonely
    scale = np.where(n_h > 1, f_h * n_h / np.where(n_h > 1, n_h - 1, 1.0), f_h)
    contrib = scale * ss  # lonely strata: ss == 0 here (one PSU, centred at itself)
    if lonely.any():
        if lonely_psu == "adjust":  # R 4.1-1: the single PSU total about 0 (0 where no case)
            contrib = np.where(lonely, f_h * s1**2, contrib)
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
class Cells:
    """The (domain, stratum) cell of each PSU-sum row, to add rows up into cells and back.

    Per-row arrays are variable-major, shape ``(k, rows)`` (the transpose of polars' column-major
    export, so free): each variable's row is contiguous for `numpy.bincount` and `numpy.take`.
    """

    index: np.ndarray  # cell of each row: domain * n_strata + stratum
    counts: np.ndarray  # rows per cell, shape (n_domains, n_strata)

    @classmethod
    def of(cls, domain: np.ndarray, stratum: np.ndarray, *, n_domains: int, n_strata: int) -> Cells:
        index = np.asarray(domain, dtype=np.intp) * n_strata + np.asarray(stratum, dtype=np.intp)
        counts = np.bincount(index, minlength=n_domains * n_strata).astype(float)
        return cls(index=index, counts=counts.reshape(n_domains, n_strata))

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Cell sums of ``values`` (shape ``(k, rows)``), shape ``(n_domains, n_strata, k)``."""
        size = self.counts.size
        sums = np.stack([np.bincount(self.index, weights=v, minlength=size) for v in values], axis=-1)
        return sums.reshape(*self.counts.shape, values.shape[0])

    def at_rows(self, per_cell: np.ndarray) -> np.ndarray:
        """Each row's cell value of ``per_cell`` (shape ``(n_domains, n_strata, k)``), shape ``(k, rows)``."""
        return np.take(per_cell.reshape(self.counts.size, -1).T, self.index, axis=1)


def domain_df(psus_with_case: np.ndarray) -> np.ndarray:
    """R ``degf`` of each domain: its PSUs with a case minus its strata with a case.

    ``psus_with_case`` is `domain_variance`'s, shape ``(n_domains, H, k)``; returns ``(n_domains, k)``
    integers (0 for an empty domain).
    """
    psus = np.rint(psus_with_case.sum(axis=1)).astype(np.int64)
    return psus - (psus_with_case > 0).sum(axis=1)
