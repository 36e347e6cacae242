"""Harmonise: rules that span modules, on the real II ENPOVE 2022 files (read in place)."""

from __future__ import annotations

import shutil

import polars as pl

from pipelines.harmonise import harmonise_round
from pipelines.read import read_round
from pipelines.specs import load_round_spec
from tests.helpers import REPO, shared_path


def test_a_column_fed_by_two_modules_is_coalesced_in_file_order(tmp_path):
    """Rows for one harmonised column in two modules: the first module's value wins, the second fills its nulls
    (a join used to drop the second module's value without a word)."""
    spec_dir = tmp_path / "enpove_2022"
    shutil.copytree(REPO / "surveys" / "enpove_2022", spec_dir)
    with (spec_dir / "variables.csv").open("a", encoding="utf-8") as out:
        out.write("left_household_members_behind,persons,700,P701,recode,test: a second source for one column\n")
    values = spec_dir / "values.csv"
    values.write_text(values.read_text(encoding="utf-8") + "left_household_members_behind,P701,1,true,Sí,false,\n"
                      "left_household_members_behind,P701,2,false,No,false,\n", encoding="utf-8")
    spec = load_round_spec(spec_dir)
    raw = shared_path("data", "enpove", "2022")
    result = harmonise_round(spec, read_round(raw, spec)).persons
    baseline = harmonise_round(load_round_spec(REPO / "surveys" / "enpove_2022"), read_round(raw, spec)).persons
    both = result.select("person_id", "left_household_members_behind", "discriminated_since_arrival").join(
        baseline.select("person_id", pl.col("left_household_members_behind").alias("from_300")), on="person_id")
    kept = both.filter(pl.col("from_300").is_not_null())
    assert kept["left_household_members_behind"].equals(kept["from_300"])  # module 300 (first) wins where it answered
    filled = both.filter(pl.col("from_300").is_null() & pl.col("discriminated_since_arrival").is_not_null())
    assert filled.height > 0  # migrants aged 5-11: no P313 (12+), a P701 (5+)
    assert filled["left_household_members_behind"].equals(filled["discriminated_since_arrival"].alias("left_household_members_behind"))


def test_module_columns_are_placed_on_their_persons_rows():
    """`_aligned` puts each module row on its person's row (row numbers in any order), nulls where a person has no
    row, as the join on the row numbers did; a person fed twice is refused."""
    from pipelines.harmonise import _aligned

    columns = pl.DataFrame({"__row": pl.Series([3, 0, 1], dtype=pl.UInt32), "x": ["d", "a", None],
                            "flag": [True, False, None]})
    joined = pl.DataFrame({"__row": pl.Series(range(5), dtype=pl.UInt32)}).join(
        columns, on="__row", how="left", maintain_order="left").drop("__row")
    aligned = _aligned(columns, 5)
    assert aligned.equals(joined) and aligned.schema == joined.schema
    assert aligned["x"].to_list() == ["a", None, None, "d", None]
    twice = pl.DataFrame({"__row": pl.Series([1, 1], dtype=pl.UInt32), "x": ["a", "b"]})
    try:
        _aligned(twice, 3)
    except ValueError as exc:
        assert "[1]" in str(exc)
    else:
        raise AssertionError("a person fed twice by one module was not refused")


def test_rows_outside_a_universe_are_counted_like_an_anti_join():
    """`_count_not_in` (a mark per person) counts what `_not_in` (an anti-join) finds, nulls and repeats included."""
    from pipelines.harmonise import _count_not_in, _not_in

    rows = pl.Series([0, 2, 2, None, 5, 7], dtype=pl.UInt32)
    others = pl.Series([2, 3, None, 7], dtype=pl.UInt32)
    assert _count_not_in(rows, others, 8) == _not_in(rows, others).len() == 2
    assert _count_not_in(others, rows, 8) == _not_in(others, rows).len() == 1
    assert _count_not_in(rows.clear(), others, 8) == 0
