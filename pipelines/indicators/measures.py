"""Measures: indicator numerators and domain columns built from harmonised columns, as polars expressions.

Each measure is a small pure function of the harmonised columns and the catalogue's parameters
(`surveys/indicators/parameters.yaml`). A null input gives a null measure (structurally missing, never "no").
"""

from __future__ import annotations

from datetime import date

import polars as pl

from surveys.schema import FIES_COLUMNS, polars_schema

# Columns the estimate stage adds beside the measures (pipelines/indicators/estimate.py): each household's FIES
# probabilities from the round's Rasch model and its weight times its size; each person's dwelling rooms (joined
# from the household); the common-coverage domain of both.
FIES_PROBABILITIES = ("moderate_severe", "severe")
INDIVIDUALS_WEIGHT = "weight_individuals"
HOUSEHOLD_ROOMS = "household_rooms"
COMMON_COVERAGE = "common_coverage"
UNIT_TABLES = {"household": "households", "person": "persons"}


def _bands(value: pl.Expr, bands: list[dict]) -> pl.Expr:
    """Label of the band whose lower bound is the largest one not above `value` (bands in ascending order)."""
    expr = pl.lit(None, pl.String)
    for band in bands:
        expr = pl.when(value >= band["from"]).then(pl.lit(band["label"])).otherwise(expr)
    return pl.when(value.is_not_null()).then(expr)


def _lima() -> pl.Expr:
    """Lima Metropolitana y Callao against the rest of the cities, a domain of its own."""
    return pl.when(pl.col("city") == "Lima").then(pl.lit("Lima")).when(pl.col("city").is_not_null()).then(
        pl.lit("rest")).alias("lima")


def household_measures(parameters: dict) -> list[pl.Expr]:
    """Housing and FIES measures on the harmonised `households` table."""
    crowding = parameters["overcrowding"]
    persons_per_room = pl.col("hh_size") / pl.col("rooms")
    items = [pl.col(c).cast(pl.Int8) for c in FIES_COLUMNS]
    complete = pl.all_horizontal(pl.col(c).is_not_null() for c in FIES_COLUMNS)
    return [
        (persons_per_room > crowding["un_habitat_persons_per_room"]).alias("overcrowding_room"),
        (persons_per_room > crowding["inei_persons_per_room"]).alias("overcrowding_inei"),
        # A dwelling with no room used only for sleeping has people sleeping in one multi-use room: count it as 1.
        (pl.col("hh_size") / pl.max_horizontal(pl.col("bedrooms"), 1) > crowding["persons_per_bedroom"])
        .alias("overcrowding_bedroom"),
        (pl.col("rooms") == 1).alias("one_room_dwelling"),
        (pl.col("tenure") == "rented").alias("rented_dwelling"),
        complete.alias("fies_complete"),
        pl.when(complete).then(pl.sum_horizontal(items)).alias("fies_raw_score_8"),
        pl.when(complete).then(pl.sum_horizontal(items) - pl.col("fies_healthy").cast(pl.Int8))
        .alias("fies_raw_score_7"),
        _lima(),
    ]


def months_since_arrival(fieldwork_start: date) -> pl.Expr:
    """Months from the last entry into Peru (year and month) to the round's fieldwork start."""
    month = pl.col("arrival_month").cast(pl.Int32).fill_null(7)  # mid-year when only the year is known
    return (fieldwork_start.year - pl.col("arrival_year").cast(pl.Int32)) * 12 + (fieldwork_start.month - month)


def person_measures(parameters: dict, fieldwork_start: date) -> list[pl.Expr]:
    """Health, employment and domain measures on the harmonised `persons` table."""
    hours = parameters["underemployment"]["hours_per_week"]
    of_working_age = pl.col("age") >= parameters["working_age"]
    employed = pl.col("worked_last_week") | pl.col("has_job_to_return")
    status = pl.col("employment_status")
    return [
        (~pl.col("has_health_insurance")).alias("no_health_insurance"),
        # The dwelling's rooms come from the person's household (joined in by the estimate stage).
        (pl.col(HOUSEHOLD_ROOMS) == 1).alias("lives_in_one_room_dwelling"),
        (~pl.col("chronic_treated_in_peru")).alias("chronic_untreated"),
        pl.when(pl.col("ill_or_injured_4w")).then(~pl.col("sought_care")).alias("no_care_sought"),
        of_working_age.alias("of_working_age"),
        pl.when(of_working_age).then(employed).alias("employed"),
        pl.when(employed).then(~pl.col("has_contract_or_receipt")).alias("informal"),
        pl.when(employed).then(status == "employee").alias("status_employee"),
        pl.when(employed).then(status == "self_employed").alias("status_self_employed"),
        pl.when(employed).then(status == "employer").alias("status_employer"),
        pl.when(employed).then(status == "domestic_worker").alias("status_domestic_worker"),
        pl.when(employed).then(
            (pl.col("hours_worked_week") < hours) & pl.col("wants_more_hours") & pl.col("available_more_hours")
        ).alias("underemployed_time"),
        _bands(pl.col("age"), parameters["age_groups"]).alias("age_group"),
        _bands(months_since_arrival(fieldwork_start), parameters["time_since_arrival"]).alias("time_since_arrival"),
        _lima(),
    ]


def common_coverage(cities: tuple[str, ...]) -> pl.Expr:
    """`common` on the rows of the cities every stored round of the source covered (domain `coverage`)."""
    inside = pl.col("city").is_in(list(cities)) if cities else pl.lit(False)
    return pl.when(inside).then(pl.lit("common")).otherwise(pl.lit(None, pl.String)).alias(COMMON_COVERAGE)


def available_columns(unit: str, parameters: dict) -> frozenset[str]:
    """Every column a catalogue numerator, universe condition or domain of `unit` may name: the harmonised
    table's columns, the measures, and what the estimate stage adds."""
    if unit == "household":
        measures, added = household_measures(parameters), (*FIES_PROBABILITIES, INDIVIDUALS_WEIGHT)
    else:
        measures, added = person_measures(parameters, date(2000, 1, 1)), (HOUSEHOLD_ROOMS,)
    names = [*polars_schema(UNIT_TABLES[unit]).names(), *(m.meta.output_name() for m in measures), *added]
    return frozenset([*names, COMMON_COVERAGE])
