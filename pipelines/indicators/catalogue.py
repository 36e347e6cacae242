"""Load the indicator catalogue (`surveys/indicators/`) into frozen dataclasses, validated.

The catalogue is data: `catalogue.csv` (one definition per indicator), `universes.csv` (named filters in a closed
vocabulary: eq / ge on harmonised columns or measures), `domains.csv`, `contrasts.csv` (which domain values are
contrasted within a round), `parameters.yaml` (cut-offs and reliability thresholds), `sources.csv` (how each source
samples) and `published_concepts.csv` (which published figure measures which concept, with its definition variant
and recall period).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl
import yaml

from pipelines.errors import SpecError
from pipelines.estimation.flags import Reliability
from pipelines.indicators.measures import available_columns
from pipelines.specs import YAML_LOADER

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "surveys" / "indicators"
THEMES = ("health", "housing", "food_security", "violence", "employment")  # in the order the report shows them
CONTEXT = "context"  # the theme of a published figure of no catalogue concept (shown as context, never compared)
STATISTICS = ("proportion", "mean", "median", "distribution", "fies_prevalence", "fies_prevalence_individuals")
MEASURED_IN = ("proportion", "soles")  # what an estimate's number is: a share (0-1), or soles per month
UNITS = ("household", "person")  # what an indicator, universe or domain is about
OPERATORS = ("eq", "ge")


@dataclass(frozen=True)
class Indicator:
    indicator_id: str
    theme: str
    unit: str
    statistic: str
    measured_in: str  # one of MEASURED_IN: the unit the report and the exports print the estimate in
    numerator: str  # a harmonised column or a measure; empty: no harmonised variable (published figures only)
    universe: str
    concept_id: str
    definition_variant: str
    recall_period: str
    definition_source: str
    label_en: str
    label_es: str
    definition_en: str


@dataclass(frozen=True)
class Condition:
    """One condition of a `Universe` on a harmonised column or measure (`OPERATORS`)."""

    var: str
    op: str
    value: str


@dataclass(frozen=True)
class Universe:
    """Who an indicator is about (`universes.csv`): the rows where every condition holds. Not a round spec's
    `SourceUniverse`, which says which rows of a producer's module are in it, on the producer's codes."""

    universe_id: str
    unit: str
    conditions: tuple[Condition, ...]
    label_en: str
    label_es: str


@dataclass(frozen=True)
class Domain:
    domain: str
    units: tuple[str, ...]
    column: str
    label_en: str
    label_es: str


@dataclass(frozen=True)
class DomainContrast:
    """A within-round contrast between values of a domain: `focal` minus `reference` (women minus men), or
    `focal == "adjacent"`: each value minus the one before it in sorted order (each age group vs the previous)."""

    domain: str
    focal: str
    reference: str
    label_en: str
    label_es: str


@dataclass(frozen=True)
class Catalogue:
    indicators: tuple[Indicator, ...]
    universes: dict[str, Universe]
    domains: tuple[Domain, ...]
    contrasts: tuple[DomainContrast, ...]
    parameters: dict
    sources: pl.DataFrame
    published_concepts: pl.DataFrame

    def indicator(self, indicator_id: str) -> Indicator:
        return next(i for i in self.indicators if i.indicator_id == indicator_id)

    def select(self, *, theme: str | None = None) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if theme is None or i.theme == theme)


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False).fill_null("")


def _universes(path: Path) -> dict[str, Universe]:
    rows = _read(path)
    universes = {}
    for (universe_id,), group in rows.group_by("universe_id", maintain_order=True):
        conditions = tuple(Condition(r["var"], r["op"], r["value"]) for r in group.iter_rows(named=True) if r["var"])
        bad = [c for c in conditions if c.op not in OPERATORS]
        if bad:
            raise SpecError(f"universe {universe_id}: operators {[c.op for c in bad]} not in {OPERATORS}",
                            where=str(path))
        first = group.row(0, named=True)
        universes[universe_id] = Universe(universe_id, first["unit"], conditions, first["label_en"], first["label_es"])
    return universes


def _check(indicators: tuple[Indicator, ...], universes: dict[str, Universe], where: str) -> None:
    ids = [i.indicator_id for i in indicators]
    if len(ids) != len(set(ids)):
        raise SpecError(f"duplicate indicator ids {sorted({i for i in ids if ids.count(i) > 1})}", where=where)
    for ind in indicators:
        problems = []
        if ind.theme not in THEMES:
            problems.append(f"theme {ind.theme!r} not in {THEMES}")
        if ind.statistic not in STATISTICS:
            problems.append(f"statistic {ind.statistic!r} not in {STATISTICS}")
        if ind.measured_in not in MEASURED_IN:
            problems.append(f"measured_in {ind.measured_in!r} not in {MEASURED_IN}")
        if ind.universe not in universes:
            problems.append(f"universe {ind.universe!r} not in universes.csv")
        elif universes[ind.universe].unit != ind.unit:
            problems.append(f"universe {ind.universe!r} is about {universes[ind.universe].unit}s, not {ind.unit}s")
        if problems:
            raise SpecError(f"indicator {ind.indicator_id}: " + "; ".join(problems), where=where)


def _check_columns(indicators: tuple[Indicator, ...], universes: dict[str, Universe], domains: tuple[Domain, ...],
                   parameters: dict, folder: Path) -> None:
    """Every unit is a known one and every column named exists for it (a harmonised column, a measure, or what
    the estimate stage adds), so a misspelling stops the load naming its row instead of failing later in polars."""
    problems = []
    known_by_unit: dict[str, frozenset[str]] = {}  # built once per unit: it builds every measure's expression
    for where, unit, names in (
        *((f"catalogue.csv: indicator {i.indicator_id}", i.unit, [i.numerator] if i.numerator else []) for i in indicators),
        *((f"universes.csv: universe {u.universe_id}", u.unit, [c.var for c in u.conditions]) for u in universes.values()),
        *((f"domains.csv: domain {d.domain}", unit, [d.column]) for d in domains for unit in d.units),
    ):
        if unit not in UNITS:
            problems.append(f"{where}: unit {unit!r} not in {UNITS}")
            continue
        if unit not in known_by_unit:
            known_by_unit[unit] = available_columns(unit, parameters)
        known = known_by_unit[unit]
        problems += [f"{where}: no {unit} column or measure {name!r}" for name in names if name not in known]
    if problems:
        raise SpecError("; ".join(problems), where=str(folder))


# What `parameters.yaml` must hold: a number, a mapping of numbers, or bands (a list of `from`/`label` pairs,
# `from` increasing). The measures and the flags read these keys; a missing or mistyped one stops the load here.
BANDS = "bands"
PARAMETERS = {
    "overcrowding": ("un_habitat_persons_per_room", "inei_persons_per_room", "persons_per_bedroom"),
    "working_age": None,
    "underemployment": ("hours_per_week",),
    "age_groups": BANDS,
    "time_since_arrival": BANDS,
    "reliability": ("min_n", "max_cv"),
}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _band_problems(key: str, bands: object) -> list[str]:
    if not isinstance(bands, list) or not bands:
        return [f"{key} must be a list of {{from, label}} bands, not {bands!r}"]
    if not all(isinstance(b, dict) and _is_number(b.get("from")) and isinstance(b.get("label"), str) for b in bands):
        return [f"{key}: every band needs a number `from` and a text `label` ({bands!r})"]
    starts = [b["from"] for b in bands]
    return [] if starts == sorted(set(starts)) else [f"{key}: the bands' `from` must increase ({starts})"]


def _parameters(path: Path) -> dict:
    try:
        parameters = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the parameters: {exc}", where=str(path)) from exc
    _check_parameters(parameters, path)
    return parameters


def _check_parameters(parameters: object, path: Path) -> None:
    """Every key the measures and flags read is present with the right shape, so a missing or mistyped cut-off
    is a `SpecError` naming the key instead of a KeyError in the middle of the estimate stage."""
    if not isinstance(parameters, dict):
        raise SpecError("must be a mapping of parameter names to values", where=str(path))
    problems = []
    for key, shape in PARAMETERS.items():
        value = parameters.get(key)
        if key not in parameters:
            problems.append(f"{key} is missing")
        elif shape is None and not _is_number(value):
            problems.append(f"{key} must be a number, not {value!r}")
        elif shape == BANDS:
            problems += _band_problems(key, value)
        elif isinstance(shape, tuple):
            if not isinstance(value, dict):
                problems.append(f"{key} must be a mapping of {', '.join(shape)}, not {value!r}")
                continue
            problems += [f"{key}.{name} is missing" for name in shape if name not in value]
            problems += [f"{key}.{name} must be a number, not {value[name]!r}"
                         for name in shape if name in value and not _is_number(value[name])]
    if problems:
        raise SpecError("; ".join(problems), where=str(path))


def reliability(catalogue: Catalogue) -> Reliability:
    """The flag thresholds of `parameters.yaml`."""
    return Reliability(**catalogue.parameters["reliability"])


@cache
def load_catalogue(folder: Path = CATALOGUE_DIR) -> Catalogue:
    """The indicator catalogue in `folder` (default `surveys/indicators/`)."""
    where = str(folder / "catalogue.csv")
    indicators = tuple(Indicator(**row) for row in _read(folder / "catalogue.csv").iter_rows(named=True))
    universes = _universes(folder / "universes.csv")
    _check(indicators, universes, where)
    domains = tuple(
        Domain(r["domain"], tuple(r["units"].split(";")), r["column"], r["label_en"], r["label_es"])
        for r in _read(folder / "domains.csv").iter_rows(named=True)
    )
    parameters = _parameters(folder / "parameters.yaml")
    _check_columns(indicators, universes, domains, parameters, folder)
    contrasts = tuple(DomainContrast(**r) for r in _read(folder / "contrasts.csv").iter_rows(named=True))
    unknown = sorted({c.domain for c in contrasts} - {d.domain for d in domains})
    if unknown:
        raise SpecError(f"contrasts on domains {unknown} that domains.csv does not define",
                        where=str(folder / "contrasts.csv"))
    return Catalogue(
        indicators=indicators, universes=universes, domains=domains, contrasts=contrasts,
        parameters=parameters,
        sources=_read(folder / "sources.csv"), published_concepts=_read(folder / "published_concepts.csv"),
    )
