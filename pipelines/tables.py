"""Schemas of the tables the estimate and compare stages write beside the harmonised ones.

`indicators`: one row per indicator × source × round × domain value, each an estimate with its uncertainty.
Estimated rows (`origin` = `microdata` or `synthetic`) carry the full design-based columns; published rows
(`origin` = `published`) carry the number as the report printed it, with `se`, `ci_*`, `df`, `cv` and `deff` null
because a published figure without a standard error gets none. Percentages are stored as proportions (0–1) for
every origin, so published `46.4 %` is `0.464`.

`comparisons`: one row per pair of estimates of the same indicator concept and domain value.
"""

from __future__ import annotations

import polars as pl

ORIGINS = ("microdata", "synthetic", "published")
FLAGS = ("ok", "cv>0.3", "n<30", "empty", "published")

INDICATORS = pl.Schema({
    "indicator_id": pl.String(),
    "concept_id": pl.String(),       # catalogue id the row measures (same as indicator_id, or its concept)
    "theme": pl.String(),            # health | housing | food_security | violence | employment
    "source": pl.String(),
    "round": pl.String(),
    "period": pl.String(),           # year or range the round covers, for ordering ("2018", "2017-2021")
    "origin": pl.Enum(list(ORIGINS)),
    "domain": pl.String(),           # "all", "sex", "age_group", "city", "lima", "time_since_arrival", ...
    "domain_value": pl.String(),     # "all" for the whole universe
    "statistic": pl.String(),        # proportion | mean | prevalence
    "unit": pl.String(),             # proportion | soles | persons | score ...
    "estimate": pl.Float64(),
    "se": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "df": pl.Float64(),
    "n": pl.Int64(),
    "weighted_n": pl.Float64(),
    "cv": pl.Float64(),
    "deff": pl.Float64(),
    "flag": pl.String(),
    "universe": pl.String(),         # who the estimate is about, in words
    "definition_variant": pl.String(),  # how this row's definition differs within its concept
    "recall_period": pl.String(),    # current | last_week | last_4_weeks | since_arrival | not_stated ...
    "citation": pl.String(),         # document, table, page for published rows; spec and modules for estimates
})

COMPARISONS = pl.Schema({
    "concept_id": pl.String(),
    "theme": pl.String(),
    "kind": pl.String(),             # consecutive_rounds | same_period_sources
    "domain": pl.String(),
    "domain_value": pl.String(),
    "indicator_a": pl.String(),
    "source_a": pl.String(),
    "round_a": pl.String(),
    "origin_a": pl.String(),
    "estimate_a": pl.Float64(),
    "se_a": pl.Float64(),
    "indicator_b": pl.String(),
    "source_b": pl.String(),
    "round_b": pl.String(),
    "origin_b": pl.String(),
    "estimate_b": pl.Float64(),
    "se_b": pl.Float64(),
    "difference": pl.Float64(),      # b - a
    "se_difference": pl.Float64(),   # sqrt(se_a^2 + se_b^2); null when either side has no SE
    "statistic": pl.Float64(),       # z = difference / se_difference
    "p_value": pl.Float64(),
    "p_adjusted": pl.Float64(),
    "adjust_method": pl.String(),    # holm | bh
    "comparable": pl.Boolean(),      # no comparability flag raised
    "flags": pl.String(),            # ";"-separated: universe, recall_period, definition, non_probability, published
    "reasons": pl.String(),          # the flags explained in words
})
