"""The report on the real ENPOVE 2018 and 2022 microdata plus the published figures, drawn in headless Chromium.

The matrix has a cell for every indicator × source-round ("No registra" exactly where the indicator table has no
figure), the 2018 → 2022 charts hold both rounds in every domain, the GCM view switches, nothing logs an error, the
page is under 10 MB, and a screenshot of each view is written (to $REPORT_SCREENSHOTS when set, else tmp_path).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest

from pipelines.compare import run_compare
from pipelines.indicators.estimate import run_indicators
from pipelines.refresh import refresh
from pipelines.store import current_version, read_derived
from reports import matrix
from reports.labels import load_labels
from reports.report import assign_charts, run_report
from tests.helpers import SHARED
from tests.reports.helpers import open_offline

MAX_BYTES = 10_000_000
# A ceiling that catches a report that hangs, not a speed target: speed is measured in benchmarks, not timed tests
# (the 3 s target for the charts in view, with both ENPOVE rounds, belongs to the report benchmarks of issues 11 and
# 12; the time is printed with -s and depends on how busy the machine is).
MAX_RENDER_MS = 15_000  # from navigation start to the charts in view drawn

ROWS = """() => Array.from(document.querySelectorAll('tbody[data-view="theme"] tr.mrow')).map(r => [
    r.getAttribute('data-row'), Array.from(r.querySelectorAll('td.cell')).map(c => c.classList.contains('none'))])"""
COLUMNS = """() => Array.from(document.querySelectorAll('table.matrix thead th[data-col]')).map(th => th.getAttribute('data-col'))"""
SIDES = """id => Array.from(document.querySelectorAll('#' + id + ' .js-plotly-plot'))
    .flatMap(p => p.data.filter(t => t.meta && t.meta.side).map(t => [t.meta.side, t.x.filter(v => v !== null).length]))"""


@pytest.fixture(scope="module")
def real_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-report")
    store = root / "harmonized"
    assert refresh(SHARED / "data", store).ok
    run_indicators(store)
    run_compare(store)
    return store


@pytest.fixture(scope="module")
def real_report(real_store):
    out = real_store.parent / "report.html"
    run_report(real_store, lang="es", out=out)
    return out


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("REPORT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def opened(browser, real_report):
    page, seen = open_offline(browser, real_report)
    yield page, seen
    page.close()


def test_real_report_is_small_and_says_microdata(real_report):
    assert real_report.stat().st_size < MAX_BYTES
    html = real_report.read_text(encoding="utf-8")
    assert "SINTÉTICO" not in html  # real microdata: no synthetic warning


def _expected_cells(store: Path) -> dict[str, set[str]]:
    """Matrix row -> the source-rounds where the indicator table has a figure of the whole universe."""
    labels = load_labels("es")
    indicators = read_derived(current_version(store), "indicators")
    frame = matrix.assign_rows(assign_charts(indicators, labels), labels).filter(pl.col("domain") == "all")
    found: dict[str, set[str]] = {}
    for row, source, round_ in frame.select("row", "source", "round").unique().rows():
        found.setdefault(row, set()).add(f"{source}|{round_}")
    return found


def test_matrix_has_a_cell_for_every_indicator_and_source_round(opened, real_store, shots):
    page, seen = opened
    columns = page.evaluate(COLUMNS)
    assert columns[:2] == ["enpove|2018", "multisector_lima|2019"] and "enpove|2022" in columns
    expected = _expected_cells(real_store)
    rows = page.evaluate(ROWS)
    assert {key for key, _ in rows} == set(expected)  # every indicator with a figure is a row, once
    for key, empty in rows:
        assert len(empty) == len(columns), key
        assert {c for c, e in zip(columns, empty) if not e} == expected[key], key
    assert page.locator("table.matrix td.cell.none").first.inner_text() == "No registra"
    page.locator("#matrix").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "1_matrix_by_theme.png"))
    row = page.locator('tbody[data-view="theme"] tr[data-row="overcrowding_room"]')
    row.click()
    card = row.get_attribute("data-card")
    page.wait_for_function("id => document.getElementById(id + '-chart').classList.contains('js-plotly-plot')",
                           arg=card)
    traces = page.evaluate("id => document.getElementById(id + '-chart').data.map(t => t.name)", card)
    assert any("microdatos" in t for t in traces) and any("publicado" in t for t in traces)
    page.locator(f"#{card}").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "2_matrix_row_chart.png"))
    row.click()
    assert seen["errors"] == [] and seen["requests"] == []


def test_switching_to_the_gcm_view(opened, shots):
    page, seen = opened
    page.locator('button.view-button[data-view="gcm"]').click()
    for objective in ("6", "15", "17"):
        group = page.locator(f"#gcm-{objective}")
        assert group.is_visible() and group.locator("tr.mrow").count() >= 1, objective
    assert page.locator('tbody[data-view="theme"]').first.is_hidden()
    page.locator("#matrix").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "3_matrix_by_gcm_objective.png"))
    page.locator('button.view-button[data-view="theme"]').click()
    assert seen["errors"] == []


def test_change_2018_2022_holds_both_rounds_in_every_domain(opened, shots):
    page, seen = opened
    block = page.locator('#change .change-block[data-source="enpove"]')
    select = block.locator("select.view-select")
    options = [(o.get_attribute("value"), o.inner_text()) for o in select.locator("option").all()]
    names = [text for _, text in options]
    assert names[:2] == ["Total · cobertura de campo", "Total · cobertura común"]
    assert {"Sexo", "Grupo de edad", "Ciudad"} <= set(names)
    for value, text in options:
        select.select_option(value)
        page.wait_for_function("id => document.querySelector('#' + id + ' .js-plotly-plot') !== null", arg=value)
        sides = dict(page.evaluate(SIDES, value))
        assert sides.get("a", 0) >= 1 and sides.get("b", 0) >= 1, (text, sides)
        if text in ("Total · cobertura común", "Sexo"):
            block.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"4_change_{'common' if 'común' in text else 'sex'}.png"))
    assert seen["errors"] == []


def test_gaps_and_reconciliation(opened, shots):
    page, seen = opened
    page.locator("#gaps").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#gap-panels .js-plotly-plot') !== null")
    page.screenshot(path=str(shots / "5_gaps.png"))
    rows = page.locator("table.reconciliation tbody tr")
    assert rows.count() >= 5
    assert "sí" in page.locator("table.reconciliation").inner_text()
    page.locator("#reconciliation").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "6_reconciliation.png"))
    assert seen["errors"] == [] and seen["requests"] == []


def test_real_report_render_time(opened, real_report):
    page, _ = opened
    render_ms = page.evaluate("window.reportReadyAt")
    all_ms, plotly_ms = page.evaluate("[window.reportAllDrawnAt, window.reportPlotlyAt]")
    print(f"real report: {real_report.stat().st_size / 1e6:.1f} MB; page with the charts in view drawn at "
          f"{render_ms:.0f} ms, plotly.js evaluated at {plotly_ms:.0f} ms, every shown chart drawn at {all_ms:.0f} ms")
    assert render_ms < MAX_RENDER_MS
