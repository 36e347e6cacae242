"""The one pass over the data: sums of summands per (domain, PSU) group.

This step is engine-neutral on purpose. Its contract is "given one dense integer key per row
(``0..groups-1``, `encode.Codes`) and per-row quantities (polars expressions), return the sum of
each quantity within each key": any engine can do that (``GROUP BY key`` in DuckDB or Spark,
a scatter-add on a GPU). Here polars evaluates the expressions and numpy's ``bincount`` adds them
up. Because the key is a small dense integer formed once (`encode`), the reduction never hashes the
producer's labels, and all variables and all domains of a verb are reduced in the one pass.
Everything after it works on the small table it returns, so swapping the engine only means
reimplementing `psu_sums`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from pipelines.estimation.encode import Codes

# Summands are evaluated in batches of at most this many values (8 bytes each), so that a verb's
# extra memory stays near 2**23 * 8 bytes = 64 MB (and polars' temporaries) whatever the number of
# rows and variables.
BATCH_VALUES = 1 << 23


def psu_sums(
    frame: pl.DataFrame,
    groups: Codes | None,
    summands: Mapping[str, pl.Expr | None],
) -> np.ndarray:
    """Sum every summand within each group.

    Parameters
    ----------
    frame
        The survey rows.
    groups
        Each row's group (normally its (PSU, domain) pair, `encode.combine`); None when every row
        is a group of its own (a design without PSU column): the summands are returned row by row.
    summands
        Output name -> per-row expression to sum; None counts the rows. Nulls count as 0 (they are
        left out of the sum).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(summands), groups)``, float: row ``i`` holds the sums of the ``i``-th summand,
        column ``g`` those of group ``g``.
    """
    n = frame.height
    size = n if groups is None else groups.size
    out = np.empty((len(summands), size))
    names = list(summands)
    exprs = {name: e for name, e in summands.items() if e is not None}
    per_batch = max(1, BATCH_VALUES // max(n, 1))
    for start in range(0, len(exprs), per_batch):
        batch = list(exprs)[start : start + per_batch]
        source = frame
        if (
            max(frame.n_chunks("all"), default=1) > 1
        ):  # the batch's columns made contiguous first: about twice as fast
            source = frame.select(
                sorted({c for name in batch for c in exprs[name].meta.root_names()})
            ).rechunk()
        values = source.select(exprs[name].cast(pl.Float64).fill_null(0.0).alias(name) for name in batch)
        for name in batch:
            column = values[name].to_numpy()  # float64 without nulls: a view, no copy
            if groups is None:
                out[names.index(name)] = column
            else:
                out[names.index(name)] = np.bincount(groups.codes, weights=column, minlength=size)
        del values
    for i, name in enumerate(names):
        if summands[name] is None:
            out[i] = 1.0 if groups is None else groups.counts
    return out
