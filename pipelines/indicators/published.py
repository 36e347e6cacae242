"""Published figures (`surveys/published/estimates.csv`, package data) as rows of the indicator table.

A published figure keeps the number the report printed (percentages become proportions, like every estimate in
the table) and carries no standard error, interval, CV or design effect: none is made up. Its concept, definition
variant and recall period come from `surveys/indicators/published_concepts.csv`, else from the catalogue when the
figure uses a catalogue id; figures of no catalogue concept get theme `context`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from pipelines.indicators.catalogue import CONTEXT, Catalogue, load_catalogue
from pipelines.indicators.tables import INDICATORS

# Package data, found through the installed package (a wheel has no `data/` folder of the source tree).
PUBLISHED_CSV = Path(str(resources.files("surveys").joinpath("published", "estimates.csv")))


def _concepts(catalogue: Catalogue) -> pl.DataFrame:
    """concept_id, theme, definition_variant, recall_period per (source, round, indicator_id) where known."""
    themes = pl.DataFrame(
        [(i.concept_id, i.theme) for i in catalogue.indicators], schema=["concept_id", "theme"], orient="row"
    ).unique("concept_id")
    return catalogue.published_concepts.join(themes, on="concept_id", how="left")


def _catalogue_facts(catalogue: Catalogue) -> pl.DataFrame:
    return pl.DataFrame([
        {"indicator_id": i.indicator_id, "cat_concept": i.concept_id, "cat_theme": i.theme,
         "cat_variant": i.definition_variant, "cat_recall": i.recall_period}
        for i in catalogue.indicators
    ])


def published_indicators(path: Path = PUBLISHED_CSV, catalogue: Catalogue | None = None) -> pl.DataFrame:
    """Every transcribed published figure, in the schema of `pipelines.indicators.tables.INDICATORS`."""
    catalogue = catalogue or load_catalogue()
    raw = pl.read_csv(path, infer_schema=False).with_columns(pl.col("estimate").cast(pl.Float64))
    rows = (
        raw.join(_concepts(catalogue), on=["source", "round", "indicator_id"], how="left")
        .join(_catalogue_facts(catalogue), on="indicator_id", how="left")
    )
    percent = pl.col("unit") == "percent"
    return rows.select(
        pl.col("indicator_id"),
        pl.coalesce("concept_id", "cat_concept", "indicator_id").alias("concept_id"),
        pl.coalesce("theme", "cat_theme", pl.lit(CONTEXT)).alias("theme"),
        "source", "round", pl.col("round").alias("period"), pl.lit("published").alias("origin"),
        pl.lit("all").alias("domain"), pl.lit("all").alias("domain_value"), pl.lit("published").alias("statistic"),
        pl.when(percent).then(pl.lit("proportion")).otherwise(pl.col("unit")).alias("unit"),
        pl.when(percent).then(pl.col("estimate") / 100).otherwise(pl.col("estimate")).alias("estimate"),
        *(pl.lit(None).alias(c) for c in ("se", "ci_low", "ci_high", "df", "n", "weighted_n", "cv", "deff")),
        pl.lit("published").alias("flag"),
        pl.col("universe"),
        pl.coalesce("definition_variant", "cat_variant", pl.lit("not_stated")).alias("definition_variant"),
        pl.coalesce("recall_period", "cat_recall", pl.lit("not_stated")).alias("recall_period"),
        pl.concat_str([pl.col("citation_document"), pl.col("citation_table"),
                       pl.lit("p. ") + pl.col("citation_page")], separator=", ").alias("citation"),
    ).select(pl.col(name).cast(dtype) for name, dtype in INDICATORS.items())
