"""The self-contained HTML report: overview, the indicator × source matrix, change between rounds, gaps within a
round, published vs microdata, and every comparison.

`run_report` reads the store's derived tables, asks `reports.figures` for one `go.Figure` per chart, and writes ONE
HTML file: plotly.js is inlined once for the whole page, every figure's JSON sits in one `application/json` block
(template stored once), and a few lines of vanilla JS draw the charts in view, open a matrix row's chart when the
row is clicked, switch the matrix between its theme and GCM views and the sections between their panels, and sort
the tables. Nothing in the page asks the network for anything, so it opens offline.

Sections: `matrix_section` (rows and chart cards; the table itself is `reports.matrix`), `reports.changes` (change
between rounds, gaps within a round, reconciliation), `comparison_section` (every comparison, sortable).
"""

from __future__ import annotations

import csv
import gc
import json
import pkgutil
import re
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.io as pio
import polars as pl

from pipelines.atomic import replaced_when_complete
from pipelines.estimation.flags import CAUTION
from pipelines.indicators.catalogue import CATALOGUE_DIR, THEMES
from pipelines.indicators.frames import frame_tags, load_policy_frames
from pipelines.indicators.published import PUBLISHED_CSV
from pipelines.store import current_version, derived_is_current, read_derived, read_manifest
from reports import changes, figures, matrix
from reports.html import table as _table
from reports.labels import Labels, load_labels

if TYPE_CHECKING:
    import plotly.graph_objects as go

DOMAIN_ORDER = ("sex", "age_group", "city", "lima", "lima_zone", "time_since_arrival", "migratory_status")
FIES_DISTRIBUTIONS = ("fies_raw_score_8", "fies_raw_score_7")
FIES_PREVALENCES = ("fies_moderate_severe", "fies_severe")
TEMPLATE = Path(__file__).resolve().parent / "template.html"
esc = figures.esc


def run_report(store: Path, *, lang: str = "es", out: Path = Path("data/exports/report.html"),
               surveys_dir: Path | None = None) -> list[str]:
    """Write the report for the store at `store` to `out`; returns the lines to print."""
    store, out = Path(store), Path(out)
    labels = load_labels(lang, **({"surveys_dir": surveys_dir} if surveys_dir else {}))
    store = current_version(store) or store  # one version throughout, whatever a refresh swaps in meanwhile
    indicators = read_derived(store, "indicators")
    try:
        comparisons = read_derived(store, "comparisons")
    except FileNotFoundError:
        comparisons = None
    stale = not derived_is_current(store, "indicators")
    frames_dir = Path(surveys_dir) / "indicators" if surveys_dir else CATALOGUE_DIR
    if not (frames_dir / "policy_frames.csv").exists():  # a test catalogue without frames: the package's
        frames_dir = CATALOGUE_DIR
    page = build_report(indicators, comparisons, read_manifest(store), labels, stale=stale, frames_dir=frames_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with replaced_when_complete(out) as partial:  # a full disk leaves the previous page, not half of a new one
        partial.write_bytes(page)
    lines = [f"{labels['written']} {out} ({out.stat().st_size / 1e6:.1f} MB)"]
    if comparisons is None:
        lines.append(labels["comparisons_missing"])
    if stale:
        lines.append(labels["stale_warning"])
    return lines


def build_report(indicators: pl.DataFrame, comparisons: pl.DataFrame | None, manifest: dict, labels: Labels, *,
                 stale: bool = False, frames_dir: Path = CATALOGUE_DIR) -> bytes:
    """The whole page, UTF-8 encoded."""
    with _collector_paused():
        indicators = assign_charts(indicators, labels)
        colours = figures.source_colours(indicators["source"].to_list())
        registry = FigureRegistry()
        tags = frame_tags(indicators, load_policy_frames(frames_dir), frames_dir)
        body = "\n".join([
            header(labels),
            overview(indicators, manifest, labels, stale=stale),
            matrix_section(indicators, comparisons, labels, colours, registry, tags, frames_dir),
            changes.change_section(comparisons, indicators, labels, registry),
            changes.gap_section(comparisons, indicators, labels, registry),
            changes.reconciliation_section(comparisons, indicators, labels),
            comparison_section(comparisons, indicators, labels),
            f'<footer>{esc(labels["footer"])}</footer>',
        ])
        return fill_template({"lang": labels["html_lang"], "title": esc(labels["title"]), "body": body,
                              "figures": registry.to_json()})


PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
PLOTLYJS = ("plotly", "package_data/plotly.min.js")  # the file `plotly.offline.get_plotlyjs` reads and decodes


def fill_template(fields: dict[str, str]) -> bytes:
    """The page template with each ``{{name}}`` replaced by ``fields[name]`` and ``{{plotlyjs}}`` by plotly.js, as
    UTF-8. plotly.js (4.6 MB, ASCII) goes in as read from Plotly's package: decoding it, substituting it into the
    template and encoding the whole page again cost about a tenth of the page build."""
    pieces = PLACEHOLDER.split(TEMPLATE.read_text(encoding="utf-8"))  # text, name, text, name, ..., text
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(piece.encode("utf-8"))
        else:
            out.append(pkgutil.get_data(*PLOTLYJS) if piece == "plotlyjs" else fields[piece].encode("utf-8"))
    return b"".join(out)


@contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while the page is built, as it was before afterwards.

    The build makes tens of thousands of short-lived dicts and lists (figure specs, rows as dicts), which
    reference counting frees; their allocations trigger the collector, whose full passes walk every object the
    process holds (polars, plotly, the command line's libraries), about a tenth of the build for nothing to collect.
    Cycles made meanwhile, if any, are collected by the next pass after the build.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FigureRegistry:
    """Figures (their Plotly JSON specs, `reports.figures`) by id, serialised once; the shared Plotly template is
    stored a single time."""

    def __init__(self) -> None:
        self.figures: dict[str, dict] = {}
        self.template: dict | None = None

    def add(self, figure: dict | go.Figure) -> str:
        """Register a figure, as its spec (`reports.figures`' ``*_spec``) or a `go.Figure`; returns its id."""
        spec = figure if isinstance(figure, dict) else json.loads(pio.to_json(figure, validate=False))
        template = spec.get("layout", {}).pop("template", None)
        self.template = self.template or template
        figure_id = f"fig-{len(self.figures)}"
        self.figures[figure_id] = spec
        return figure_id

    def div(self, figure_id: str, *, element_id: str | None = None, cls: str = "chart") -> str:
        """The placeholder a figure is drawn into, as tall as the figure so the page does not jump."""
        height = self.figures[figure_id].get("layout", {}).get("height", figures.HEIGHT)
        return (f'<div class="{cls}" id="{element_id or figure_id}" data-figure="{figure_id}" '
                f'style="min-height:{int(height)}px"></div>')

    def to_json(self) -> str:
        text = strict_json({"template": self.template, "figures": self.figures})
        # Inside <script> no "<" may appear raw: "</script>" in a label would end the block.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def strict_json(data) -> str:
    """Compact JSON of `data` exactly as `json.dumps(data, cls=plotly.utils.PlotlyJSONEncoder, separators=(",", ":"),
    ensure_ascii=False)` writes it, without importing `plotly.utils` (a tenth of a second) for plain Python data:
    NaN and infinities as null, through the same round trip (which, as Plotly's, escapes non-ASCII text)."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    except TypeError:  # not plain Python (numpy scalars, dates...): Plotly's encoder knows those types
        from plotly.utils import PlotlyJSONEncoder

        return json.dumps(data, cls=PlotlyJSONEncoder, separators=(",", ":"), ensure_ascii=False)
    if "NaN" not in text and "Infinity" not in text:
        return text
    return json.dumps(json.loads(text, parse_constant=lambda _: None), separators=(",", ":"))


def assign_charts(indicators: pl.DataFrame, labels: Labels) -> pl.DataFrame:
    """Column `chart`: the chart a row is drawn in.

    A catalogue indicator has its own chart. A row whose indicator is not in the catalogue (a published figure
    transcribed under its own id) joins the chart of the first catalogue indicator of the same concept.
    """
    catalogue = set(labels.catalogue_order)
    by_concept: dict[str, str] = {}
    for indicator_id in labels.catalogue_order:
        by_concept.setdefault(labels.concepts.get(indicator_id, indicator_id), indicator_id)
    estimated = indicators.filter(pl.col("origin") != "published")
    for indicator_id, concept_id in estimated.select("indicator_id", "concept_id").unique(maintain_order=True).rows():
        by_concept.setdefault(concept_id, indicator_id)
    pairs = indicators.select("indicator_id", "concept_id").unique(maintain_order=True).rows()
    chart = {i: i if i in catalogue else by_concept.get(c, i) for i, c in pairs}
    return indicators.with_columns(pl.col("indicator_id").replace_strict(chart).alias("chart"))


SECTIONS = ("overview", "matrix", "change", "gaps", "reconciliation", "comparisons")


def header(labels: Labels) -> str:
    links = [f'<a href="#{section}">{esc(labels["nav_" + section])}</a>' for section in SECTIONS]
    return (f'<header><h1>{esc(labels["title"])}</h1><p class="subtitle">{esc(labels["subtitle"])}</p>'
            f'<nav aria-label="{esc(labels["contents"])}">{" · ".join(links)}</nav></header>')


def overview(indicators: pl.DataFrame, manifest: dict, labels: Labels, *, stale: bool) -> str:
    """Sources and rounds in the store, their sample sizes and origins; a plain warning when any is synthetic."""
    counts = indicators.group_by("source", "round", "origin").agg(pl.len().alias("figures"))
    count = {(s, r, o): n for s, r, o, n in counts.rows()}
    rows = []
    for record in manifest.values():
        origin = "synthetic" if record.synthetic else "microdata"
        kind = labels["kind_synthetic"] if record.synthetic else labels["kind_microdata"]
        kind_html = f'<strong class="synthetic">{esc(kind)}</strong>' if record.synthetic else esc(kind)
        rows.append([(esc(labels.source(record.source)), record.source), (esc(record.round), record.round),
                     (kind_html, kind),
                     (labels.count(record.rows.get("households")), record.rows.get("households")),
                     (labels.count(record.rows.get("persons")), record.rows.get("persons")),
                     (labels.count(count.get((record.source, record.round, origin), 0)),
                      count.get((record.source, record.round, origin), 0))])
    stored = {(r.source, r.round) for r in manifest.values()}
    for (source, round_, origin), n in sorted(count.items()):
        if origin == "published" or (source, round_) not in stored:
            rows.append([(esc(labels.source(source)), source), (esc(round_), round_),
                         (esc(labels["kind_" + origin]), origin), (labels["na"], None), (labels["na"], None),
                         (labels.count(n), n)])
    head = [esc(labels[k]) for k in ("col_source", "col_round", "col_kind", "col_households", "col_persons",
                                     "col_estimates")]
    synthetic = any(r.synthetic for r in manifest.values()) or indicators["origin"].eq("synthetic").any()
    banner = f'<div class="banner synthetic" role="alert">{esc(labels["synthetic_banner"])}</div>' if synthetic else ""
    warning = f'<div class="banner stale" role="status">{esc(labels["stale_warning"])}</div>' if stale else ""
    legend = (f'<p class="legend-help">● {esc(labels.origin("microdata"))} · ■ {esc(labels.origin("synthetic"))} · '
              f'◇ {esc(labels.origin("published"))} · ○ {esc(" / ".join(labels.legend(f) for f in CAUTION))}'
              f' · ⟂ {esc(labels["hover_ci"])}</p>')
    return (f'{banner}{warning}<section id="overview"><h2>{esc(labels["overview"])}</h2>'
            f'<p>{esc(labels["overview_text"])}</p>{_table(head, rows, cls="overview sortable")}{legend}</section>')


MAX_NOTES = 4


def _caveat_pairs(comparisons: pl.DataFrame | list[dict] | None) -> list[dict]:
    """The comparisons a chart's caveats come from (across rounds, domain `all`, not comparable) as row dicts; a
    list is taken as already made, so that the report filters the comparison table once for all its charts."""
    if comparisons is None or isinstance(comparisons, list):
        return comparisons or []
    return comparisons.filter((pl.col("kind") == "across_rounds") & (pl.col("domain") == "all")
                              & ~pl.col("comparable").fill_null(False)).to_dicts()


def _notes(comparisons: pl.DataFrame | list[dict] | None, indicator_ids: list[str],
           labels: Labels) -> tuple[str, ...]:
    """Comparability caveats of the pairs drawn in one chart (domain `all`), one line per pair, at most
    `MAX_NOTES` lines and a pointer to the comparison table for the rest."""
    drawn = {i for i in indicator_ids if i is not None}
    notes = list(dict.fromkeys(
        f"{labels['not_comparable']}: {labels.source(r['source_a'])} {r['round_a']} – "
        f"{labels.source(r['source_b'])} {r['round_b']} ({(r['flags'] or '').replace(';', ', ')})"
        for r in _caveat_pairs(comparisons) if r["indicator_a"] in drawn and r["indicator_b"] in drawn
    ))
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES - 1], labels["more_caveats"].format(n=len(notes) - MAX_NOTES + 1)]
    return tuple(notes)


def row_figure(frame: pl.DataFrame, row: str, *, domain: str, labels: Labels, colours: dict[str, str],
               comparisons: pl.DataFrame | None = None) -> go.Figure:
    """The figure of one matrix row (`matrix.assign_rows`; `frame` may hold other rows) in one domain: across
    rounds and sources for domain `all`, with the comparability caveats of its pairs; one panel per value of
    another domain; the bars of a FIES raw-score distribution for `raw_score`. The report and `sv.figure` both
    draw through here (the report through `row_spec`, the same figure as Plotly JSON)."""
    return figures.figure(row_spec(frame, row, domain=domain, labels=labels, colours=colours,
                                   comparisons=comparisons))


def row_spec(frame: pl.DataFrame, row: str, *, domain: str, labels: Labels, colours: dict[str, str],
             comparisons: pl.DataFrame | None = None) -> dict:
    """`row_figure` as Plotly JSON."""
    rows = frame.filter(pl.col("row") == row)
    if domain != "raw_score":
        rows = rows.filter(pl.col("domain") == domain)
    return _row_spec(rows, row, domain=domain, labels=labels, colours=colours, comparisons=comparisons)


def _row_spec(rows: pl.DataFrame | list[dict], row: str, *, domain: str, labels: Labels, colours: dict[str, str],
              comparisons: pl.DataFrame | list[dict] | None = None) -> dict:
    """`row_spec` of the row's rows in the domain (all its rows for `raw_score`, as a frame), as a frame or as
    dicts (`figures.as_rows`)."""
    if domain == "raw_score":
        return figures.fies_distribution_spec(rows, labels=labels, colours=colours,
                                              title=f"{labels['fies_title']} · {labels[row]}")
    title = matrix.row_label(row, labels)
    rows = figures.as_rows(rows)
    if domain == "all":
        notes = _notes(comparisons, [r["indicator_id"] for r in rows], labels)
        return figures.rounds_spec(rows, labels=labels, title=title, colours=colours, notes=notes)
    return figures.domain_spec(rows, domain, labels=labels, title=title, colours=colours)


def row_domains(domains: Iterable[str]) -> list[str]:
    """The domains a row is broken down by (of `domains`, those of its rows), in the report's order."""
    return sorted({d for d in domains if d not in ("all", "raw_score")},
                  key=lambda d: (DOMAIN_ORDER.index(d) if d in DOMAIN_ORDER else len(DOMAIN_ORDER), d))


def fies_options(indicators: pl.DataFrame, labels: Labels, colours, registry) -> list[tuple[str, str]]:
    """The FIES figures shown with the prevalence rows: both prevalences side by side, the raw-score distributions."""
    options = []
    prevalence = indicators.filter(pl.col("chart").is_in(FIES_PREVALENCES) & (pl.col("domain") == "all"))
    if prevalence.height:
        names = {chart: labels[chart] for chart in FIES_PREVALENCES}
        options.append((registry.add(figures.fies_prevalence_spec(
            prevalence, labels=labels, title=labels["fies_prevalence_title"], names=names)),
            labels["fies_prevalence_title"]))
    for indicator_id in FIES_DISTRIBUTIONS:
        if indicators.filter(pl.col("row") == indicator_id).height:
            options.append((registry.add(row_spec(indicators, indicator_id, domain="raw_score", labels=labels,
                                                  colours=colours)), labels[indicator_id]))
    return options


def row_card(card_id: str, row: str, frame: pl.DataFrame | list[dict], comparisons, labels: Labels, colours,
             registry, *, extra: list[tuple[str, str]] = ()) -> str:
    """A matrix row's chart, hidden until the row is clicked: the figure across rounds and sources, and a choice of
    its breakdowns by domain (and `extra` figures, for FIES). `frame` holds the row's rows only (a frame, or its
    rows as dicts: `figures.as_rows`)."""
    by_domain: dict[str, list[dict]] = {}
    for record in figures.as_rows(frame):
        by_domain.setdefault(record["domain"], []).append(record)
    main_id = registry.add(_row_spec(by_domain.get("all", []), row, domain="all", labels=labels,
                                     colours=colours, comparisons=comparisons))
    options = [(main_id, labels["view_rounds"]),
               *[(registry.add(_row_spec(by_domain[domain], row, domain=domain, labels=labels, colours=colours)),
                  labels.domain(domain)) for domain in row_domains(by_domain)],
               *extra]
    select = ""
    if len(options) > 1:
        items = "".join(f'<option value="{fig_id}">{esc(text)}</option>' for fig_id, text in options)
        select = (f'<label>{esc(labels["choose_domain"])} <select class="domain-select" data-target="{card_id}-chart">'
                  f'{items}</select></label>')
    return (f'<article class="card row-card" id="{card_id}" hidden>{select}'
            f'{registry.div(main_id, element_id=f"{card_id}-chart")}</article>')


def published_definitions(path: Path = PUBLISHED_CSV) -> dict[str, str | None]:
    """What each published figure counts, as transcribed (English; None where blank), the first row of an id that
    has several: the tooltip of a context row. Read with the `csv` module: two columns of a small file, in about
    half the time a polars read takes."""
    definitions: dict[str, str | None] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            definitions.setdefault(row["indicator_id"], row["definition"] or None)
    return definitions


def _row_order(frame: pl.DataFrame, labels: Labels) -> list[tuple[str, str]]:
    """(theme, row) in the matrix's order: themes as THEMES then the rest, catalogue order, then context rows."""
    order = {indicator_id: i for i, indicator_id in enumerate(labels.catalogue_order)}
    themes = list(THEMES) + sorted(set(frame["theme"].drop_nulls()) - set(THEMES))
    pairs = frame.select("theme", "row").unique("row", keep="first", maintain_order=True).rows()
    return sorted(pairs, key=lambda p: (themes.index(p[0]) if p[0] in themes else len(themes),
                                        order.get(p[1], len(order)), p[1]))


def matrix_section(indicators: pl.DataFrame, comparisons, labels: Labels, colours, registry, tags: pl.DataFrame,
                   frames_dir: Path = CATALOGUE_DIR) -> str:
    """The matrix (`reports.matrix`) with a hidden chart card per row, opened by a click on the row."""
    frame = matrix.assign_rows(indicators, labels)
    cols = matrix.columns(frame, labels)
    lang = labels.lang
    names = {(f, c): label for f, c, label in load_policy_frames(frames_dir).labels.select(
        "frame", "code", f"label_{lang}").rows()}
    definitions = published_definitions()
    fies = fies_options(frame, labels, colours, registry)
    rows, cards = [], []
    # Each table read once for every row: the row's rows (as dicts, `figures.as_rows`), its cells, its tags, the
    # caveats of its pairs.
    by_row: dict[str, list[dict]] = {}
    for record in frame.to_dicts():
        by_row.setdefault(record["row"], []).append(record)
    cells = matrix.cells_by_row(frame, cols, labels)
    tag_index = matrix.tags_by_indicator(tags)
    caveats = _caveat_pairs(comparisons)
    for theme, key in _row_order(frame, labels):
        part = by_row[key]
        if key not in cells:
            continue  # the FIES raw-score distributions: shown with the prevalences
        card_id = f"card-{len(cards)}"
        label = matrix.row_label(key, labels)
        ids = list(dict.fromkeys(r["indicator_id"] for r in part))
        cards.append(row_card(card_id, key, part, caveats, labels, colours, registry,
                              extra=fies if key in FIES_PREVALENCES else ()))
        title = definitions.get(ids[0], "") if key.startswith(matrix.CONTEXT_PREFIX) else ""
        rows.append(matrix.MatrixRow(key, theme, label, card_id, cells[key], matrix.row_tags(tag_index, ids), title))
    themes = list(dict.fromkeys(r.theme for r in rows))
    return (f'<section id="matrix" class="wide"><h2>{esc(labels["matrix_title"])}</h2>'
            f'<p>{esc(labels["matrix_text"])}</p>{matrix.view_switch(labels)}{matrix.legend(labels)}'
            f'<div class="matrix-wrap">{matrix.matrix_table(rows, cols, themes, labels, names)}</div>'
            f'<div id="matrix-cards" hidden>{"".join(cards)}</div></section>')


def _concept_labels(labels: Labels) -> dict[str | None, str]:
    """concept -> the name of its first catalogue indicator (a comparison of a concept not in here is named after
    its compared indicator)."""
    names: dict[str | None, str] = {}
    for catalogued in labels.catalogue_order:
        names.setdefault(labels.concepts.get(catalogued), labels.indicator(catalogued))
    return names


def _side_text(r: dict, s: str, labels: Labels) -> str:
    """One side of a comparison: the round for comparisons across rounds, the domain value or the definition
    within a round, the origin for a reconciliation."""
    if r["kind"] == "within_round":
        if r["domain"] == "all":
            return labels.indicator(r[f"indicator_{s}"])
        return labels.domain_value(r["domain"], r[f"domain_value_{s}"])
    return f"{labels.source(r[f'source_{s}'])} {r[f'round_{s}']} ({labels.origin(r[f'origin_{s}'])})"


def comparison_section(comparisons: pl.DataFrame | None, indicators: pl.DataFrame, labels: Labels) -> str:
    """The comparison table, sortable by any column; numbers in the report's language."""
    title = f'<h2>{esc(labels["comparisons"])}</h2>'
    if comparisons is None:
        return f'<section id="comparisons">{title}<p>{esc(labels["comparisons_missing"])}</p></section>'
    units = dict(indicators.select("indicator_id", "unit").unique("indicator_id", keep="first").rows())
    keys = ("cmp_indicator", "cmp_domain", "cmp_a", "cmp_b", "cmp_estimate_a", "cmp_estimate_b", "cmp_difference",
            "cmp_se_difference", "cmp_p_adjusted", "cmp_comparable")
    concepts = _concept_labels(labels)
    rows = []
    for r in comparisons.iter_rows(named=True):
        unit = units.get(r["indicator_b"])
        side = [esc(_side_text(r, s, labels)) for s in ("a", "b")]
        domain = labels.domain(r["domain"])
        if r["kind"] == "across_rounds" and r["domain"] not in ("all", "coverage"):
            domain = f"{domain}: {labels.domain_value(r['domain'], r['domain_value_a'])}"
        caveats = "; ".join(x for x in ((r["flags"] or "").replace(";", ", "), r["reasons"]) if x)
        comparable = (esc(labels["yes"]) if r["comparable"] else
                      f'<strong>{esc(labels["no"])}</strong><br><small>{esc(caveats)}</small>')
        label = concepts[r["concept_id"]] if r["concept_id"] in concepts else labels.indicator(r["indicator_b"])
        kind = labels[f"kind_{r['kind']}"] + (f" · {labels['coverage_common']}" if r["coverage"] == "common" else "")
        if r["kind"] == "reconciliation":
            p_text = f'{labels["cmp_inside"]}: {labels["yes"] if r["inside"] else labels["no"]}'
            p_cell = (esc(p_text), 1.0 if r["inside"] else 0.0)
        else:
            p_raw = f'{labels["cmp_p_value"]}: {labels.p_value(r["p_value"])}'
            p_cell = (f'<span title="{esc(p_raw)}">{labels.p_value(r["p_adjusted"])}</span> '
                      f'<small>{esc(r["adjust_method"] or "")}</small>', r["p_adjusted"])
        rows.append([
            (f"{esc(label)}<br><small>{esc(kind)}</small>", label), (esc(domain), domain),
            (side[0], side[0]), (side[1], side[1]),
            (labels.estimate(r["estimate_a"], unit), r["estimate_a"]),
            (labels.estimate(r["estimate_b"], unit), r["estimate_b"]),
            (labels.difference(r["difference"], unit), r["difference"]),
            (labels.difference(r["se_difference"], unit).lstrip("+"), r["se_difference"]),
            p_cell,
            (comparable, labels["yes"] if r["comparable"] else labels["no"]),
        ])
    table = _table([esc(labels[k]) for k in keys], rows, cls="comparisons sortable")
    return (f'<section id="comparisons">{title}<p>{esc(labels["comparisons_text"])}</p>'
            f'<div class="table-wrap">{table}</div></section>')


