"""Compare: the same indicator concept across consecutive rounds of a source and across sources of one period.

Pairs (for every concept and domain value present on both sides):

- `consecutive_rounds`: rounds of one source next to each other in time (ENPOVE 2018 → 2022);
- `same_period_sources`: two sources whose periods overlap (ENPOVE 2022 and the Lima study 2022).

Covariance assumption: the two sides are independent samples (different rounds, or different producers), so
`se_difference = sqrt(se_a² + se_b²)` with covariance 0. This is wrong for panel waves and for two domains of one
round (those need the joint design, R's `svyby(covmat=TRUE)` + `svycontrast`); no such pair is formed here.
A published figure has no SE, so a difference involving one gets none, and no test (never a made-up SE).
The test is a two-sided z test; p-values are adjusted across the whole family of tests of one run (Holm by
default, Benjamini–Hochberg on request).

Comparability flags (a pair is `comparable` only when none is raised): `universe` (the sources' universe kinds
differ: population sample vs beneficiary list vs administrative records vs consulate visitors), `definition`
(definition variants differ: overcrowding per room vs per bedroom), `recall_period` (since arrival vs last 4 weeks,
or not stated), `non_probability` (either side is not a probability sample), `published` (either side is a
published figure without a standard error).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from pipelines.catalogue import Catalogue, load_catalogue
from pipelines.errors import ComparisonError, NotInStore
from pipelines.store import current_version, read_derived, waves_fingerprint, write_derived
from pipelines.tables import COMPARISONS

ADJUSTMENTS = ("holm", "bh")
REASONS = {
    "universe": "the two sources cover different populations ({a} vs {b})",
    "definition": "the definitions differ ({a} vs {b})",
    "recall_period": "the recall periods differ ({a} vs {b})",
    "non_probability": "at least one side is not a probability sample ({a} / {b})",
    "published": "at least one side is a published figure without a standard error",
}


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


def _pairs(rows: pl.DataFrame) -> list[tuple[str, dict, dict]]:
    """(kind, a, b) for one concept and domain value: consecutive rounds, then overlapping sources."""
    records = sorted(rows.iter_rows(named=True), key=lambda r: (period_years(r["period"]), r["source"]))
    pairs = []
    by_source: dict[str, list[dict]] = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)
    for series in by_source.values():
        pairs += [("consecutive_rounds", a, b) for a, b in itertools.pairwise(series)]
    for i, a in enumerate(records):
        for b in records[i + 1:]:
            (a0, a1), (b0, b1) = period_years(a["period"]), period_years(b["period"])
            if a["source"] != b["source"] and a0 <= b1 and b0 <= a1:
                pairs.append(("same_period_sources", a, b))
    return pairs


def _flags(a: dict, b: dict, sources: dict[str, dict]) -> list[tuple[str, str]]:
    sa, sb = sources.get(a["source"], {}), sources.get(b["source"], {})
    checks = [
        ("universe", sa.get("universe_kind"), sb.get("universe_kind")),
        ("definition", a["definition_variant"], b["definition_variant"]),
        ("recall_period", a["recall_period"], b["recall_period"]),
    ]
    flags = [(name, REASONS[name].format(a=x, b=y)) for name, x, y in checks if x != y or x == "not_stated"]
    if sa.get("sampling") != "probability" or sb.get("sampling") != "probability":
        flags.append(("non_probability", REASONS["non_probability"].format(a=sa.get("sampling"), b=sb.get("sampling"))))
    if a["se"] is None or b["se"] is None:
        flags.append(("published", REASONS["published"]))
    return flags


def _row(kind: str, a: dict, b: dict, sources: dict) -> dict:
    difference = b["estimate"] - a["estimate"]
    se = float(np.hypot(a["se"], b["se"])) if a["se"] is not None and b["se"] is not None else None
    z = difference / se if se else None
    flags = _flags(a, b, sources)
    return {
        "concept_id": a["concept_id"], "theme": a["theme"], "kind": kind, "domain": a["domain"],
        "domain_value": a["domain_value"],
        **{f"{k}_a": a[v] for k, v in (("indicator", "indicator_id"), ("source", "source"), ("round", "round"),
                                       ("origin", "origin"), ("estimate", "estimate"), ("se", "se"))},
        **{f"{k}_b": b[v] for k, v in (("indicator", "indicator_id"), ("source", "source"), ("round", "round"),
                                       ("origin", "origin"), ("estimate", "estimate"), ("se", "se"))},
        "difference": difference, "se_difference": se, "statistic": z,
        "p_value": float(2 * stats.norm.sf(abs(z))) if z is not None else None,
        "comparable": not flags, "flags": ";".join(f for f, _ in flags), "reasons": "; ".join(r for _, r in flags),
    }


def compare_rounds(indicators: pl.DataFrame, *, catalogue: Catalogue | None = None, adjust: str = "holm",
                   concept: str | None = None, theme: str | None = None) -> pl.DataFrame:
    """The comparison table (schema `pipelines.tables.COMPARISONS`) of an indicator table; see the module notes."""
    catalogue = catalogue or load_catalogue()
    sources = {r["source"]: r for r in catalogue.sources.iter_rows(named=True)}
    usable = indicators.filter(
        pl.col("estimate").is_not_null(), pl.col("flag") != "empty", pl.col("theme") != "context",
        (pl.col("unit") == "proportion") | (pl.col("statistic") == "mean"),
    )
    if concept:
        usable = usable.filter(pl.col("concept_id") == concept)
    if theme:
        usable = usable.filter(pl.col("theme") == theme)
    rows = []
    for _, group in usable.group_by(["concept_id", "domain", "domain_value"], maintain_order=True):
        rows += [_row(kind, a, b, sources) for kind, a, b in _pairs(group)]
    table = pl.DataFrame(rows, schema={k: v for k, v in COMPARISONS.items() if k not in ("p_adjusted", "adjust_method")})
    tested = table["p_value"].is_not_null()
    adjusted = np.full(table.height, np.nan)
    adjusted[tested.to_numpy()] = adjust_pvalues(table.filter(tested)["p_value"].to_numpy(), adjust)
    return table.with_columns(
        pl.Series("p_adjusted", adjusted).fill_nan(None), pl.lit(adjust).alias("adjust_method")
    ).select(list(COMPARISONS))


def run_compare(store: Path, *, indicator: str | None = None, theme: str | None = None,
                adjust: str = "holm") -> list[str]:
    """CLI job: compare the stored indicator table and store the comparisons beside it."""
    pinned = current_version(store)
    if pinned is None:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    table = compare_rounds(read_derived(pinned, "indicators"), adjust=adjust, concept=indicator, theme=theme)
    write_derived(store, {"comparisons": table}, built_from=waves_fingerprint(pinned))
    comparable = table["comparable"].sum()
    return [f"comparisons: {table.height} pairs stored ({comparable} like for like, "
            f"{table.height - comparable} flagged), p-values adjusted by {adjust}"]
