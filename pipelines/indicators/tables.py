"""Schemas of the tables the estimate and compare stages write beside the harmonised ones.

`indicators`: one row per indicator × source × round × domain value, each an estimate with its uncertainty.
Estimated rows (`origin` = `microdata` or `synthetic`) carry the full design-based columns; published rows
(`origin` = `published`) carry the number as the report printed it, with `se`, `ci_*`, `df`, `cv` and `deff` null
because a published figure without a standard error gets none. Percentages are stored as proportions (0–1) for
every origin, so published `46.4 %` is `0.464`.

`contrasts`: the within-round contrasts the estimate stage computes with each round's design (schema `CONTRASTS`).

`comparisons`: one row per comparison of two estimates, of three kinds (schema `COMPARISONS`; `pipelines.compare`).

`policy_frames`: the GCM objectives, SDG targets and MGI domain each indicator id informs, one row per tag (schema
`POLICY_FRAMES`; `pipelines.indicators.frames`), joined to `indicators` on `indicator_id`.
"""

from __future__ import annotations

import polars as pl

ORIGINS = ("microdata", "synthetic", "published")
KINDS = ("across_rounds", "within_round", "reconciliation")
COVERAGES = ("as_fielded", "common")

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
    "statistic": pl.String(),        # proportion | mean | median | prevalence | published
    "unit": pl.String(),             # what the number is: proportion | soles (catalogue `measured_in`) | ...
    "estimate": pl.Float64(),
    "se": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "df": pl.Float64(),
    "n": pl.Int64(),
    "weighted_n": pl.Float64(),
    "cv": pl.Float64(),
    "deff": pl.Float64(),
    "flag": pl.String(),             # ok | high_cv | small_n | empty (pipelines.estimation.flags.FLAGS) | published
    "universe": pl.String(),         # who the estimate is about, in words
    "definition_variant": pl.String(),  # how this row's definition differs within its concept
    "recall_period": pl.String(),    # current | last_week | last_4_weeks | since_arrival | not_stated ...
    "citation": pl.String(),         # document, table, page for published rows; spec and modules for estimates
})

def _side(side: str) -> dict[str, pl.DataType]:
    return {f"{name}_{side}": dtype for name, dtype in (
        ("indicator", pl.String()), ("source", pl.String()), ("round", pl.String()), ("origin", pl.String()),
        ("domain_value", pl.String()), ("estimate", pl.Float64()), ("se", pl.Float64()),
        ("ci_low", pl.Float64()), ("ci_high", pl.Float64()), ("n", pl.Int64()),
    )}


CONTRASTS = pl.Schema({
    "source": pl.String(),
    "round": pl.String(),
    "origin": pl.String(),
    "concept_id": pl.String(),
    "theme": pl.String(),
    "domain": pl.String(),           # the domain whose values are contrasted, or "all" for definition variants
    "indicator_a": pl.String(),      # side a: the reference (men, the rest, regular status, the younger group,
    "domain_value_a": pl.String(),   #   the concept's first definition variant)
    "indicator_b": pl.String(),      # side b: the focal side
    "domain_value_b": pl.String(),
    "estimate_a": pl.Float64(),
    "se_a": pl.Float64(),
    "n_a": pl.Int64(),
    "estimate_b": pl.Float64(),
    "se_b": pl.Float64(),
    "n_b": pl.Int64(),
    "difference": pl.Float64(),      # b - a
    "se_difference": pl.Float64(),   # sqrt(se_a^2 + se_b^2 - 2 covariance), one linearisation
    "covariance": pl.Float64(),
    "df": pl.Float64(),              # design df of the cases of either side
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "p_value": pl.Float64(),         # two-sided t test with df
})

COMPARISONS = pl.Schema({
    "kind": pl.String(),             # across_rounds | within_round | reconciliation
    "family": pl.String(),           # the multiplicity family (one kind in one run); null when untested
    "family_size": pl.Int64(),       # tested comparisons in the family
    "concept_id": pl.String(),
    "theme": pl.String(),
    "coverage": pl.String(),         # as_fielded | common (across rounds: the rounds' common cities only)
    "domain": pl.String(),
    **_side("a"),
    **_side("b"),
    "difference": pl.Float64(),      # b - a: later round, focal domain, second variant, microdata minus published
    "se_difference": pl.Float64(),   # null when either side has no SE
    "covariance": pl.Float64(),      # of the two sides: 0 for independent samples, from the design within a round
    "df": pl.Float64(),              # of the t reference distribution
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
    "statistic": pl.Float64(),       # t = difference / se_difference
    "p_value": pl.Float64(),
    "p_adjusted": pl.Float64(),
    "adjust_method": pl.String(),    # holm | bh
    "comparable": pl.Boolean(),      # same concept, universe, definition, recall period, sampling and geography
    "testable": pl.Boolean(),        # both standard errors known: a difference with an SE, a test
    "inside": pl.Boolean(),          # reconciliation: the published figure lies in the microdata's interval
    "flags": pl.String(),            # ";"-separated comparability flags
    "reasons": pl.String(),          # the flags explained in words
})

POLICY_FRAMES = pl.Schema({
    "indicator_id": pl.String(),     # as in `indicators`
    "frame": pl.String(),            # gcm | sdg | mgi
    "code": pl.String(),             # GCM objective number, SDG target or indicator, MGI domain id
    "label_en": pl.String(),
    "label_es": pl.String(),
    "tagged_as": pl.String(),        # the indicator whose row in policy_frames.csv gives the tag (itself, or the
                                     #   catalogue indicator of its concept for a published figure)
})
