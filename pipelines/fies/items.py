"""FIES item names, the FAO global standard, and checks on the answers and weights given to the model.

Shared by ``rasch.py`` (mirrors ``RM.weights::RM.w``) and ``equating.py`` (mirrors ``equating.fun``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.errors import DesignError, SchemaViolation
from surveys.schema import FIES_ITEMS

ITEMS: tuple[str, ...] = tuple(item.upper() for item in FIES_ITEMS)
"""The eight FIES items (WORRIED ... WHLDAY), in the questionnaire order the global standard uses: the
harmonised schema's `FIES_ITEMS`, in FAO's capitals."""

ITEMS_7: tuple[str, ...] = tuple(item for item in ITEMS if item != "HEALTHY")
"""The seven-item variant without HEALTHY."""

# FAO 2014-2016 global standard item severities: the default `st` of RM.weights::equating.fun
# (R/equating.fun.r in RM.weights 2.0), in item order as R gives it. It is the published reference metric,
# not a tuning parameter.
GLOBAL_STANDARD_2014_2016: dict[str, float] = dict(zip(ITEMS, (
    -1.2230564, -0.8471210, -1.1056616, 0.3509848, -0.3117999, 0.5065051, 0.7546138, 1.8755353,
), strict=True))
# Items whose global severities are the thresholds (equating.fun: thres = st[c(5, 8)]).
THRESHOLD_ITEMS: tuple[str, str] = ("ATELESS", "WHLDAY")


def frozen(values) -> np.ndarray:
    """Return a read-only float copy of ``values``, so results cannot be changed after the fact."""
    array = np.array(values, dtype=float)
    array.setflags(write=False)
    return array


def item_matrix(items: np.ndarray | pl.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """Return an n x k float matrix (NaN for missing), checking that answers are 0/1."""
    if isinstance(items, pl.DataFrame):
        missing = [name for name in names if name not in items.columns]
        if missing:
            raise SchemaViolation(
                f"item columns {missing} are missing", where="fies items",
                hint=f"Available columns: {items.columns[:12]}; pass item_names=... to name the items.")
        matrix = items.select([pl.col(name).cast(pl.Float64) for name in names]).to_numpy()
    else:
        matrix = np.asarray(items, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] != len(names):
        raise SchemaViolation(f"expected an n x {len(names)} item matrix, got shape {matrix.shape}",
                              where="fies items", hint=f"Columns must be, in order: {names}.")
    bad = np.unique(matrix[~np.isnan(matrix) & (matrix != 0) & (matrix != 1)])
    if bad.size:
        raise SchemaViolation(f"item answers must be 0/1 or missing, got {bad[:5].tolist()}",
                              where="fies items", hint="Recode yes=1, no=0 and refusals to missing.")
    return matrix


def checked_weights(weights: np.ndarray, n: int) -> np.ndarray:
    """Return the weights as floats, failing unless there are ``n`` finite non-negative values."""
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape[0] != n or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DesignError(f"weights must be {n} finite non-negative numbers", where="fies weights",
                          got=f"{w.shape[0]} values", hint="Pass the survey weight of every row.")
    return w

