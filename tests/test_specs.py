"""Spec load: every rule a round folder can break is a `SpecError` at load, naming the file, the row and the value.

Each case copies the II ENPOVE 2022 spec folder into a temporary folder, breaks one thing and loads it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipelines.errors import SpecError
from pipelines.specs import load_round_spec
from tests.helpers import REPO

SPEC = REPO / "surveys" / "enpove_2022"


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "enpove_2022"
    shutil.copytree(SPEC, target, ignore=shutil.ignore_patterns("synthetic"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def fails(folder: Path, *fragments: str) -> str:
    with pytest.raises(SpecError) as caught:
        load_round_spec(folder)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    return str(caught.value)


def test_the_2022_spec_loads_with_its_parts_and_rules():
    spec = load_round_spec(SPEC)
    assert spec.modules["300_1"].part_of == "300" and spec.modules["300"].parts == ("300_1",)
    assert (spec.household_module, spec.person_module, spec.geography) == ("100", "200", ("city", "lima_zone"))
    assert [o.columns for o in spec.design.psu_options] == [("CIUDAD", "CONO", "SEGMENTO"), ("CONGLOMERADO",)]
    assert spec.parameters["pay_period_months"]["1"] == 26
    assert spec.universes["migrants_5plus"].conditions[1].op == "ge"
    assert set(spec.precedence) == {"migratory_status"}


@pytest.mark.parametrize(("old", "new", "fragments"), [
    ("P200_N,count_rows,", "P200_N,count_everything,", ["variables.csv:4", "transform `count_everything` is unknown"]),
    ("P205_A;P205_B,derive:age_years", "P205_A,derive:age_years", ["transform `derive:age_years` does not take 1"]),
    ("P205_A;P205_B,derive:age_years", "P205_A;P205_B,derive:age_in_dog_years", ["`derive:age_in_dog_years` is unknown"]),
    ("P624_1;P624_2,derive:labour_income:pay_period_months", "P624_1;P624_2,derive:labour_income:pay_per_fortnight",
     ["names parameter `pay_per_fortnight`"]),
    ("n_household_members_left_behind,persons,300_1,P313_N,count_rows",
     "n_household_members_left_behind,persons,300_1,P313_N;P313_1,derive:age_years", ["a long file (300_1) takes only"]),
    ("sex,persons,200,", "gender,persons,200,", ["`gender` is not a column of table `persons`"]),
    ("sex,persons,200,P204,recode,", "sex,persons,250,P204,recode,", ["sex: module 250 is not in source.yaml"]),
    ("sex,persons,200,P204,recode,", "sex,persons,200,P2O4,recode,", ["values.csv", "no value rows for sex <- P2O4"]),
    ("P208,count_yes,", "P208,count_yes,", []),  # unchanged: the control case loads
])
def test_variables_csv(folder, old, new, fragments):
    edit(folder / "variables.csv", old, new)
    if fragments:
        fails(folder, *fragments)
    else:
        load_round_spec(folder)


@pytest.mark.parametrize(("old", "new", "fragments"), [
    ("spec_version: 2", "spec_version: 1", ["spec_version 1 is not 2"]),
    ("universe: asked_about_family_left_behind", "universe: asked_nobody", ["universe `asked_nobody` is not declared"]),
    ("{var: P205_A, ge: 5}", "{var: P205_A, ge: five}", ["`ge` takes one number"]),
    ("{var: P205_A, ge: 5}", "{var: P205_A, gt: 5}", ["must be {var, eq|in|ge|le}"]),
    ('person: {module: "200"}', 'person: {module: "900"}', ["units.person: module 900"]),
    ("geography: [city, lima_zone]", "geography: [city, district]", ["geography `district`"]),
    ("unit: person_long", "unit: relative", ["unit `relative` is not one of"]),
    ("  psu:\n    - columns:", "  psu:\n    - colums:", ["design.psu[0] must be {columns"]),
    ("spec_version: 2", "spec_version: [2", ["cannot read the spec"]),
    ("    title: Características de la vivienda y del hogar\n", "", ["modules.100", "missing key `title`"]),
    ('      "300_1":\n        title: Migración II', '      "200":\n        title: Migración II',
     ["part `200` of module 300 is declared twice"]),
    ('{var: P15, eq: "1", codes: ["1", "2"]}', '{var: P15, eq: "1", codes: ["2"]}',
     ["universe responding_households: `codes` of P15 go with eq/in and must hold its values ['1']"]),
    ('module: "200"\n    all: [{var: P208, eq: "1"}, {var: P205_A, ge: 3}]',
     'module: "900"\n    all: [{var: P208, eq: "1"}, {var: P205_A, ge: 3}]',
     ["universe migrants_3plus: module 900 is not in modules:"]),
])
def test_source_yaml(folder, old, new, fragments):
    edit(folder / "source.yaml", old, new)
    fails(folder, "source.yaml", *fragments)


@pytest.mark.parametrize(("old", "new", "fragments"), [
    ("1,refugee,P307,in,7,", "1,refugee,P307,equals,7,", ["migratory_status.csv:2", "op `equals`"]),
    ("1,refugee,P307,in,7,", "1,refugee,P999,in,7,", ["var `P999` is not among the row's source_var"]),
    ("1,refugee,P307,in,7,", "1,stateless,P307,in,7,", ["value `stateless` is not a category"]),
    ("1,refugee,P307,in,7,", "first,refugee,P307,in,7,", ["rank `first` is not a whole number"]),
    ("rank,value,var,op,codes,", "rank,value,variable,op,codes,", ["migratory_status.csv", "columns ['var'] are missing"]),
])
def test_precedence_tables(folder, old, new, fragments):
    edit(folder / "precedence" / "migratory_status.csv", old, new)
    fails(folder, *fragments)


def test_a_precedence_rule_without_its_table(folder):
    (folder / "precedence" / "migratory_status.csv").unlink()
    fails(folder, "migratory_status is derived by precedence", "is missing")


def test_values_csv_category_outside_the_schema(folder):
    edit(folder / "values.csv", "sex,P204,2,female,", "sex,P204,2,woman,")
    fails(folder, "values.csv", "sex: values ['woman'] are not categories of the schema")


def test_values_csv_code_mapped_twice(folder):
    edit(folder / "values.csv", "sex,P204,2,female,", "sex,P204,1,female,")
    fails(folder, "values.csv", "codes mapped twice", "('sex', 'P204', '1')")
