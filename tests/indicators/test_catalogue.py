"""Catalogue load: every rule `surveys/indicators/` can break is a `SpecError` at load, naming the file, the row
(indicator, universe or domain) and the value; each case copies the catalogue folder and breaks one thing."""

from __future__ import annotations

import re

import pytest

from pipelines.errors import SpecError
from pipelines.indicators.catalogue import THEMES, load_catalogue, reliability
from tests.helpers import catalogue_with


def test_the_catalogue_loads_with_its_indicators_universes_and_domains():
    catalogue = load_catalogue()
    assert catalogue.indicator("internet").unit == "household"
    assert {i.theme for i in catalogue.indicators} == set(THEMES)
    assert ("age", "ge", "15") in {(c.var, c.op, c.value) for c in catalogue.universes["women_migrants_15plus"].conditions}
    assert "sex" in {d.domain for d in catalogue.domains}


@pytest.mark.parametrize("name, edit, words", [
    ("catalogue.csv", lambda t: t.replace("proportion,proportion,no_health_insurance",
                                          "proportion,dollars,no_health_insurance", 1), "measured_in 'dollars'"),
    ("catalogue.csv", lambda t: t.replace("median,soles", "mode,soles", 1), "statistic 'mode'"),
    ("contrasts.csv", lambda t: t + "religion,a,b,Religion,Religión\n", "['religion']"),
    ("catalogue.csv", lambda t: t.replace("proportion,no_health_insurance,migrants",
                                          "proportion,no_helth_insurance,migrants", 1),
     "indicator no_health_insurance: no person column or measure 'no_helth_insurance'"),
    ("universes.csv", lambda t: t.replace("migrant,eq,true", "migrnat,eq,true", 1),
     "universe migrants: no person column or measure 'migrnat'"),
    ("domains.csv", lambda t: t.replace("sex,person,sex,", "sex,person,gender,", 1),
     "domain sex: no person column or measure 'gender'"),
    ("domains.csv", lambda t: t.replace("sex,person,sex,", "sex,people,sex,", 1), "unit 'people' not in"),
])
def test_a_catalogue_rule_broken_is_a_spec_error(tmp_path, name, edit, words):
    from pipelines.errors import SpecError

    with pytest.raises(SpecError, match=re.escape(words)):
        load_catalogue(catalogue_with(tmp_path, name, edit))


def replaced(old: str, new: str):
    """An edit of one file: the first `old` replaced by `new` (which must be there: a case that breaks nothing
    would pass for the wrong reason)."""
    def edit(text: str) -> str:
        assert old in text, f"{old!r} is not in the file"
        return text.replace(old, new, 1)
    return edit


@pytest.mark.parametrize(("name", "old", "new", "fragments"), [
    ("universes.csv", "migrants,person,migrant,eq,true", "migrants,person,migrant,gt,true",
     ["universes.csv", "universe migrants: operators ['gt'] not in ('eq', 'ge')"]),
    ("catalogue.csv", "internet,housing,household,", "no_health_insurance,housing,household,",
     ["catalogue.csv", "duplicate indicator ids ['no_health_insurance']"]),
    ("catalogue.csv", "no_health_insurance,health,person,", "no_health_insurance,healthcare,person,",
     ["catalogue.csv", "indicator no_health_insurance: theme 'healthcare' not in"]),
    ("catalogue.csv", "no_health_insurance,migrants,no_health_insurance",
     "no_health_insurance,migrnts,no_health_insurance",
     ["catalogue.csv", "indicator no_health_insurance: universe 'migrnts' not in universes.csv"]),
    ("catalogue.csv", "proportion,internet,households,", "proportion,internet,migrants,",
     ["catalogue.csv", "indicator internet: universe 'migrants' is about persons, not households"]),
])
def test_each_catalogue_rule_broken_names_file_row_and_value(tmp_path, name, old, new, fragments):
    with pytest.raises(SpecError) as caught:
        load_catalogue(catalogue_with(tmp_path, name, replaced(old, new)))
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ("working_age: 14", "workingage: 14", "working_age is missing"),
    ("max_cv: 0.3", "max_cv: high", "reliability.max_cv must be a number, not 'high'"),
    ("hours_per_week: 35", "hours: 35", "underemployment.hours_per_week is missing"),
    ('{from: 14, label: "14-17"}', '{from: 70, label: "14-17"}', "age_groups: the bands' `from` must increase"),
    ('{from: 12, label: "1-2 years"}', '{from: 12}', "time_since_arrival: every band needs a number `from` and a text"),
    ("reliability:  ", "reliability: [", "cannot read the parameters"),
])
def test_a_parameter_missing_or_mistyped_is_a_spec_error_naming_the_key(tmp_path, old, new, fragment):
    """The measures and the flags read these keys mid-run: a KeyError there would be a traceback to the user."""
    with pytest.raises(SpecError) as caught:
        load_catalogue(catalogue_with(tmp_path, "parameters.yaml", replaced(old, new)))
    assert "parameters.yaml" in str(caught.value) and fragment in str(caught.value), str(caught.value)


def test_reliability_thresholds_come_from_parameters(tmp_path):
    folder = catalogue_with(tmp_path, "parameters.yaml", lambda t: t.replace("max_cv: 0.3", "max_cv: 0.15"))
    assert reliability(load_catalogue(folder)).max_cv == 0.15
    assert reliability(load_catalogue()).max_cv == 0.3 and reliability(load_catalogue()).min_n == 30
