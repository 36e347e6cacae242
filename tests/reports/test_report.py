"""The HTML file itself: one self-contained page, plotly.js once, the synthetic warning, escaped data, the CLI."""

from __future__ import annotations

import json
import re

import pytest

from reports.report import THEMES, run_report, strict_json
from tests.helpers import run_surveys
from tests.reports.helpers import XSS

MAX_BYTES = 10_000_000


def test_one_self_contained_file_with_plotly_once(reports):
    for path in reports.values():
        page = path.read_text(encoding="utf-8")
        assert path.stat().st_size < MAX_BYTES
        assert len(re.findall(r"\* plotly\.js v\d", page)) == 1, "plotly.js must be inlined exactly once"
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page), "nothing may be loaded"
        assert len(re.findall(r"<script", page)) == 3  # plotly.js, the figure JSON, the page script


def test_every_theme_is_a_group_of_the_matrix_with_charts_on_demand(reports):
    page = reports["es"].read_text(encoding="utf-8")
    matrix = page.split('<section id="matrix"', 1)[1].split("</section>", 1)[0]
    for theme in THEMES:
        group = matrix.split(f'id="theme-{theme}"', 1)[1].split("</tbody>", 1)[0]
        assert 'class="mrow"' in group and 'data-card="card-' in group, theme
    cards = matrix.split('<div id="matrix-cards" hidden>', 1)[1]
    assert 'data-figure="fig-' in cards and 'class="domain-select"' in cards and "<option" in cards
    for section in ("change", "gaps", "reconciliation", "comparisons"):
        assert f'<section id="{section}"' in page, section
    assert "comparisons sortable" in page and "reconciliation sortable" in page


def test_context_figures_are_matrix_rows_shared_across_sources(reports):
    page = reports["es"].read_text(encoding="utf-8")
    group = page.split('id="theme-context"', 1)[1].split("</tbody>", 1)[0]
    assert "Contexto" in group and "Age mean" in group and "31,7 años" in group


def test_synthetic_warning_at_the_top(reports):
    es = reports["es"].read_text(encoding="utf-8")
    en = reports["en"].read_text(encoding="utf-8")
    assert es.index("microdatos SINTÉTICOS") < es.index('id="overview"')
    assert en.index("SYNTHETIC microdata") < en.index('id="overview"')
    assert '<strong class="synthetic">SINTÉTICO</strong>' in es  # the round in the overview table


def test_text_from_data_is_escaped(reports):
    for path in reports.values():
        page = path.read_text(encoding="utf-8")
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # table cells
        assert "\\u0026lt;script\\u0026gt;alert(1)" in page  # figure JSON: escaped for Plotly and for <script>


def test_missing_indicators_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="surveys indicators"):
        run_report(tmp_path / "nowhere", lang="es", out=tmp_path / "r.html")


def test_cli_writes_the_report(store, tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = run_surveys("report", "--store", str(store), "--lang", "en", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.exists() and out.stat().st_size < MAX_BYTES
    assert "<html lang=\"en\">" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("data", [
    {"x": [1, 2.5, None, True], "text": "Perú · niños <b>", "nested": {"a": [0.1 + 0.2, -0.0, 1e300]}},
    {"y": [float("nan"), float("inf"), -float("inf"), 3.0], "name": "año"},
    {"text": "a label saying NaN or Infinity, ñandú"},
    {"numpy": __import__("numpy").float64(0.25), "day": __import__("datetime").date(2022, 7, 1), "t": "ü"},
])
def test_strict_json_is_what_plotlys_encoder_writes(data):
    from plotly.utils import PlotlyJSONEncoder

    expected = json.dumps(data, cls=PlotlyJSONEncoder, separators=(",", ":"), ensure_ascii=False)
    assert strict_json(data) == expected


def test_page_is_the_template_filled_with_plotlyjs_as_plotly_gives_it():
    """plotly.js goes into the page as read from Plotly's package, without a decode and encode round trip: the
    bytes must be those of the page filled with `plotly.offline.get_plotlyjs()`."""
    from plotly.offline import get_plotlyjs

    from reports.report import TEMPLATE, fill_template

    fields = {"lang": "es", "title": "Título &amp; más", "body": "<p>ñandú · 12,3 %</p>", "figures": "{\"a\":1}"}
    expected = re.sub(r"\{\{(\w+)\}\}", lambda m: {**fields, "plotlyjs": get_plotlyjs()}[m.group(1)],
                      TEMPLATE.read_text(encoding="utf-8"))
    assert fill_template(fields) == expected.encode("utf-8")


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_as_it_was_after_the_build(enabled):
    import gc

    from reports.report import _collector_paused

    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        with pytest.raises(RuntimeError), _collector_paused():
            assert not gc.isenabled()
            raise RuntimeError("a failed build")
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_row_card_of_rows_as_dicts_is_the_card_of_the_frame(labels_es):
    """The matrix hands each card its rows as dicts: the card and its figures must not depend on which."""
    import polars as pl

    from reports import figures
    from reports.matrix import assign_rows
    from reports.report import FigureRegistry, assign_charts, row_card
    from tests.reports.helpers import indicators_frame

    frame = assign_rows(assign_charts(indicators_frame(), labels_es), labels_es)
    rows = frame.filter(pl.col("row") == "employed")
    assert rows["domain"].n_unique() > 2  # the figure across rounds and breakdowns by domain
    colours = figures.source_colours(frame["source"].to_list())
    cards = []
    for given in (rows, rows.to_dicts()):
        registry = FigureRegistry()
        cards.append((row_card("card-0", "employed", given, None, labels_es, colours, registry), registry.to_json()))
    assert cards[0] == cards[1]


def test_published_definitions_first_row_of_each_id_none_where_blank(tmp_path):
    from reports.report import published_definitions

    path = tmp_path / "estimates.csv"
    path.write_text('source,indicator_id,definition\nenpove,a,"Share of men (row ""Sexo"")"\nenpove,a,later\n'
                    "enpove,b,\n", encoding="utf-8")
    assert published_definitions(path) == {"a": 'Share of men (row "Sexo")', "b": None}
