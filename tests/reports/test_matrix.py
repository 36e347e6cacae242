"""The matrix as the seed thesis's Tabla 26: one row per indicator, one cell per source-round, "No registra" where a
source is silent; estimates with their CI, published figures marked, flagged estimates hollow; GCM groups."""

from __future__ import annotations

import re

import polars as pl

from reports import matrix
from reports.report import assign_charts
from tests.reports.helpers import XSS, indicators_frame


def _section(page: str) -> str:
    return page.split('<section id="matrix"', 1)[1].split('<div id="matrix-cards"', 1)[0]


def test_every_row_has_a_cell_per_source_round(reports):
    section = _section(reports["es"].read_text(encoding="utf-8"))
    columns = int(re.search(r'data-columns="(\d+)"', section).group(1))
    assert columns == 3  # enpove 2018, multisector_lima 2021, enpove 2022
    rows = re.findall(r'<tr class="mrow".*?</tr>', section, re.S)
    assert rows
    for row in rows:
        assert row.count('<td class="cell') == columns, row[:120]
    assert "No registra" in section and "Not recorded" in _section(reports["en"].read_text(encoding="utf-8"))


def test_columns_grouped_by_population_and_ordered_by_period(labels_es):
    frame = indicators_frame()
    cols = matrix.columns(frame, labels_es)
    assert [(c.source, c.round) for c in cols] == [
        ("enpove", "2018"), ("multisector_lima", "2021"), ("enpove", "2022")]


def test_cells_show_ci_mark_published_and_hollow_flagged(labels_es):
    frame = matrix.assign_rows(assign_charts(indicators_frame(), labels_es), labels_es)
    cols = matrix.columns(frame, labels_es)
    insurance = matrix.cells(frame.filter(pl.col("row") == "no_health_insurance"), cols, labels_es)
    assert "<b>●</b> 55,0 %" in insurance and "52,1–57,9" in insurance  # microdata with its CI
    assert "<b>◇</b> 46,4 %" in insurance and "<b>◇</b> 71,0 %" in insurance  # published, no CI
    assert "<b>■</b> 60,0 %" in insurance  # synthetic
    severe = matrix.cells(frame.filter(pl.col("row") == "fies_severe"), cols, labels_es)
    assert "hollow" in severe and "<b>○</b>" in severe  # CV above 0.3: hollow
    assert "No registra" in matrix.cells(frame.filter(pl.col("row") == "xss_indicator"), cols, labels_es)


def test_context_rows_share_a_key_across_sources(labels_es):
    frame = matrix.assign_rows(assign_charts(indicators_frame(), labels_es), labels_es)
    rows = dict(frame.select("indicator_id", "row").unique().rows())
    assert rows["multisector_lima_age_mean"] == "ctx-age_mean"
    assert rows["no_health_insurance"] == "no_health_insurance"
    assert matrix.row_label("ctx-age_mean", labels_es) == "Age mean"


def test_gcm_view_groups_rows_by_objective(reports):
    section = _section(reports["es"].read_text(encoding="utf-8"))
    groups = re.findall(r'<tbody id="gcm-(\w+)"[^>]*data-view="gcm" data-members="([^"]*)" hidden>', section)
    names = dict(groups)
    assert {"6", "15", "17"} <= set(names)  # employment, health and housing, discrimination
    assert "Objetivo 15 del PMM: Acceso a servicios básicos" in section
    theme_cards = set(re.findall(r'data-card="(card-\d+)"', section))  # rows are written in the theme view only
    assert {c for members in names.values() for c in members.split()} == theme_cards  # every row somewhere


def test_tags_shown_and_escaped(reports):
    page = reports["es"].read_text(encoding="utf-8")
    assert "PMM 15" in page and "ODS 3.8" in page and "IGM: Derechos de los migrantes" in page
    assert "GCM 15" in reports["en"].read_text(encoding="utf-8")
    assert XSS not in _section(page)
