"""The self-contained HTML report: overview, one section per theme, FIES, and the comparison table.

`run_report` reads the store's derived tables, asks `reports.figures` for one `go.Figure` per chart, and writes ONE
HTML file: plotly.js is inlined once for the whole page, every figure's JSON sits in one `application/json` block
(template stored once), and a few lines of vanilla JS draw the charts, switch the small-multiples view and sort the
comparison table. Nothing in the page asks the network for anything, so it opens offline.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
import polars as pl
from plotly.utils import PlotlyJSONEncoder

from pipelines.store import current_version, derived_is_current, read_derived, read_manifest
from reports import figures
from reports.labels import Labels, load_labels

THEMES = ("health", "housing", "food_security", "violence", "employment")
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
    page = build_report(indicators, comparisons, read_manifest(store), labels, stale=stale)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        partial.write_text(page, encoding="utf-8")
        os.replace(partial, out)
    finally:  # a full disk or an `--out` that is a folder leaves no half-written page behind
        if partial.exists():
            partial.unlink()
    lines = [f"{labels['written']} {out} ({out.stat().st_size / 1e6:.1f} MB)"]
    if comparisons is None:
        lines.append(labels["comparisons_missing"])
    if stale:
        lines.append(labels["stale_warning"])
    return lines


def build_report(indicators: pl.DataFrame, comparisons: pl.DataFrame | None, manifest: dict, labels: Labels, *,
                 stale: bool = False) -> str:
    """The whole page as a string."""
    indicators = assign_charts(indicators, labels)
    colours = figures.source_colours(indicators["source"].to_list())
    registry = FigureRegistry()
    themes = list(THEMES) + sorted(set(indicators["theme"].drop_nulls()) - set(THEMES))
    sections = [theme_section(theme, indicators.filter(pl.col("theme") == theme), comparisons, labels, colours,
                              registry) if theme in THEMES else
                other_section(theme, indicators.filter(pl.col("theme") == theme), labels) for theme in themes]
    body = "\n".join([
        header(labels, themes),
        overview(indicators, manifest, labels, stale=stale),
        *sections,
        comparison_section(comparisons, indicators, labels),
        f'<footer>{esc(labels["footer"])}</footer>',
    ])
    parts = {
        "lang": labels["html_lang"], "title": esc(labels["title"]), "body": body,
        "plotlyjs": plotly.offline.get_plotlyjs(), "figures": registry.to_json(),
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], TEMPLATE.read_text(encoding="utf-8"))


class FigureRegistry:
    """Figures by id, serialised once; the shared Plotly template is stored a single time."""

    def __init__(self) -> None:
        self.figures: dict[str, dict] = {}
        self.template: dict | None = None

    def add(self, figure) -> str:
        spec = json.loads(pio.to_json(figure, validate=False))
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
        text = json.dumps({"template": self.template, "figures": self.figures}, cls=PlotlyJSONEncoder,
                          separators=(",", ":"), ensure_ascii=False)
        # Inside <script> no "<" may appear raw: "</script>" in a label would end the block.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


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


def _chart_order(frame: pl.DataFrame, labels: Labels) -> list[str]:
    order = {indicator_id: i for i, indicator_id in enumerate(labels.catalogue_order)}
    charts = frame["chart"].unique(maintain_order=True).to_list()
    return sorted(charts, key=lambda c: (order.get(c, len(order)), c))


def header(labels: Labels, themes: list[str]) -> str:
    links = [f'<a href="#overview">{esc(labels["overview"])}</a>']
    links += [f'<a href="#theme-{esc(t)}">{esc(labels.theme(t))}</a>' for t in themes]
    links.append(f'<a href="#comparisons">{esc(labels["comparisons"])}</a>')
    return (f'<header><h1>{esc(labels["title"])}</h1><p class="subtitle">{esc(labels["subtitle"])}</p>'
            f'<nav aria-label="{esc(labels["contents"])}">{" · ".join(links)}</nav></header>')


_NUM = ' class="num"'


def _numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(head: list[str], rows: list[list[tuple[str, object]]], *, cls: str = "") -> str:
    """`rows` cells are (escaped html, sort value); the sort value goes to `data-v` for the sorting script."""
    ths = "".join(f"<th scope=\"col\">{h}</th>" for h in head)
    trs = []
    for row in rows:
        tds = "".join(f'<td{_NUM if _numeric(v) else ""} data-v="{esc("" if v is None else v)}">{cell}</td>'
                      for cell, v in row)
        trs.append(f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><thead><tr>{ths}</tr></thead><tbody>{"".join(trs)}</tbody></table>'


def overview(indicators: pl.DataFrame, manifest: dict, labels: Labels, *, stale: bool) -> str:
    """Sources and rounds in the store, their sample sizes and origins; a plain warning when any is synthetic."""
    counts = indicators.group_by("source", "round", "origin").agg(pl.len().alias("figures"))
    count = {(s, r, o): n for s, r, o, n in counts.rows()}
    rows = []
    for wave in manifest.values():
        origin = "synthetic" if wave.synthetic else "microdata"
        kind = labels["kind_synthetic"] if wave.synthetic else labels["kind_microdata"]
        kind_html = f'<strong class="synthetic">{esc(kind)}</strong>' if wave.synthetic else esc(kind)
        rows.append([(esc(labels.source(wave.source)), wave.source), (esc(wave.round), wave.round), (kind_html, kind),
                     (labels.count(wave.rows.get("households")), wave.rows.get("households")),
                     (labels.count(wave.rows.get("persons")), wave.rows.get("persons")),
                     (labels.count(count.get((wave.source, wave.round, origin), 0)),
                      count.get((wave.source, wave.round, origin), 0))])
    stored = {(w.source, w.round) for w in manifest.values()}
    for (source, round_, origin), n in sorted(count.items()):
        if origin == "published" or (source, round_) not in stored:
            rows.append([(esc(labels.source(source)), source), (esc(round_), round_),
                         (esc(labels["kind_" + origin]), origin), (labels["na"], None), (labels["na"], None),
                         (labels.count(n), n)])
    head = [esc(labels[k]) for k in ("col_source", "col_round", "col_kind", "col_households", "col_persons",
                                     "col_estimates")]
    synthetic = any(w.synthetic for w in manifest.values()) or indicators["origin"].eq("synthetic").any()
    banner = f'<div class="banner synthetic" role="alert">{esc(labels["synthetic_banner"])}</div>' if synthetic else ""
    warning = f'<div class="banner stale" role="status">{esc(labels["stale_warning"])}</div>' if stale else ""
    legend = (f'<p class="legend-help">● {esc(labels.origin("microdata"))} · ■ {esc(labels.origin("synthetic"))} · '
              f'◇ {esc(labels.origin("published"))} · ○ {esc(labels.legend("high_cv"))} / {esc(labels.legend("small_n"))}'
              f' · ⟂ {esc(labels["hover_ci"])}</p>')
    return (f'{banner}{warning}<section id="overview"><h2>{esc(labels["overview"])}</h2>'
            f'<p>{esc(labels["overview_text"])}</p>{_table(head, rows, cls="overview sortable")}{legend}</section>')


MAX_NOTES = 4


def _notes(comparisons: pl.DataFrame | None, indicator_ids: list[str], labels: Labels) -> tuple[str, ...]:
    """Comparability caveats of the pairs drawn in one chart (domain `all`), one line per pair, at most
    `MAX_NOTES` lines and a pointer to the comparison table for the rest."""
    if comparisons is None:
        return ()
    pairs = comparisons.filter(pl.col("indicator_a").is_in(indicator_ids) & pl.col("indicator_b").is_in(indicator_ids)
                               & (pl.col("kind") == "across_rounds") & (pl.col("domain") == "all")
                               & ~pl.col("comparable").fill_null(False))
    notes = list(dict.fromkeys(
        f"{labels['not_comparable']}: {labels.source(r['source_a'])} {r['round_a']} – "
        f"{labels.source(r['source_b'])} {r['round_b']} ({(r['flags'] or '').replace(';', ', ')})"
        for r in pairs.iter_rows(named=True)
    ))
    if len(notes) > MAX_NOTES:
        notes = [*notes[:MAX_NOTES - 1], labels["more_caveats"].format(n=len(notes) - MAX_NOTES + 1)]
    return tuple(notes)


def chart_figure(frame: pl.DataFrame, chart: str, *, domain: str, labels: Labels, colours: dict[str, str],
                 comparisons: pl.DataFrame | None = None) -> go.Figure:
    """The figure of one chart (`assign_charts`) in one domain: across rounds and sources for domain `all`, with
    the comparability caveats of its pairs; one panel per value otherwise; the raw-score bars for a FIES
    distribution. The report and `sv.figure` both draw through here."""
    title = labels.indicator(chart)
    if chart in FIES_DISTRIBUTIONS:
        rows = frame.filter(pl.col("chart") == chart)
        return figures.fies_distribution_figure(rows, labels=labels, colours=colours,
                                                title=f"{labels['fies_title']} · {labels[chart]}")
    rows = frame.filter((pl.col("chart") == chart) & (pl.col("domain") == domain))
    if domain == "all":
        notes = _notes(comparisons, rows["indicator_id"].unique().to_list(), labels)
        return figures.rounds_figure(rows, labels=labels, title=title, colours=colours, notes=notes)
    return figures.domain_figure(rows, domain, labels=labels, title=title, colours=colours)


def chart_card(chart: str, frame: pl.DataFrame, comparisons, labels: Labels, colours, registry) -> str:
    main_id = registry.add(chart_figure(frame, chart, domain="all", labels=labels, colours=colours,
                                        comparisons=comparisons))
    domains = [d for d in frame["domain"].unique(maintain_order=True).to_list() if d not in ("all", "raw_score")]
    domains.sort(key=lambda d: (DOMAIN_ORDER.index(d) if d in DOMAIN_ORDER else len(DOMAIN_ORDER), d))
    card = [f'<article class="card" id="chart-{esc(chart)}">',
            registry.div(main_id)]
    if domains:
        ids = [registry.add(chart_figure(frame, chart, domain=domain, labels=labels, colours=colours))
               for domain in domains]
        options = "".join(f'<option value="{fig_id}">{esc(labels.domain(domain))}</option>'
                          for fig_id, domain in zip(ids, domains))
        target = f"{main_id}-domains"
        select = (f'<label>{esc(labels["choose_domain"])} <select class="domain-select" data-target="{target}">'
                  f'{options}</select></label>')
        card += [f'<details class="domains"><summary>{esc(labels["by_domain"])}</summary>', select,
                 registry.div(ids[0], element_id=target, cls="chart small-multiples"), "</details>"]
    card.append("</article>")
    return "\n".join(card)


def fies_block(frame: pl.DataFrame, labels: Labels, colours, registry) -> str:
    parts = []
    for indicator_id in FIES_DISTRIBUTIONS:
        if frame.filter(pl.col("chart") == indicator_id).height:
            fig_id = registry.add(chart_figure(frame, indicator_id, domain="raw_score", labels=labels,
                                               colours=colours))
            parts.append(registry.div(fig_id))
    prevalence = frame.filter(pl.col("chart").is_in(FIES_PREVALENCES) & (pl.col("domain") == "all"))
    if prevalence.height:
        names = {chart: labels[chart] for chart in FIES_PREVALENCES}
        fig_id = registry.add(figures.fies_prevalence_figure(prevalence, labels=labels,
                                                             title=labels["fies_prevalence_title"], names=names))
        parts.append(registry.div(fig_id))
    return f'<article class="card fies">{"".join(parts)}</article>' if parts else ""


def theme_section(theme: str, frame: pl.DataFrame, comparisons, labels: Labels, colours, registry) -> str:
    parts = [f'<section class="theme" id="theme-{esc(theme)}"><h2>{esc(labels.theme(theme))}</h2>']
    if theme == "food_security":
        parts.append(fies_block(frame, labels, colours, registry))
    charts = [c for c in _chart_order(frame, labels) if c not in FIES_DISTRIBUTIONS]
    for chart in charts:
        parts.append(chart_card(chart, frame.filter(pl.col("chart") == chart), comparisons, labels, colours,
                                registry))
    if frame.height == 0:
        parts.append(f'<p class="empty">{esc(labels["theme_empty"])}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def other_section(theme: str, frame: pl.DataFrame, labels: Labels) -> str:
    """A theme outside the five (context figures, mostly published): a sortable table, no charts."""
    head = [esc(labels[k]) for k in ("cmp_indicator", "col_source", "col_round", "cmp_domain", "hover_estimate",
                                     "hover_ci", "hover_n", "hover_flag", "hover_citation")]
    rows = []
    for r in frame.sort("chart", "source", "round", "domain", "domain_value").iter_rows(named=True):
        label = labels.indicator(r["chart"])
        domain = (labels.domain("all") if r["domain"] == "all" else
                  f"{labels.domain(r['domain'])}: {labels.domain_value(r['domain'], r['domain_value'])}")
        ci = ("" if r["ci_low"] is None or r["ci_high"] is None else
              f"{labels.estimate(r['ci_low'], r['unit'])} – {labels.estimate(r['ci_high'], r['unit'])}")
        rows.append([(esc(label), label), (esc(labels.source(r["source"])), r["source"]), (esc(r["round"]), r["round"]),
                     (esc(domain), domain), (labels.estimate(r["estimate"], r["unit"]), r["estimate"]),
                     (ci, r["ci_low"]), (labels.count(r["n"]) if r["n"] is not None else "", r["n"]),
                     (esc(labels.flag(r["flag"])), r["flag"]), (esc(r["citation"]), r["citation"])])
    return (f'<section class="theme other" id="theme-{esc(theme)}"><h2>{esc(labels.theme(theme))}</h2>'
            f'<p>{esc(labels["other_text"])}</p><div class="table-wrap">{_table(head, rows, cls="other sortable")}'
            f'</div></section>')


def _concept_label(concept: str, indicator_id: str, labels: Labels) -> str:
    """The name of the concept's first catalogue indicator, else of the compared indicator."""
    for catalogued in labels.catalogue_order:
        if labels.concepts.get(catalogued) == concept:
            return labels.indicator(catalogued)
    return labels.indicator(indicator_id)


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
        label = _concept_label(r["concept_id"], r["indicator_b"], labels)
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


