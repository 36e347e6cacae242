"""Dense codes of labels (`pipelines.estimation.encode`) and what the engine owes them: the estimates
do not depend on how labels are spelled or on the order of the rows."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.estimation import SurveyDesign
from pipelines.estimation.encode import combine, dense, encode, representatives

REL = 1e-12  # only the order of floating-point sums may differ


def _check_codes(series: pl.Series) -> None:
    """Codes are 0..size-1, one per distinct value (null one of them), and each row's code reads back
    its own value at the code's representative row."""
    codes = encode(series)
    assert codes.codes.dtype == np.intp
    assert codes.size == series.n_unique()
    assert set(np.unique(codes.codes)) == set(range(codes.size))
    assert codes.counts.sum() == series.len()
    np.testing.assert_array_equal(np.bincount(codes.codes, minlength=codes.size), codes.counts)
    back = series.gather(representatives(codes)).gather(codes.codes)
    assert back.equals(series)


@pytest.mark.parametrize(
    "series",
    [
        pl.Series(["000123", "000124", "000123", None, "10", "010"]),
        pl.Series([5, -3, 5, None, 2**40], dtype=pl.Int64),
        pl.Series([3, 1, 3, 2], dtype=pl.UInt8),
        pl.Series([1, -1, 1], dtype=pl.Int8),
        pl.Series([True, False, None, True]),
        pl.Series(["north", None, "south", "north"], dtype=pl.Enum(["south", "north"])),
        pl.Series(["a", "b", "a"], dtype=pl.Categorical),
        pl.Series([date(2022, 1, 1), date(2018, 5, 1), date(2022, 1, 1)]),
        pl.Series([0.5, float("nan"), 0.5, None, -1.0]),
        pl.Series([None, None], dtype=pl.String),
        pl.Series([9_000_000_000_000, 1, 9_000_000_000_000]),  # a range too wide for a lookup table
    ],
    ids=lambda s: str(s.dtype),
)
def test_encode_reads_back_every_label(series: pl.Series) -> None:
    _check_codes(series)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="0123", max_size=4)), min_size=1, max_size=60))
def test_encode_strings_property(values: list[str | None]) -> None:
    """Zero-padded and unpadded spellings stay distinct ("01" is not "1")."""
    _check_codes(pl.Series(values, dtype=pl.String))


def test_strings_sharing_a_hash_are_encoded_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text is encoded through its hashes and checked against the text: labels whose hashes collide (here all
    of them, by a hash that is constant) are caught and encoded exactly another way."""
    from pipelines.estimation import encode as encode_module

    series = pl.Series(["0001", "0002", "0001", None, "10"])
    monkeypatch.setattr(pl.Series, "hash", lambda self, *a, **k: pl.Series([7] * self.len(), dtype=pl.UInt64))
    assert encode_module._encode_strings(series) is None
    _check_codes(series)


def test_combine_is_the_distinct_pairs() -> None:
    rng = np.random.default_rng(3)
    a = pl.Series(rng.integers(0, 7, 500))
    b = pl.Series(rng.choice(["x", "y", "z"], 500))
    pair = combine([encode(a), encode(b)], 500)
    frame = pl.DataFrame({"a": a, "b": b})
    assert pair.size == frame.unique().height
    assert frame.gather(representatives(pair)).gather(pair.codes).equals(frame)
    first, second = np.divmod(pair.values, encode(b).size)  # each part's code, recovered
    np.testing.assert_array_equal(first[pair.codes], encode(a).codes)
    np.testing.assert_array_equal(second[pair.codes], encode(b).codes)


def test_dense_sorts_when_the_range_is_wide() -> None:
    raw = np.array([10**15, 3, 10**15, 7], dtype=np.intp)
    codes = dense(raw, 10**15 + 1)
    np.testing.assert_array_equal(codes.codes, [2, 0, 2, 1])
    np.testing.assert_array_equal(codes.values, [3, 7, 10**15])
    np.testing.assert_array_equal(codes.counts, [1, 1, 2])


# ------------------------------------------------------------------ the engine's invariances
def _sample(seed: int = 7, n: int = 3000) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    psu = rng.integers(0, 120, n)
    y = rng.uniform(0, 10, n)
    return pl.DataFrame(
        {
            "stratum": (psu % 9).astype(np.int32),
            "psu": psu.astype(np.int32),
            "w": rng.uniform(1, 50, n),
            "region": rng.integers(0, 4, 120)[psu].astype(np.int8),
            "sex": rng.integers(0, 2, n).astype(np.int8),
            "y": np.where(rng.uniform(size=n) < 0.1, np.nan, y),
            "b": (rng.uniform(size=n) < 0.3).astype(np.int8),
        }
    )


def _estimates(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    design = SurveyDesign(frame, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
    return {
        "mean": design.mean(["y"], by=["region", "sex"]),
        "proportion": design.proportion(["b"], by=["region", "sex"]),
        "total": design.total(["y", "b"]),
        "ratio": design.ratio("y", "b", by="sex"),
        "quantile": design.quantile("y", q=[0.25, 0.5], by="sex"),
        "contrast": design.contrast("y", by="sex", pairs="adjacent"),
    }


def _same(a: pl.DataFrame, b: pl.DataFrame, keys: list[str]) -> None:
    assert a.columns == b.columns and a.height == b.height
    a = a.with_columns(pl.col(k).cast(pl.String) for k in keys if k in a.columns)
    b = b.with_columns(pl.col(k).cast(pl.String) for k in keys if k in b.columns)
    for col, dtype in a.schema.items():
        if dtype == pl.Float64:
            np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), rtol=REL, equal_nan=True)
        else:
            assert a[col].to_list() == b[col].to_list(), col


def test_estimates_do_not_depend_on_row_order_or_label_spelling() -> None:
    """Shuffled rows with INEI-style zero-padded string labels give the estimates of the sorted
    integer-labelled sample (up to the order of floating-point sums)."""
    base = _sample()
    shuffled = base.sample(fraction=1.0, shuffle=True, seed=11).with_columns(
        pl.col("stratum").cast(pl.String).str.zfill(2),
        pl.col("psu").cast(pl.String).str.zfill(6),
        pl.col("region").replace_strict([0, 1, 2, 3], ["Lima", "Arequipa", "Cusco", "Tumbes"]),
        pl.col("sex").replace_strict([0, 1], ["Hombre", "Mujer"]),
    )
    relabel = {"region": ["Lima", "Arequipa", "Cusco", "Tumbes"], "sex": ["Hombre", "Mujer"]}
    ours, theirs = _estimates(base), _estimates(shuffled)
    for verb, out in ours.items():
        for col, labels in relabel.items():
            if col in out.columns:
                out = out.with_columns(pl.col(col).replace_strict(list(range(len(labels))), labels))
        if verb == "contrast":
            out = out.with_columns(pl.col(c).replace_strict(["0", "1"], relabel["sex"]) for c in ("a", "b"))
        by = [c for c in ("region", "sex") if c in out.columns]
        if by:  # the labels sort differently: compare in one order
            out = out.sort(by, maintain_order=True)
            theirs[verb] = theirs[verb].sort(by, maintain_order=True)
        _same(out, theirs[verb], ["region", "sex"])


def test_lazy_plan_with_unstable_row_order_is_collected_once() -> None:
    """A LazyFrame whose row order may change between collections (a group_by) gives the estimates of
    its collected DataFrame: the design collects it once, so codes and values stay aligned."""
    base = _sample()
    lazy = base.lazy().group_by("psu", "stratum", "region").agg(pl.col("w").sum(), pl.col("b").max())
    collected = lazy.collect()
    eager = SurveyDesign(collected, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
    design = SurveyDesign(lazy, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
    for _ in range(3):
        ours = design.total(["b"], by="region").sort("region")
        ref = eager.total(["b"], by="region").sort("region")
        np.testing.assert_allclose(ours["estimate"].to_numpy(), ref["estimate"].to_numpy(), rtol=REL)
        np.testing.assert_allclose(ours["se"].to_numpy(), ref["se"].to_numpy(), rtol=REL)


def test_domain_codes_are_reused_across_verbs() -> None:
    """A by column is encoded once per design; later verbs by it give the same rows as a fresh design."""
    frame = _sample()
    design = SurveyDesign(frame, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
    first = design.mean(["y"], by=["region", "sex"])
    design.proportion(["b"], by="sex")
    again = design.mean(["y"], by=["region", "sex"])
    fresh = SurveyDesign(frame, weight="w", strata="stratum", psu="psu", lonely_psu="adjust").mean(
        ["y"], by=["region", "sex"]
    )
    assert first.equals(again) and again.equals(fresh)


def test_chunks_and_shared_summands_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Variables missing on the same rows share their weight and count sums, and a verb's variables are
    taken in chunks when the PSU table is large: neither changes a number (beyond the order of sums over
    strata, which numpy adds pairwise along a contiguous axis)."""
    from pipelines.estimation import design as design_module

    frame = _sample().with_columns(
        y2=pl.col("y") * 2,  # missing exactly where y is: one shared pattern
        b2=pl.when(pl.col("y").is_nan()).then(None).otherwise(pl.col("b")),  # null where y is NaN: the same
        z=pl.when(pl.col("sex") == 1).then(pl.col("y")),  # another pattern
    )
    variables = ["y", "y2", "b2", "z", "b"]

    def run() -> list[pl.DataFrame]:
        design = SurveyDesign(frame, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
        return [
            design.mean(variables, by=["region", "sex"]),
            design.total(variables),
            design.proportion(["b", "b2"], by="region"),
            design.ratio(["y", "z"], "b2", by="sex"),
            design.contrast(["y", "z"], by="sex", pairs="adjacent"),
        ]

    design = SurveyDesign(frame, weight="w", strata="stratum", psu="psu", lonely_psu="adjust")
    patterns = design._patterns(variables, {v: _Stats(frame, v) for v in variables})
    assert patterns["y"] == patterns["y2"] == patterns["b2"] != patterns["z"] and "b" not in patterns
    whole = run()
    monkeypatch.setattr(design_module, "CHUNK_VALUES", 1)  # one variable per chunk
    for ours, theirs in zip(run(), whole):
        _same(ours, theirs, [])


def _Stats(frame: pl.DataFrame, col: str):
    from pipelines.estimation.checks import ColumnStats

    missing = frame[col].null_count() + (frame[col].is_nan().sum() if frame[col].dtype.is_float() else 0)
    return ColumnStats(missing=int(missing), non_binary=None)
