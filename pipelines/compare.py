"""Compare: three kinds of comparison in one table (`pipelines.indicators.tables.COMPARISONS`), each with its own
variance.

**across_rounds**: two independent samples, two rounds of one source (ENPOVE 2018 → 2022) or two sources whose
periods overlap. For every concept, domain and domain value, each (source, round) enters once: with its microdata
estimates when the round has any of the concept, else with its published figures (a published figure never sits
beside its own round's microdata here: that is a reconciliation). Rounds of one source are paired in period order;
different sources when their periods overlap. Within a pair, estimates of the same indicator are paired, and
estimates with no same-indicator partner pair with the other side's unpaired ones (their definitions are flagged).
Variance: the samples are independent, so the covariance is 0 and `se = sqrt(se_a² + se_b²)`. Reference
distribution: Student's t with Welch–Satterthwaite degrees of freedom built from the two design df
(`(v_a + v_b)² / (v_a²/df_a + v_b²/df_b)`), because each estimate's own interval uses t with its design df; with
ENPOVE's hundreds of PSUs per round it is within half a percent of the Normal. Coverage: rows of the domain
`coverage` = `common` (the cities every round of the source covered: Lima y Callao, Arequipa, Trujillo, Tumbes for
ENPOVE) are `common`; every other row is `as_fielded`.

**within_round**: one design, two domains (women vs men, Lima vs the rest, irregular vs regular status, each age
group vs the previous one) or two definition variants of one concept on the same units (overcrowding per room vs
per bedroom): the stored `contrasts` of the estimate stage (`SurveyDesign.contrast`, R `svyby(covmat = TRUE)` +
`svycontrast`), whose SE includes the covariance of the two sides; t with the design df of either side's cases.

**reconciliation**: a published figure (side a) beside the same round's microdata estimate of its concept in the
whole universe (side b; real microdata only, never a synthetic round): the estimate, its interval, and whether the
published figure lies `inside`; no test, a published figure has no SE. The reasons say what differs (definition, recall period, the published note).

**comparable** (same concept, universe, definition, recall period, sampling kind and geography; `flags` and
`reasons` say what differs) and **testable** (both SEs known) are separate questions. Difference = b − a: the later
round, the focal domain, the second variant, the microdata.

**Multiplicity**: a family is one kind of comparison in one run (`family`, `family_size`): Holm by default,
Benjamini–Hochberg on request, over the family's testable rows. The stored table always holds every comparison;
`--indicator` and `--theme` only select what is shown, so they never change a stored row or an adjusted p-value.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
from scipy import special

from pipelines.errors import ComparisonError, NotInStore
from pipelines.estimation.flags import EMPTY
from pipelines.indicators.catalogue import CONTEXT, Catalogue, load_catalogue
from pipelines.indicators.tables import COMPARISONS, KINDS
from pipelines.store import current_version, read_derived, rounds_fingerprint, write_derived

ADJUSTMENTS = ("holm", "bh")
LEVEL = 0.95
REASONS = {
    "universe": "the two sources cover different populations ({a} vs {b})",
    "definition": "the definitions differ ({a} vs {b})",
    "recall_period": "the recall periods differ ({a} vs {b})",
    "non_probability": "at least one side is not a probability sample ({a} / {b})",
    "geography": "the cities covered differ ({a} vs {b})",
    "note": "{a}",
}
SIDE = ("indicator_id", "source", "round", "origin", "domain_value", "estimate", "se", "ci_low", "ci_high", "n")


def period_years(period: str) -> tuple[int, int]:
    """`2018` -> (2018, 2018); `2017-2021` -> (2017, 2021)."""
    parts = [int(p) for p in period.split("-")]
    return parts[0], parts[-1]


def adjust_pvalues(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm (step-down, FWER) or Benjamini–Hochberg (step-up, FDR) adjusted p-values, as R's `p.adjust`."""
    if method not in ADJUSTMENTS:
        raise ComparisonError(f"adjustment {method!r} is not one of {ADJUSTMENTS}")
    p = np.asarray(p, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order]
    if method == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adjusted = np.minimum.accumulate(((m / np.arange(1, m + 1)) * ranked)[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def welch_df(se_a: float, df_a: float, se_b: float, df_b: float) -> float:
    """Welch–Satterthwaite degrees of freedom of the difference of two independent estimates."""
    va, vb = se_a ** 2, se_b ** 2
    if va + vb == 0:
        return min(df_a, df_b)
    return (va + vb) ** 2 / (va ** 2 / df_a + vb ** 2 / df_b)


def t_test(difference: float, se: float | None, df: float | None) -> dict:
    """Interval, t statistic and two-sided p-value of a difference; all null without an SE or df."""
    if se is None or df is None or not se > 0 or not df > 0:
        return {"ci_low": None, "ci_high": None, "statistic": None, "p_value": None}
    # scipy.stats.t.ppf and .sf are these two functions (loc 0, scale 1); scipy.stats takes ~1 s to import.
    q = float(special.stdtrit(df, 1 - (1 - LEVEL) / 2))
    t = difference / se
    return {"ci_low": difference - q * se, "ci_high": difference + q * se, "statistic": t,
            "p_value": float(2 * special.stdtr(df, -abs(t)))}


# ------------------------------------------------------------------ comparability

class Facts:
    """What comparability is judged on: each source's sampling and universe kind, each round's cities."""

    def __init__(self, indicators: pl.DataFrame, catalogue: Catalogue):
        self.sources = {r["source"]: r for r in catalogue.sources.iter_rows(named=True)}
        cities = indicators.filter((pl.col("domain") == "city") & (pl.col("origin") != "published"))
        self.cities = {(s, r): frozenset(g["domain_value"]) for (s, r), g in cities.group_by(["source", "round"])}
        notes = catalogue.published_concepts.filter(pl.col("note") != "")
        self.notes = {(r["source"], r["round"], r["indicator_id"]): r["note"] for r in notes.iter_rows(named=True)}

    def geography(self, row: dict, domain: str) -> str:
        if domain == "city":
            return row["domain_value"]
        if domain == "coverage":
            return "common coverage"
        cities = self.cities.get((row["source"], row["round"]))
        if cities is None:
            return self.sources.get(row["source"], {}).get("coverage") or "not stated"
        return ", ".join(sorted(cities))

    def flags(self, a: dict, b: dict, domain: str, *, geography: bool = True) -> list[tuple[str, str]]:
        sa, sb = self.sources.get(a["source"], {}), self.sources.get(b["source"], {})
        checks = [
            ("universe", sa.get("universe_kind"), sb.get("universe_kind")),
            ("definition", a["definition_variant"], b["definition_variant"]),
            ("recall_period", a["recall_period"], b["recall_period"]),
        ]
        flags = [(name, REASONS[name].format(a=x, b=y)) for name, x, y in checks if x != y or x == "not_stated"]
        if geography:
            ga, gb = self.geography(a, domain), self.geography(b, domain)
            if ga != gb:
                flags.append(("geography", REASONS["geography"].format(**_only(a, ga, b, gb))))
        if sa.get("sampling") != "probability" or sb.get("sampling") != "probability":
            flags.append(("non_probability",
                          REASONS["non_probability"].format(a=sa.get("sampling"), b=sb.get("sampling"))))
        for row in (a, b):
            note = self.notes.get((row["source"], row["round"], row["indicator_id"]))
            if note and row["origin"] == "published":
                flags.append(("note", REASONS["note"].format(a=note)))
        return flags


def _only(a: dict, ga: str, b: dict, gb: str) -> dict[str, str]:
    """Two city lists as what each covers that the other does not ("2018 only: Cusco"), else as they are."""
    ca, cb = set(ga.split(", ")), set(gb.split(", "))
    if len(ca) < 2 or len(cb) < 2:
        return {"a": ga, "b": gb}
    return {side: f"{row['round']} only: {', '.join(sorted(mine - other)) or 'none'}"
            for side, row, mine, other in (("a", a, ca, cb), ("b", b, cb, ca))}


def _verdict(flags: list[tuple[str, str]]) -> dict:
    # A note on a published figure explains it, it does not make it another concept: only real flags count.
    raised = [f for f in flags if f[0] != "note"]
    return {"comparable": not raised, "flags": ";".join(dict.fromkeys(f for f, _ in raised)),
            "reasons": "; ".join(r for _, r in flags)}


def _sides(a: dict, b: dict) -> dict:
    out = {}
    for side, row in (("a", a), ("b", b)):
        for name in SIDE:
            out[f"{'indicator' if name == 'indicator_id' else name}_{side}"] = row.get(name)
    return out


# ------------------------------------------------------------------ across rounds

def _entries(rows: list[dict]) -> list[list[dict]]:
    """One entry per (source, round) in period order: its microdata rows if it has any, else its published rows."""
    by_round: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        by_round.setdefault((row["source"], row["round"]), []).append(row)
    entries = []
    for same_round in by_round.values():
        estimated = [r for r in same_round if r["origin"] != "published"]
        entries.append(estimated or same_round)
    return sorted(entries, key=lambda e: (period_years(e[0]["period"]), e[0]["source"]))


def _entry_pairs(entries: list[list[dict]]) -> list[tuple[list[dict], list[dict]]]:
    pairs = []
    by_source: dict[str, list[list[dict]]] = {}
    for entry in entries:
        by_source.setdefault(entry[0]["source"], []).append(entry)
    for series in by_source.values():
        pairs += list(itertools.pairwise(series))
    for i, a in enumerate(entries):
        for b in entries[i + 1:]:
            (a0, a1), (b0, b1) = period_years(a[0]["period"]), period_years(b[0]["period"])
            if a[0]["source"] != b[0]["source"] and a0 <= b1 and b0 <= a1:
                pairs.append((a, b))
    return pairs


def _row_pairs(a: list[dict], b: list[dict]) -> list[tuple[dict, dict]]:
    """Same indicator with same indicator; the rows without a same-indicator partner with each other."""
    ids_a, ids_b = {r["indicator_id"] for r in a}, {r["indicator_id"] for r in b}
    return [(ra, rb) for ra in a for rb in b
            if ra["indicator_id"] == rb["indicator_id"]
            or (ra["indicator_id"] not in ids_b and rb["indicator_id"] not in ids_a)]


def _across_row(a: dict, b: dict, facts: Facts) -> dict:
    difference = b["estimate"] - a["estimate"]
    testable = a["se"] is not None and b["se"] is not None
    se = float(np.hypot(a["se"], b["se"])) if testable else None
    df = welch_df(a["se"], a["df"], b["se"], b["df"]) if testable and a["df"] and b["df"] else None
    return {
        "kind": "across_rounds", "concept_id": a["concept_id"], "theme": a["theme"],
        "coverage": "common" if a["domain"] == "coverage" else "as_fielded", "domain": a["domain"],
        **_sides(a, b), "difference": difference, "se_difference": se, "covariance": 0.0 if testable else None,
        "df": df, **t_test(difference, se, df), "testable": testable, "inside": None,
        **_verdict(facts.flags(a, b, a["domain"])),
    }


def across_rounds(usable: pl.DataFrame, facts: Facts) -> list[dict]:
    # Grouped in Python: a thousand-odd rows in hundreds of small groups, where a polars query per group costs more
    # than the whole pairing.
    groups: dict[tuple, list[dict]] = {}
    for row in usable.iter_rows(named=True):
        groups.setdefault((row["concept_id"], row["domain"], row["domain_value"]), []).append(row)
    rows = []
    for group in groups.values():
        for ea, eb in _entry_pairs(_entries(group)):
            rows += [_across_row(a, b, facts) for a, b in _row_pairs(ea, eb)]
    return rows


# ------------------------------------------------------------------ within a round

def within_round(contrasts: pl.DataFrame, indicators: pl.DataFrame, facts: Facts) -> list[dict]:
    """The stored contrasts, with each side's interval and definition from the indicator table."""
    keys = ["indicator_id", "source", "round", "domain", "domain_value"]
    estimated = indicators.filter(pl.col("origin") != "published")  # a published figure may share an indicator id
    sides = {tuple(r[k] for k in keys): r for r in estimated.iter_rows(named=True)}
    rows = []
    for c in contrasts.iter_rows(named=True):
        a = sides.get((c["indicator_a"], c["source"], c["round"], c["domain"], c["domain_value_a"]))
        b = sides.get((c["indicator_b"], c["source"], c["round"], c["domain"], c["domain_value_b"]))
        if a is None or b is None:
            raise ComparisonError(f"contrast {c['indicator_a']} / {c['indicator_b']} in {c['source']} {c['round']} "
                                  f"({c['domain']}: {c['domain_value_a']} / {c['domain_value_b']}) has no estimate "
                                  "in the indicator table; run `surveys indicators` again")
        flags = facts.flags(a, b, c["domain"], geography=False)
        if c["domain"] == "all":  # two definitions of one concept: the gap between them is what is measured
            flags = [(f, f"two definitions of one concept on the same units ({a['definition_variant']} vs "
                      f"{b['definition_variant']})" if f == "definition" else r) for f, r in flags]
        se = c["se_difference"]
        rows.append({
            "kind": "within_round", "concept_id": c["concept_id"], "theme": c["theme"], "coverage": "as_fielded",
            "domain": c["domain"], **_sides(a, b), "difference": c["difference"],
            "se_difference": se, "covariance": c["covariance"], "df": c["df"],
            # The engine's own interval and p-value (t with the design df), as the estimate stage stored them.
            "ci_low": c["ci_low"], "ci_high": c["ci_high"], "p_value": c["p_value"],
            "statistic": c["difference"] / se if se else None,
            "testable": se is not None, "inside": None, **_verdict(flags),
        })
    return rows


# ------------------------------------------------------------------ reconciliation

def reconciliation(indicators: pl.DataFrame, facts: Facts) -> list[dict]:
    """Each published figure beside its own round's microdata estimates of the concept (whole universe).

    Only real microdata: a synthetic round carries a real round's name, and a published figure beside a synthetic
    estimate would say nothing about either."""
    overall = indicators.filter((pl.col("domain") == "all") & (pl.col("domain_value") == "all")
                                & pl.col("estimate").is_not_null())
    published = overall.filter(pl.col("origin") == "published")
    estimated = overall.filter(pl.col("origin") == "microdata")
    pairs = published.join(estimated, on=["source", "round", "concept_id"], suffix="_b", maintain_order="left")
    rows = []
    for pair in pairs.iter_rows(named=True):  # the join keys are one column; every other column has its `_b` twin
        a = {c: pair[c] for c in published.columns}
        b = {c: pair.get(f"{c}_b", pair[c]) for c in published.columns}
        rows.append(_reconciled(a, b, facts))
    return rows


def _reconciled(a: dict, b: dict, facts: Facts) -> dict:
    inside = b["ci_low"] is not None and b["ci_low"] <= a["estimate"] <= b["ci_high"]
    flags = facts.flags(a, b, "all", geography=False)
    if not inside and not [f for f in flags if f[0] != "note"]:
        flags.append(("note", "outside the microdata interval although the stated definitions agree: the "
                              "published table's universe or threshold may differ from its stated one"))
    return {
        "kind": "reconciliation", "concept_id": a["concept_id"], "theme": a["theme"],
        "coverage": "as_fielded", "domain": "all", **_sides(a, b),
        "difference": b["estimate"] - a["estimate"], "se_difference": None, "covariance": None, "df": None,
        **t_test(0.0, None, None), "testable": False, "inside": inside, **_verdict(flags),
    }


# ------------------------------------------------------------------ the table

def _adjust(table: pl.DataFrame, method: str) -> pl.DataFrame:
    """p_adjusted within each kind's family of testable rows; family and family_size say which."""
    adjusted = np.full(table.height, np.nan)
    family = np.full(table.height, None, dtype=object)
    size = np.zeros(table.height, dtype=np.int64)
    for kind in table["kind"].unique(maintain_order=True):
        tested = ((table["kind"] == kind) & table["p_value"].is_not_null()).to_numpy()
        if tested.any():
            adjusted[tested] = adjust_pvalues(table["p_value"].to_numpy()[tested], method)
            family[tested] = kind
            size[tested] = tested.sum()
    return table.with_columns(
        pl.Series("p_adjusted", adjusted).fill_nan(None), pl.lit(method).alias("adjust_method"),
        pl.Series("family", family.tolist(), dtype=pl.String),
        pl.Series("family_size", [int(n) if f else None for f, n in zip(family, size, strict=True)], dtype=pl.Int64),
    )


def compare_rounds(indicators: pl.DataFrame, contrasts: pl.DataFrame | None = None, *,
                   catalogue: Catalogue | None = None, adjust: str = "holm") -> pl.DataFrame:
    """The comparison table (schema `pipelines.indicators.tables.COMPARISONS`) of an indicator table and its
    contrasts."""
    if adjust not in ADJUSTMENTS:
        raise ComparisonError(f"adjustment {adjust!r} is not one of {ADJUSTMENTS}")
    catalogue = catalogue or load_catalogue()
    facts = Facts(indicators, catalogue)
    usable = indicators.filter(
        pl.col("estimate").is_not_null(), pl.col("flag") != EMPTY, pl.col("theme") != CONTEXT,
    )
    rows = across_rounds(usable, facts) + reconciliation(usable, facts)
    if contrasts is not None:
        rows += within_round(contrasts, indicators, facts)
    columns = {k: v for k, v in COMPARISONS.items() if k not in ("p_adjusted", "adjust_method", "family", "family_size")}
    table = pl.DataFrame(rows, schema=columns)
    return _adjust(table, adjust).select(pl.col(k).cast(v) for k, v in COMPARISONS.items())


def select(table: pl.DataFrame, *, indicator: str | None = None, theme: str | None = None) -> pl.DataFrame:
    """The rows about `indicator` (either side, or its concept) and `theme`: what is shown, never what is stored."""
    if indicator:
        table = table.filter((pl.col("indicator_a") == indicator) | (pl.col("indicator_b") == indicator)
                             | (pl.col("concept_id") == indicator))
    if theme:
        table = table.filter(pl.col("theme") == theme)
    return table


def run_compare(store: Path, *, indicator: str | None = None, theme: str | None = None,
                adjust: str = "holm") -> list[str]:
    """CLI job: compare the stored indicators and contrasts, store every comparison, summarise the selected ones."""
    pinned = current_version(store)
    if pinned is None:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    try:
        contrasts = read_derived(pinned, "contrasts")
    except FileNotFoundError:
        contrasts = None  # a store whose indicators predate contrasts: compare what there is
    table = compare_rounds(read_derived(pinned, "indicators"), contrasts, adjust=adjust)
    write_derived(store, {"comparisons": table}, built_from=rounds_fingerprint(pinned))
    shown = select(table, indicator=indicator, theme=theme)
    lines = [f"comparisons: {table.height} stored, p-values adjusted by {adjust} within each kind"]
    if indicator or theme:
        lines.append(f"selected ({', '.join(f'{k} {v}' for k, v in (('indicator', indicator), ('theme', theme)) if v)}):"
                     f" {shown.height} of them")
    for kind in KINDS:
        rows = shown.filter(pl.col("kind") == kind)
        if kind == "reconciliation":
            detail = f"{rows['inside'].sum()} published figures inside the microdata interval"
        else:
            detail = (f"{rows['comparable'].sum()} like for like, {rows['testable'].sum()} tested, "
                      f"{(rows['p_adjusted'] < 0.05).sum()} significant after adjustment")
        lines.append(f"  {kind}: {rows.height} ({detail})")
    return lines
