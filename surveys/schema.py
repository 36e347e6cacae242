"""The common schema: the harmonised `households` and `persons` tables, their typed columns and category sets.

This module holds the schema only, as an explicit mapping (name -> dtype, categories, description). Which source
variable feeds which column lives in each round's crosswalk (`surveys/<source>_<round>/variables.csv`).

Versioning: `SCHEMA_VERSION` is stamped into every Parquet file. Bump the minor part for added columns, the major
part for renames or removals (of columns or categories). 2.0: `migratory_document` holds round-neutral kinds of
permit (each round's permit codes map to them), and `n_household_members_left_behind` is new.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

SCHEMA_VERSION = "2.0"


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
# Migration (module 300 of ENPOVE 2022).
ENTRY_POINT = ("tumbes", "tacna", "inapari", "lima_airport", "other")
MIGRATORY_STATUS = ("regular", "asylum_seeker", "refugee", "irregular")
# The permit or document a migrant holds, in round-neutral kinds: each round's own permit codes (II ENPOVE 2022's
# P307, ENPOVE 2018's P315 options) map to these in its crosswalk.
MIGRATORY_DOCUMENT = (
    "residence_card", "temporary_permit", "temporary_permit_applicant", "temporary_permit_expired", "refugee_card",
    "asylum_applicant", "visa", "tourist", "national_id", "other", "none",
)
ASYLUM_CLAIM = ("pending", "abandoned", "recognised", "denied", "never_applied")
# Health, employment, gender.
CHRONIC_TREATMENT = ("adequate", "insufficient", "none")
EMPLOYMENT_STATUS = (
    "employer", "self_employed", "employee", "unpaid_family_worker", "domestic_worker", "paid_apprentice",
    "unpaid_apprentice",
)
PAY_PERIOD = ("daily", "weekly", "fortnightly", "monthly", "unpaid")
MONEY_DECIDER = ("respondent", "partner", "joint", "someone_else", "respondent_and_other")

# FAO's eight FIES items in the order of its questionnaire and global standard; the FIES model
# (pipelines/fies/items.py) names them in capitals, and each is the households column `fies_<item>`.
FIES_ITEMS = ("worried", "healthy", "fewfood", "skipped", "ateless", "runout", "hungry", "whlday")
FIES_COLUMNS = tuple(f"fies_{item}" for item in FIES_ITEMS)

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
        Column(column, pl.Boolean(), f"FIES item {item.upper()}: True is the food-insecure answer.")
        for column, item in zip(FIES_COLUMNS, FIES_ITEMS, strict=True)
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
    # Migration.
    Column("arrival_year", pl.Int16(), "Year of the last entry into Peru.", unit="year"),
    Column("arrival_month", pl.Int8(), "Month (1-12) of the last entry into Peru.", unit="month"),
    Column("entry_point", _enum(*ENTRY_POINT), "Where the person last entered Peru.", ENTRY_POINT),
    Column("entry_registered", pl.Boolean(), "The last entry was registered at a migration control post."),
    Column("has_valid_passport", pl.Boolean(), "Holds a valid passport of the country of origin."),
    Column("has_valid_id_card", pl.Boolean(), "Holds a valid identity card (cedula) of the country of origin."),
    Column("has_no_identity_document", pl.Boolean(), "Holds no identity document of the country of origin."),
    Column(
        "migratory_document", _enum(*MIGRATORY_DOCUMENT), "The permit or document the person holds to stay in Peru.",
        MIGRATORY_DOCUMENT,
    ),
    Column("asylum_claim", _enum(*ASYLUM_CLAIM), "Whether and how refugee status was sought.", ASYLUM_CLAIM),
    Column(
        "migratory_status", _enum(*MIGRATORY_STATUS),
        "Regular, asylum seeker, recognised refugee or irregular, from the permit held and the asylum claim.",
        MIGRATORY_STATUS,
    ),
    Column("intends_to_stay", pl.Boolean(), "Plans to stay living in the host country."),
    Column("left_household_members_behind", pl.Boolean(), "Left members of the household in the origin country."),
    Column(
        "n_household_members_left_behind", pl.Int16(),
        "Members of the household the person lived with who stayed in the origin country (0 if none; null when not "
        "asked).", unit="persons",
    ),
    # Health.
    Column("has_health_insurance", pl.Boolean(), "Affiliated to any health insurance."),
    Column("insured_sis", pl.Boolean(), "Affiliated to the public Seguro Integral de Salud (SIS)."),
    Column("insured_essalud", pl.Boolean(), "Affiliated to EsSalud (social security)."),
    Column("insured_private", pl.Boolean(), "Affiliated to a private health insurance."),
    Column("insured_other", pl.Boolean(), "Affiliated to another health insurance."),
    Column("chronic_illness", pl.Boolean(), "Has a chronic illness or condition."),
    Column("chronic_mental_health", pl.Boolean(), "The chronic conditions include a mental-health disorder."),
    Column("chronic_treated_in_peru", pl.Boolean(), "Receives treatment in the host country for the chronic illness."),
    Column(
        "chronic_treatment", _enum(*CHRONIC_TREATMENT),
        "Treatment of the chronic illness in the host country: as often as needed, less often, none.",
        CHRONIC_TREATMENT,
    ),
    Column("ill_or_injured_4w", pl.Boolean(), "Symptom, illness, chronic relapse or accident in the last 4 weeks."),
    Column(
        "mental_distress_4w", pl.Boolean(),
        "Had a problem such as depression, fear, anger, anxiety or stress in the last 4 weeks.",
    ),
    Column("sought_care", pl.Boolean(), "Consulted a public or private health facility for that problem."),
    Column("no_care_cost", pl.Boolean(), "Did not go to a health facility: no money."),
    Column("no_care_distance", pl.Boolean(), "Did not go to a health facility: too far."),
    Column("no_care_waiting", pl.Boolean(), "Did not go to a health facility: waiting too long."),
    Column("no_care_distrust", pl.Boolean(), "Did not go to a health facility: does not trust doctors."),
    Column("no_care_not_needed", pl.Boolean(), "Did not go to a health facility: not serious, not needed."),
    Column("no_care_no_insurance", pl.Boolean(), "Did not go to a health facility: no insurance."),
    Column("no_care_self_medicated", pl.Boolean(), "Did not go to a health facility: self-medicated."),
    Column("no_care_no_time", pl.Boolean(), "Did not go to a health facility: no time."),
    Column("no_care_mistreatment", pl.Boolean(), "Did not go to a health facility: mistreatment by health staff."),
    Column("no_care_no_documents", pl.Boolean(), "Did not go to a health facility: lacks documents."),
    Column("no_care_migration_fear", pl.Boolean(), "Did not go to a health facility: fear over migratory status."),
    Column("has_disability", pl.Boolean(), "Has a permanent limitation in at least one functional domain."),
    Column("covid_vaccinated", pl.Boolean(), "Vaccinated against COVID-19 (at least one dose)."),
    # Employment.
    Column("worked_last_week", pl.Boolean(), "Worked at least one hour last week, paid or as an unpaid family helper."),
    Column("has_job_to_return", pl.Boolean(), "Did not work last week but has a job or business to return to."),
    Column("employment_status", _enum(*EMPLOYMENT_STATUS), "Status in employment in the main job.", EMPLOYMENT_STATUS),
    Column(
        "has_contract_or_receipt", pl.Boolean(),
        "Signed a labour contract or issued a payment receipt for services in the main job.",
    ),
    Column("hours_worked_week", pl.Int16(), "Hours worked last week in all jobs.", unit="hours"),
    Column("wants_more_hours", pl.Boolean(), "Wanted to work more hours last week."),
    Column("available_more_hours", pl.Boolean(), "Was available to work more hours last week."),
    Column("pay_period", _enum(*PAY_PERIOD), "How often an employee is paid in the main job.", PAY_PERIOD),
    Column(
        "monthly_income_main_job", pl.Float64(),
        "Income of the main job (cash and in kind) per month: employees' pay converted from the pay period, "
        "employers' and self-employed net profit of the last month.", unit="PEN per month",
    ),
    Column(
        "monthly_labour_income", pl.Float64(), "Income of all jobs per month: main job plus secondary jobs.",
        unit="PEN per month",
    ),
    Column("sought_work_4w", pl.Boolean(), "Did something to find work in the last 4 weeks."),
    Column("sends_remittances", pl.Boolean(), "Sent money abroad (origin country or another) in the last 3 months."),
    # Discrimination.
    Column("discriminated_since_arrival", pl.Boolean(), "Has felt discriminated against since arriving."),
    Column("discriminated_for_nationality", pl.Boolean(), "Felt discriminated against because of nationality."),
    Column(
        "discriminated_for_migratory_status", pl.Boolean(), "Felt discriminated against because of migratory status."
    ),
    Column("discriminated_at_work", pl.Boolean(), "Felt discriminated against at the workplace."),
    Column("discriminated_at_school", pl.Boolean(), "Felt discriminated against at an educational institution."),
    Column("discriminated_in_health_facility", pl.Boolean(), "Felt discriminated against at a health facility."),
    Column("discriminated_in_public_places", pl.Boolean(), "Felt discriminated against in the street, public places."),
    # Gender and victimisation. The violence items ask whether the respondent KNOWS a victim.
    Column("money_decider", _enum(*MONEY_DECIDER), "Who mainly decides how household money is spent.", MONEY_DECIDER),
    Column("knows_victim_physical", pl.Boolean(), "Knows a compatriot who suffered physical abuse."),
    Column("knows_victim_psychological", pl.Boolean(), "Knows a compatriot who suffered psychological abuse."),
    Column("knows_victim_sexual", pl.Boolean(), "Knows a compatriot who suffered sexual violence."),
    Column(
        "knows_victim_of_partner", pl.Boolean(),
        "Knows a compatriot victim of physical, psychological or sexual violence whose aggressor was a spouse/partner.",
    ),
    Column(
        "known_sexual_victim_sought_help", pl.Boolean(),
        "The known victim of sexual violence asked a person or institution for help (as far as the respondent knows).",
    ),
    Column(
        "known_sexual_victim_sought_institution", pl.Boolean(),
        "The known victim of sexual violence turned to an institution (police, justice, health, DEMUNA, CEM, "
        "ombudsman, private organisation or NGO).",
    ),
    Column(
        "knows_sex_exchange", pl.Boolean(),
        "Knows a compatriot who had to have sex in exchange for a good or service since arrival.",
    ),
)

TABLES: dict[str, tuple[Column, ...]] = {"households": HOUSEHOLD_COLUMNS, "persons": PERSON_COLUMNS}


def columns(table: str) -> dict[str, Column]:
    """The columns of `table` (`households` or `persons`) by name, in schema order."""
    return {column.name: column for column in TABLES[table]}


def polars_schema(table: str) -> pl.Schema:
    """The polars schema of `table`, in schema order."""
    return pl.Schema({column.name: column.dtype for column in TABLES[table]})

