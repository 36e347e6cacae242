"""The Python API, read side: a store, its rounds, a round's frames and declared design, the derived tables, a figure.

`import surveys as sv` exposes these functions beside the jobs of `pipelines.jobs` (refresh, estimate, compare,
report, export); the `surveys` command line is a thin layer over both. Every function takes the store as a path or
as the `Store` that `open_store` returns, and reads the store's current version at the time of the call: after
`sv.refresh(store)` the same `store` reads the new version.

>>> import surveys as sv
>>> store = sv.open_store("data/harmonized")
>>> sv.rounds(store)                                    # kind, design and provenance of every round
>>> d = sv.design(store, "enpove", "2022", unit="household")  # weight, strata, PSU, lonely-PSU rule declared
>>> d.proportion("internet", by="city")
>>> sv.figure(sv.indicators(store), "internet", by="city")
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl

from pipelines.errors import NotInStore, UsageError
from pipelines.indicators.catalogue import load_catalogue
from pipelines.specs import SPECS_DIR, RoundSpec, available_specs, load_round_spec
from pipelines.store import (
    DEFAULT_STORE,
    current_version,
    derived_is_current,
    derived_tables,
    read_derived,
    read_manifest,
    table_files,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipelines.estimation import SurveyDesign

# The estimate stage (and with it scipy) is imported by the functions that use it, not with this module: the
# command line imports this module for every command, and `surveys report` needs none of it.

Unit = Literal["household", "person"]
UNIT_TABLES: dict[str, str] = {"household": "households", "person": "persons"}
DESIGN_COLUMNS = ("weight", "stratum", "psu")
# A filter of the derived tables and the columns it looks in: a row is kept when any of the columns the table has
# holds one of the values (a comparison is "about round 2022" when either side is).
FILTERS: dict[str, tuple[str, ...]] = {
    "theme": ("theme",),
    "concept": ("concept_id",),
    "indicator": ("indicator_id", "indicator_a", "indicator_b"),
    "source": ("source", "source_a", "source_b"),
    "round": ("round", "round_a", "round_b"),
    "domain": ("domain",),
    "domain_value": ("domain_value",),
    "origin": ("origin", "origin_a", "origin_b"),
    "kind": ("kind",),
}
Values = str | Sequence[str] | None


@dataclass(frozen=True)
class Store:
    """A harmonised Parquet store (a folder `surveys refresh` made and marks); usable wherever a path is.

    Attributes
    ----------
    path
        The store folder.

    Examples
    --------
    >>> store = sv.open_store("data/harmonized")
    >>> store.version  # the current version's folder, for engines that read the hive Parquet directly
    """

    path: Path

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    @property
    def version(self) -> Path:
        """The folder of the store's current version (resolved at each use)."""
        return _version(self.path)


StoreLike = Store | str | os.PathLike


def _version(store: StoreLike) -> Path:
    version = current_version(Path(store))
    if version is None:
        raise NotInStore("no store here yet", where=str(store),
                         hint="Run `surveys refresh` (or sv.refresh(store)) first, or give the store's folder.")
    return version


def open_store(path: str | os.PathLike = DEFAULT_STORE) -> Store:
    """Open a harmonised store for reading.

    Parameters
    ----------
    path
        The store folder (default ``data/harmonized``, where ``surveys refresh`` writes).

    Returns
    -------
    Store
        The store; each function reads its current version when called.

    Raises
    ------
    NotInStore
        No store at `path`, or a store whose first refresh has not finished.

    Examples
    --------
    >>> store = sv.open_store("data/harmonized")
    >>> sv.rounds(store).select("source", "round", "kind")
    """
    store = Store(Path(path))
    _version(store)
    return store


def rounds(store: StoreLike) -> pl.DataFrame:
    """The rounds a store holds: stored microdata (real or SYNTHETIC) and published figures.

    Parameters
    ----------
    store
        A `Store` or the store's folder.

    Returns
    -------
    polars.DataFrame
        One row per source, round and kind: ``source, round, kind`` (``microdata``, ``synthetic`` or
        ``published``), ``title``, ``households`` and ``persons`` (sample rows), the design as stored (``weight``,
        ``strata`` and ``psu``: the producer's column names; ``lonely_psu``; ``design_note``), ``schema_version``,
        ``refreshed_at`` and the provenance: ``inputs`` (module, file name and sha256 of each input) for stored
        rounds, ``citations`` for published ones (from the store's indicator table, once estimated).

    Examples
    --------
    >>> sv.rounds(store).filter(pl.col("kind") != "published")
    """
    version = _version(store)
    specs = {s.name: s for s in available_specs()}
    rows = []
    for name, record in read_manifest(version).items():
        design, spec = record.design, specs.get(name)
        rows.append({
            "source": record.source, "round": record.round, "kind": "synthetic" if record.synthetic else "microdata",
            "title": spec.title if spec else None, "households": record.rows.get("households"),
            "persons": record.rows.get("persons"), "weight": design.get("weight"),
            "strata": list(design.get("strata", ())), "psu": list(design.get("psu", ())),
            "lonely_psu": design.get("lonely_psu") or (spec.design.lonely_psu if spec else None),
            "design_note": design.get("note"), "schema_version": record.schema_version,
            "refreshed_at": record.refreshed_at,
            "inputs": [{"module": i["module"], "file": Path(i["file"]).name, "sha256": i["sha256"]}
                       for i in record.inputs],
            "citations": [],
        })
    if "indicators" in derived_tables(version):
        names = dict(load_catalogue().sources.select("source", "label_en").iter_rows())
        published = read_derived(version, "indicators").filter(pl.col("origin") == "published")
        for (source, round_), part in published.group_by("source", "round", maintain_order=True):
            rows.append({"source": source, "round": round_, "kind": "published", "title": names.get(source),
                         "citations": sorted(set(part["citation"].drop_nulls()))})
    return pl.DataFrame(rows, schema=ROUNDS_SCHEMA).sort("source", "round", "kind")


ROUNDS_SCHEMA = pl.Schema({
    "source": pl.String(), "round": pl.String(), "kind": pl.String(), "title": pl.String(),
    "households": pl.Int64(), "persons": pl.Int64(), "weight": pl.String(), "strata": pl.List(pl.String()),
    "psu": pl.List(pl.String()), "lonely_psu": pl.String(), "design_note": pl.String(),
    "schema_version": pl.String(), "refreshed_at": pl.String(),
    "inputs": pl.List(pl.Struct({"module": pl.String(), "file": pl.String(), "sha256": pl.String()})),
    "citations": pl.List(pl.String()),
})


def _round(version: Path, source: str, round: str) -> tuple[str, RoundSpec]:
    """The stored round's name and spec, or an error naming the stored rounds."""
    name = f"{source}/{round}"
    stored = read_manifest(version)
    if name not in stored:
        raise UsageError(f"round {name} is not in the store (it holds: {', '.join(stored) or 'none'})",
                         where=str(version), hint="Run `surveys refresh` with the round's raw folder.")
    folder = SPECS_DIR / f"{source}_{round}"
    if not (folder / "source.yaml").is_file():
        raise UsageError(f"no spec surveys/{source}_{round}/ for the stored round {name}",
                         hint="Install the package version that stored it.")
    return name, load_round_spec(folder)


def _frame(version: Path, spec: RoundSpec, unit: str, *, measures: bool) -> pl.LazyFrame:
    def scan(table: str) -> pl.LazyFrame:
        return pl.scan_parquet(table_files(version, table, source=spec.source, round_=spec.round),
                               hive_partitioning=False, glob=False)

    if not measures:
        return scan(UNIT_TABLES[unit])
    # The estimate stage's own preparation, so a design sees exactly the frame the indicator table came from; it
    # reads the round now (the FIES probabilities need the round's Rasch model).
    from pipelines.indicators.estimate import prepare_unit, round_context

    context = round_context(version, spec.name)
    households = scan("households").collect()
    persons = scan("persons").collect() if unit == "person" else households.clear()
    return prepare_unit(unit, households, persons, context, load_catalogue()).lazy()


def households(store: StoreLike, source: str, round: str, *, measures: bool = False) -> pl.LazyFrame:
    """The harmonised households of one round, lazily (nothing is read until you collect).

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    source, round
        The round, e.g. ``"enpove", "2022"``.
    measures
        Add what the indicators are built from: the catalogue's household measures (overcrowding, FIES raw
        scores, ``lima``, ...; `pipelines.indicators.measures`) and the estimate stage's additions (the FIES
        probabilities ``moderate_severe`` and ``severe`` from the round's Rasch model, ``weight_individuals``,
        ``common_coverage``). The round is then read and prepared at once (the model needs the data).

    Returns
    -------
    polars.LazyFrame
        The columns of `surveys.schema` for households (plus the measures), one row per household. The design
        columns are ``weight``, ``stratum`` and ``psu``; `design` declares them for you.

    Examples
    --------
    >>> sv.households(store, "enpove", "2022").select("city", "tenure").collect()
    """
    version = _version(store)
    return _frame(version, _round(version, source, round)[1], "household", measures=measures)


def persons(store: StoreLike, source: str, round: str, *, measures: bool = False) -> pl.LazyFrame:
    """The harmonised persons of one round, lazily.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    source, round
        The round, e.g. ``"enpove", "2018"``.
    measures
        Add what the indicators are built from: the catalogue's person measures (``no_health_insurance``,
        ``employed``, ``age_group``, ``time_since_arrival``, ``lima``, ...), the dwelling's rooms
        (``household_rooms``) and ``common_coverage``; the round is then read and prepared at once.

    Returns
    -------
    polars.LazyFrame
        The columns of `surveys.schema` for persons (plus the measures), one row per resident.

    Examples
    --------
    >>> sv.persons(store, "enpove", "2018").filter(pl.col("age") >= 18).collect()
    """
    version = _version(store)
    return _frame(version, _round(version, source, round)[1], "person", measures=measures)


def design(store: StoreLike, source: str, round: str, *, unit: Unit,
           columns: Mapping[str, pl.Expr] | None = None, measures: bool = True) -> SurveyDesign:
    """The round's survey design, declared from what its spec and the store recorded.

    Weight, strata, PSU and the lonely-PSU rule are those the round was stored with (`rounds` shows them), so
    an estimate cannot forget the clustering. A custom universe or domain is an expression in `columns`:
    a variable that is null outside its universe is estimated over the universe only, with the whole design
    kept (R's ``subset(design)``), and a domain column goes to ``by=``.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    source, round
        The round, e.g. ``"enpove", "2022"``.
    unit
        ``"person"`` or ``"household"``.
    columns
        Named polars expressions added to the frame before the design is declared: your numerators (use
        `universe` or ``pl.when(...).then(...)`` to restrict them) and domains. The design columns
        (``weight``, ``stratum``, ``psu``) cannot be replaced.
    measures
        Start from the frame the indicator table was estimated from (default: the catalogue's measures and the
        estimate stage's additions, see `households` and `persons`), so `columns` and ``by=`` can use
        ``age_group``, ``time_since_arrival``, ``lima``, ``no_health_insurance``, ... False: the harmonised
        columns only, read lazily.

    Returns
    -------
    SurveyDesign
        ``SurveyDesign(frame, weight="weight", strata="stratum", psu="psu", lonely_psu=<the round's rule>)``;
        its verbs (``mean``, ``total``, ``proportion``, ``ratio``, ``quantile``, ``contrast``) return tidy frames
        with ``estimate, se, ci_low, ci_high, df, n, weighted_n, cv, deff, flag``.

    Raises
    ------
    UsageError
        The round is not stored, the unit is unknown, or `columns` would replace a design column.

    Notes
    -----
    Taylor linearisation, first stage with replacement (R ``svydesign(ids=~psu, strata=~stratum,
    weights=~weight)``); df = PSUs minus strata within the domain; proportions take the logit interval by
    default. See `pipelines.estimation.SurveyDesign` for the conventions.

    Examples
    --------
    Migrant women aged 18-29 with a university degree, by city:

    >>> women = sv.universe("migrants") & (pl.col("sex") == "female") & pl.col("age").is_between(18, 29)
    >>> degree = pl.col("education_level").is_in(["university", "postgraduate"])
    >>> d = sv.design(store, "enpove", "2022", unit="person", columns={"degree": pl.when(women).then(degree)})
    >>> d.proportion("degree", by="city")
    """
    if unit not in UNIT_TABLES:
        raise UsageError(f"unit {unit!r} is not one of {', '.join(UNIT_TABLES)}")
    version = _version(store)
    name, spec = _round(version, source, round)
    frame = _frame(version, spec, unit, measures=measures)
    if columns:
        clash = sorted(set(columns) & set(DESIGN_COLUMNS))
        if clash:
            raise UsageError(f"columns {clash} would replace the round's design columns",
                             hint="Give your column another name.")
        frame = frame.with_columns(expr.alias(name) for name, expr in columns.items())
    lonely = read_manifest(version)[name].design.get("lonely_psu") or spec.design.lonely_psu
    from pipelines.estimation import SurveyDesign
    from pipelines.indicators.estimate import reliability

    return SurveyDesign(frame, weight="weight", strata="stratum", psu="psu", lonely_psu=lonely,
                        reliability=reliability(load_catalogue()))


def universe(name: str) -> pl.Expr:
    """A catalogue universe (`surveys/indicators/universes.csv`) as a polars expression.

    Parameters
    ----------
    name
        The universe id, e.g. ``migrants``, ``migrants_14plus``, ``households``.

    Returns
    -------
    polars.Expr
        True inside the universe, null where a condition's column is null (then the row is out, never "no").
        A universe whose conditions name a measure (``migrants_14plus``: ``of_working_age``, the working age of
        ``parameters.yaml``; ``employed_migrants``: ``employed``) needs a frame read with ``measures=True``, as
        `design` reads it by default.

    Examples
    --------
    >>> adults = sv.universe("migrants") & (pl.col("age") >= 18)
    >>> working_age = sv.persons(store, "enpove", "2022", measures=True).filter(sv.universe("migrants_14plus"))
    """
    from pipelines.indicators.estimate import universe_expr

    universes = load_catalogue().universes
    if name not in universes:
        raise UsageError(f"universe {name!r} is not one of {', '.join(universes)}")
    return universe_expr(universes[name])


def indicator_expr(indicator_id: str) -> pl.Expr:
    """A catalogue indicator's numerator inside its universe (null outside), named after the indicator.

    The expression the indicator table was estimated from: put it in ``sv.design(..., columns=...)`` to
    estimate the indicator in a domain the catalogue lacks.

    Parameters
    ----------
    indicator_id
        A catalogue indicator of statistic ``proportion``, ``mean``, ``median`` or ``fies_prevalence`` (estimate
        it with ``proportion``, ``mean``, ``quantile(q=0.5)`` and ``mean`` respectively). Raw-score
        distributions (several columns) and prevalences among individuals (another weight) are read from the
        indicator table.

    Returns
    -------
    polars.Expr

    Examples
    --------
    >>> d = sv.design(store, "enpove", "2022", unit="person",
    ...               columns={"no_insurance": sv.indicator_expr("no_health_insurance")})
    >>> d.proportion("no_insurance", by="sex")
    """
    catalogue = load_catalogue()
    found = [i for i in catalogue.indicators if i.indicator_id == indicator_id]
    if not found:
        raise UsageError(f"indicator {indicator_id!r} is not in the catalogue",
                         hint="sv.indicators(store)['indicator_id'].unique() lists those estimated.")
    indicator = found[0]
    if indicator.statistic not in ("proportion", "mean", "median", "fies_prevalence"):
        raise UsageError(f"indicator {indicator_id} is a {indicator.statistic}, not one expression",
                         hint="Read it from sv.indicators(store, indicator=...).")
    from pipelines.indicators.estimate import universe_expr

    inside = universe_expr(catalogue.universes[indicator.universe])
    return pl.when(inside).then(pl.col(indicator.numerator)).alias(indicator_id)


def tables(store: StoreLike) -> tuple[str, ...]:
    """The derived tables the store holds (``indicators``, ``comparisons``, ``contrasts``, ...).

    Parameters
    ----------
    store
        A `Store` or the store's folder.

    Returns
    -------
    tuple of str
        Their names, in `pipelines.store.DERIVED_TABLES` order, any other after them.

    Examples
    --------
    >>> sv.tables(store)
    ('indicators', 'comparisons')
    """
    return derived_tables(_version(store))


def _as_list(values: str | Sequence[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


def filter_table(frame: pl.DataFrame, name: str, filters: Mapping[str, Values],
                 where: pl.Expr | None = None) -> pl.DataFrame:
    """Rows of a derived table matching every filter (`FILTERS`); a value the table never holds is an error."""
    keep = []
    for key, values in filters.items():
        if values is None:
            continue
        columns = [c for c in FILTERS[key] if c in frame.columns]
        if not columns:
            raise UsageError(f"table {name} has no column to filter by {key} (looked for {', '.join(FILTERS[key])})")
        wanted = _as_list(values)
        held = set().union(*(frame[c].cast(pl.String).drop_nulls().unique() for c in columns))
        unknown = [v for v in wanted if v not in held]
        if unknown:
            shown = ", ".join(sorted(held)[:40]) + (" …" if len(held) > 40 else "")
            raise UsageError(f"{key} {', '.join(map(repr, unknown))} is not in table {name} (it holds: {shown})")
        keep.append(pl.any_horizontal(pl.col(c).cast(pl.String).is_in(wanted) for c in columns))
    if where is not None:
        keep.append(where)
    return frame.filter(*keep) if keep else frame


def table(store: StoreLike, name: str, *, theme: Values = None, concept: Values = None, indicator: Values = None,
          source: Values = None, round: Values = None, domain: Values = None, domain_value: Values = None,
          origin: Values = None, kind: Values = None, where: pl.Expr | None = None) -> pl.DataFrame:
    """A derived table of the store, filtered.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    name
        One of `tables` (``indicators``, ``comparisons``, ``contrasts``, ...).
    theme, concept, indicator, source, round, domain, domain_value, origin, kind
        Keep rows holding one of these values (a string or a list). A comparison matches `indicator`, `source`,
        `round` and `origin` on either side (``round_a`` or ``round_b``). A value the table never holds is an
        error, not an empty frame.
    where
        Any further polars condition.

    Returns
    -------
    polars.DataFrame
        The table's rows, all its columns; proportions are stored 0-1.

    Warns
    -----
    UserWarning
        The table was built before the store's last refresh (``sv.update_estimates(store)`` rebuilds it).

    Examples
    --------
    >>> sv.table(store, "comparisons", concept="no_health_insurance", domain="all")
    """
    version = _version(store)
    held = derived_tables(version)
    if name not in held:
        raise NotInStore(f"no `{name}` table in the store (it holds: {', '.join(held) or 'none'})",
                         where=str(store), hint="Run `surveys indicators` and `surveys compare` "
                                                "(or sv.update_estimates(store)).")
    if not derived_is_current(version, name):
        warnings.warn(f"the `{name}` table was built before the store's last refresh: "
                      "sv.update_estimates(store) rebuilds it", UserWarning, stacklevel=2)
    filters = {"theme": theme, "concept": concept, "indicator": indicator, "source": source, "round": round,
               "domain": domain, "domain_value": domain_value, "origin": origin, "kind": kind}
    return filter_table(read_derived(version, name), name, filters, where)


def indicators(store: StoreLike, *, theme: Values = None, concept: Values = None, indicator: Values = None,
               source: Values = None, round: Values = None, domain: Values = None, domain_value: Values = None,
               origin: Values = None, where: pl.Expr | None = None) -> pl.DataFrame:
    """The indicator table: every estimate (and published figure) by source, round and domain, filtered.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    theme, concept, indicator, source, round, domain, domain_value, origin, where
        As in `table`.

    Returns
    -------
    polars.DataFrame
        Columns of ``pipelines.indicators.tables.INDICATORS``: estimate, se, ci_low, ci_high, df, n, weighted_n, cv,
        deff, flag, with the indicator's theme, concept, universe, origin (``microdata``, ``synthetic``,
        ``published``) and citation.

    Examples
    --------
    >>> sv.indicators(store, concept="no_health_insurance", domain="sex", round="2022")
    """
    return table(store, "indicators", theme=theme, concept=concept, indicator=indicator, source=source,
                 round=round, domain=domain, domain_value=domain_value, origin=origin, where=where)


def comparisons(store: StoreLike, *, theme: Values = None, concept: Values = None, indicator: Values = None,
                source: Values = None, round: Values = None, domain: Values = None, domain_value: Values = None,
                origin: Values = None, kind: Values = None, where: pl.Expr | None = None) -> pl.DataFrame:
    """The comparison table: pairs of estimates of one concept and domain, their difference, SE and test.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    theme, concept, indicator, source, round, domain, domain_value, origin, kind, where
        As in `table`; `round`, `source`, `indicator` and `origin` match either side of a pair.

    Returns
    -------
    polars.DataFrame
        The comparison stage's columns, as stored (``pipelines.indicators.tables.COMPARISONS``).

    Examples
    --------
    >>> sv.comparisons(store, concept="no_health_insurance", round="2022", domain="all")
    """
    return table(store, "comparisons", theme=theme, concept=concept, indicator=indicator, source=source,
                 round=round, domain=domain, domain_value=domain_value, origin=origin, kind=kind, where=where)


def figure(indicators: pl.DataFrame, indicator: str, *, by: str | None = None, lang: str = "es",
           comparisons: pl.DataFrame | None = None) -> go.Figure:
    """One chart of the HTML report: an indicator across rounds and sources, overall or by a domain.

    The report draws each row of its matrix with the same function (`reports.report.row_figure`): published
    figures of the same concept join the chart, error bars are 95 % confidence intervals, imprecise estimates are
    hollow and the hover shows n, CV, flag and citation.

    Parameters
    ----------
    indicators
        The indicator table (`indicators`), or any filter of it.
    indicator
        An indicator id (or a concept id: the chart of its first catalogue indicator; or a row of the report's
        matrix, such as ``ctx-…`` for a published context figure).
    by
        A domain (``sex``, ``age_group``, ``city``, ...): one panel per domain value. None draws domain ``all``
        (a FIES raw-score distribution: its bars).
    lang
        ``es`` or ``en``: labels and number format.
    comparisons
        The comparison table: its comparability caveats are written under the chart, as in the report.

    Returns
    -------
    plotly.graph_objects.Figure
        Renders in Jupyter; ``fig.write_html(path)`` or ``fig.to_json()`` to keep it.

    Examples
    --------
    >>> sv.figure(sv.indicators(store), "no_health_insurance", by="sex", lang="en")
    """
    from reports.labels import LANGS, load_labels
    from reports.matrix import assign_rows
    from reports.report import FIES_DISTRIBUTIONS, assign_charts, row_figure

    if lang not in LANGS:
        raise UsageError(f"lang {lang!r} is not one of {', '.join(LANGS)}")
    labels = load_labels(lang)
    rows = assign_rows(assign_charts(indicators, labels), labels)
    row = next((r for column in ("row", "chart", "indicator_id", "concept_id")
                for r in rows.filter(pl.col(column) == indicator)["row"].head(1)), None)
    if row is None:
        raise UsageError(f"indicator {indicator!r} is not in the table",
                         hint="sv.indicators(store)['indicator_id'].unique() lists those there.")
    domain = by or ("raw_score" if row in FIES_DISTRIBUTIONS else "all")
    held = set(rows.filter(pl.col("row") == row)["domain"])
    if domain not in held:
        raise UsageError(f"{row} has no rows by {domain!r} (it has: {', '.join(sorted(held))})")
    return row_figure(rows, row, domain=domain, labels=labels, comparisons=comparisons,
                      colours=_colours(indicators))


def _colours(indicators: pl.DataFrame) -> dict[str, str]:
    from reports.figures import source_colours

    return source_colours(indicators["source"].to_list())
