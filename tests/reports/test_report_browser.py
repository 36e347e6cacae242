"""The report in headless Chromium with the network blocked: it loads, draws every theme, switches the
small-multiples view, sorts the comparison table, runs no injected script, logs no error and asks nothing of the
network. A missing /usr/bin/chromium FAILS this test: the report is only known to work once a browser drew it."""

from __future__ import annotations

import pytest

from reports.report import THEMES
from tests.reports.conftest import open_offline
from tests.reports.fixtures import XSS

# A ceiling that catches a report that hangs, not a speed target: speed is measured in benchmarks, not timed tests
# (the 3 s target for the charts in view, with both ENPOVE rounds, belongs to the report and pipeline benchmarks of
# issues 11 and 12; on this 2-core machine the real report takes about 3 s, the synthetic one 2.8 s, printed by -s).
MAX_RENDER_MS = 15_000  # from navigation start to the charts in view drawn

CHARTS_WITH_DATA = """sections => sections.map(id => {
    const plots = Array.from(document.querySelectorAll('#' + id + ' .js-plotly-plot'));
    return plots.filter(p => (p.data || []).some(t => (t.y || []).length > 0)).length;
})"""


@pytest.fixture(scope="module")
def opened(browser, reports):
    """The Spanish report, opened with the network blocked."""
    page, seen = open_offline(browser, reports["es"])
    yield page, seen
    page.close()


def test_report_loads_offline_and_draws_every_theme(opened, tmp_path):
    page, seen = opened
    render_ms = page.evaluate("window.reportReadyAt")
    sections = [f"theme-{theme}" for theme in THEMES]
    assert all(n >= 1 for n in page.evaluate(CHARTS_WITH_DATA, sections)), dict(
        zip(sections, page.evaluate(CHARTS_WITH_DATA, sections)))
    # every chart not folded away in a closed <details> is drawn
    assert page.evaluate("document.querySelectorAll('.js-plotly-plot').length") == page.evaluate(
        "document.querySelectorAll('div.chart[data-figure]').length"
        " - document.querySelectorAll('details:not([open]) div.chart[data-figure]').length")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert seen["requests"] == [], "the report asked the network for something"
    assert seen["errors"] == []
    all_ms = page.evaluate("window.reportAllDrawnAt")
    print(f"render: {render_ms:.0f} ms to the charts in view, {all_ms:.0f} ms to every chart")
    assert render_ms < MAX_RENDER_MS, f"render took {render_ms:.0f} ms"


def _shown(page, target: str) -> dict:
    return page.evaluate("""id => { const d = document.getElementById(id);
        return {domain: d.layout.meta.domain, shown: d.getAttribute('data-shown'),
                panels: (d.layout.annotations || []).map(a => a.text),
                hover: d.data.map(t => t.hovertext.join(' ')).join(' ')}; }""", target)


def test_switching_the_small_multiples_view(opened):
    page, seen = opened
    select = page.locator("select.domain-select").first
    target = select.get_attribute("data-target")
    assert not page.locator(f"#{target}").is_visible()  # folded until asked for
    page.locator("details.domains summary").first.click()
    page.wait_for_function("id => document.getElementById(id).classList.contains('js-plotly-plot')", arg=target)
    before = _shown(page, target)
    assert before["domain"] == "sex" and before["panels"] == ["Mujeres", "Hombres"]
    city = select.locator("option", has_text="Ciudad").get_attribute("value")
    select.select_option(city)
    page.wait_for_function("([id, v]) => document.getElementById(id).getAttribute('data-shown') === v",
                           arg=[target, city])
    after = _shown(page, target)
    assert after["domain"] == "city" and after["shown"] == city
    assert after["panels"] == ["Lima", "Tumbes", "Cusco (sin casos en la muestra)"]
    assert "Ciudad = Tumbes" in after["hover"]
    assert "Sexo" not in after["hover"]
    assert page.locator(f"#{target}").is_visible()
    assert seen["errors"] == [] and seen["requests"] == []


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
    assert seen["dialogs"] == [], "an injected script ran"
    assert page.evaluate("document.querySelectorAll('script').length") == 3
    assert XSS in page.locator("table.comparisons").inner_text()
    titles = page.evaluate("Array.from(document.querySelectorAll('.gtitle, .annotation-text')).map(e => e.textContent)")
    assert XSS in titles  # the chart whose catalogue label is a script: shown as text
