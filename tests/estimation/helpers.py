"""Helpers of the estimation tests: the R `survey` reference data (read in place from ../shared) and random designs.

Plain functions and strategies, not fixtures: test modules use them at import time (in `@given`, in parametrize
lists), where a fixture cannot reach; `conftest.py` turns the reference data into fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]
R_SURVEY = REPO_ROOT.parent / "shared" / "reference" / "r-survey"
# R's lonely-PSU rules and svy's names for them: the random designs draw one of each.
SVY_SINGLETON = {"adjust": "center", "remove": "skip", "average": "scale"}


def reference_file(name: str) -> Path:
    """A reference file that must exist: a missing file fails the test, it never skips."""
    path = R_SURVEY / name
    assert path.is_file(), f"{path} is missing: the R reference values are read in place from ../shared"
    return path


def load_api(name: str) -> pl.DataFrame:
    """One of R survey's `api` data sets (``NA`` is null)."""
    return pl.read_csv(reference_file(f"{name}.csv"), null_values="NA", infer_schema_length=None)


def load_expected() -> list[dict]:
    return json.loads(reference_file("expected.json").read_text())


@st.composite
def designs(draw) -> tuple[pl.DataFrame, dict]:
    """A random stratified cluster sample and its design arguments."""
    psus_per_stratum = draw(st.lists(st.integers(1, 4), min_size=1, max_size=5))
    if len(psus_per_stratum) == 1 and psus_per_stratum[0] == 1:
        psus_per_stratum.append(2)
    seed = draw(st.integers(0, 2**32 - 1))
    use_fpc = draw(st.booleans())
    lonely = draw(st.sampled_from(sorted(SVY_SINGLETON)))
    rng = np.random.default_rng(seed)
    rows = []
    psu_id = 0
    for h, n_psu in enumerate(psus_per_stratum):
        pop = n_psu + int(rng.integers(0, 20))
        for _ in range(n_psu):
            psu_id += 1
            size = int(rng.integers(1, 7))
            shift = rng.normal(0, 3)
            for _ in range(size):
                rows.append((f"s{h}", psu_id, pop, shift))
    n = len(rows)
    frame = pl.DataFrame(
        {
            "stratum": [r[0] for r in rows],
            "psu": [r[1] for r in rows],
            "fpc": [float(r[2]) for r in rows],
        }
    )
    shift = np.array([r[3] for r in rows])
    y = 10 + shift + rng.normal(0, 2, n)
    y = np.where(rng.uniform(size=n) < 0.15, np.nan, y)
    dom = rng.choice(np.array(["a", "b"], dtype=object), n)
    dom[frame["psu"].to_numpy() == int(rng.integers(1, psu_id + 1))] = "solo"  # one PSU only
    if n > 3:
        dom[int(rng.integers(0, n))] = "ghost"  # variable y always null there: an empty domain
        y = np.where(dom == "ghost", np.nan, y)
    frame = frame.with_columns(
        w=pl.Series(np.exp(rng.uniform(0, np.log(1000), n))),
        y=pl.Series(y).fill_nan(None),
        x=pl.Series(rng.uniform(1, 5, n)),
        ind=pl.Series((rng.uniform(size=n) < 0.3).astype(np.int64)),
        dom=pl.Series(dom),
    )
    args = {"weight": "w", "strata": "stratum", "psu": "psu", "lonely_psu": lonely}
    if use_fpc:
        args["fpc"] = "fpc"
    return frame, args
