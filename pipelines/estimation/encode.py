"""Dense integer codes of labels: strata, PSUs and domains are encoded once, then grouped as integers.

A label column (zero-padded strings such as INEI's ``"000123"``, integers, enums, booleans, dates) is
turned into codes ``0..size-1``, one per distinct value (`encode`); `representatives` gives one row
of each code, where its label (the column's value, in the column's own dtype) can be read. Several
columns' codes combine into the codes of their distinct combinations (`combine`), which is how a
verb's domains (``by=``) and the reduction's (PSU, domain) key are formed. `SurveyDesign` encodes
its strata and PSUs at construction, and each domain column the first time a verb names it.

Only this step touches the labels; from then on every pass over the rows is over small integers,
so its cost does not depend on how the producer spelled its codes. A null is a value of its own; the
design columns never hold one (construction rejects them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

# Up to this many possible values (or 4 per row) a lookup table beats sorting (np.unique).
_MIN_TABLE = 1 << 16
# Rows per block when text labels are compared with their code's label.
_CHECK_ROWS = 1 << 20


@dataclass(frozen=True, slots=True)
class Codes:
    """Each row's code, and per code the value it stands for and its row count.

    Attributes
    ----------
    codes
        Per row, ``0..size-1`` (``intp``, what `numpy.bincount` and indexing take without a copy).
    values
        Per code, the integer it stands for, increasing: for `combine`'s output the combination
        ``(code_1 * size_2 + code_2) * size_3 + ...`` of its parts' codes, so each part's code is
        recovered with ``//`` and ``%`` (while the product of the sizes stays below ``2**62``); for
        a column, its physical value or sort rank, shifted.
    counts
        Rows per code.
    """

    codes: np.ndarray
    values: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.counts.shape[0])


def dense(raw: np.ndarray, bound: int) -> Codes:
    """Codes of the distinct values of ``raw`` (non-negative integers below ``bound``), in increasing order.

    A lookup table of ``bound`` entries when that is not much larger than the data (two linear passes),
    else a sort (`numpy.unique`).
    """
    n = raw.shape[0]
    if bound <= max(4 * n, _MIN_TABLE):
        counts = np.bincount(raw, minlength=bound)
        values = np.flatnonzero(counts)
        table = np.empty(bound, dtype=np.intp)
        table[values] = np.arange(values.shape[0], dtype=np.intp)
        return Codes(codes=table[raw], values=values, counts=counts[values])
    values, inverse, counts = np.unique(raw, return_inverse=True, return_counts=True)
    return Codes(codes=inverse.astype(np.intp).reshape(n), values=values, counts=counts)


def representatives(codes: Codes) -> np.ndarray:
    """One row index per code (gather the label columns there to read each code's labels).

    Rows are scanned in growing blocks until every code has one: a few domains are all found in the first
    block, a PSU table's codes in one pass over the rows at worst.
    """
    rows = np.full(codes.size, -1, dtype=np.intp)
    start, step, n = 0, 4096, codes.codes.shape[0]
    while start < n:
        block = codes.codes[start : start + step]
        rows[block] = np.arange(start, start + block.shape[0], dtype=np.intp)  # any write is a row of its code
        start += step
        step *= 4
        if rows.min(initial=0) >= 0:
            break
    return rows


def encode(series: pl.Series) -> Codes:
    """Dense codes of one label column (nulls form one code of their own)."""
    if series.dtype == pl.String:
        codes = _encode_strings(series)
        if codes is not None:
            return codes
    physical = _physical(series)
    if physical is None:  # floats, decimals, ...: their sort rank
        physical = series.rank("dense").cast(pl.Int64)
    nulls = physical.null_count()
    if physical.len() == nulls:
        return dense(np.zeros(physical.len(), dtype=np.intp), 1)
    low, high = int(physical.min()), int(physical.max())  # type: ignore[arg-type]
    if nulls:
        physical = physical.fill_null(high + 1)
        high += 1
    raw = physical.to_numpy()
    if low or raw.dtype != np.intp:
        raw = raw.astype(np.intp) - low
    return dense(raw, high - low + 1)


def combine(parts: Sequence[Codes], n_rows: int) -> Codes:
    """Codes of the distinct combinations of several columns' codes (one code per combination present)."""
    if not parts:
        return dense(np.zeros(n_rows, dtype=np.intp), 1)
    if len(parts) == 1:
        return Codes(codes=parts[0].codes, values=np.arange(parts[0].size), counts=parts[0].counts)
    raw, bound = parts[0].codes.copy(), parts[0].size
    for part in parts[1:]:
        if bound * part.size >= 1 << 62:  # renumber what is present before the product overflows
            present = dense(raw, bound)
            raw, bound = present.codes, present.size
        raw *= part.size
        raw += part.codes
        bound *= part.size
    return dense(raw, bound)


def _encode_strings(series: pl.Series) -> Codes | None:
    """Codes of a text column through its 64-bit hashes, checked against the text itself (None if any check
    fails: two labels sharing a hash, which the caller then encodes exactly another way).

    Hashing is parallel and an order of magnitude cheaper than building a categorical mapping (at 5 M rows and
    200,000 labels, 0.8 s against 3 s). Each hash's leading bits pick one of ``2**bits`` slots, about eight
    per label (their number estimated from how many of 65,536 narrow slots are taken); a slot holding two
    hashes sends the rows of all but one to extra codes, numbered by sorting their few hashes.
    """
    hashes = series.hash().to_numpy()
    n = hashes.shape[0]
    bits = 16
    slot = (hashes >> np.uint64(64 - bits)).view(np.int64)  # below 2**bits: the same numbers as int64
    occupied = int(np.count_nonzero(np.bincount(slot, minlength=1 << bits)))
    if occupied > 1 << 12:  # many labels: about eight slots per label, estimated from the slots taken
        labels = n if occupied == 1 << bits else -(1 << bits) * math.log1p(-occupied / (1 << bits))
        bits = min(max(16, math.ceil(math.log2(8 * labels))), max(16, n.bit_length()))
        slot = (hashes >> np.uint64(64 - bits)).view(np.int64)
    owner = np.empty(1 << bits, dtype=np.uint64)
    owner[slot] = hashes  # one hash per slot wins; the others' rows clash
    clash = owner[slot] != hashes
    n_clash = int(np.count_nonzero(clash))
    bound = 1 << bits
    if n_clash:
        extra, inverse = np.unique(hashes[clash], return_inverse=True)
        slot[clash] = bound + inverse.reshape(-1)
        bound += extra.shape[0]
    del hashes, owner, clash
    codes = dense(slot, bound)
    del slot
    labels = series.gather(representatives(codes))
    for start in range(0, n, _CHECK_ROWS):  # in blocks: a gathered copy of every label would double the column
        block = codes.codes[start : start + _CHECK_ROWS]
        if not series.slice(start, block.shape[0]).equals(labels.gather(block)):
            return None  # two labels share a hash: not these codes
    return codes


def _physical(series: pl.Series) -> pl.Series | None:
    """The column as integers with the same equalities (None when it has no such form)."""
    dtype = series.dtype
    if dtype == pl.String:
        return series.cast(_private_categorical()).to_physical()
    if dtype == pl.Boolean:
        return series.cast(pl.UInt8)
    if dtype.is_integer():
        return series
    if isinstance(dtype, (pl.Enum, pl.Categorical)) or dtype.is_temporal():
        return series.to_physical()
    return None


def _private_categorical() -> pl.DataType:
    """A categorical type with a mapping of its own (dropped with the series), where polars has one."""
    categories = getattr(pl, "Categories", None)
    if categories is not None and hasattr(categories, "random"):
        return pl.Categorical(categories.random())
    return pl.Categorical()
