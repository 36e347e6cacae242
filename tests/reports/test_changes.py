"""The sections built from the comparisons: their views' order does not depend on the table's row order."""

from __future__ import annotations

import re

import polars as pl

from reports import changes
from reports.report import FigureRegistry
from tests.reports.helpers import comparison_row, comparisons_frame, indicators_frame


def _sections(comparisons: pl.DataFrame, labels) -> str:
    indicators = indicators_frame()
    registry = FigureRegistry()
    return (changes.change_section(comparisons, indicators, labels, registry)
            + changes.gap_section(comparisons, indicators, labels, registry) + registry.to_json())


def test_sections_do_not_depend_on_the_order_of_the_comparisons(labels_es):
    comparisons = comparisons_frame()
    assert _sections(comparisons.reverse(), labels_es) == _sections(comparisons, labels_es)
    page = _sections(comparisons, labels_es)
    female, male = page.index("Ocupado · Mujeres"), page.index("Ocupado · Hombres")
    assert female < male  # by domain value inside an indicator


def test_gap_panels_by_contrast_order_then_by_name(labels_es):
    within = [comparison_row("employed", "employment", ("employed", "enpove", "2018", "microdata", 0.59, 0.015),
                             ("employed", "enpove", "2018", "microdata", 0.65, 0.015), domain=domain,
                             kind="within_round") for domain in ("zone", "city", "sex")]
    comparisons = pl.concat([comparisons_frame(), pl.DataFrame(within, schema=comparisons_frame().schema)])
    page = changes.gap_section(comparisons, indicators_frame(), labels_es, FigureRegistry())
    panels = re.findall(r'<div class="panel" id="gap-enpove-2018-(\w+)"', page)
    assert panels == ["sex", "city", "zone"]


def test_a_domain_compared_only_on_common_coverage_is_an_empty_view(labels_es):
    common = comparisons_frame().filter(pl.col("domain") == "sex", pl.col("kind") == "across_rounds").with_columns(
        pl.lit("common").alias("coverage"))
    comparisons = pl.concat([comparisons_frame().filter(pl.col("domain") != "sex"), common])
    page = changes.change_section(comparisons, indicators_frame(), labels_es, FigureRegistry())
    view = page.split('id="change-0-sex-as_fielded"', 1)[1].split('<div class="panel"', 1)[0]
    assert "<tbody></tbody>" in view and "data-figure" not in view
