"""From the PSU table to the estimates: domain and stratum codes, domain estimates, their scores and
variance, and the tidy result frame.

Everything here runs after the one pass over the data (`reduce.psu_sums`), on its small table of
sums per (domain, stratum, PSU), in numpy. The summand columns follow the naming of
`SurveyDesign` (``a{j}``, ``b{j}``, ``n{j}``, ``W{j}``, ``q{j}`` for variable ``j``, with ``__w`` and
``__n`` for the weight and the row count); the variance goes through the one kernel,
`variance.domain_variance`.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.estimation.reduce import STRATUM_KEY
from pipelines.estimation.variance import Cells, StrataInfo, domain_df, domain_variance

_D = "__domain__"

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


def codes(
    table: pl.DataFrame, by_cols: list[str], strata_labels: pl.Series | None
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Each row's domain code (a row of the returned domains) and stratum code.

    ``strata_labels`` are the design's sorted stratum labels (None for an unstratified design); a
    stratum's code is its position there, as at construction.
    """
    if strata_labels is not None:
        ranks = pl.Series(np.arange(strata_labels.len(), dtype=np.int64))
        h = table[STRATUM_KEY].replace_strict(strata_labels, ranks, return_dtype=pl.Int64).to_numpy()
    else:
        h = np.zeros(table.height, dtype=np.int64)
    if not by_cols:
        return pl.DataFrame(), np.zeros(table.height, dtype=np.int64), h
    # Domains are few: number the distinct ones, then look each row's up (cheaper than ranking).
    domains = table.select(by_cols).unique().with_row_index(_D)
    lookup = table.select(by_cols).join(
        domains, on=by_cols, how="left", nulls_equal=True, maintain_order="left"
    )
    return domains.drop(_D), lookup[_D].to_numpy().astype(np.int64), h


def sums(table: pl.DataFrame, k: int) -> tuple[np.ndarray, dict[str, list[int]]]:
    """The PSU sums as one float matrix ``(columns, rows)``, and for each of a, b, n, W, q the
    positions of its k columns."""

    def name(prefix: str, j: int, fallback: str) -> str:
        return f"{prefix}{j}" if f"{prefix}{j}" in table.columns else fallback

    names = {
        "a": [f"a{j}" for j in range(k)],
        "b": [name("b", j, "__w") for j in range(k)],
        "n": [name("n", j, "__n") for j in range(k)],
        "W": [name("W", j, "__w") for j in range(k)],
        "q": [name("q", j, f"a{j}") for j in range(k)],  # no q column: y^2 == y
    }
    used = list(dict.fromkeys(c for cols in names.values() for c in cols))
    # Variable-major (see `Cells`): polars exports column-major, so the transpose is free.
    values = table.select(pl.col(used).cast(pl.Float64)).to_numpy().T
    pos = {c: i for i, c in enumerate(used)}
    return values, {key: [pos[c] for c in cols] for key, cols in names.items()}


def domain_estimates(
    kind: str,
    is_ratio: np.ndarray,
    table: pl.DataFrame,
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
    table
        The PSU table of `reduce.psu_sums`.
    d, h
        Each table row's domain and stratum code (`codes`).
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
    values, cols = sums(table, is_ratio.shape[0])
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

    ``e``, ``B``, ``N`` are per domain ``(domains, k)``; ``d`` is each row's domain. The domain values
    are gathered in one take and the arithmetic runs in place: at PSU-table sizes every fresh
    ``(k, rows)`` array costs about as much as the arithmetic itself.
    """
    k = a.shape[0]
    at_row = np.take(np.hstack([e, B, N]).T, d, axis=1)  # (3k, rows)
    z, B_row, N_row = at_row[:k], at_row[k : 2 * k], at_row[2 * k :]
    np.multiply(z, b, out=z)
    np.subtract(a, z, out=z)
    np.divide(z, B_row, out=z)
    np.copyto(z, 0.0, where=N_row == 0)
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
