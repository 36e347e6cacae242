"""Numbers in the report's language: `12,3 %` in Spanish, `12.3%` in English, in hover text and tables."""

from __future__ import annotations

import pytest

from reports.labels import NBSP, load_labels


@pytest.mark.parametrize("lang, percent, count, points, p_value, mean", [
    ("es", "12,3 %", f"12{NBSP}487", "−1,2 pp", "< 0,001", f"1{NBSP}180,0 soles"),
    ("en", "12.3%", "12,487", "−1.2 pp", "< 0.001", "1,180.0 soles"),
])
def test_numbers_follow_the_language(lang, percent, count, points, p_value, mean):
    labels = load_labels(lang)
    assert labels.percent(0.1234) == percent
    assert labels.estimate(0.1234, "proportion") == percent
    assert labels.count(12487) == count
    assert labels.points(-0.0123) == points
    assert labels.p_value(0.0004) == p_value
    assert labels.estimate(1180.0, "soles") == mean
    assert labels.percent(None) == labels["na"]


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="es or --lang en"):
        load_labels("fr")


def test_every_ui_string_has_both_languages():
    es, en = load_labels("es"), load_labels("en")
    assert es.ui.keys() == en.ui.keys()
    assert all(es.ui[k] and en.ui[k] for k in es.ui)


def test_spanish_numbers_in_report_hover_and_tables(reports):
    page = reports["es"].read_text(encoding="utf-8")
    # comparison table: estimates, difference in points, adjusted p-value
    assert ">55,0 %</td>" in page and ">+5,0 pp</td>" in page and ">0,045</span>" in page
    # hover text inside the figure JSON
    assert "Estimación: 55,0 %" in page and "IC 95 %: 52,1 % – 57,9 %" in page
    english = reports["en"].read_text(encoding="utf-8")
    assert ">55.0%</td>" in english and ">+5.0 pp</td>" in english and "Estimate: 55.0%" in english
    assert "55,0 %" not in english
