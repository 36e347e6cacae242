"""Sections built from the comparisons table: change between rounds, gaps within a round, published vs microdata.

- **Change between rounds** (`across_rounds` rows of one source's estimated rounds, ENPOVE 2018 → 2022): for every
  concept both rounds measure, one view per coverage and domain (overall as fielded, overall on the cities both
  rounds covered, then by sex, age group, city, Lima vs the rest), each a dot-and-interval chart of the two rounds
  with the change and its CI beside them (`figures.contrast_figure`) and a table that gives the change, its CI,
  the adjusted p-value and the comparability reasons.
- **Gaps within a round** (`within_round` rows): women vs men, Lima vs the rest, irregular vs regular status, each
  age group vs the one before it and alternative definitions, per round, the contrast estimated on one design.
- **Published vs microdata** (`reconciliation` rows): the published figure, the same round's microdata estimate
  and CI, whether the figure lies inside it and why not.
"""

from __future__ import annotations

import polars as pl

from reports import figures
from reports.html import esc, panels, table, view_select
from reports.labels import Labels, is_proportion
from reports.matrix import indicator_name

DOMAIN_ORDER = ("sex", "age_group", "city", "lima", "lima_zone", "time_since_arrival", "migratory_status")
GAP_ORDER = ("sex", "lima", "migratory_status", "age_group", "all")
ESTIMATED = ("microdata", "synthetic")
FLAG_KEYS = ("indicator", "source", "round", "origin", "domain", "domain_value")


def _order(labels: Labels) -> dict[str, int]:
    return {indicator_id: i for i, indicator_id in enumerate(labels.catalogue_order)}


def _nulls_first(value) -> tuple:
    """Sort key of one value as polars sorts by default: nulls first."""
    return (value is not None, "" if value is None else value)


def _in_catalogue_order(rows: list[dict], labels: Labels) -> list[dict]:
    """A chart's rows in catalogue order of the compared indicator, then by indicator and domain value."""
    order = _order(labels)
    return sorted(rows, key=lambda r: (order.get(r["indicator_b"], len(order)), _nulls_first(r["indicator_b"]),
                                       _nulls_first(r["domain_value_a"])))


def _grouped(rows: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    """Rows by the values of `keys`, groups in order of first appearance, rows in order inside a group."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    return groups


def with_units_and_flags(comparisons: pl.DataFrame, indicators: pl.DataFrame) -> pl.DataFrame:
    """Each comparison row with its unit and the reliability flag of each side, looked up in `indicators`."""
    units = indicators.select(pl.col("indicator_id").alias("indicator_b"), "unit").unique("indicator_b")
    flags = indicators.select(pl.col("indicator_id").alias("indicator"), "source", "round",
                              pl.col("origin").cast(pl.String), "domain", "domain_value", "flag")
    frame = comparisons.join(units, on="indicator_b", how="left")
    for s in ("a", "b"):
        side = flags.rename({c: f"{c}_{s}" for c in ("indicator", "source", "round", "origin", "domain_value", "flag")})
        frame = frame.join(side, on=[f"indicator_{s}", f"source_{s}", f"round_{s}", f"origin_{s}", "domain",
                                     f"domain_value_{s}"], how="left")
    return frame


def comparison_table(frame: pl.DataFrame | list[dict], labels: Labels, side_names: tuple[str, str], *,
                     cls: str) -> str:
    """The rows of a chart (a frame, or its rows as dicts: `figures.as_rows`) in words: both sides with their CIs,
    the difference and its CI, the adjusted p-value, and whether the two sides are comparable, with the reasons
    when they are not."""
    head = [esc(labels[k]) for k in ("cmp_indicator",)] + [esc(n) for n in side_names] + [
        esc(labels[k]) for k in ("cmp_difference", "cmp_p_adjusted", "cmp_comparable")]
    records = figures.as_rows(frame)
    rows = []
    varying = bool(records) and all(f"side_{s}" in records[0] and len({r[f"side_{s}"] for r in records}) > 1
                                    for s in ("a", "b"))
    for r in records:
        unit = r["unit"]
        sides = []
        for s in ("a", "b"):
            ci = ("" if r[f"ci_low_{s}"] is None else
                  f'<br><small>{labels.estimate(r[f"ci_low_{s}"], unit)} – {labels.estimate(r[f"ci_high_{s}"], unit)}'
                  f'</small>')
            name = f'<small>{esc(r["side_" + s])}</small><br>' if varying else ""
            sides.append((f"{name}{labels.estimate(r[f'estimate_{s}'], unit)}{ci}", r[f"estimate_{s}"]))
        ci = ("" if r["ci_low"] is None else
              f'<br><small>{labels.difference(r["ci_low"], unit)} – {labels.difference(r["ci_high"], unit)}</small>')
        significant = figures._significant(r)
        difference = f'<strong>{labels.difference(r["difference"], unit)}</strong>' if significant else \
            labels.difference(r["difference"], unit)
        p = (labels.p_value(r["p_adjusted"]) + (" ✱" if significant else "")) if r["testable"] else labels["na"]
        caveats = "; ".join(x for x in (", ".join(labels.cmp_flag(f) for f in (r["flags"] or "").split(";") if f),
                                        r["reasons"]) if x)
        comparable = (esc(labels["yes"]) if r["comparable"] else
                      f'<strong>{esc(labels["no"])}</strong><br><small>{esc(caveats)}</small>')
        rows.append([(esc(r["label"]), r["label"]), *sides, (f"{difference}{ci}", r["difference"]),
                     (p, r["p_adjusted"]), (comparable, labels["yes"] if r["comparable"] else labels["no"])])
    return f'<div class="table-wrap short">{table(head, rows, cls=cls + " sortable")}</div>'


def contrast_panel(frame: pl.DataFrame | list[dict], labels: Labels, registry, *, title: str,
                   side_names: tuple[str, str], cls: str) -> str:
    """One view: a chart per unit (proportions, soles, ...) and the table of its rows (a frame, or its rows as
    dicts: `figures.as_rows`)."""
    records = figures.as_rows(frame)
    charts = []
    for (unit,), part in _grouped(records, "unit").items():
        unit_title = title if is_proportion(unit) else f"{title} ({labels.ui.get('unit_' + str(unit), unit)})"
        fig_id = registry.add(figures.contrast_spec(part, labels=labels, title=unit_title, side_names=side_names,
                                                      unit=unit))
        charts.append(registry.div(fig_id, cls="chart contrast"))
    return "".join(charts) + comparison_table(records, labels, side_names, cls=cls)


# --- change between rounds ----------------------------------------------------------------------------------------

def _change_views(rows: list[dict]) -> list[tuple[str, str]]:
    """(domain, coverage) views present: overall as fielded, overall on common coverage, then each domain."""
    present = {(r["domain"], r["coverage"]) for r in rows}
    views = [v for v in (("all", "as_fielded"), ("coverage", "common")) if v in present]
    domains = sorted({d for d, _ in present} - {"all", "coverage"},
                     key=lambda d: (DOMAIN_ORDER.index(d) if d in DOMAIN_ORDER else len(DOMAIN_ORDER), d))
    return views + [(d, "as_fielded") for d in domains]


def _view_name(domain: str, coverage: str, labels: Labels) -> str:
    if domain == "all":
        return f'{labels.domain("all")} · {labels["coverage_as_fielded"]}'
    if domain == "coverage":
        return f'{labels.domain("all")} · {labels["coverage_common"]}'
    return labels.domain(domain)


def _labelled(rows: list[dict], labels: Labels, *, by_value: bool) -> list[dict]:
    """A view's rows named by indicator (and domain value), in catalogue order."""
    named = [{**r, "label": labels.indicator(r["indicator_b"])
              + (f" · {labels.domain_value(r['domain'], r['domain_value_a'])}" if by_value else "")} for r in rows]
    return _in_catalogue_order(named, labels)


def round_pairs(comparisons: pl.DataFrame) -> pl.DataFrame:
    """Across-rounds rows of one source's two estimated rounds (not published figures)."""
    return comparisons.filter(
        (pl.col("kind") == "across_rounds") & (pl.col("source_a") == pl.col("source_b"))
        & pl.col("origin_a").is_in(ESTIMATED) & pl.col("origin_b").is_in(ESTIMATED))


def change_block(frame: pl.DataFrame | list[dict], labels: Labels, registry, index: int) -> str:
    """The change between two rounds of one source (`frame`: their comparisons with units and flags, as a frame or
    as dicts), one view per coverage and domain."""
    records = figures.as_rows(frame)
    source, round_a, round_b = (records[0][k] for k in ("source_a", "round_a", "round_b"))
    side_names = (f"{labels.source(source)} {round_a}", f"{labels.source(source)} {round_b}")
    heading = f"{labels.source(source)}: {round_a} → {round_b}"
    concepts = len({r["concept_id"] for r in records if r["domain"] == "all"})
    options, contents = [], []
    views = _grouped(records, "domain", "coverage")
    for domain, coverage in _change_views(records):
        part = _labelled(views.get((domain, coverage), []), labels, by_value=domain not in ("all", "coverage"))
        name = _view_name(domain, coverage, labels)
        panel_id = f"change-{index}-{domain}-{coverage}"
        options.append((panel_id, name))
        contents.append((panel_id, contrast_panel(part, labels, registry, title=f"{heading} · {name}",
                                                  side_names=side_names, cls="change")))
    container = f"change-{index}"
    text = labels["change_text"].format(n=concepts, a=round_a, b=round_b)
    return (f'<article class="card change-block" data-source="{esc(source)}"><h3>{esc(heading)}</h3>'
            f'<p>{esc(text)}</p>{view_select(labels["choose_view"], options, container)}'
            f'{panels(container, contents)}</article>')


def change_section(comparisons: pl.DataFrame | None, indicators: pl.DataFrame, labels: Labels, registry) -> str:
    title = f'<h2>{esc(labels["change_title"])}</h2>'
    pairs = round_pairs(comparisons) if comparisons is not None else None
    if pairs is None or pairs.height == 0:
        return f'<section id="change">{title}<p>{esc(labels["change_none"])}</p></section>'
    # The table as dicts once: each view is a handful of rows, cheaper grouped in Python than queried in polars.
    pairs = with_units_and_flags(pairs, indicators).to_dicts()
    blocks = [change_block(part, labels, registry, i) for i, part in
              enumerate(_grouped(pairs, "source_a", "round_a", "round_b").values())]
    return f'<section id="change">{title}{"".join(blocks)}</section>'


# --- gaps within a round ------------------------------------------------------------------------------------------

def _value_pairs(rows: list[dict]) -> set[tuple[str, str]]:
    """The (reference, focal) domain values a contrast's rows compare."""
    return {(r["domain_value_a"], r["domain_value_b"]) for r in rows}


def _gap_sides(domain: str, rows: list[dict], labels: Labels) -> tuple[str, str]:
    if domain == "all":
        return labels["gap_first_definition"], labels["gap_other_definition"]
    values = _value_pairs(rows)
    if len(values) == 1:
        a, b = next(iter(values))
        return labels.domain_value(domain, a), labels.domain_value(domain, b)
    return labels["gap_reference"], labels["gap_focal"]


def _gap_labelled(rows: list[dict], domain: str, labels: Labels) -> list[dict]:
    """A contrast's rows named by indicator (and the values compared, when they vary), with the names of their
    sides, in catalogue order."""
    multi = len(_value_pairs(rows)) > 1
    named = []
    for r in rows:
        a, b, va, vb = r["indicator_a"], r["indicator_b"], r["domain_value_a"], r["domain_value_b"]
        if domain == "all":
            label, sides = f"{labels.indicator(b)} − {labels.indicator(a)}", (labels.indicator(a), labels.indicator(b))
        else:
            label = labels.indicator(b) + (f" · {labels.domain_value(domain, vb)} − {labels.domain_value(domain, va)}"
                                           if multi else "")
            sides = (labels.domain_value(domain, va), labels.domain_value(domain, vb))
        named.append({**r, "label": label, "side_a": sides[0], "side_b": sides[1]})
    return _in_catalogue_order(named, labels)


def gap_section(comparisons: pl.DataFrame | None, indicators: pl.DataFrame, labels: Labels, registry) -> str:
    title = f'<h2>{esc(labels["gaps_title"])}</h2>'
    within = comparisons.filter(pl.col("kind") == "within_round") if comparisons is not None else None
    if within is None or within.height == 0:
        return f'<section id="gaps">{title}<p>{esc(labels["gaps_none"])}</p></section>'
    # The table as dicts once: each contrast is a handful of rows, cheaper grouped in Python than queried in polars.
    by_round = _grouped(with_units_and_flags(within, indicators).to_dicts(), "source_a", "round_a")
    options, contents = [], []
    for source, round_ in sorted(by_round, key=lambda key: tuple(_nulls_first(v) for v in key)):
        by_domain = _grouped(by_round[source, round_], "domain")
        domains = sorted((d for (d,) in by_domain),
                         key=lambda d: (GAP_ORDER.index(d) if d in GAP_ORDER else len(GAP_ORDER), d))
        for domain in domains:
            part = _gap_labelled(by_domain[(domain,)], domain, labels)
            name = f"{labels.source(source)} {round_} · {labels.contrast(domain)}"
            panel_id = f"gap-{source}-{round_}-{domain}"
            options.append((panel_id, name))
            contents.append((panel_id, contrast_panel(part, labels, registry, title=name,
                                                      side_names=_gap_sides(domain, part, labels), cls="gaps")))
    return (f'<section id="gaps">{title}<p>{esc(labels["gaps_text"])}</p><article class="card">'
            f'{view_select(labels["choose_view"], options, "gap-panels")}{panels("gap-panels", contents)}'
            f'</article></section>')


# --- published vs microdata ---------------------------------------------------------------------------------------

def reconciliation_section(comparisons: pl.DataFrame | None, indicators: pl.DataFrame, labels: Labels) -> str:
    title = f'<h2>{esc(labels["reconciliation_title"])}</h2>'
    rec = comparisons.filter(pl.col("kind") == "reconciliation") if comparisons is not None else None
    if rec is None or rec.height == 0:
        return f'<section id="reconciliation">{title}<p>{esc(labels["reconciliation_none"])}</p></section>'
    rec = with_units_and_flags(rec, indicators)
    head = [esc(labels[k]) for k in ("rec_published_as", "rec_microdata_as", "col_round", "rec_published",
                                     "rec_microdata", "cmp_inside", "rec_why")]
    rows = []
    for r in rec.sort("round_a", "indicator_a", "indicator_b").iter_rows(named=True):
        unit = r["unit"]
        ci = ("" if r["ci_low_b"] is None else
              f'<br><small>{labels.estimate(r["ci_low_b"], unit)} – {labels.estimate(r["ci_high_b"], unit)}</small>')
        inside = labels["yes"] if r["inside"] else labels["no"]
        flags = ", ".join(labels.cmp_flag(f) for f in (r["flags"] or "").split(";") if f)
        why = "; ".join(x for x in (flags, r["reasons"]) if x)
        published_as = indicator_name(r["indicator_a"], r["source_a"], labels)
        rows.append([
            (esc(published_as), published_as), (esc(labels.indicator(r["indicator_b"])), r["indicator_b"]),
            (esc(f"{labels.source(r['source_a'])} {r['round_a']}"), r["round_a"]),
            (f'<b>◇</b> {labels.estimate(r["estimate_a"], unit)}', r["estimate_a"]),
            (f'<b>●</b> {labels.estimate(r["estimate_b"], unit)}{ci}', r["estimate_b"]),
            (esc(inside) if r["inside"] else f"<strong>{esc(inside)}</strong>", 1.0 if r["inside"] else 0.0),
            (esc(why), why),
        ])
    return (f'<section id="reconciliation">{title}<p>{esc(labels["reconciliation_text"])}</p>'
            f'<div class="table-wrap">{table(head, rows, cls="reconciliation sortable")}</div></section>')
