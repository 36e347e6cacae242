"""From the PSU table to the estimates: domain estimates, their scores and variance, and the tidy
result frame.

Everything here runs after the one pass over the data (`reduce.psu_sums`), on its small table of
sums per (domain, PSU) group, in numpy: each group's domain and stratum are integer codes known
before the pass (`encode`), so nothing here looks at a label. Each variable's sums are found by
their role (``a``, ``b``, ``n``, ``W``, ``q``, `summands.Summands`); the variance goes through the one
kernel, `variance.domain_variance`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.estimation.variance import Cells, StrataInfo, domain_df, domain_variance

RESULT_SCHEMA = {
    "variable": pl.String,
    "estimate": pl.Float64,
    "se": pl.Float64,
    "ci_low": pl.Float64,
    "ci_high": pl.Float64,
    "df": pl.Int64,
    "n": pl.Int64,
    "weighted_n": pl.Float64,
    "cv": pl.Float64,
    "deff": pl.Float64,
}


def positions(names: list[str], roles: dict[str, list[str]]) -> dict[str, list[int]]:
    """For each role (a, b, n, W, q), the rows of the PSU sums (named ``names``) holding each estimand's
    summand (`summands.Summands.roles`)."""
    pos = {c: i for i, c in enumerate(names)}
    return {key: [pos[c] for c in cols] for key, cols in roles.items()}


def domain_estimates(
    kind: str,
    is_ratio: np.ndarray,
    values: np.ndarray,
    names: list[str],
    roles: dict[str, list[str]],
    d: np.ndarray,
    h: np.ndarray,
    *,
    n_domains: int,
    strata: StrataInfo,
    lonely_psu: str,
    keep_scores: bool = False,
) -> dict[str, np.ndarray]:
    """Estimates, SEs, df, n, weighted n, cv and deff per (domain, variable) from the PSU sums.

    Parameters
    ----------
    kind
        ``mean``, ``proportion``, ``total`` or ``ratio``.
    is_ratio
        Per variable (``k``), whether it is a ratio (its ``b`` sums ``w x``, not ``w``).
    values, names, roles
        The PSU sums of `reduce.psu_sums`, ``(summands, rows)``, the summands' names and which
        summand plays which role for each variable (`summands.Summands.roles`).
    d, h
        Each PSU-table row's domain and stratum code.
    n_domains, strata, lonely_psu
        Number of domains; the design's per-stratum constants and lonely-PSU rule.
    keep_scores
        Also return each table row's linearised scores ``z`` and whether it holds a case
        (``present``), both ``(k, rows)``, for contrasts (`contrasts.contrast_variance`).

    Returns
    -------
    dict
        ``estimate, se, df, n, weighted_n, cv, deff``, each ``(domains, k)`` (and ``z``, ``present``).

    Notes
    -----
    Totals have score ``a`` (``w y``); means, proportions and ratios ``(a - e b) / B`` (`scores`).
    ``deff`` divides by the SRS-without-replacement variance ``s^2 (B - N) / (B N)`` (times ``B^2``
    for a total) with ``s^2`` R's ``svyvar``; it is null for ratios and where ``B <= N``. An empty
    domain (``n = 0``) has null estimate and variance; ``cv`` is null where the estimate is 0.
    """
    cells = Cells.of(d, h, n_domains=n_domains, n_strata=strata.n_strata)
    cols = positions(names, roles)
    cell_totals = cells.sum(values)  # domain totals add up their cells
    A, B, N, W, Q = (cell_totals[:, :, cols[key]].sum(axis=1) for key in "abnWq")  # (domains, k)
    a, b, nj = (rows(values, cols[key]) for key in "abn")  # (k, rows)
    nonempty = N > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "total":
            e, z = A, a
        else:
            e = A / B
            z = scores(a, b, e, B, N, d)
        mean = A / B
        s2 = N / (N - 1) * np.maximum(Q / B - mean**2, 0.0)
        srs = s2 * (B - N) / (B * N)  # SRS without replacement, R svymean(deff=TRUE)
        if kind == "total":
            srs = srs * B**2
        srs = np.where((N > 1) & (B > N) & ~is_ratio, srs, np.nan)
    psus_with_case = cells.sum(nj > 0)
    var = domain_variance(z, cells, psus_with_case, strata=strata, lonely_psu=lonely_psu)
    n_out = np.rint(N).astype(np.int64)
    var = np.where(n_out == 0, np.nan, var)
    est = np.where(nonempty, e, np.nan)
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = np.where(np.isfinite(srs) & (srs > 0), var / srs, np.nan)
        cv = np.where(est != 0, se / np.abs(est), np.nan)
    out = {
        "estimate": est,
        "se": se,
        "df": domain_df(psus_with_case),
        "n": n_out,
        "weighted_n": np.where(is_ratio, W, B),
        "cv": cv,
        "deff": deff,
    }
    if keep_scores:
        out["z"], out["present"] = z, nj > 0
    return out


def scores(
    a: np.ndarray, b: np.ndarray, e: np.ndarray, B: np.ndarray, N: np.ndarray, d: np.ndarray
) -> np.ndarray:
    """Linearised scores ``(a - e b) / B`` of each row (``(k, rows)``), 0 in an empty domain.

    ``e``, ``B``, ``N`` are per domain ``(domains, k)``; ``d`` is each row's domain. The arithmetic
    runs in place, one gathered ``(k, rows)`` array at a time: at PSU-table sizes every fresh array
    costs about as much as the arithmetic itself, and a large table's arrays are hundreds of MB.
    """
    z = np.take(e.T, d, axis=1)  # (k, rows)
    np.multiply(z, b, out=z)
    np.subtract(a, z, out=z)
    np.divide(z, np.take(B.T, d, axis=1), out=z)
    np.copyto(z, 0.0, where=np.take(N.T == 0, d, axis=1))
    return z


def rows(values: np.ndarray, idx: list[int]) -> np.ndarray:
    """``values[idx]``, as a view when ``idx`` repeats one row (e.g. every b is ``__w``) or runs
    through consecutive rows (the a columns): copying (k, rows) arrays costs as much as using them."""
    first, k = idx[0], len(idx)
    if idx == [first] * k:
        return np.broadcast_to(values[first], (k, values.shape[1]))
    if idx == list(range(first, first + k)):
        return values[first : first + k]
    return values[idx]


def result_frame(labels: list[str], res: dict[str, np.ndarray]) -> pl.DataFrame:
    """One row per (domain, variable), domain-major: domain 0 (all variables), domain 1, ...; NaN -> null.

    ``labels`` name the variables (the ``variable`` column) in the order of ``res``'s last axis.
    """
    n_dom = res["estimate"].shape[0]
    variable = np.tile(np.array(labels, dtype=object), n_dom).tolist()
    data = {"variable": variable, **{c: res[c].reshape(-1) for c in list(RESULT_SCHEMA)[1:]}}
    return pl.DataFrame(data, schema=RESULT_SCHEMA).with_columns(pl.col(pl.Float64).fill_nan(None))
