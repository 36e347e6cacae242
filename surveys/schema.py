"""The common schema: the harmonised `households` and `persons` tables, their typed columns and category sets.

This module holds the schema only, as an explicit mapping (name -> dtype, categories, description). Which source
variable feeds which column lives in each round's crosswalk (`surveys/<source>_<round>/variables.csv`).

Versioning: `SCHEMA_VERSION` is stamped into every Parquet file. Bump the minor part for added columns, the major
part for renames or removals.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class Column:
    """One harmonised column: its dtype, closed category set (for Enums) and meaning."""

    name: str
    dtype: pl.DataType
    description: str
    categories: tuple[str, ...] = ()
    unit: str = ""


def _enum(*categories: str) -> pl.Enum:
    return pl.Enum(list(categories))


CITIES = ("Lima", "Tumbes", "Piura", "Chiclayo", "Trujillo", "Chimbote", "Ica", "Arequipa", "Cusco", "Tacna", "other")
LIMA_ZONES = ("north", "east", "centre", "south", "callao")
TENURE = ("rented", "owned", "ceded", "other")
SEX = ("female", "male")
RELATIONSHIP = (
    "head", "spouse", "child", "child_in_law", "grandchild", "parent_or_in_law", "sibling", "other_relative",
    "domestic_worker", "boarder", "other_non_relative",
)
EDUCATION_LEVEL = ("none", "preschool", "primary", "secondary", "technical", "university", "postgraduate")
MARITAL_STATUS = ("cohabiting", "married", "widowed", "divorced", "separated", "single")
EDUCATION_COUNTRY = ("venezuela", "peru", "none")

FIES_ITEMS = ("worried", "healthy", "fewfood", "skipped", "ateless", "runout", "hungry", "whlday")

# Columns every row of both tables carries: who, which round, and the design.
KEY_COLUMNS = (
    Column("source", pl.String(), "Survey source, e.g. `enpove`."),
    Column("round", pl.String(), "Round of the source, e.g. `2022`."),
    Column("year", pl.Int16(), "Year the round was fielded."),
    Column("synthetic", pl.Boolean(), "True when the row comes from the synthetic generator, never real data."),
    Column("hh_id", pl.String(), "Household identifier, unique within source and round."),
)
DESIGN_COLUMNS = (
    Column("weight", pl.Float64(), "Sampling (expansion) weight.", unit="persons or households represented"),
    Column("stratum", pl.String(), "Design stratum."),
    Column("psu", pl.String(), "Primary sampling unit, unique within source and round."),
)
_GEO = (
    Column("city", _enum(*CITIES), "City of residence (study domain).", CITIES),
    Column("lima_zone", _enum(*LIMA_ZONES), "Zone of Lima Metropolitana y Callao; null outside Lima.", LIMA_ZONES),
)

HOUSEHOLD_COLUMNS: tuple[Column, ...] = (
    *KEY_COLUMNS,
    *DESIGN_COLUMNS,
    *_GEO,
    Column("hh_size", pl.Int16(), "Usual residents of the household.", unit="persons"),
    Column("n_migrants", pl.Int16(), "Residents who migrated from Venezuela.", unit="persons"),
    Column("rooms", pl.Int16(), "Rooms of the dwelling, not counting bathroom, kitchen, halls and garage."),
    Column("bedrooms", pl.Int16(), "Rooms used only for sleeping."),
    Column("tenure", _enum(*TENURE), "Tenure of the dwelling.", TENURE),
    Column("water_network_inside", pl.Boolean(), "Water mainly from the public network inside the dwelling."),
    Column("sanitation_network_inside", pl.Boolean(), "Toilet connected to the public sewer inside the dwelling."),
    Column("electricity", pl.Boolean(), "Lighting by electricity."),
    Column("internet", pl.Boolean(), "The household has an internet service."),
    *(
        Column(f"fies_{item}", pl.Boolean(), f"FIES item {item.upper()}: True is the food-insecure answer.")
        for item in FIES_ITEMS
    ),
)

PERSON_COLUMNS: tuple[Column, ...] = (
    *KEY_COLUMNS,
    Column("person_id", pl.String(), "Person identifier, unique within source and round."),
    *DESIGN_COLUMNS,
    *_GEO,
    Column("sex", _enum(*SEX), "Sex.", SEX),
    Column("age", pl.Int16(), "Age in completed years; infants under one year are 0.", unit="years"),
    Column("relationship", _enum(*RELATIONSHIP), "Relationship to the household head.", RELATIONSHIP),
    Column("marital_status", _enum(*MARITAL_STATUS), "Marital or union status (persons 12+).", MARITAL_STATUS),
    Column("migrant", pl.Boolean(), "Migrated from Venezuela."),
    Column(
        "education_country", _enum(*EDUCATION_COUNTRY), "Country of the last level studied.", EDUCATION_COUNTRY
    ),
    Column("education_level", _enum(*EDUCATION_LEVEL), "Highest level studied.", EDUCATION_LEVEL),
    Column("education_complete", pl.Boolean(), "The highest level was completed, where the source says so."),
)

TABLES: dict[str, tuple[Column, ...]] = {"households": HOUSEHOLD_COLUMNS, "persons": PERSON_COLUMNS}


def columns(table: str) -> dict[str, Column]:
    """The columns of `table` (`households` or `persons`) by name, in schema order."""
    return {column.name: column for column in TABLES[table]}


def polars_schema(table: str) -> pl.Schema:
    """The polars schema of `table`, in schema order."""
    return pl.Schema({column.name: column.dtype for column in TABLES[table]})


def key_of(table: str) -> tuple[str, ...]:
    """The unique key of a table within one source and round."""
    return ("hh_id",) if table == "households" else ("person_id",)
