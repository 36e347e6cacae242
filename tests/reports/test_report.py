"""The HTML file itself: one self-contained page, plotly.js once, the synthetic warning, escaped data, the CLI."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from reports.report import THEMES, run_report
from tests.reports.fixtures import XSS

MAX_BYTES = 10_000_000


def test_one_self_contained_file_with_plotly_once(reports):
    for path in reports.values():
        page = path.read_text(encoding="utf-8")
        assert path.stat().st_size < MAX_BYTES
        assert len(re.findall(r"\* plotly\.js v\d", page)) == 1, "plotly.js must be inlined exactly once"
        assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", page), "nothing may be loaded"
        assert len(re.findall(r"<script", page)) == 3  # plotly.js, the figure JSON, the page script


def test_every_theme_has_a_section_and_figures(reports):
    page = reports["es"].read_text(encoding="utf-8")
    for theme in THEMES:
        section = page.split(f'id="theme-{theme}"', 1)[1].split("</section>", 1)[0]
        assert 'data-figure="fig-' in section, theme
    assert 'class="domain-select"' in page and "<option" in page
    assert 'id="comparisons"' in page and "comparisons sortable" in page


def test_themes_outside_the_five_are_a_table(reports):
    page = reports["es"].read_text(encoding="utf-8")
    section = page.split('id="theme-context"', 1)[1].split("</section>", 1)[0]
    assert "data-figure" not in section and "31,7 años" in section and "Contexto" in section


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
    result = CliRunner().invoke(app, ["report", "--store", str(store), "--lang", "en", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and out.stat().st_size < MAX_BYTES
    assert "<html lang=\"en\">" in out.read_text(encoding="utf-8")
