"""Contrasts (differences) of estimates that share one design, with the covariance from the same
linearisation: what R computes with ``svyby(..., covmat=TRUE)`` followed by ``svycontrast``.

Runs after the one pass over the data, on the PSU table and the per-row scores that
`domains.domain_estimates` (``keep_scores=True``) returns. A contrast is ``estimate_a - estimate_b``
where each side is one (domain, variable) estimate. Its linearised score is the difference of the
two sides' scores, PSU by PSU (each side's score is 0 outside its domain); its variance is the one
kernel, `variance.domain_variance`, applied to that score. That is ``c' V c`` with ``V`` the
covariance matrix R's ``svyby(covmat=TRUE)`` builds by passing the influence functions of every
estimate (0 outside their domain) through ``svyrecvar`` on the whole design, and ``c = (1, -1)``.

Because R builds ``V`` on the whole design, a contrast's variance counts every stratum of the
design (this only matters for ``lonely_psu="average"``, whose factor ``strata / strata with 2+
PSUs`` is then the whole design's, not the domains'). The covariance of the two sides is
``(V(a + b) - V(a - b)) / 4`` from the same kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from pipelines.estimation.encode import dense
from pipelines.estimation.intervals import wald
from pipelines.estimation.variance import Cells, StrataInfo, domain_df, domain_variance

# Contrasts are reduced in chunks of at most this many (contrast, PSU-table row) terms, about 50 bytes each: the
# within-round contrasts of a round of a million persons are a few hundred contrasts of ~100,000 rows.
CHUNK_TERMS = 1 << 22


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a contrast: an estimate of variable ``j`` (column of the scores) in domain ``d``."""

    domain: int
    variable: int


def contrast_variance(
    sides: list[tuple[Side, Side]],
    z: np.ndarray,
    present: np.ndarray,
    d: np.ndarray,
    h: np.ndarray,
    psu: np.ndarray,
    *,
    strata: StrataInfo,
    lonely_psu: str,
) -> dict[str, np.ndarray]:
    """Variance of ``a - b`` and covariance of ``a`` and ``b`` for each pair of sides.

    Parameters
    ----------
    sides
        The contrasts, each ``(a, b)``.
    z, present
        Per PSU-table row, the scores and whether the row holds a case of the variable, ``(k, rows)``.
    d, h, psu
        Each PSU-table row's domain, stratum and PSU codes (a PSU code identifies the PSU across
        domains and strata: `encode` numbers the (stratum, PSU) pairs of a nested design).
    strata, lonely_psu
        The design's per-stratum constants and lonely-PSU rule.

    Returns
    -------
    dict
        ``var`` (of ``a - b``), ``cov`` (of ``a``, ``b``) and ``df`` (R ``degf`` of the design restricted
        to the cases of either side: PSUs with a case minus strata with a case), each ``(contrasts,)``.
    """
    n_con = len(sides)
    out = {"var": np.zeros(n_con), "cov": np.zeros(n_con), "df": np.zeros(n_con, dtype=np.int64)}
    by_domain = {int(k): np.flatnonzero(d == k) for k in np.unique(d)}
    terms = [sum(by_domain.get(side.domain, np.zeros(0)).size for side in pair) for pair in sides]
    start = 0
    while start < n_con:  # contrasts in chunks of at most CHUNK_TERMS terms (each independent of the others)
        stop, total = start + 1, terms[start]
        while stop < n_con and total + terms[stop] <= CHUNK_TERMS:
            total += terms[stop]
            stop += 1
        part = _chunk_variance(sides[start:stop], by_domain, z, present, h, psu, strata, lonely_psu)
        for key, values in part.items():
            out[key][start:stop] = values
        start = stop
    return out


def _chunk_variance(
    sides: list[tuple[Side, Side]],
    by_domain: dict[int, np.ndarray],
    z: np.ndarray,
    present: np.ndarray,
    h: np.ndarray,
    psu: np.ndarray,
    strata: StrataInfo,
    lonely_psu: str,
) -> dict[str, np.ndarray]:
    """`contrast_variance` of some contrasts; ``by_domain`` gives each domain's PSU-table rows."""
    n_con = len(sides)
    # Rows of each side, as (contrast, row, variable, sign) terms.
    con_ids, rows, var_ids, signs = [], [], [], []
    for c, (a, b) in enumerate(sides):
        for side, sign in ((a, 1.0), (b, -1.0)):
            r = by_domain.get(side.domain, np.zeros(0, dtype=np.int64))
            con_ids.append(np.full(r.size, c))
            rows.append(r)
            var_ids.append(np.full(r.size, side.variable))
            signs.append(np.full(r.size, sign))
    con, row, var, sign = (np.concatenate(x) for x in (con_ids, rows, var_ids, signs))
    score = z[var, row]
    has = present[var, row].astype(float)
    # One row per (contrast, PSU): both sides' terms of a PSU add up. PSU codes are unique across strata, so
    # each PSU's stratum is looked up, and within a (contrast, stratum) cell rows stay in PSU order.
    n_h_codes, n_psu_codes = int(strata.n_strata), int(psu.max()) + 1 if psu.size else 1
    stratum_of = np.zeros(n_psu_codes, dtype=np.intp)
    stratum_of[psu] = h
    groups = dense(con * n_psu_codes + psu[row], n_con * n_psu_codes)
    inv, uniq = groups.codes, groups.values
    minus = np.bincount(inv, weights=sign * score, minlength=uniq.size)
    plus = np.bincount(inv, weights=score, minlength=uniq.size)
    with_case = np.bincount(inv, weights=has, minlength=uniq.size) > 0
    con_u = uniq // n_psu_codes
    h_u = stratum_of[uniq % n_psu_codes]
    cells = Cells.of(con_u, h_u, n_domains=n_con, n_strata=n_h_codes)
    # As svyby(covmat=TRUE): the whole design's strata count for every contrast.
    whole = np.broadcast_to(strata.n_psu.astype(float)[None, :, None], (n_con, n_h_codes, 2))
    v = domain_variance(np.vstack([minus, plus]), cells, whole, strata=strata, lonely_psu=lonely_psu)
    psus_with_case = cells.sum(with_case[None, :].astype(float))
    return {
        "var": v[:, 0],
        "cov": (v[:, 1] - v[:, 0]) / 4.0,
        "df": domain_df(psus_with_case)[:, 0],
    }


def contrast_columns(
    est_a: np.ndarray,
    est_b: np.ndarray,
    var: np.ndarray,
    df: np.ndarray,
    level: float,
) -> dict[str, np.ndarray]:
    """``estimate``, ``se``, ``ci_low``, ``ci_high`` (t with ``df``) and the two-sided t-test ``p_value``."""
    est = est_a - est_b
    se = np.sqrt(np.where(var < 0, 0.0, var))
    lo, hi = wald(est, se, df, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(est) / se
        p = np.full(est.shape, np.nan)
        ok = (np.asarray(df) > 0) & np.isfinite(t)
        p[ok] = 2 * special.stdtr(
            np.asarray(df, dtype=float)[ok], -t[ok]
        )  # scipy.stats.t.sf, without its import
    return {"estimate": est, "se": se, "ci_low": lo, "ci_high": hi, "p_value": p}
