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

Within-round contrasts (`contrast_round`, stored as the `contrasts` table) use the same prepared frames and
designs: each domain contrast of `surveys/indicators/contrasts.csv` (women vs men, Lima vs the rest, irregular vs
regular status, each age group vs the previous one) for every proportion and mean indicator of the round, and each
definition variant of a concept against its first variant (overcrowding per room vs per bedroom), with the
covariance of the two sides from the same linearisation (`SurveyDesign.contrast`).

Reliability flags follow `parameters.yaml` (`reliability: min_n, max_cv`) and are stored as the engine writes
them (`pipelines.estimation.flags.FLAGS`: `ok`, `high_cv`, `small_n`, `empty`; `published` for published figures),
so readers key on the rule, not on a threshold's text.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.errors import NotInStore
from pipelines.estimation import SurveyDesign
from pipelines.fies import ITEMS, equate_to_global_standard, fit_rasch, respondent_probabilities
from pipelines.indicators.catalogue import (
    Catalogue,
    DomainContrast,
    Indicator,
    Universe,
    load_catalogue,
    reliability,
)
from pipelines.indicators.measures import (
    FIES_PROBABILITIES,
    HOUSEHOLD_ROOMS,
    INDIVIDUALS_WEIGHT,
    common_coverage,
    household_measures,
    person_measures,
)
from pipelines.indicators.published import published_indicators
from pipelines.indicators.tables import CONTRASTS, INDICATORS
from pipelines.specs import available_specs
from pipelines.store import (
    current_version,
    read_derived,
    read_manifest,
    rounds_fingerprint,
    scan_table,
    write_derived,
)
from surveys.schema import FIES_COLUMNS

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
    # Cities every stored microdata round of this source covered (ENPOVE 2018 and 2022: Lima, Arequipa, Trujillo,
    # Tumbes); empty when the source has one round. Its rows form the domain `coverage` = `common`.
    common_cities: tuple[str, ...] = ()


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
    items = households.select(pl.col(column).cast(pl.Float64).alias(item)
                              for column, item in zip(FIES_COLUMNS, ITEMS, strict=True))
    equating = equate_to_global_standard(fit_rasch(items, households["weight"].to_numpy()))
    probs = respondent_probabilities(items, equating)
    moderate_severe, severe = FIES_PROBABILITIES
    return households.with_columns(probs["p_moderate_severe"].alias(moderate_severe), probs["p_severe"].alias(severe))


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


def _estimate(design: SurveyDesign, statistic: str, variables: list[str], by: list[str | None]) -> list[pl.DataFrame]:
    """The engine's rows of `variables` for each domain column of `by` (None: overall), one frame per entry."""
    if not variables:
        return [pl.DataFrame() for _ in by]
    if statistic == "median":  # each quantile call collects its domains' values: nothing to share
        return [design.quantile(variables, q=0.5, by=column).drop("q") for column in by]
    return design.by_each(statistic, variables, by, ci="logit")


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


def _design(frame: pl.DataFrame, context: RoundContext, catalogue: Catalogue, weight: str = "weight") -> SurveyDesign:
    return SurveyDesign(frame, weight=weight, strata="stratum", psu="psu", lonely_psu=context.lonely_psu,
                        reliability=reliability(catalogue))


def _measured(frame: pl.DataFrame, columns: dict) -> dict:
    """Indicators this round measures: a numerator column with no non-null value is 'not asked', so no row."""
    counts = frame.select(pl.col(list(columns)).count()).row(0, named=True) if columns else {}
    return {c: v for c, v in columns.items() if counts[c] > 0}


def _groups(columns: dict, catalogue: Catalogue) -> dict[tuple[str, str], list[str]]:
    """Numerator columns by (engine statistic, weight column): one design and one pass per group."""
    groups: dict[tuple[str, str], list[str]] = {}
    for column, (ind_id, _) in columns.items():
        ind = catalogue.indicator(ind_id)
        statistic = {"proportion": "proportion", "distribution": "proportion", "median": "median"}.get(ind.statistic, "mean")
        weight = INDIVIDUALS_WEIGHT if ind.statistic == "fies_prevalence_individuals" else "weight"
        groups.setdefault((statistic, weight), []).append(column)
    return groups


def _observed(frame: pl.DataFrame, column: str) -> bool:
    """A domain column with no value in this round (2018 has no migratory status) gives no domain rows."""
    return column in frame.columns and frame[column].null_count() < frame.height


def _domains(frame: pl.DataFrame, unit: str, catalogue: Catalogue):
    return [d for d in catalogue.domains if unit in d.units and _observed(frame, d.column)]


@dataclass
class PreparedUnit:
    """One unit (households or persons) of one round as every estimate and contrast uses it: the prepared frame
    with one numerator column per indicator (null outside its universe), the columns the round measures, and
    the designs on it, one per weight, declared on first use (strata, PSUs and domains encoded once)."""

    frame: pl.DataFrame
    indicators: list[Indicator]
    columns: dict[str, tuple[str, str]]
    designs: dict[str, SurveyDesign] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pl.DataFrame, indicators: list[Indicator], catalogue: Catalogue) -> PreparedUnit:
        frame, columns = _numerator_columns(frame, indicators, catalogue)
        return cls(frame, indicators, _measured(frame, columns))

    def design(self, context: RoundContext, catalogue: Catalogue, weight: str) -> SurveyDesign:
        if weight not in self.designs:
            self.designs[weight] = _design(self.frame, context, catalogue, weight)
        return self.designs[weight]


def estimate_unit(frame: pl.DataFrame, indicators: list[Indicator], catalogue: Catalogue,
                  context: RoundContext, *, prepared: PreparedUnit | None = None) -> pl.DataFrame:
    """All indicators of one unit of one round: overall, by every domain, and distributions."""
    prepared = prepared or PreparedUnit.of(frame, indicators, catalogue)
    frame, columns = prepared.frame, prepared.columns
    unit = indicators[0].unit if indicators else "person"
    parts = []
    for (statistic, weight), variables in _groups(columns, catalogue).items():
        design = prepared.design(context, catalogue, weight)
        plain = [v for v in variables if not columns[v][1]]  # distributions are reported overall only
        domains = _domains(frame, unit, catalogue)
        if plain == variables:  # the overall rows and every domain's in one pass
            overall, *by_domain = _estimate(design, statistic, variables, [None, *(d.column for d in domains)])
        else:
            overall = _estimate(design, statistic, variables, [None])[0]
            by_domain = _estimate(design, statistic, plain, [d.column for d in domains])
        parts.append(_long(overall, None, columns, "all"))
        for domain, result in zip(domains, by_domain, strict=True):
            rows = _long(result, domain.column, columns, domain.domain)
            if domain.domain == "coverage":  # only the common coverage is a domain; the other cities are not
                rows = rows.filter(pl.col("domain_value") == "common")
            parts.append(rows)
    return pl.concat([p for p in parts if not p.is_empty()], how="diagonal_relaxed") if parts else pl.DataFrame()


def _domain_pairs(frame: pl.DataFrame, column: str, contrast: DomainContrast) -> list[tuple[str, str]]:
    """(focal, reference) pairs of one domain contrast that the round's data hold."""
    values = sorted(v for v in frame[column].cast(pl.String).unique().to_list() if v is not None)
    if contrast.focal == "adjacent":
        return [(later, earlier) for earlier, later in itertools.pairwise(values)]
    return [(contrast.focal, contrast.reference)] if {contrast.focal, contrast.reference} <= set(values) else []


def _variant_pairs(variables: list[str], columns: dict, catalogue: Catalogue) -> list[tuple[str, str]]:
    """(focal, reference) numerator columns: each definition variant of a concept against its first variant,
    when both are about the same units (same universe)."""
    by_concept: dict[tuple[str, str], list[str]] = {}
    for v in variables:
        ind = catalogue.indicator(columns[v][0])
        by_concept.setdefault((ind.concept_id, ind.universe), []).append(v)
    return [(other, group[0]) for group in by_concept.values() for other in group[1:]]


def _contrast_rows(result: pl.DataFrame, domain: str, columns: dict, variants: bool) -> pl.DataFrame:
    """Engine contrast rows (its side `a` is the focal one, estimate = a - b) -> `contrasts` rows, whose side `b`
    is the focal one and whose difference is b - a, the convention of the comparison table."""
    indicator = {c: ind for c, (ind, _) in columns.items()}
    if variants:  # the engine's a and b name the two numerator columns, in the whole universe
        sides = [pl.col("b").replace_strict(indicator).alias("indicator_a"), pl.lit("all").alias("domain_value_a"),
                 pl.col("a").replace_strict(indicator).alias("indicator_b"), pl.lit("all").alias("domain_value_b")]
    else:  # the engine's a and b are two values of the domain, for one indicator
        ind = pl.col("variable").replace_strict(indicator)
        sides = [ind.alias("indicator_a"), pl.col("b").alias("domain_value_a"),
                 ind.alias("indicator_b"), pl.col("a").alias("domain_value_b")]
    return result.select(
        pl.lit(domain).alias("domain"), *sides,
        pl.col("estimate_b").alias("estimate_a"), pl.col("se_b").alias("se_a"), pl.col("n_b").alias("n_a"),
        pl.col("estimate_a").alias("estimate_b"), pl.col("se_a").alias("se_b"), pl.col("n_a").alias("n_b"),
        pl.col("estimate").alias("difference"), pl.col("se").alias("se_difference"),
        pl.col("cov_ab").alias("covariance"), "df", "ci_low", "ci_high", "p_value",
    ).filter((pl.col("n_a") > 0) & (pl.col("n_b") > 0))  # a side with no case has no contrast to state


def contrast_unit(frame: pl.DataFrame, indicators: list[Indicator], catalogue: Catalogue,
                  context: RoundContext, *, prepared: PreparedUnit | None = None) -> pl.DataFrame:
    """Within-round contrasts of one unit's indicators: domain contrasts and definition variants, one design."""
    prepared = prepared or PreparedUnit.of(frame, indicators, catalogue)
    frame = prepared.frame
    columns = {c: v for c, v in prepared.columns.items() if not v[1]}  # no distributions
    unit = indicators[0].unit if indicators else "person"
    domains = {d.domain: d for d in _domains(frame, unit, catalogue)}
    parts = []
    for (statistic, weight), variables in _groups(columns, catalogue).items():
        if statistic == "median":
            continue  # a difference of medians needs their joint distribution; not linearised here
        requests, kinds = [], []  # every contrast of this design in one pass: (request, (domain, variants))
        for contrast in catalogue.contrasts:
            domain = domains.get(contrast.domain)
            pairs = _domain_pairs(frame, domain.column, contrast) if domain else []
            if pairs:
                requests.append({"variables": variables, "by": domain.column, "pairs": pairs})
                kinds.append((contrast.domain, False))
        variant_pairs = _variant_pairs(variables, columns, catalogue)
        if variant_pairs:
            requests.append({"variables": variant_pairs})
            kinds.append(("all", True))
        if requests:
            results = prepared.design(context, catalogue, weight).contrast_each(requests, statistic=statistic)
            parts.extend(_contrast_rows(result, domain, columns, variants=variants)
                         for result, (domain, variants) in zip(results, kinds, strict=True))
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def _prepare_households(households: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    frame = households.with_columns(household_measures(catalogue.parameters))
    frame = frame.with_columns((pl.col("weight") * pl.col("hh_size")).alias(INDIVIDUALS_WEIGHT))
    if frame.select(pl.all_horizontal(pl.col(c).is_not_null() for c in FIES_COLUMNS).sum()).item() > 0:
        return _fies_probabilities(frame)
    # A round without FIES answers (ENPOVE 2018 did not ask them): the prevalences are not measured, so no row.
    return frame.with_columns(pl.lit(None, pl.Float64).alias(name) for name in FIES_PROBABILITIES)


def _prepare_persons(persons: pl.DataFrame, households: pl.DataFrame, catalogue: Catalogue,
                     context: RoundContext) -> pl.DataFrame:
    """Person measures, with the household facts a person-level housing indicator needs (its dwelling's rooms)."""
    dwelling = households.select("hh_id", pl.col("rooms").alias(HOUSEHOLD_ROOMS))
    return persons.join(dwelling, on="hh_id", how="left").with_columns(
        person_measures(catalogue.parameters, context.fieldwork_start)
    )


def prepare_unit(unit: str, households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext,
                 catalogue: Catalogue) -> pl.DataFrame:
    """The frame every estimate of one unit (`household` or `person`) of a round is made from: its harmonised rows
    with the catalogue's measures and this stage's additions (FIES probabilities, the individuals' weight, the
    dwelling's rooms, the common coverage). `sv.design` declares its designs on the same frames."""
    frame = (_prepare_households(households, catalogue) if unit == "household"
             else _prepare_persons(persons, households, catalogue, context))
    return frame.with_columns(common_coverage(context.common_cities))


def _units(households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext, catalogue: Catalogue,
           theme: str | None):
    """(prepared frame, its indicators) for households and persons: the frames every estimate of a round uses."""
    chosen = [i for i in catalogue.select(theme=theme) if i.numerator]
    for unit in ("household", "person"):
        indicators = [i for i in chosen if i.unit == unit]
        if indicators:
            yield prepare_unit(unit, households, persons, context, catalogue), indicators


def prepare_units(households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext, catalogue: Catalogue,
                  theme: str | None = None) -> list[PreparedUnit]:
    """The round's units prepared once (measures, FIES, numerators), for `estimate_round` and `contrast_round`."""
    return [PreparedUnit.of(frame, inds, catalogue) for frame, inds in _units(households, persons, context, catalogue,
                                                                              theme)]


def estimate_round(households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext, *,
                   catalogue: Catalogue | None = None, theme: str | None = None,
                   prepared: list[PreparedUnit] | None = None) -> pl.DataFrame:
    """The long indicator table (schema `pipelines.indicators.tables.INDICATORS`) of one round's microdata
    (`prepared`: its units from `prepare_units`, shared with `contrast_round`; prepared here when not given)."""
    catalogue = catalogue or load_catalogue()
    if prepared is None:
        prepared = prepare_units(households, persons, context, catalogue, theme)
    parts = [estimate_unit(p.frame, p.indicators, catalogue, context, prepared=p) for p in prepared]
    rows = pl.concat([p for p in parts if not p.is_empty()], how="diagonal_relaxed")
    return _describe(rows, catalogue, context)


def contrast_round(households: pl.DataFrame, persons: pl.DataFrame, context: RoundContext, *,
                   catalogue: Catalogue | None = None, theme: str | None = None,
                   prepared: list[PreparedUnit] | None = None) -> pl.DataFrame:
    """The within-round contrasts (schema `pipelines.indicators.tables.CONTRASTS`) of one round's microdata
    (`prepared` as in `estimate_round`)."""
    catalogue = catalogue or load_catalogue()
    if prepared is None:
        prepared = prepare_units(households, persons, context, catalogue, theme)
    parts = [contrast_unit(p.frame, p.indicators, catalogue, context, prepared=p) for p in prepared]
    parts = [p for p in parts if not p.is_empty()]
    if not parts:
        return pl.DataFrame(schema=CONTRASTS)
    concepts = pl.DataFrame([(i.indicator_id, i.concept_id, i.theme) for i in catalogue.indicators],
                            schema=["indicator_a", "concept_id", "theme"], orient="row")
    rows = pl.concat(parts, how="vertical_relaxed").join(concepts, on="indicator_a", how="left").with_columns(
        pl.lit(context.source).alias("source"), pl.lit(context.round).alias("round"),
        pl.lit(context.origin).alias("origin"),
    )
    return rows.select(pl.col(name).cast(dtype) for name, dtype in CONTRASTS.items())


def _describe(rows: pl.DataFrame, catalogue: Catalogue, context: RoundContext) -> pl.DataFrame:
    """Attach catalogue facts (theme, concept, unit of measure, universe) and provenance to engine rows."""
    facts = pl.DataFrame([
        {"indicator_id": i.indicator_id, "concept_id": i.concept_id, "theme": i.theme,
         "statistic": "prevalence" if i.statistic.startswith("fies") else i.statistic,
         "unit": i.measured_in,
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


def _common_cities(store: Path, source: str) -> tuple[str, ...]:
    """Cities in every stored round of `source`; empty when it has a single round (nothing to be common with)."""
    rounds = [r.round for r in read_manifest(store).values() if r.source == source]
    if len(rounds) < 2:
        return ()
    cities = [set(scan_table(store, "households", source=source, round_=r).select("city").unique().collect()
                  ["city"].drop_nulls()) for r in rounds]
    return tuple(sorted(set.intersection(*cities)))


def round_context(store: Path, name: str, specs: list | None = None) -> RoundContext:
    """What estimation needs to know about stored round `name` (`source/round`) besides its rows (`specs`: the
    round specs when already loaded)."""
    record = read_manifest(store)[name]
    spec = next((s for s in (available_specs() if specs is None else specs) if s.name == name), None)
    if spec is None:
        raise FileNotFoundError(f"no spec surveys/{record.source}_{record.round}/ for stored round {name}")
    return RoundContext(record.source, record.round, "synthetic" if record.synthetic else "microdata",
                        spec.design.lonely_psu, spec.fieldwork_start, spec.title,
                        common_cities=_common_cities(store, record.source))


def build_tables(store: Path, *, source: str | None = None, round_: str | None = None,
                 theme: str | None = None) -> dict[str, pl.DataFrame]:
    """`indicators` (estimates for the stored rounds, filtered, plus the published figures) and `contrasts`
    (the stored rounds' within-round contrasts)."""
    estimates, contrasts = [], []
    specs = available_specs()  # read once for every round
    catalogue = load_catalogue()
    for name, record in read_manifest(store).items():
        if (source and record.source != source) or (round_ and record.round != round_):
            continue
        context = round_context(store, name, specs)
        households = scan_table(store, "households", source=record.source, round_=record.round).collect()
        persons = scan_table(store, "persons", source=record.source, round_=record.round).collect()
        # Measures, FIES and numerators once per round; both tables use the same designs.
        prepared = prepare_units(households, persons, context, catalogue, theme)
        estimates.append(estimate_round(households, persons, context, catalogue=catalogue, theme=theme,
                                        prepared=prepared))
        contrasts.append(contrast_round(households, persons, context, catalogue=catalogue, theme=theme,
                                        prepared=prepared))
        del households, persons, prepared  # before the next round's are read
    published = published_indicators()
    if source:
        published = published.filter(pl.col("source") == source)
    if round_:
        published = published.filter(pl.col("round") == round_)
    if theme:
        published = published.filter(pl.col("theme") == theme)
    return {"indicators": pl.concat([*estimates, published], how="vertical"),
            "contrasts": pl.concat(contrasts, how="vertical") if contrasts else pl.DataFrame(schema=CONTRASTS)}


def _keep_previous(pinned: Path, name: str, table: pl.DataFrame, filters: dict[str, str | None]) -> pl.DataFrame:
    """The new rows, plus the stored rows of `name` outside the job's filters (a filter never deletes them)."""
    try:
        previous = read_derived(pinned, name)
    except FileNotFoundError:
        return table
    replaced = pl.lit(True)
    for column, value in filters.items():
        if value:
            replaced = replaced & (pl.col(column) == value)
    return pl.concat([previous.filter(~replaced), table], how="vertical")


def run_indicators(store: Path, *, source: str | None = None, round_: str | None = None,
                   theme: str | None = None) -> list[str]:
    """CLI job: estimate and store the indicators and the within-round contrasts; rows outside the filter are kept
    from the previous tables.

    Everything is read from the version current when the job starts, and the tables are stored as built from that
    version's rounds: a refresh that swaps in another round meanwhile leaves them visibly stale, not marked
    current with numbers of the old round.
    """
    pinned = current_version(store)
    if pinned is None:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    built_from = rounds_fingerprint(pinned)
    filters = {"source": source, "round": round_, "theme": theme}
    tables = {name: _keep_previous(pinned, name, table, filters)
              for name, table in build_tables(pinned, source=source, round_=round_, theme=theme).items()}
    write_derived(store, tables, built_from=built_from)
    counts = tables["indicators"].group_by("origin").len().sort("origin").rows()
    return [f"indicators: {tables['indicators'].height} rows stored ({', '.join(f'{o}: {n}' for o, n in counts)}); "
            f"{tables['contrasts'].height} within-round contrasts"]
