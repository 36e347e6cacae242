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
        ``i``-th summand, column ``g`` those of group ``g``.
    """
    n = frame.height
    outs = [np.empty((len(summands), n if key is None else key.size)) for key in keys]
    row = {name: i for i, name in enumerate(summands)}
    exprs = {name: e for name, e in summands.items() if e is not None}
    per_batch = max(1, BATCH_VALUES // max(n, 1))
    for start in range(0, len(exprs), per_batch):
        batch = list(exprs)[start : start + per_batch]
        values = _evaluate(frame, {name: exprs[name] for name in batch})
        for name in batch:
            column = values[name].to_numpy()  # float64 without nulls: a view, no copy
            # keys sharing their rows' codes (domains nested in PSUs, `SurveyDesign`) are summed once
            sums: dict[int, np.ndarray] = {}
            for key, out in zip(keys, outs, strict=True):  # the same column reduced by every key
                if key is None:
                    out[row[name]] = column
                    continue
                if id(key.codes) not in sums:
                    sums[id(key.codes)] = np.bincount(key.codes, weights=column, minlength=key.size)
                out[row[name]] = sums[id(key.codes)]
        del values
    for name in summands.keys() - exprs.keys():  # the row counts
        for key, out in zip(keys, outs, strict=True):
            out[row[name]] = 1.0 if key is None else key.counts
    return outs


def _evaluate(frame: pl.DataFrame, batch: Mapping[str, pl.Expr]) -> pl.DataFrame:
    """One batch of summands as float64 columns without nulls (a null adds nothing to a sum)."""
    columns = sorted({c for e in batch.values() for c in e.meta.root_names()})
    source = frame.select(columns) if columns else frame  # only these: checking 100 columns is not free
    if max(source.n_chunks("all"), default=1) > 1:  # contiguous columns first: about twice as fast
        source = source.rechunk()
    return source.select(e.cast(pl.Float64).fill_null(0.0).alias(name) for name, e in batch.items())
