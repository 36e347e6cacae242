"""Plotly figures of the indicator table: one frame in, one `go.Figure` out. Nothing here estimates.

Each chart is built as its plain Plotly JSON (``*_spec``: a dict of ``data`` and ``layout``), which the report
embeds as it is; the ``*_figure`` functions wrap the same spec in a `go.Figure`, which validates every property.
Building `go.Figure` objects was nearly all of the report's time (Plotly validates each property as it is set,
and `make_subplots` plus `update_layout` set them many times over): a few hundred figures took tens of seconds.
`tests/reports/test_figures.py` checks that each spec is exactly what Plotly serialises for its figure.

Conventions shared by every chart:

- proportions (stored 0-1) are drawn as percentages; error bars are the row's confidence interval;
- sources are told apart by colour, origins by marker symbol (circle microdata, square synthetic, open diamond
  published, named "publicado"/"published" in the legend);
- rows flagged `high_cv` or `small_n` (thresholds in `surveys/indicators/parameters.yaml`) are drawn with the open variant of their symbol, in a legend entry that says why;
  rows flagged `empty` are not drawn;
- every text taken from data (labels, sources, domain values, citations) is HTML-escaped, because Plotly renders a
  subset of HTML in titles, legends and hover labels.
"""

from __future__ import annotations

import copy
import html
import json
import math
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import plotly.io as pio
import polars as pl

from pipelines.estimation.flags import CAUTION, EMPTY, OK
from reports.labels import Labels, is_proportion

if TYPE_CHECKING:
    import plotly.graph_objects as go

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
ORIGIN_SYMBOLS = {"microdata": "circle", "synthetic": "square", "published": "diamond-open"}
BAR_PATTERNS = {"microdata": "", "synthetic": "/", "published": "x"}
HEIGHT = 340
PANEL_HEIGHT = 210
PANELS_PER_ROW = 4
NOTE_HEIGHT = 18
_AXIS = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8", "ticks": "",
         "title": {"standoff": 12}, "automargin": True}
# A lean white template: plotly_white carries defaults for every trace type, and copying it into each of a few
# hundred figures costs seconds.
TEMPLATE = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white", "colorway": list(PALETTE),
                       "font": {"color": "#2a3f5f"}, "xaxis": _AXIS, "yaxis": _AXIS,
                       "hoverlabel": {"align": "left"}}}


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def source_colours(sources) -> dict[str, str]:
    """A fixed colour per source, by sorted name, so a source looks the same in every chart."""
    return {source: PALETTE[i % len(PALETTE)] for i, source in enumerate(sorted(set(sources)))}


def drawable(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows that have something to draw: `empty` rows and missing estimates are left out."""
    return frame.filter(pl.col("estimate").is_not_null() & (pl.col("flag") != EMPTY))


def as_rows(frame: pl.DataFrame | list[dict]) -> list[dict]:
    """The rows of `frame` as dicts; a list is taken as already made. The report turns the indicator table into
    dicts once and hands each chart its few rows: a few hundred small polars queries (filters, partitions) cost
    several times what grouping plain dicts does."""
    return frame if isinstance(frame, list) else frame.to_dicts()


def _drawable_rows(frame: pl.DataFrame | list[dict]) -> list[dict]:
    """`drawable` as a list of row dicts (a figure's few rows: plain Python is cheaper than a polars query)."""
    return [r for r in as_rows(frame) if r["estimate"] is not None and r["flag"] != EMPTY]


def _by_period(row: dict) -> tuple:
    """Sort key of period, source, round, nulls first (as polars' sort)."""
    return tuple((row[k] is not None, row[k] or "") for k in ("period", "source", "round"))


def _scale(unit: str | None) -> float:
    return 100.0 if is_proportion(unit) else 1.0


def hover_text(row: dict, labels: Labels, title: str) -> str:
    """Estimate, CI, n, CV, flag and citation of one row, every data field escaped."""
    unit = row["unit"]
    where = f"{labels.source(row['source'])} {row['round']} ({labels.origin(row['origin'])})"
    lines = [f"<b>{esc(title)}</b>", f"{labels['hover_source']}: {esc(where)}"]
    if row["domain"] not in ("all", None):
        value = labels.domain_value(row["domain"], row["domain_value"])
        lines.append(f"{labels['hover_domain']}: {esc(labels.domain(row['domain']))} = {esc(value)}")
    lines.append(f"{labels['hover_estimate']}: {labels.estimate(row['estimate'], unit)}")
    if row["ci_low"] is not None and row["ci_high"] is not None:
        lines.append(f"{labels['hover_ci']}: {labels.estimate(row['ci_low'], unit)} – "
                     f"{labels.estimate(row['ci_high'], unit)}")
    lines.append(f"{labels['hover_n']}: {labels.count(row['n'])} · {labels['hover_cv']}: {labels.number(row['cv'], 2)}")
    lines.append(f"{labels['hover_flag']}: {esc(labels.flag(row['flag']))}")
    lines.append(f"{labels['hover_citation']}: {esc(row['citation'])}")
    return "<br>".join(lines)


def _group(row: dict) -> tuple[str, str, str]:
    flag = row["flag"] if row["flag"] in CAUTION else OK
    return row["source"], row["origin"], flag


def _trace_name(group: tuple[str, str, str], labels: Labels) -> str:
    source, origin, flag = group
    name = f"{esc(labels.source(source))} · {labels.origin(origin)}"
    return name if flag == OK else f"{name} · {labels.legend(flag)}"


def marker(group: tuple[str, str, str], colours: dict[str, str]) -> dict:
    source, origin, flag = group
    symbol = ORIGIN_SYMBOLS.get(origin, "circle")
    if flag in CAUTION and not symbol.endswith("-open"):
        symbol += "-open"
    return {"symbol": symbol, "color": colours.get(source, PALETTE[0]), "size": 11,
            "line": {"width": 2, "color": colours.get(source, PALETTE[0])}}


def _error_bars(rows: list[dict], scale: float) -> dict:
    if all(r["ci_low"] is None or r["ci_high"] is None for r in rows):
        return {"visible": False}
    return {
        "type": "data", "symmetric": False, "thickness": 1.5, "width": 4,
        "array": [None if r["ci_high"] is None else (r["ci_high"] - r["estimate"]) * scale for r in rows],
        "arrayminus": [None if r["ci_low"] is None else (r["estimate"] - r["ci_low"]) * scale for r in rows],
    }


def estimate_traces(frame: pl.DataFrame | list[dict], labels: Labels, colours: dict[str, str], title: str, *,
                    shown: set | None = None) -> list[dict]:
    """One marker trace per source × origin × reliability, x = period, with CI error bars and hover text.

    `shown` collects legend groups already in the legend, so small multiples list each group once.
    """
    rows_by_group: dict[tuple, list[dict]] = {}
    for row in sorted(_drawable_rows(frame), key=_by_period):
        rows_by_group.setdefault(_group(row), []).append(row)
    traces = []
    for group, rows in sorted(rows_by_group.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] != OK)):
        scale = _scale(rows[0]["unit"])
        key = "|".join(group)
        traces.append({
            "type": "scatter", "x": [r["period"] or r["round"] for r in rows],
            "y": [r["estimate"] * scale for r in rows], "mode": "markers", "name": _trace_name(group, labels),
            "legendgroup": key, "showlegend": shown is None or key not in shown, "marker": marker(group, colours),
            "error_y": _error_bars(rows, scale), "hovertext": [hover_text(r, labels, title) for r in rows],
            "hoverinfo": "text", "meta": {"source": group[0], "origin": group[1], "flag": group[2]},
        })
        if shown is not None:
            shown.add(key)
    return traces


def _layout(labels: Labels, unit: str | None, *, height: int = HEIGHT) -> dict:
    proportion = is_proportion(unit)
    return {
        "template": TEMPLATE, "height": height, "separators": labels.plotly_separators,
        "margin": {"l": 56, "r": 16, "t": 48, "b": 40}, "scattermode": "group", "hovermode": "closest",
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0}, "showlegend": True,
        "hoverlabel": {"align": "left"}, "font": {"family": "system-ui, sans-serif", "size": 12},
        "yaxis": {"title": {"text": labels["axis_percent"] if proportion else esc(unit or labels["axis_value"])},
                  "rangemode": "tozero", "zeroline": False},
        "xaxis": {"type": "category", "categoryorder": "category ascending",
                  "title": {"text": labels["axis_round"]}},
    }


def figure(spec: dict) -> go.Figure:
    """A spec as a `go.Figure` (Plotly validates every property on the way)."""
    import plotly.graph_objects as go  # here: the report writes specs and never needs Plotly's figure classes

    return go.Figure(spec)


def rounds_figure(frame: pl.DataFrame, *, labels: Labels, title: str, colours: dict[str, str],
                  notes: tuple[str, ...] = ()) -> go.Figure:
    """One indicator (domain `all`) across rounds and sources; `notes` are comparability caveats shown below."""
    return figure(rounds_spec(frame, labels=labels, title=title, colours=colours, notes=notes))


def rounds_spec(frame: pl.DataFrame | list[dict], *, labels: Labels, title: str, colours: dict[str, str],
                notes: tuple[str, ...] = ()) -> dict:
    """`rounds_figure` as Plotly JSON (`frame` may also be its rows as dicts, `as_rows`)."""
    rows = as_rows(frame)
    unit = rows[0]["unit"] if rows else None
    layout = _layout(labels, unit)
    layout["title"] = {"text": esc(title), "x": 0, "y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 10},
                       "font": {"size": 14}}
    if notes:
        # Comparability caveats sit under the title, above the plot, one line each.
        layout["height"] = HEIGHT + NOTE_HEIGHT * len(notes)
        layout["margin"]["t"] += NOTE_HEIGHT * len(notes)
        layout["annotations"] = [
            {"text": "⚠ " + esc(note), "xref": "paper", "yref": "paper", "x": 0, "xanchor": "left", "y": 1,
             "yanchor": "bottom", "yshift": 4 + NOTE_HEIGHT * (len(notes) - 1 - i), "showarrow": False,
             "align": "left", "font": {"color": "#8a4b00", "size": 11}}
            for i, note in enumerate(notes)
        ]
    return {"data": estimate_traces(rows, labels, colours, title), "layout": layout}


def domain_figure(frame: pl.DataFrame, domain: str, *, labels: Labels, title: str,
                  colours: dict[str, str]) -> go.Figure:
    """Small multiples: one panel per value of `domain`, each the indicator across rounds and sources."""
    return figure(domain_spec(frame, domain, labels=labels, title=title, colours=colours))


def domain_spec(frame: pl.DataFrame | list[dict], domain: str, *, labels: Labels, title: str,
                colours: dict[str, str]) -> dict:
    """`domain_figure` as Plotly JSON (`frame` may also be its rows as dicts, `as_rows`): the panels' axes and
    titles are `make_subplots`'s for the grid."""
    records = as_rows(frame)
    panels: dict[str | None, list[dict]] = {}  # domain value -> its rows, values in order of appearance
    for record in records:
        panels.setdefault(record["domain_value"], []).append(record)
    cols = min(len(panels), PANELS_PER_ROW)
    rows = math.ceil(len(panels) / cols)
    layout = _grid(rows, cols, len(panels))
    shown: set = set()
    data = []
    for i, ((value, panel), annotation) in enumerate(zip(panels.items(), layout["annotations"])):
        traces = estimate_traces(panel, labels, colours, title, shown=shown)
        annotation["text"] = esc(labels.domain_value(domain, value)) + ("" if traces else f" ({labels['flag_empty']})")
        axis = "" if i == 0 else str(i + 1)  # panel i's axes, as make_subplots numbers them (row-major)
        data += [{**trace, "xaxis": f"x{axis}", "yaxis": f"y{axis}"} for trace in traces]
    unit = records[0]["unit"] if records else None
    common = _layout(labels, unit, height=PANEL_HEIGHT * rows + 120)
    y_title = common.pop("yaxis")["title"]
    common.pop("xaxis")
    common["title"] = {"text": f"{esc(title)} · {esc(labels.domain(domain))}", "x": 0, "font": {"size": 14}}
    plot_height = common["height"] - common["margin"]["t"] - common["margin"]["b"]
    common["legend"]["y"] = -36 / plot_height  # just under the bottom row's tick labels
    common["meta"] = {"domain": domain}
    common["template"] = _merged_template()
    for key, axis in layout.items():
        if key.startswith("xaxis"):
            axis.update(type="category", categoryorder="category ascending")
        elif key.startswith("yaxis"):
            axis["rangemode"] = "tozero"
    for row in range(rows):  # the first column's y axes carry the title
        layout["yaxis" + ("" if row == 0 else str(row * cols + 1))]["title"] = dict(y_title)
    layout.update(common)
    return {"data": data, "layout": layout}


GRID_SPACING = 0.03  # horizontal, between panels


def _grid_layout(rows: int, cols: int, panels: int) -> dict:
    """The layout `make_subplots(rows, cols, shared_yaxes=True, subplot_titles=["0", "1", ...],
    horizontal_spacing=GRID_SPACING, vertical_spacing=0.5 / rows or 0.1)` serialises, template aside: its axes
    and title annotations, computed as Plotly computes them (same operations in the same order, so the same floats)
    and with the keys in Plotly's order. Plotly itself is not used: importing `plotly.subplots` and validating a
    first figure take about half a second, a tenth of the report's time on the real rounds.
    `tests/reports/test_figures.py` checks it against `make_subplots` for every grid of up to 40 panels."""
    vertical = 0.5 / rows if rows > 1 else 0.1
    widths = [(1.0 - GRID_SPACING * (cols - 1)) / cols] * cols
    heights = [(1.0 - vertical * (rows - 1)) / rows] * rows
    layout: dict = {}
    domains: list[tuple[list[float], list[float]]] = []
    for r, from_bottom in enumerate(reversed(range(rows))):  # the first row is at the top
        y_start = sum(heights[:from_bottom]) + from_bottom * vertical
        for c in range(cols):
            x_start = sum(widths[:c]) + c * GRID_SPACING
            x = [x_start, x_start + widths[c]]
            y = [_unit_clamp(y_start), _unit_clamp(y_start + heights[-1 - r])]
            n = len(domains) + 1
            suffix = "" if n == 1 else str(n)
            layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": x}
            layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": y}
            if c > 0:  # shared_yaxes: each row's y axes match its first one and hide their tick labels
                first = len(domains) - c + 1
                layout[f"yaxis{suffix}"].update(matches="y" if first == 1 else f"y{first}", showticklabels=False)
            domains.append((x, y))
    layout["annotations"] = [
        {"font": {"size": 16}, "showarrow": False, "text": str(i), "x": sum(x) / 2.0, "xanchor": "center",
         "xref": "paper", "y": y[1], "yanchor": "bottom", "yref": "paper"}
        for i, (x, y) in enumerate(domains[:panels])
    ]
    return layout


def _unit_clamp(value: float) -> float:
    """`make_subplots`' guard against rounding: a domain end within 0.01 outside [0, 1] is put on the edge."""
    return 0.0 if -0.01 < value < 0.0 else 1.0 if 1.0 < value < 1.01 else value


@cache
def _grid_json(rows: int, cols: int, panels: int) -> str:
    return json.dumps(_grid_layout(rows, cols, panels))


def _grid(rows: int, cols: int, panels: int) -> dict:
    """`make_subplots`'s layout (axes and title annotations) for a grid of `panels` panels, made once per grid."""
    return json.loads(_grid_json(rows, cols, panels))


@cache
def _merged_template() -> dict:
    """TEMPLATE merged into Plotly's default template: what a figure started empty (`go.Figure()`,
    `make_subplots`) and then given TEMPLATE by `update_layout` carries.

    One dict shared by every spec, as TEMPLATE is by the specs that carry it: the report keeps a single template
    for the page, and a fresh copy per figure (parsed from JSON) cost about 5 % of its build. Copy it before
    changing it."""
    return _merged(_default_template(), TEMPLATE)


def _default_template() -> dict:
    """Plotly's default template as a figure serialises it: its JSON file in Plotly's package data with `data`
    before `layout` (the order `go.layout.Template` sets them), read directly because `go.Figure()` would load
    Plotly's validators, a quarter of a second. A default that is not one of Plotly's files (set by the user) is
    taken from an empty figure."""
    name = pio.templates.default
    path = resources.files("plotly") / "package_data" / "templates" / f"{name}.json"
    if isinstance(name, str) and path.is_file():
        template = json.loads(path.read_text(encoding="utf-8"))
        return {key: template[key] for key in ("data", "layout") if key in template}
    import plotly.graph_objects as go  # here: only for a template that is not one of Plotly's files

    return json.loads(pio.to_json(go.Figure(), validate=False))["layout"]["template"]


def _merged(base: dict, update: dict) -> dict:
    """``base`` updated by ``update`` as Plotly's ``update_layout`` does: dicts merged key by key, the rest replaced."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def fies_distribution_figure(frame: pl.DataFrame, *, labels: Labels, title: str,
                             colours: dict[str, str]) -> go.Figure:
    """FIES raw-score distribution (domain `raw_score`, values "0".."8"): bars per source and round."""
    return figure(fies_distribution_spec(frame, labels=labels, title=title, colours=colours))


def fies_distribution_spec(frame: pl.DataFrame, *, labels: Labels, title: str, colours: dict[str, str]) -> dict:
    """`fies_distribution_figure` as Plotly JSON."""
    data = []
    frame = drawable(frame).with_columns(pl.col("domain_value").cast(pl.Int64, strict=False).alias("_score"))
    groups = frame.sort("period", "source", "round", "_score").group_by(["source", "round", "origin"],
                                                                         maintain_order=True)
    for i, ((source, round_, origin), part) in enumerate(groups):
        rows = part.to_dicts()
        data.append({
            "type": "bar", "x": [r["domain_value"] for r in rows], "y": [r["estimate"] * 100 for r in rows],
            "name": f"{esc(labels.source(source))} {esc(round_)} · {labels.origin(origin)}",
            "marker": {"color": PALETTE[i % len(PALETTE)], "pattern": {"shape": BAR_PATTERNS.get(origin, "")}},
            "error_y": _error_bars(rows, 100.0), "hovertext": [hover_text(r, labels, title) for r in rows],
            "hoverinfo": "text", "meta": {"source": source, "round": round_, "origin": origin},
        })
    layout = _layout(labels, "proportion")
    layout["title"] = {"text": esc(title), "x": 0, "font": {"size": 14}}
    layout["barmode"] = "group"
    layout["xaxis"] = {"type": "category", "categoryorder": "array", "categoryarray": [str(k) for k in range(9)],
                       "title": {"text": labels["domain_raw_score"]}}
    layout["yaxis"]["title"]["text"] = labels["fies_share"]
    layout["template"] = _merged_template()
    return {"data": data, "layout": layout}


def fies_prevalence_figure(frame: pl.DataFrame, *, labels: Labels, title: str, names: dict[str, str]) -> go.Figure:
    """Moderate-or-severe and severe prevalences side by side per source and round; `names` maps a row's
    chart id (column `chart`) to its series name. Published bars are cross-hatched, imprecise ones dotted."""
    return figure(fies_prevalence_spec(frame, labels=labels, title=title, names=names))


def fies_prevalence_spec(frame: pl.DataFrame, *, labels: Labels, title: str, names: dict[str, str]) -> dict:
    """`fies_prevalence_figure` as Plotly JSON."""
    data = []
    frame = drawable(frame).sort("period", "source", "round").with_columns(
        (pl.col("origin") == "published").alias("_published"))
    charts = frame["chart"].unique(maintain_order=True).to_list()
    for (chart, published), part in frame.group_by("chart", "_published", maintain_order=True):
        rows = part.to_dicts()
        name = names.get(chart, chart)
        data.append({
            "type": "bar",
            "x": [esc(f"{labels.source(r['source'])} {r['round']} ({labels.origin(r['origin'])})") for r in rows],
            "y": [r["estimate"] * 100 for r in rows], "offsetgroup": chart, "legendgroup": chart,
            "name": esc(name) + (f" · {labels.origin('published')}" if published else ""),
            "marker": {"color": ("#D55E00", "#7f1d1d")[charts.index(chart) % 2],
                       "pattern": {"shape": ["x" if published else "." if r["flag"] in CAUTION else ""
                                             for r in rows]}},
            "error_y": _error_bars(rows, 100.0), "hovertext": [hover_text(r, labels, name) for r in rows],
            "hoverinfo": "text", "meta": {"chart": chart, "published": published},
        })
    layout = _layout(labels, "proportion")
    layout["title"] = {"text": esc(title), "x": 0, "font": {"size": 14}}
    layout["barmode"] = "group"
    layout["xaxis"] = {"type": "category", "title": {"text": labels["axis_round"]}}
    layout["template"] = _merged_template()
    return {"data": data, "layout": layout}


SIGNIFICANCE = 0.05
ROW_HEIGHT = 26
SIDE_COLOURS = ("#0072B2", "#E69F00")
NOT_COMPARABLE = "#A6461F"


def _significant(row: dict) -> bool:
    return bool(row["testable"]) and row["p_adjusted"] is not None and row["p_adjusted"] < SIGNIFICANCE


def contrast_hover(row: dict, labels: Labels, unit: str | None, side_names: tuple[str, str]) -> str:
    """Both sides, the difference with its CI, raw and adjusted p-values, and the comparability reasons."""
    lines = [f"<b>{esc(row['label'])}</b>"]
    for s, name in zip(("a", "b"), side_names):
        estimate = labels.estimate(row[f"estimate_{s}"], unit)
        ci = ("" if row[f"ci_low_{s}"] is None else
              f" ({labels.estimate(row[f'ci_low_{s}'], unit)} – {labels.estimate(row[f'ci_high_{s}'], unit)})")
        lines.append(f"{esc(row.get(f'side_{s}') or name)}: {estimate}{ci}")
    ci = ("" if row["ci_low"] is None else
          f" ({labels['hover_ci']}: {labels.difference(row['ci_low'], unit)} – {labels.difference(row['ci_high'], unit)})")
    lines.append(f"{labels['cmp_difference']}: {labels.difference(row['difference'], unit)}{ci}")
    if row["testable"]:
        lines.append(f"{labels['cmp_p_value']}: {labels.p_value(row['p_value'])} · {labels['cmp_p_adjusted']}: "
                     f"{labels.p_value(row['p_adjusted'])} ({esc(row['adjust_method'] or '')})")
    lines.append(f"{labels['cmp_comparable']}: {labels['yes'] if row['comparable'] else labels['no']}")
    if row["reasons"]:
        lines.append(esc(row["reasons"]))
    return "<br>".join(lines)


def _dumbbell(rows: list[dict], scale: float, side_names: tuple[str, str], labels: Labels, unit, hovers) -> list:
    """Left panel: a grey segment joins the two sides; each side a dot with its CI, hollow when flagged."""
    link_x, link_y = [], []
    for r in rows:
        if r["estimate_a"] is not None and r["estimate_b"] is not None:
            link_x += [r["estimate_a"] * scale, r["estimate_b"] * scale, None]
            link_y += [r["_y"], r["_y"], None]
    traces = [{"type": "scatter", "x": link_x, "y": link_y, "mode": "lines", "line": {"color": "#bcccdc", "width": 3},
               "hoverinfo": "skip", "showlegend": False, "xaxis": "x", "yaxis": "y"}]
    for i, (s, name) in enumerate(zip(("a", "b"), side_names)):
        kept = [r for r in rows if r[f"estimate_{s}"] is not None]
        symbols = ["circle-open" if r.get(f"flag_{s}") in CAUTION else "circle" for r in kept]
        traces.append({
            "type": "scatter", "x": [r[f"estimate_{s}"] * scale for r in kept], "y": [r["_y"] for r in kept],
            "mode": "markers", "name": esc(name),
            "marker": {"color": SIDE_COLOURS[i], "size": 10, "symbol": symbols,
                       "line": {"width": 2, "color": SIDE_COLOURS[i]}},
            "error_x": {"type": "data", "symmetric": False, "thickness": 1.5, "width": 3, "color": SIDE_COLOURS[i],
                        "array": [None if r[f"ci_high_{s}"] is None else
                                  (r[f"ci_high_{s}"] - r[f"estimate_{s}"]) * scale for r in kept],
                        "arrayminus": [None if r[f"ci_low_{s}"] is None else
                                       (r[f"estimate_{s}"] - r[f"ci_low_{s}"]) * scale for r in kept]},
            "hovertext": [hovers[id(r)] for r in kept], "hoverinfo": "text", "meta": {"side": s},
            "xaxis": "x", "yaxis": "y",
        })
    return traces


def _differences(rows: list[dict], scale: float, labels: Labels, hovers) -> list:
    """Right panel: the difference and its CI, filled when significant after adjustment, brown when the two
    sides are not comparable; one legend entry per kind."""
    groups: dict[tuple[bool, bool], list[dict]] = {}
    for r in rows:
        if r["difference"] is not None:
            groups.setdefault((_significant(r), bool(r["comparable"])), []).append(r)
    traces = []
    for (significant, comparable), part in sorted(groups.items(), key=lambda kv: (not kv[0][0], not kv[0][1])):
        colour = "#1f2933" if comparable else NOT_COMPARABLE
        name = labels["significant" if significant else "not_significant"]
        if not comparable:
            name += f" · {labels['not_comparable'].lower()}"
        traces.append({
            "type": "scatter", "x": [r["difference"] * scale for r in part], "y": [r["_y"] for r in part],
            "mode": "markers", "name": name,
            "marker": {"color": colour, "size": 10, "symbol": "diamond" if significant else "diamond-open",
                       "line": {"width": 2, "color": colour}},
            "error_x": {"type": "data", "symmetric": False, "thickness": 1.5, "width": 3, "color": colour,
                        "array": [None if r["ci_high"] is None else (r["ci_high"] - r["difference"]) * scale
                                  for r in part],
                        "arrayminus": [None if r["ci_low"] is None else (r["difference"] - r["ci_low"]) * scale
                                       for r in part]},
            "hovertext": [hovers[id(r)] for r in part], "hoverinfo": "text", "xaxis": "x2", "yaxis": "y2",
            "meta": {"significant": significant, "comparable": comparable},
        })
    return traces


def contrast_figure(frame: pl.DataFrame, *, labels: Labels, title: str, side_names: tuple[str, str],
                    unit: str | None = None) -> go.Figure:
    """`contrast_spec` as a `go.Figure`."""
    return figure(contrast_spec(frame, labels=labels, title=title, side_names=side_names, unit=unit))


def contrast_spec(frame: pl.DataFrame | list[dict], *, labels: Labels, title: str, side_names: tuple[str, str],
                  unit: str | None = None) -> dict:
    """Two estimates per row and their difference, for comparisons (`pipelines.indicators.tables.COMPARISONS` rows plus a
    `label` column, and optionally `side_a`/`side_b` names and `flag_a`/`flag_b` reliability flags; a frame or its
    rows as dicts, `as_rows`).

    Left: side a and side b as dots with their 95 % CIs joined by a segment (a dumbbell); right: the difference
    b − a with its CI, a filled diamond when significant after the family's adjustment, open otherwise, brown when
    the sides are not comparable. One unit per figure: proportions in % and points, other units as they are."""
    rows = [{**r, "_y": esc(r["label"])} for r in as_rows(frame)]  # tick labels render a subset of HTML
    scale = _scale(unit)
    hovers = {id(r): contrast_hover(r, labels, unit, side_names) for r in rows}
    data = _dumbbell(rows, scale, side_names, labels, unit, hovers) + _differences(rows, scale, labels, hovers)
    names = list(dict.fromkeys(r["_y"] for r in rows))
    plot_height = ROW_HEIGHT * max(len(names), 2)
    margin = {"l": 16, "r": 16, "t": 40, "b": 110}
    proportion = is_proportion(unit)
    axis_y = {"type": "category", "categoryorder": "array", "categoryarray": names, "autorange": "reversed",
              "automargin": True, "gridcolor": "#EBF0F8"}
    layout = _layout(labels, unit, height=plot_height + margin["t"] + margin["b"])
    layout.update({
        "title": {"text": esc(title), "x": 0, "font": {"size": 14}},
        "margin": margin,
        "xaxis": {"domain": [0, 0.56], "title": {"text": labels["axis_percent"] if proportion else esc(unit or "")},
                  "zeroline": False, "rangemode": "tozero" if proportion else "normal"},
        "xaxis2": {"domain": [0.62, 1], "anchor": "y2", "zeroline": True, "zerolinecolor": "#52606d",
                   "zerolinewidth": 1, "title": {"text": labels["axis_points"] if proportion else esc(unit or "")}},
        "yaxis": axis_y, "yaxis2": {**axis_y, "anchor": "x2", "matches": "y", "showticklabels": False},
        # under the axis titles, whatever the number of rows
        "legend": {"orientation": "h", "yanchor": "top", "y": -62 / plot_height, "x": 0},
        "meta": {"rows": len(names)},
        "template": _merged_template(),
    })
    return {"data": data, "layout": layout}
