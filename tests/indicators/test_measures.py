"""Measures: the numerators and domain columns built from harmonised columns, on a few hand-written rows, with the
catalogue's own parameters (`surveys/indicators/parameters.yaml`). A null input gives a null measure, never "no".
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipelines.indicators.catalogue import load_catalogue
from pipelines.indicators.measures import (
    COMMON_COVERAGE,
    FIES_COLUMNS,
    HOUSEHOLD_ROOMS,
    available_columns,
    common_coverage,
    household_measures,
    months_since_arrival,
    person_measures,
)
from surveys.schema import polars_schema

FIELDWORK = date(2022, 2, 1)


@pytest.fixture(scope="module")
def parameters() -> dict:
    return load_catalogue().parameters


def measured(frame: pl.DataFrame, measures: list[pl.Expr], *names: str) -> dict[str, list]:
    return frame.with_columns(measures).select(names).to_dict(as_series=False)


def households(**columns) -> pl.DataFrame:
    """Households with every FIES item answered "no" unless given."""
    n = len(next(iter(columns.values())))
    fies = {c: [False] * n for c in FIES_COLUMNS}
    return pl.DataFrame({**fies, "city": ["Lima"] * n, "tenure": ["owned"] * n, **columns})


def test_overcrowding_is_strictly_above_each_cut_off(parameters):
    crowding = parameters["overcrowding"]
    assert (crowding["un_habitat_persons_per_room"], crowding["inei_persons_per_room"]) == (3, 3.4)
    frame = households(hh_size=[6, 7, 7, 4, 3], rooms=[2, 2, 2, 1, None], bedrooms=[2, 2, 0, 0, 1])
    got = measured(frame, household_measures(parameters),
                   "overcrowding_room", "overcrowding_inei", "overcrowding_bedroom", "one_room_dwelling")
    assert got["overcrowding_room"] == [False, True, True, True, None]  # 3 per room is not above 3
    assert got["overcrowding_inei"] == [False, True, True, True, None]  # 3.5 is above 3.4
    assert got["overcrowding_bedroom"] == [False, True, True, True, False]  # no bedroom counts as one
    assert got["one_room_dwelling"] == [False, False, False, True, None]


def test_fies_raw_scores_need_all_eight_items(parameters):
    frame = households(hh_size=[1, 1, 1], rooms=[1, 1, 1], bedrooms=[1, 1, 1],
                       fies_worried=[True, True, None], fies_healthy=[True, False, False])
    got = measured(frame, household_measures(parameters), "fies_complete", "fies_raw_score_8", "fies_raw_score_7")
    assert got == {"fies_complete": [True, True, False], "fies_raw_score_8": [2, 1, None],
                   "fies_raw_score_7": [1, 1, None]}  # the seven-item score leaves out `healthy`


def test_tenure_and_the_lima_domain(parameters):
    frame = households(hh_size=[1, 1, 1], rooms=[1, 1, 1], bedrooms=[1, 1, 1],
                       tenure=["rented", "owned", None], city=["Lima", "Tumbes", None])
    got = measured(frame, household_measures(parameters), "rented_dwelling", "lima")
    assert got == {"rented_dwelling": [True, False, None], "lima": ["Lima", "rest", None]}


def persons(**columns) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    blank = {"has_health_insurance": pl.Boolean, HOUSEHOLD_ROOMS: pl.Int64, "chronic_treated_in_peru": pl.Boolean,
             "ill_or_injured_4w": pl.Boolean, "sought_care": pl.Boolean, "age": pl.Int64,
             "worked_last_week": pl.Boolean, "has_job_to_return": pl.Boolean, "has_contract_or_receipt": pl.Boolean,
             "employment_status": pl.String, "hours_worked_week": pl.Float64, "wants_more_hours": pl.Boolean,
             "available_more_hours": pl.Boolean, "arrival_year": pl.Int64, "arrival_month": pl.Int64,
             "city": pl.String}
    frame = pl.DataFrame({name: [None] * n for name in blank}, schema=blank)
    return frame.with_columns(pl.Series(name, values, dtype=blank[name]) for name, values in columns.items())


def test_employment_measures_have_their_universes_as_nulls(parameters):
    frame = persons(age=[30, 13, 30, 30, 30], worked_last_week=[True, True, False, False, None],
                    has_job_to_return=[False, False, True, False, None],
                    has_contract_or_receipt=[False, True, True, None, None],
                    employment_status=["employee", "employee", "domestic_worker", None, None],
                    hours_worked_week=[20.0, 40.0, 10.0, None, None], wants_more_hours=[True, False, True, None, None],
                    available_more_hours=[True, False, True, None, None])
    got = measured(frame, person_measures(parameters, FIELDWORK),
                   "employed", "informal", "status_employee", "status_domestic_worker", "underemployed_time")
    assert got["employed"] == [True, None, True, False, None]  # below working age: outside the universe
    assert got["informal"] == [True, False, False, None, None]
    assert got["status_employee"] == [True, True, False, None, None]
    assert got["status_domestic_worker"] == [False, False, True, None, None]
    assert got["underemployed_time"] == [True, False, True, None, None]  # fewer than 35 hours, wanting and able


def test_health_measures_negate_their_question_and_keep_nulls(parameters):
    frame = persons(has_health_insurance=[True, False, None], chronic_treated_in_peru=[False, True, None],
                    ill_or_injured_4w=[True, False, None], sought_care=[False, None, None],
                    **{HOUSEHOLD_ROOMS: [1, 3, None]})
    got = measured(frame, person_measures(parameters, FIELDWORK),
                   "no_health_insurance", "chronic_untreated", "no_care_sought", "lives_in_one_room_dwelling")
    assert got == {"no_health_insurance": [False, True, None], "chronic_untreated": [True, False, None],
                   "no_care_sought": [True, None, None], "lives_in_one_room_dwelling": [True, False, None]}


def test_age_groups_and_time_since_arrival_are_the_parameters_bands(parameters):
    frame = persons(age=[0, 13, 14, 18, 60, None], arrival_year=[2022, 2021, 2019, 2017, 2016, None],
                    arrival_month=[1, 2, None, 2, 1, None])
    months = frame.select(months_since_arrival(FIELDWORK).alias("m"))["m"].to_list()
    assert months == [1, 12, 31, 60, 73, None]  # a year without its month is taken as July
    got = measured(frame, person_measures(parameters, FIELDWORK), "age_group", "time_since_arrival")
    assert got["age_group"] == ["0-13", "0-13", "14-17", "18-29", "60+", None]
    assert got["time_since_arrival"] == ["<1 year", "1-2 years", "1-2 years", "5+ years", "5+ years", None]


def test_common_coverage_marks_only_the_cities_every_round_covered():
    frame = pl.DataFrame({"city": ["Lima", "Cusco", None]})
    assert frame.with_columns(common_coverage(("Lima", "Tumbes")))[COMMON_COVERAGE].to_list() == ["common", None, None]
    assert frame.with_columns(common_coverage(()))[COMMON_COVERAGE].to_list() == [None, None, None]


def test_available_columns_are_the_table_the_measures_and_what_estimate_adds(parameters):
    household = available_columns("household", parameters)
    person = available_columns("person", parameters)
    assert set(polars_schema("households").names()) <= household
    assert {"overcrowding_room", "fies_raw_score_7", "moderate_severe", "weight_individuals", COMMON_COVERAGE} <= household
    assert {"employed", "age_group", HOUSEHOLD_ROOMS, COMMON_COVERAGE} <= person
    assert "employed" not in household and "overcrowding_room" not in person
