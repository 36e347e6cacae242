"""The matrix: what each source says about each indicator, cell by cell, as the seed thesis's Tabla 26 does by hand.

Rows are indicators grouped by theme (or, in the GCM view, by Global Compact objective); columns are source-rounds,
grouped by the population the source is about (`sources.csv` `population`) and ordered by period inside a group
(ENPOVE 2018, Lima multisector 2019, 2021, the administrative profile 2017-2021, ...). A cell holds the figures of
the whole universe (domain `all`):

- an estimate from microdata (●) or synthetic microdata (■) with its 95 % CI, hollow (○ / □) when flagged
  `high_cv` or `small_n`, "sin casos" when nobody in the sample is in the universe;
- a published figure (◇), which has no CI; its citation is in the cell's tooltip;
- "No registra" / "Not recorded" where the source has no such figure.

A row is a catalogue indicator's chart (published figures of its concept join it: `report.assign_charts`). A
published figure of no catalogue concept is a context row keyed by its id without the source prefix, so one
question asked by several sources (`enpove_sex_women`, `multisector_lima_sex_women`) shares a row. A click on a row
opens its chart card (built by `report.py`) right below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from pipelines.estimation.flags import CAUTION, EMPTY
from reports.html import esc
from reports.labels import Labels, is_proportion

CONTEXT_PREFIX = "ctx-"
ESTIMATED = ("microdata", "synthetic")
SYMBOLS = {("microdata", False): "●", ("microdata", True): "○", ("synthetic", False): "■",
           ("synthetic", True): "□", ("published", False): "◇", ("published", True): "◇"}


@dataclass(frozen=True)
class Column:
    population: str
    source: str
    round: str
    period: str

    @property
    def key(self) -> str:
        return f"{self.source}|{self.round}"


def assign_rows(indicators: pl.DataFrame, labels: Labels) -> pl.DataFrame:
    """Column `row`: the matrix row of each indicator row (needs `chart`, from `report.assign_charts`)."""
    catalogue = set(labels.catalogue_order)

    def key(chart: str, source: str) -> str:
        if chart in catalogue:
            return chart
        return CONTEXT_PREFIX + (chart[len(source) + 1:] if chart.startswith(source + "_") else chart)

    pairs = indicators.select("chart", "source").unique()
    mapping = {(c, s): key(c, s) for c, s in pairs.rows()}
    rows = [mapping[(c, s)] for c, s in indicators.select("chart", "source").rows()]
    return indicators.with_columns(pl.Series("row", rows, dtype=pl.String))


def indicator_name(indicator_id: str, source: str, labels: Labels) -> str:
    """A catalogue indicator's label; a published id of no catalogue entry in words, without its source prefix."""
    if indicator_id in labels.indicators:
        return labels.indicator(indicator_id)
    stripped = indicator_id[len(source) + 1:] if indicator_id.startswith(source + "_") else indicator_id
    return row_label(CONTEXT_PREFIX + stripped, labels)


def row_label(row: str, labels: Labels) -> str:
    if row.startswith(CONTEXT_PREFIX):
        words = row[len(CONTEXT_PREFIX):].replace("_", " ")
        return words[:1].upper() + words[1:]
    return labels.indicator(row)


def _years(period: str) -> tuple[int, int]:
    years = [int(y) for y in re.findall(r"\d{4}", period or "")] or [0]
    return years[0], years[-1]


def columns(indicators: pl.DataFrame, labels: Labels) -> list[Column]:
    """Source-rounds, grouped by population (in `sources.csv` order), by period inside a group."""
    sources = list(labels.populations)
    population_order = list(dict.fromkeys(labels.populations.values()))
    found = indicators.select("source", "round", "period").unique(["source", "round"]).rows()
    cols = [Column(labels.populations.get(s, ""), s, r, p or r) for s, r, p in found]

    def order(c: Column):
        start, end = _years(c.period)
        group = population_order.index(c.population) if c.population in population_order else len(population_order)
        return group, end, -start, sources.index(c.source) if c.source in sources else len(sources), c.source, c.round

    return sorted(cols, key=order)


def _ci(row: dict, labels: Labels) -> str:
    if row["ci_low"] is None or row["ci_high"] is None:
        return ""
    scale = 100 if is_proportion(row["unit"]) else 1
    return f"{labels.number(row['ci_low'] * scale)}–{labels.number(row['ci_high'] * scale)}"


def _tooltip(row: dict, labels: Labels) -> str:
    """The cell's details: which indicator id, the estimate and CI, n, the flag, and a published figure's citation."""
    parts = [f"{labels.indicator(row['indicator_id'])} ({labels.origin(row['origin'])})"]
    if row["ci_low"] is not None and row["ci_high"] is not None:
        parts.append(f"{labels['hover_ci']}: {labels.estimate(row['ci_low'], row['unit'])} – "
                     f"{labels.estimate(row['ci_high'], row['unit'])}")
    if row["n"] is not None:
        parts.append(f"{labels['hover_n']}: {labels.count(row['n'])}")
    parts.append(f"{labels['hover_flag']}: {labels.flag(row['flag'])}")
    if row["origin"] == "published":
        parts.append(f"{labels['hover_citation']}: {row['citation']}")
    return "\n".join(parts)


def entry(row: dict, labels: Labels) -> str:
    """One figure in a cell: symbol, value, CI; the details in its tooltip."""
    flag = row["flag"]
    if flag == EMPTY or row["estimate"] is None:
        return f'<span class="v empty" title="{esc(_tooltip(row, labels))}">{esc(labels["flag_empty"])}</span>'
    hollow = flag in CAUTION
    symbol = SYMBOLS.get((row["origin"], hollow), "●")
    cls = f"v {row['origin']}{' hollow' if hollow else ''}"
    value = labels.estimate(row["estimate"], row["unit"])
    ci = _ci(row, labels)
    ci_html = f'<small class="ci">{esc(ci)}</small>' if ci else ""
    return (f'<span class="{cls}" title="{esc(_tooltip(row, labels))}"><b>{symbol}</b> {esc(value)}</span>'
            f'{ci_html}')


def cells(rows: pl.DataFrame, cols: list[Column], labels: Labels) -> str:
    """The row's cells, one per column: its figures of domain `all`, or "No registra"."""
    return next(iter(cells_by_row(rows, cols, labels).values()), _cells({}, cols, labels))


def cells_by_row(frame: pl.DataFrame, cols: list[Column], labels: Labels) -> dict[str, str]:
    """`cells` of every row of `frame` (column `row`) in one pass over the table."""
    overall = frame.filter(pl.col("domain") == "all").with_columns(
        (pl.col("origin").cast(pl.String) == "published").alias("_published"))
    by_row: dict[str, dict[str, list[dict]]] = {}
    for row in overall.sort("row", "_published", "indicator_id", maintain_order=True).iter_rows(named=True):
        by_row.setdefault(row["row"], {}).setdefault(f"{row['source']}|{row['round']}", []).append(row)
    return {key: _cells(by_column, cols, labels) for key, by_column in by_row.items()}


def _cells(by_column: dict[str, list[dict]], cols: list[Column], labels: Labels) -> str:
    out, none = [], esc(labels["not_recorded"])
    for col in cols:
        found = by_column.get(col.key)
        if found:
            out.append(f'<td class="cell">{"".join(entry(r, labels) for r in found)}</td>')
        else:
            out.append(f'<td class="cell none">{none}</td>')
    return "".join(out)


def _code_key(code: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.]", code)]


def tags_by_indicator(tags: pl.DataFrame) -> dict[str, set[tuple[str, str]]]:
    """indicator_id -> its (frame, code) tags, read once for every row."""
    index: dict[str, set[tuple[str, str]]] = {}
    for indicator_id, frame, code in tags.select("indicator_id", "frame", "code").rows():
        index.setdefault(indicator_id, set()).add((frame, code))
    return index


def row_tags(tags: pl.DataFrame | dict[str, set[tuple[str, str]]], indicator_ids: list[str]) -> dict[str, list[str]]:
    """frame -> codes of the row's indicators, in code order (`tags`: the tag table or `tags_by_indicator`)."""
    index = tags_by_indicator(tags) if isinstance(tags, pl.DataFrame) else tags
    found: dict[str, list[str]] = {}
    for frame, code in set().union(*(index.get(i, set()) for i in indicator_ids)):
        found.setdefault(frame, []).append(code)
    return {frame: sorted(codes, key=_code_key) for frame, codes in found.items()}


def tags_html(found: dict[str, list[str]], labels: Labels, names: dict[tuple[str, str], str]) -> str:
    parts = []
    for frame in ("gcm", "sdg", "mgi"):
        codes = found.get(frame, [])
        if codes:
            text = ", ".join(names.get((frame, c), c) if frame == "mgi" else c for c in codes)
            title = "; ".join(f"{c}: {names.get((frame, c), c)}" for c in codes)
            parts.append(f'<span class="tag {frame}" title="{esc(title)}">{esc(labels["frame_" + frame])} {esc(text)}</span>')
    return f'<small class="tags">{" ".join(parts)}</small>' if parts else ""


def _head(cols: list[Column], labels: Labels) -> str:
    """Three header rows: population, source, round."""
    def spans(key):
        groups: list[list] = []
        for col in cols:
            if groups and key(groups[-1][0]) == key(col):
                groups[-1].append(col)
            else:
                groups.append([col])
        return groups

    corner = f'<th scope="col" rowspan="3" class="label">{esc(labels["cmp_indicator"])}</th>'
    populations = "".join(
        f'<th scope="colgroup" colspan="{len(g)}" class="population">'
        f'{esc(labels.population(g[0].population))}</th>' for g in spans(lambda c: c.population))
    sources = "".join(f'<th scope="colgroup" colspan="{len(g)}">{esc(labels.source(g[0].source))}</th>'
                      for g in spans(lambda c: (c.population, c.source)))
    rounds = "".join(f'<th scope="col" data-col="{esc(c.key)}">{esc(c.round)}</th>' for c in cols)
    return f"<thead><tr>{corner}{populations}</tr><tr>{sources}</tr><tr>{rounds}</tr></thead>"


@dataclass(frozen=True)
class MatrixRow:
    key: str
    theme: str
    label: str
    card: str            # id of the row's chart card
    cells: str           # the <td>s, built once, used in both views
    tags: dict[str, list[str]]
    title: str           # tooltip of the label: the published definition of a context row


def _tr(row: MatrixRow, labels: Labels, names: dict) -> str:
    title = f' title="{esc(row.title)}"' if row.title else ""
    return (f'<tr class="mrow" data-row="{esc(row.key)}" data-card="{esc(row.card)}" tabindex="0" '
            f'aria-expanded="false"><th scope="row" class="label"{title}>{esc(row.label)}'
            f'{tags_html(row.tags, labels, names)}</th>{row.cells}</tr>')


def _group(group_id: str, title: str, body: list[str], width: int, view: str, hidden: bool,
           members: list[str] = ()) -> str:
    """A group of rows; a GCM group lists its rows' cards in `data-members` and the page script fills it with
    copies of the theme view's rows, so each row's cells are written once."""
    count = len(members) if members else len(body)
    listed = f' data-members="{esc(" ".join(members))}"' if members else ""
    return (f'<tbody id="{esc(group_id)}" class="group" data-view="{view}"{listed}{" hidden" if hidden else ""}>'
            f'<tr class="group-head"><th scope="rowgroup" colspan="{width}">{esc(title)} '
            f'<small>({count})</small></th></tr>{"".join(body)}</tbody>')


def theme_groups(rows: list[MatrixRow], themes: list[str], labels: Labels, names: dict, width: int) -> str:
    return "".join(_group(f"theme-{theme}", labels.theme(theme), [_tr(r, labels, names) for r in rows
                                                                  if r.theme == theme], width, "theme", False)
                   for theme in themes if any(r.theme == theme for r in rows))


def gcm_groups(rows: list[MatrixRow], labels: Labels, names: dict, width: int) -> str:
    """One group per GCM objective, in objective order; a row informing several sits in each; untagged rows last."""
    objectives = sorted({c for r in rows for c in r.tags.get("gcm", [])}, key=_code_key)
    groups = []
    for objective in objectives:
        members = [r.card for r in rows if objective in r.tags.get("gcm", [])]
        title = labels["gcm_objective"].format(n=objective, name=names.get(("gcm", objective), ""))
        groups.append(_group(f"gcm-{objective}", title, [], width, "gcm", True, members))
    untagged = [r.card for r in rows if not r.tags.get("gcm")]
    if untagged:
        groups.append(_group("gcm-none", labels["gcm_none"], [], width, "gcm", True, untagged))
    return "".join(groups)


def matrix_table(rows: list[MatrixRow], cols: list[Column], themes: list[str], labels: Labels,
                 names: dict[tuple[str, str], str]) -> str:
    width = len(cols) + 1
    return (f'<table class="matrix" data-columns="{len(cols)}">{_head(cols, labels)}'
            f'{theme_groups(rows, themes, labels, names, width)}{gcm_groups(rows, labels, names, width)}</table>')


def view_switch(labels: Labels) -> str:
    buttons = "".join(f'<button type="button" class="view-button" data-view="{view}" '
                      f'aria-pressed="{"true" if view == "theme" else "false"}">{esc(labels["view_" + view])}</button>'
                      for view in ("theme", "gcm"))
    return f'<div class="view-switch" role="group" aria-label="{esc(labels["view_switch"])}">{buttons}</div>'


def legend(labels: Labels) -> str:
    items = [("●", labels.origin("microdata")), ("■", labels.origin("synthetic")), ("◇", labels.origin("published")),
             ("○ □", " / ".join(labels.legend(f) for f in CAUTION))]
    text = " · ".join(f"<b>{s}</b> {esc(t)}" for s, t in items)
    return (f'<p class="legend-help">{text} · <small class="ci">a–b</small> {esc(labels["hover_ci"])} · '
            f'<span class="none-sample">{esc(labels["not_recorded"])}</span>: {esc(labels["not_recorded_help"])}</p>')
