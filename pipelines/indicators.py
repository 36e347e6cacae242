"""Estimate: every catalogue indicator for a stored round, all domains, design-based, in a few passes.

For each unit (households, persons) the numerators of all its indicators become columns that are null outside the
indicator's universe, so one `SurveyDesign.proportion` call estimates them all at once, and one more call per
domain dimension gives the domain rows. Universes and domains therefore zero rows out of the estimate but never
drop them from the design (R's `subset(design)` semantics). Published figures enter the same long table as
`origin = published`, without standard errors.

FIES prevalences: a weighted Rasch model is fitted to the round's complete FIES answers (`pipelines.fies`),
equated to FAO's 2014-2016 global standard; each household gets the probability of being moderately-or-severely
(and severely) food insecure given its raw score, and the prevalence is the design-based mean of those
probabilities. Its SE reflects the sampling design only; the uncertainty of the Rasch parameters is not added.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.catalogue import Catalogue, Indicator, Universe, load_catalogue
from pipelines.errors import NotInStore
from pipelines.estimation import SurveyDesign
from pipelines.fies import ITEMS, equate_to_global_standard, fit_rasch, respondent_probabilities
from pipelines.measures import FIES_COLUMNS, household_measures, person_measures
from pipelines.published import published_indicators
from pipelines.specs import available_specs
from pipelines.store import (
    current_version,
    read_derived,
    read_manifest,
    scan_table,
    waves_fingerprint,
    write_derived,
)
from pipelines.tables import INDICATORS

UNIT_TABLE = {"household": "households", "person": "persons"}
RAW_SCORES = {"fies_raw_score_8": range(9), "fies_raw_score_7": range(8)}


@dataclass(frozen=True)
class RoundContext:
    """What estimation needs to know about a stored round besides its rows."""

    source: str
    round: str
    origin: str  # microdata | synthetic
    lonely_psu: str
    fieldwork_start: date
    title: str


def universe_expr(universe: Universe) -> pl.Expr:
    """True inside the universe; null where a condition's column is null (then the row is out, not 'no')."""
    def condition(c) -> pl.Expr:
        value = {"true": True, "false": False}.get(c.value, c.value)
        if c.op == "ge":
            return pl.col(c.var) >= float(c.value)
        return pl.col(c.var) == value
    return pl.all_horizontal([condition(c) for c in universe.conditions]) if universe.conditions else pl.lit(True)


def _column(indicator_id: str, value: str | None = None) -> str:
    return f"{indicator_id}__{value}" if value is not None else indicator_id


def _fies_probabilities(households: pl.DataFrame) -> pl.DataFrame:
    """Per-household FIES probabilities (null for incomplete answers), from a Rasch model fitted on this round."""
    items = households.select(pl.col(f"fies_{i.lower()}").cast(pl.Float64).alias(i) for i in ITEMS)
    equating = equate_to_global_standard(fit_rasch(items, households["weight"].to_numpy()))
    probs = respondent_probabilities(items, equating)
    return households.with_columns(
        probs["p_moderate_severe"].alias("moderate_severe"), probs["p_severe"].alias("severe")
    )


def _numerator_columns(frame: pl.DataFrame, indicators: list[Indicator], catalogue: Catalogue):
    """One column per indicator (or per category of a distribution), null outside its universe."""
    columns: dict[str, tuple[str, str]] = {}  # column -> (indicator_id, category or "")
    exprs = []
    for ind in indicators:
        inside = universe_expr(catalogue.universes[ind.universe])
        if ind.statistic == "distribution":
            for k in RAW_SCORES[ind.numerator]:
                name = _column(ind.indicator_id, str(k))
                exprs.append(pl.when(inside).then(pl.col(ind.numerator) == k).alias(name))
                columns[name] = (ind.indicator_id, str(k))
        else:
            exprs.append(pl.when(inside).then(pl.col(ind.numerator)).alias(ind.indicator_id))
            columns[ind.indicator_id] = (ind.indicator_id, "")
    return frame.with_columns(exprs), columns


def _estimate(design: SurveyDesign, statistic: str, variables: list[str], by: str | None) -> pl.DataFrame:
    if not variables:
        return pl.DataFrame()
    if statistic == "proportion":
        return design.proportion(variables, by=by, ci="logit")
    return design.mean(variables, by=by)


def _long(result: pl.DataFrame, by: str | None, columns: dict, domain: str) -> pl.DataFrame:
    """Engine rows -> indicator rows with domain and domain_value."""
    if result.is_empty():
        return result
    domain_value = pl.col(by).cast(pl.String).fill_null("missing") if by else pl.lit("all")
    mapping = pl.DataFrame(
        [(c, ind, cat) for c, (ind, cat) in columns.items()], schema=["variable", "indicator_id", "category"],
        orient="row",
    )
    out = result.with_columns(domain_value.alias("domain_value")).join(mapping, on="variable")
    return out.with_columns(
        pl.when(pl.col("category") != "").then(pl.lit("raw_score")).otherwise(pl.lit(domain)).alias("domain"),
        pl.when(pl.col("category") != "").then(pl.col("category")).otherwise(pl.col("domain_value"))
        .alias("domain_value"),
    ).drop("category", "variable", *([by] if by else []))


def _design(frame: pl.DataFrame, context: RoundContext, weight: str = "weight") -> SurveyDesign:
    return SurveyDesign(frame, weight=weight, strata="stratum", psu="psu", lonely_psu=context.lonely_psu)


def _measured(frame: pl.DataFrame, columns: dict) -> dict:
    """Indicators this round measures: a numerator column with no non-null value is 'not asked', so no row."""
    counts = frame.select(pl.col(list(columns)).count()).row(0, named=True) if columns else {}
    return {c: v for c, v in columns.items() if counts[c] > 0}


def estimate_unit(frame: pl.DataFrame, indicators: list[Indicator], catalogue: Catalogue,
                  context: RoundContext) -> pl.DataFrame:
    """All indicators of one unit of one round: overall, by every domain, and distributions."""
    frame, columns = _numerator_columns(frame, indicators, catalogue)
    columns = _measured(frame, columns)
    by_stat: dict[tuple[str, str], list[str]] = {}
    for column, (ind_id, _) in columns.items():
        ind = catalogue.indicator(ind_id)
        statistic = "mean" if ind.statistic in ("mean", "fies_prevalence", "fies_prevalence_individuals") else "proportion"
        weight = "weight_individuals" if ind.statistic == "fies_prevalence_individuals" else "weight"
        by_stat.setdefault((statistic, weight), []).append(column)
    unit = indicators[0].unit if indicators else "person"
    domains = [d for d in catalogue.domains if unit in d.units]
    parts = []
    designs: dict[str, SurveyDesign] = {}  # one per weight: its strata, PSUs and domains are encoded once
    for (statistic, weight), variables in by_stat.items():
        if weight not in designs:
            designs[weight] = _design(frame, context, weight)
        design = designs[weight]
        parts.append(_long(_estimate(design, statistic, variables, None), None, columns, "all"))
        plain = [v for v in variables if not columns[v][1]]  # distributions are reported overall only
        for domain in domains:
            parts.append(_long(_estimate(design, statistic, plain, domain.column), domain.column, columns, domain.domain))
    return pl.concat([p for p in parts if not p.is_empty()], how="diagonal_relaxed") if parts else pl.DataFrame()


def _prepare_households(households: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    frame = households.with_columns(household_measures(catalogue.parameters))
    frame = frame.with_columns((pl.col("weight") * pl.col("hh_size")).alias("weight_individuals"))
    if frame.select(pl.all_horizontal(pl.col(c).is_not_null() for c in FIES_COLUMNS).sum()).item() > 0:
        return _fies_probabilities(frame)
    # A round without FIES answers (ENPOVE 2018 did not ask them): the prevalences are not measured, so no row.
    return frame.with_columns(pl.lit(None, pl.Float64).alias("moderate_severe"), pl.lit(None, pl.Float64).alias("severe"))


def estimate_round(households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext, *,
                   catalogue: Catalogue | None = None, theme: str | None = None) -> pl.DataFrame:
    """The long indicator table (schema `pipelines.tables.INDICATORS`) of one round's microdata."""
    catalogue = catalogue or load_catalogue()
    chosen = [i for i in catalogue.select(theme=theme) if i.numerator]
    hh = [i for i in chosen if i.unit == "household"]
    pp = [i for i in chosen if i.unit == "person"]
    parts = []
    if hh:
        parts.append(estimate_unit(_prepare_households(households, catalogue), hh, catalogue, context))
    if pp:
        frame = persons.with_columns(person_measures(catalogue.parameters, context.fieldwork_start))
        parts.append(estimate_unit(frame, pp, catalogue, context))
    rows = pl.concat([p for p in parts if not p.is_empty()], how="diagonal_relaxed")
    return _describe(rows, catalogue, context)


def _describe(rows: pl.DataFrame, catalogue: Catalogue, context: RoundContext) -> pl.DataFrame:
    """Attach catalogue facts (theme, concept, unit of measure, universe) and provenance to engine rows."""
    facts = pl.DataFrame([
        {"indicator_id": i.indicator_id, "concept_id": i.concept_id, "theme": i.theme,
         "statistic": "prevalence" if i.statistic.startswith("fies") else i.statistic,
         "unit": "soles" if i.statistic == "mean" else "proportion",
         "universe": catalogue.universes[i.universe].label_en, "definition_variant": i.definition_variant,
         "recall_period": i.recall_period}
        for i in catalogue.indicators
    ])
    out = rows.join(facts, on="indicator_id", how="left").with_columns(
        pl.lit(context.source).alias("source"), pl.lit(context.round).alias("round"),
        pl.lit(context.round).alias("period"), pl.lit(context.origin).alias("origin"),
        pl.lit(f"{context.title}; {context.origin}; estimated with this package from the harmonised store")
        .alias("citation"),
    )
    return out.select(pl.col(name).cast(dtype) for name, dtype in INDICATORS.items())


def _context(store: Path, name: str, specs: list | None = None) -> RoundContext:
    wave = read_manifest(store)[name]
    spec = next((s for s in (available_specs() if specs is None else specs) if s.name == name), None)
    if spec is None:
        raise FileNotFoundError(f"no spec surveys/{wave.source}_{wave.round}/ for stored round {name}")
    return RoundContext(wave.source, wave.round, "synthetic" if wave.synthetic else "microdata",
                        spec.design.lonely_psu, spec.fieldwork_start, spec.title)


def build_indicator_table(store: Path, *, source: str | None = None, round_: str | None = None,
                          theme: str | None = None) -> pl.DataFrame:
    """Estimates for the stored rounds (filtered) plus the published figures, as one long table."""
    parts = []
    specs = available_specs()  # read once for every round
    for name, wave in read_manifest(store).items():
        if (source and wave.source != source) or (round_ and wave.round != round_):
            continue
        context = _context(store, name, specs)
        households = scan_table(store, "households", source=wave.source, round_=wave.round).collect()
        persons = scan_table(store, "persons", source=wave.source, round_=wave.round).collect()
        parts.append(estimate_round(households, persons, context, theme=theme))
    published = published_indicators()
    if source:
        published = published.filter(pl.col("source") == source)
    if round_:
        published = published.filter(pl.col("round") == round_)
    if theme:
        published = published.filter(pl.col("theme") == theme)
    return pl.concat([*parts, published], how="vertical")


def run_indicators(store: Path, *, source: str | None = None, round_: str | None = None,
                   theme: str | None = None) -> list[str]:
    """CLI job: estimate and store; rows outside the filter are kept from the previous table.

    Everything is read from the version current when the job starts, and the table is stored as built from that
    version's rounds: a refresh that swaps in another round meanwhile leaves the table visibly stale, not
    marked current with numbers of the old round.
    """
    pinned = current_version(store)
    if pinned is None:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    built_from = waves_fingerprint(pinned)
    table = build_indicator_table(pinned, source=source, round_=round_, theme=theme)
    try:
        previous = read_derived(pinned, "indicators")
    except FileNotFoundError:
        previous = table.clear()
    replaced = pl.lit(True)
    for column, value in (("source", source), ("round", round_), ("theme", theme)):
        if value:
            replaced = replaced & (pl.col(column) == value)
    table = pl.concat([previous.filter(~replaced), table], how="vertical")
    write_derived(store, {"indicators": table}, built_from=built_from)
    counts = table.group_by("origin").len().sort("origin").rows()
    return [f"indicators: {table.height} rows stored ({', '.join(f'{o}: {n}' for o, n in counts)})"]
