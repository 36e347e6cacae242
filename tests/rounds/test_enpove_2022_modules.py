"""Modules 300-800 of II ENPOVE 2022 harmonised from fixtures in INEI's exact layout.

The fixture round (`tests/fixtures/enpove_2022/`, written by its seeded `make_fixtures.py`) exists twice: as one
`code.label` CSV per module and as module 100 plus INEI's consolidated bare-code person file. The values asserted
below were worked out by hand from the questionnaire answers written in `make_fixtures.PERSONS`, not by running the
crosswalk. Person ids are CONGLOMERADO-VIVIENDA-NHOGAR-P200_N.
"""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.errors import CrosswalkError
from pipelines.harmonise import harmonise_round
from pipelines.read import CONSOLIDATED, find_module_files, read_round
from tests.helpers import ENPOVE_2022_FIXTURES

FIXTURES = ENPOVE_2022_FIXTURES
NEW_MODULES = ("300", "400", "600", "700", "800")

WOMAN = "90001-2-1-1"  # 34, CPP, SIS, hypertension, daily wage, knows victims of her partner-aggressor kind
ASYLUM_MAN = "90001-2-1-2"  # 36, no permit + pending claim, uninsured, self-employed via P605
INFANT = "90001-2-1-3"  # 8 months (P205_A blank), born in Peru to Venezuelans: migrant by INEI's rule, DNI
REFUGEE = "90002-3-1-1"  # 45, carné de extranjería por refugiado, employer who marked "no sabe / no ganancia"
NON_MIGRANT = "90002-3-1-2"  # P208 = 2: outside every universe of modules 300-800
ABSENT = "90002-3-1-3"  # migrant aged 25 whose person interview result is 4 (ausente)
ABSENT_WORKER = "90003-4-1-1"  # 29, expired PTP + pending claim, domestic worker absent last week, paid weekly
JOBLESS = "90003-4-1-2"  # 19, no permit, never applied: irregular; did not work, looked for work
CHILD_4 = "90003-4-1-3"  # aged 4: in modules 300-400, outside 600-800
FORTNIGHTLY = "90004-5-1-1"
MONTHLY_PLUS_SECOND = "90004-5-1-2"
TEEN_FAMILY_HELPER = "90004-5-1-3"  # 16: in 600/700, outside 800
UNPAID = "90005-6-1-1"


@pytest.fixture(scope="module")
def separate(enpove_2022_fixture_round):
    return enpove_2022_fixture_round


@pytest.fixture(scope="module")
def consolidated(enpove_2022_spec):
    return harmonise_round(enpove_2022_spec, read_round(FIXTURES / "consolidated", enpove_2022_spec))


def _person(result, person_id: str) -> dict:
    rows = result.persons.filter(pl.col("person_id") == person_id).to_dicts()
    assert len(rows) == 1, person_id
    return rows[0]


def _new_columns(spec) -> list[str]:
    return list(dict.fromkeys(v.harmonised_var for v in spec.variables if v.module in NEW_MODULES))


def test_fixture_files_are_named_and_typed_as_inei_ships_them(enpove_2022_spec):
    found = find_module_files(FIXTURES / "modules", enpove_2022_spec)
    assert sorted(found) == ["100", "200", "300", "400", "500", "600", "700", "800"]
    assert sorted(find_module_files(FIXTURES / "consolidated", enpove_2022_spec)) == ["100", CONSOLIDATED]
    for path in (FIXTURES / "modules").glob("*.csv"):
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), path.name
        assert b",," not in raw, f"{path.name}: blanks must be written as a single space"


def test_both_forms_give_identical_tables(separate, consolidated):
    assert_frame_equal(separate.persons, consolidated.persons)
    assert_frame_equal(separate.households, consolidated.households)


def test_rows_and_keys_are_preserved(separate):
    module_200 = pl.read_csv(FIXTURES / "modules" / "Características de los residentes del hogar.csv",
                             infer_schema=False)
    assert separate.persons.height == module_200.height == 60
    assert separate.persons["person_id"].is_unique().all()
    assert separate.households.height == 19  # 20 dwellings/households listed, one refusal (RESFIN = 3)


def test_migration(separate):
    woman, man, infant = (_person(separate, p) for p in (WOMAN, ASYLUM_MAN, INFANT))
    assert (woman["arrival_year"], woman["arrival_month"], woman["entry_point"]) == (2019, 5, "tumbes")
    assert woman["has_valid_id_card"] and woman["has_valid_passport"] and not woman["has_no_identity_document"]
    assert (woman["migratory_document"], woman["asylum_claim"], woman["migratory_status"]) == (
        "temporary_permit", "never_applied", "regular")
    assert (man["migratory_document"], man["migratory_status"]) == ("none", "asylum_seeker")
    assert man["has_no_identity_document"] and man["intends_to_stay"] is False
    assert _person(separate, REFUGEE)["migratory_status"] == "refugee"
    assert _person(separate, ABSENT_WORKER)["migratory_status"] == "asylum_seeker"  # PTP vencido, claim pending
    assert _person(separate, JOBLESS)["migratory_status"] == "irregular"
    assert _person(separate, CHILD_4)["migratory_document"] == "other"
    # The infant was born in Peru: no entry date, a DNI, and P313 (12+) not asked.
    assert infant["age"] == 0 and infant["arrival_year"] is None and infant["entry_point"] is None
    assert infant["migratory_document"] == "national_id" and infant["left_household_members_behind"] is None


def test_health(separate):
    woman, man = _person(separate, WOMAN), _person(separate, ASYLUM_MAN)
    assert woman["has_health_insurance"] and woman["insured_sis"] and not woman["insured_essalud"]
    assert woman["chronic_illness"] and woman["chronic_mental_health"]
    assert (woman["chronic_treated_in_peru"], woman["chronic_treatment"]) == (True, "insufficient")
    assert woman["ill_or_injured_4w"] and woman["mental_distress_4w"]
    assert woman["sought_care"] is False  # marked "no buscó atención"
    assert woman["no_care_cost"] and woman["no_care_migration_fear"] and woman["no_care_no_insurance"] is False
    # Not insured, no chronic illness (P403/P404 skipped), no problem in 4 weeks (P406/P407 skipped).
    assert man["has_health_insurance"] is False and man["insured_sis"] is False
    assert man["chronic_illness"] is False and man["chronic_treated_in_peru"] is None
    assert man["ill_or_injured_4w"] is False and man["sought_care"] is None and man["no_care_cost"] is None
    assert man["has_disability"] and man["covid_vaccinated"] is False
    refugee = _person(separate, REFUGEE)
    assert refugee["insured_essalud"] and refugee["insured_private"] and refugee["sought_care"]
    assert refugee["chronic_treatment"] == "adequate" and refugee["no_care_cost"] is None
    pregnant = _person(separate, ABSENT_WORKER)  # only pregnancy in P405, then self-medicated
    assert pregnant["ill_or_injured_4w"] is False and pregnant["sought_care"] is False
    assert pregnant["chronic_treatment"] == "none" and pregnant["insured_other"]
    child = _person(separate, CHILD_4)  # symptom, pharmacy only: not a consultation at a health facility
    assert child["ill_or_injured_4w"] and child["sought_care"] is False and child["no_care_no_insurance"]


def test_employment(separate):
    woman = _person(separate, WOMAN)
    assert woman["worked_last_week"] and woman["has_job_to_return"] is None
    assert (woman["employment_status"], woman["has_contract_or_receipt"], woman["hours_worked_week"]) == (
        "employee", False, 48)
    assert woman["wants_more_hours"] and woman["available_more_hours"]
    assert (woman["pay_period"], woman["monthly_income_main_job"]) == ("daily", 50 * 26)
    assert woman["monthly_labour_income"] == 1300 and woman["sends_remittances"]
    man = _person(separate, ASYLUM_MAN)  # P601 = 2 but offered a service (P605_2): works, self-employed
    assert man["worked_last_week"] and man["has_job_to_return"] is False
    assert man["employment_status"] == "self_employed" and man["pay_period"] is None
    assert (man["monthly_income_main_job"], man["monthly_labour_income"]) == (900, 1100)  # 800+100 profit, 200 2nd
    assert man["sends_remittances"] is False
    absent = _person(separate, ABSENT_WORKER)
    assert absent["worked_last_week"] is False and absent["has_job_to_return"]
    assert absent["employment_status"] == "domestic_worker" and absent["hours_worked_week"] is None
    assert absent["monthly_income_main_job"] == pytest.approx((300 + 60) * 52 / 12)
    assert absent["monthly_labour_income"] == pytest.approx(1560)  # unpaid secondary job adds 0
    jobless = _person(separate, JOBLESS)
    assert jobless["worked_last_week"] is False and jobless["has_job_to_return"] is False
    assert jobless["sought_work_4w"] and jobless["employment_status"] is None
    assert _person(separate, FORTNIGHTLY)["monthly_income_main_job"] == 1200
    second = _person(separate, MONTHLY_PLUS_SECOND)
    assert (second["monthly_income_main_job"], second["monthly_labour_income"]) == (1000, 1300)
    assert _person(separate, UNPAID)["monthly_labour_income"] == 0
    refugee = _person(separate, REFUGEE)  # "no sabe / no tienen ganancia": unknown, not zero
    assert refugee["employment_status"] == "employer" and refugee["monthly_income_main_job"] is None
    helper = _person(separate, TEEN_FAMILY_HELPER)  # income not asked of family helpers
    assert helper["employment_status"] == "unpaid_family_worker" and helper["monthly_income_main_job"] is None


def test_discrimination(separate):
    woman = _person(separate, WOMAN)
    assert woman["discriminated_since_arrival"] and woman["discriminated_for_nationality"]
    assert woman["discriminated_at_work"] and woman["discriminated_in_public_places"]
    assert woman["discriminated_for_migratory_status"] is False and woman["discriminated_at_school"] is False
    man = _person(separate, ASYLUM_MAN)
    assert man["discriminated_since_arrival"] is False and man["discriminated_at_work"] is None


def test_gender_and_victimisation(separate):
    woman = _person(separate, WOMAN)  # knows victims of physical (aggressor: partner) and sexual violence
    assert woman["money_decider"] == "joint"
    assert (woman["knows_victim_physical"], woman["knows_victim_psychological"], woman["knows_victim_sexual"]) == (
        True, False, True)
    assert woman["knows_victim_of_partner"]
    assert woman["known_sexual_victim_sought_help"] and woman["known_sexual_victim_sought_institution"]  # CEM
    assert woman["knows_sex_exchange"] is False
    man = _person(separate, ASYLUM_MAN)  # knows no victim: False, and the follow-ups were not asked
    assert man["knows_victim_of_partner"] is False and man["known_sexual_victim_sought_help"] is None
    assert man["known_sexual_victim_sought_institution"] is None and man["knows_sex_exchange"]
    refugee = _person(separate, REFUGEE)  # knows a sexual-violence victim who did not ask for help
    assert refugee["knows_victim_of_partner"]  # psychological abuse by a partner
    assert refugee["known_sexual_victim_sought_help"] is False
    assert refugee["known_sexual_victim_sought_institution"] is False
    assert _person(separate, ABSENT_WORKER)["knows_victim_of_partner"] is False  # aggressors were strangers


@pytest.mark.parametrize("person", [NON_MIGRANT, ABSENT])
def test_outside_universe_or_not_interviewed_is_null(separate, enpove_2022_spec, person):
    row = _person(separate, person)
    assert {c: row[c] for c in _new_columns(enpove_2022_spec) if row[c] is not None} == {}


@pytest.mark.parametrize(("person", "modules"), [(INFANT, ("600", "700", "800")), (CHILD_4, ("600", "700", "800")),
                                                 (TEEN_FAMILY_HELPER, ("800",))])
def test_age_universes_give_nulls_not_false(separate, enpove_2022_spec, person, modules):
    row = _person(separate, person)
    columns = [v.harmonised_var for v in enpove_2022_spec.variables if v.module in modules]
    assert {c: row[c] for c in columns if row[c] is not None} == {}


def test_unmapped_health_code_names_file_variable_and_value(enpove_2022_spec, tmp_path):
    folder = tmp_path / "round"
    shutil.copytree(FIXTURES / "modules", folder)
    health = folder / "Salud.csv"
    frame = pl.read_csv(health, infer_schema=False)
    first = frame["P404"].str.strip_chars().ne("").arg_true()[0]
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == first).then(pl.lit("9.Inventado"))
                               .otherwise(pl.col("P404")).alias("P404"))
    frame.write_csv(health, include_bom=True)
    with pytest.raises(CrosswalkError) as caught:
        harmonise_round(enpove_2022_spec, read_round(folder, enpove_2022_spec))
    message = str(caught.value)
    assert "Salud.csv" in message and "P404" in message and "'9'" in message
