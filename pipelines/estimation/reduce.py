"""The one pass over the data: sums of summands per (domain, PSU) group.

This step is engine-neutral on purpose. Its contract is "given dense integer keys per row
(``0..groups-1``, `encode.Codes`; one per set of domains) and per-row quantities (polars
expressions), return the sum of each quantity within each group of each key": any engine can do
that (``GROUP BY key`` in DuckDB or Spark, a scatter-add on a GPU). Here polars evaluates the
expressions and numpy's ``bincount`` adds them up. Because the key is a small dense integer formed
once (`encode`), the reduction never hashes the producer's labels; all variables and all domains
of a verb are reduced in the one pass, and the quantities are evaluated once however many keys
(sets of domains: `SurveyDesign.by_each`, `SurveyDesign.contrast_each`) reduce them. Everything
after it works on the small tables it returns, so swapping the engine only means reimplementing
`psu_sums`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from pipelines.estimation.encode import Codes

# Summands are evaluated in batches of at most this many values (8 bytes each), so that a verb's
# extra memory stays near 2**23 * 8 bytes = 64 MB (and polars' temporaries) whatever the number of
# rows and variables.
BATCH_VALUES = 1 << 23


def psu_sums(
    frame: pl.DataFrame,
    keys: Sequence[Codes | None],
    summands: Mapping[str, pl.Expr | None],
) -> list[np.ndarray]:
    """Sum every summand within each group of each key, evaluating the summands once.

    A summand of a domain estimate does not depend on the domain (``w y`` is ``w y`` whatever the
    ``by=``): the domain only enters through the key. So the estimates of several sets of domains
    (several ``svyby`` calls) evaluate their summands once and reduce them by each set's key.

    Parameters
    ----------
    frame
        The survey rows.
    keys
        Per set of domains, each row's group (normally its (PSU, domain) pair, `encode.combine`);
        None when every row is a group of its own (a design without PSU column): the summands are
        then returned row by row.
    summands
        Output name -> per-row expression to sum; None counts the rows. Nulls count as 0 (they are
        left out of the sum).

    Returns
    -------
    list of numpy.ndarray
        One per key, shape ``(len(summands), groups)``, float: row ``i`` holds the sums of the
        ``i``-th summand, column ``g`` those of group ``g``. Keys with the same array of codes get
        the same array (read it, don't write it).
    """
    n = frame.height
    # Keys holding the same rows' codes (a domain nested in the PSUs shares the PSUs' codes,
    # `SurveyDesign`) have the same sums: computed once, one array returned for each of them.
    distinct = {_identity(key): key for key in keys}
    sums = {
        ident: np.empty((len(summands), n if key is None else key.size)) for ident, key in distinct.items()
    }
    row = {name: i for i, name in enumerate(summands)}
    exprs = {name: e for name, e in summands.items() if e is not None}
    per_batch = max(1, BATCH_VALUES // max(n, 1))
    for start in range(0, len(exprs), per_batch):
        batch = list(exprs)[start : start + per_batch]
        values = _evaluate(frame, {name: exprs[name] for name in batch})
        for name in batch:
            column = values[name].to_numpy()  # float64 without nulls: a view, no copy
            for ident, key in distinct.items():  # the same column reduced by every key
                sums[ident][row[name]] = (
                    column if key is None else np.bincount(key.codes, weights=column, minlength=key.size)
                )
        del values
    for name in summands.keys() - exprs.keys():  # the row counts
        for ident, key in distinct.items():
            sums[ident][row[name]] = 1.0 if key is None else key.counts
    return [sums[_identity(key)] for key in keys]


def _identity(key: Codes | None) -> int | None:
    """What makes two keys' sums equal: the same array of codes (None: the rows themselves)."""
    return None if key is None else id(key.codes)


def _evaluate(frame: pl.DataFrame, batch: Mapping[str, pl.Expr]) -> pl.DataFrame:
    """One batch of summands as float64 columns without nulls (a null adds nothing to a sum)."""
    columns = sorted({c for e in batch.values() for c in e.meta.root_names()})
    source = frame.select(columns) if columns else frame  # only these: checking 100 columns is not free
    if max(source.n_chunks("all"), default=1) > 1:  # contiguous columns first: about twice as fast
        source = source.rechunk()
    return source.select(e.cast(pl.Float64).fill_null(0.0).alias(name) for name, e in batch.items())
