"""The report in headless Chromium with the network blocked: it loads, shows the matrix, opens a row's chart on a
click and switches its breakdowns, switches the matrix to the GCM view, draws the change between rounds and the
gaps, sorts the comparison table, runs no injected script, logs no error and asks nothing of the network. A missing
/usr/bin/chromium FAILS this test: the report is only known to work once a browser drew it."""

from __future__ import annotations

import pytest

from reports.report import THEMES
from tests.reports.helpers import XSS, open_offline

# A ceiling that catches a report that hangs, not a speed target: speed is measured in benchmarks, not timed tests
# (the 3 s target for the charts in view, with both ENPOVE rounds, belongs to the report and pipeline benchmarks of
# issues 11 and 12; the real report's time is printed by tests/reports/test_report_real.py with -s).
MAX_RENDER_MS = 15_000  # from navigation start to the charts in view drawn

VISIBLE_CHARTS = """() => Array.from(document.querySelectorAll('div.chart[data-figure]'))
    .filter(d => !d.closest('details:not([open]), [hidden]')).length"""
TRACES_WITH_DATA = """el => Array.from(el.querySelectorAll('.js-plotly-plot'))
    .map(p => (p.data || []).filter(t => (t.x || []).concat(t.y || []).some(v => v !== null)).length)"""


@pytest.fixture(scope="module")
def opened(browser, reports):
    """The Spanish report, opened with the network blocked."""
    page, seen = open_offline(browser, reports["es"])
    yield page, seen
    page.close()


def test_report_loads_offline_and_draws_what_is_shown(opened, tmp_path):
    page, seen = opened
    render_ms = page.evaluate("window.reportReadyAt")
    for theme in THEMES:
        assert page.locator(f"#theme-{theme} tr.mrow").count() >= 1, theme
    # every chart not folded away (closed <details>, hidden panel, hidden matrix card) is drawn, and nothing else
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot').length") == page.evaluate(VISIBLE_CHARTS)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert seen["requests"] == [], "the report asked the network for something"
    assert seen["errors"] == []
    all_ms, plotly_ms = page.evaluate("[window.reportAllDrawnAt, window.reportPlotlyAt]")
    print(f"render: {render_ms:.0f} ms to the page with the charts in view drawn, plotly.js evaluated at "
          f"{plotly_ms:.0f} ms, every chart shown drawn at {all_ms:.0f} ms")
    assert render_ms < MAX_RENDER_MS, f"render took {render_ms:.0f} ms"


def _open_row(page, label: str):
    row = page.locator('tbody[data-view="theme"] tr.mrow', has=page.locator("th", has_text=label)).first
    row.click()
    card = row.get_attribute("data-card")
    page.wait_for_function("id => document.getElementById(id + '-chart').classList.contains('js-plotly-plot')",
                           arg=card)
    return row, card


def _shown(page, target: str) -> dict:
    return page.evaluate("""id => { const d = document.getElementById(id);
        return {domain: (d.layout.meta || {}).domain, shown: d.getAttribute('data-shown'),
                panels: (d.layout.annotations || []).map(a => a.text),
                hover: d.data.map(t => (t.hovertext || []).join(' ')).join(' ')}; }""", target)


def test_a_click_on_a_row_opens_its_chart_and_its_breakdowns(opened):
    page, seen = opened
    row, card = _open_row(page, "Ocupado")
    assert row.get_attribute("aria-expanded") == "true"
    assert page.locator(f"tr.detail #{card}").is_visible()
    target = f"{card}-chart"
    select = page.locator(f"#{card} select.domain-select")
    sex = select.locator("option", has_text="Sexo").get_attribute("value")
    select.select_option(sex)
    page.wait_for_function("([id, v]) => document.getElementById(id).getAttribute('data-shown') === v",
                           arg=[target, sex])
    assert _shown(page, target)["panels"] == ["Mujeres", "Hombres"]
    city = select.locator("option", has_text="Ciudad").get_attribute("value")
    select.select_option(city)
    page.wait_for_function("([id, v]) => document.getElementById(id).getAttribute('data-shown') === v",
                           arg=[target, city])
    after = _shown(page, target)
    assert after["domain"] == "city"
    assert after["panels"] == ["Lima", "Tumbes", "Cusco (sin casos en la muestra)"]
    assert "Ciudad = Tumbes" in after["hover"] and "Sexo" not in after["hover"]
    row.click()  # closes it again
    assert row.get_attribute("aria-expanded") == "false" and page.locator("tr.detail").count() == 0
    assert seen["errors"] == [] and seen["requests"] == []


def test_switching_to_the_gcm_view(opened):
    page, seen = opened
    page.locator('button.view-button[data-view="gcm"]').click()
    assert page.locator('tbody[data-view="theme"]').first.is_hidden()
    decent_work = page.locator("#gcm-6")
    assert decent_work.is_visible() and "Objetivo 6 del PMM" in decent_work.inner_text()
    assert decent_work.locator("tr.mrow").count() >= 2  # employed, labour income
    decent_work.locator("tr.mrow").first.click()
    page.wait_for_function("() => document.querySelector('#gcm-6 tr.detail .js-plotly-plot') !== null")
    page.locator('button.view-button[data-view="theme"]').click()
    assert page.locator("#gcm-6").is_hidden() and page.locator("#theme-health").is_visible()
    assert page.locator("tr.detail").count() == 0
    assert seen["errors"] == []


def test_change_between_rounds_shows_both_rounds_and_the_change(opened):
    page, seen = opened
    block = page.locator("#change .change-block").first
    select = block.locator("select.view-select")
    values = [o.get_attribute("value") for o in select.locator("option").all()]
    assert len(values) == 2  # overall as fielded, by sex
    for value in values:
        select.select_option(value)
        page.wait_for_function("id => document.querySelector('#' + id + ' .js-plotly-plot') !== null", arg=value)
        sides = page.evaluate("""id => Array.from(document.querySelectorAll('#' + id + ' .js-plotly-plot'))
            .flatMap(p => p.data.filter(t => t.meta && t.meta.side).map(t => [t.name, t.x.length]))""", value)
        assert [name for name, _ in sides] == ["ENPOVE (INEI) 2018", "ENPOVE (INEI) 2022"]
        assert all(points >= 1 for _, points in sides), sides
    assert seen["errors"] == []


def test_comparison_table_sorts_on_header_click(opened):
    page, _ = opened
    column = page.evaluate("""() => Array.from(document.querySelectorAll('table.comparisons th'))
        .findIndex(th => th.textContent === 'Diferencia')""")
    values = """c => Array.from(document.querySelectorAll('table.comparisons tbody tr'))
        .map(r => parseFloat(r.cells[c].getAttribute('data-v')))"""
    header = page.locator("table.comparisons th").nth(column)
    header.click()
    ascending = page.evaluate(values, column)
    assert ascending == sorted(ascending)
    header.click()
    assert page.evaluate(values, column) == sorted(ascending, reverse=True)


def test_script_in_data_shows_as_text_and_never_runs(opened):
    page, seen = opened
    _open_row(page, XSS)  # the row whose catalogue label is a script: its chart's title shows it as text
    assert seen["dialogs"] == [], "an injected script ran"
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    assert XSS in page.locator("table.comparisons").inner_text()
    assert XSS in page.locator("table.reconciliation").inner_text()
    titles = page.evaluate("Array.from(document.querySelectorAll('.gtitle, .annotation-text')).map(e => e.textContent)")
    assert XSS in titles
