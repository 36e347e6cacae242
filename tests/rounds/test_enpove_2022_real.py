"""The real II ENPOVE 2022 modules 100, 200 and 500 (../shared/data/enpove/2022), read in place.

Counts are computed here straight from INEI's files with plain polars, independently of the crosswalk, and compared
with what the pipeline harmonised (the README of the data folder states the same figures).
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.derive import code_of
from tests.helpers import shared_path

RAW = ("data", "enpove", "2022")


def raw_csv(name: str) -> pl.DataFrame:
    return pl.read_csv(shared_path(*RAW, name), infer_schema=False)


def test_responding_households(real_enpove_2022):
    raw = raw_csv("Características de la vivienda y del hogar.csv")
    responding = raw.filter(code_of(pl.col("RESFIN")).is_in(["1", "2"]) & code_of(pl.col("P15")).eq("1"))
    _, result = real_enpove_2022
    assert responding.height == 3739
    assert result.households.height == 3739
    assert result.households["hh_id"].is_unique().all()


def test_residents_and_migrants(real_enpove_2022):
    _, result = real_enpove_2022
    persons = result.persons
    assert persons.height == 12487
    assert persons["person_id"].is_unique().all()
    assert persons["migrant"].sum() == 11621
    weighted = persons.filter("migrant")["weight"].sum()
    assert weighted == pytest.approx(1_078_853.5, abs=0.5)


def test_household_aggregates_match_persons(real_enpove_2022):
    _, result = real_enpove_2022
    assert result.households["hh_size"].sum() == result.persons.height
    assert result.households["n_migrants"].sum() == 11621
    assert set(result.persons["hh_id"]) <= set(result.households["hh_id"])


def test_design_is_city_by_lima_zone(real_enpove_2022):
    _, result = real_enpove_2022
    households = result.households
    strata = households.group_by("stratum").agg(pl.col("psu").n_unique(), pl.len())
    assert strata.height == 12  # 7 cities outside Lima + 5 zones of Lima Metropolitana y Callao
    assert households.group_by("psu").agg(pl.col("stratum").n_unique()).filter(pl.col("stratum") > 1).height == 0
    lima = households.filter(pl.col("city") == "Lima")
    assert lima["lima_zone"].null_count() == 0
    assert households.filter(pl.col("city") != "Lima")["lima_zone"].null_count() == households.height - lima.height


def test_infants_are_age_zero(real_enpove_2022):
    raw = raw_csv("Características de los residentes del hogar.csv")
    infants = raw.filter(pl.col("P205_A").str.strip_chars().eq("") & pl.col("P205_B").str.strip_chars().ne(""))
    _, result = real_enpove_2022
    assert infants.height > 0
    assert result.persons["age"].null_count() == 0
    assert (result.persons["age"] == 0).sum() == infants.height + (raw["P205_A"].str.strip_chars() == "0").sum()


def test_fies_healthy_item_is_reversed(real_enpove_2022):
    raw = raw_csv("Características de la vivienda y del hogar.csv")
    could_eat_healthy = raw.filter(code_of(pl.col("P112_2")).eq("1")).height
    _, result = real_enpove_2022
    assert result.households["fies_healthy"].sum() == 3739 - could_eat_healthy
    # After harmonisation every item points the same way: all pairwise correlations are positive.
    items = result.households.select(pl.col("^fies_.*$").cast(pl.Float64))
    corr = items.corr()
    assert (corr.to_numpy() > 0).all()


def test_every_column_non_null_where_the_source_answered(real_enpove_2022, enpove_2022_spec):
    """For each crosswalk row: where INEI recorded an answer that is not a missing code, the column is filled."""
    modules, result = real_enpove_2022
    spec = enpove_2022_spec
    checked = 0
    for var in spec.variables:
        if var.transform not in ("copy", "recode") or var.module not in modules:
            continue
        table = result.households if var.table == "households" else result.persons
        key = spec.household_key if var.table == "households" else spec.person_key
        id_col = "hh_id" if var.table == "households" else "person_id"
        missing_codes = spec.values.filter(
            pl.col("harmonised_var").eq(var.harmonised_var) & pl.col("source_var").eq(var.source_vars[0])
            & pl.col("is_missing")
        )["source_value"]
        answered = modules[var.module].frame.select(
            pl.concat_str([pl.col(k) for k in key], separator="-").alias(id_col),
            code_of(pl.col(var.source_vars[0])).alias("code"),
        ).filter(pl.col("code").is_not_null() & ~pl.col("code").is_in(missing_codes.implode()))
        joined = answered.join(table.select(id_col, var.harmonised_var), on=id_col, how="inner")
        assert joined[var.harmonised_var].null_count() == 0, f"{var.harmonised_var} <- {var.source_vars[0]}"
        checked += 1
    assert checked >= 25


def test_module_500_universe_is_structurally_missing(real_enpove_2022):
    modules, result = real_enpove_2022
    outside = result.persons.height - modules["500"].frame.height
    assert outside > 0
    # Persons with no row in module 500 (non-migrants, under 3) have null education, not a made-up category.
    assert result.persons["education_country"].null_count() >= outside
    young = result.persons.filter(pl.col("age") < 3)
    assert young["education_level"].null_count() == young.height
