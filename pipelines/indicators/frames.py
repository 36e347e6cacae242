"""Policy frames: the Global Compact for Migration (GCM) objectives, SDG targets and Migration Governance Indicators
(MGI) domain each indicator informs, as the seed documents frame Peru's reporting.

Two files of `surveys/indicators/` hold them, each fact once:

- `policy_frames.csv`: one row per indicator id (catalogue ids and the ids published figures were transcribed
  under): `gcm_objectives` and `sdg_targets` (`;`-separated codes), `mgi_domain`, and a `note` where a tag is a
  nearest fit rather than an exact match;
- `policy_frame_labels.csv`: every code's name in English and Spanish, and the document it comes from.

A published figure without a row of its own takes the tags of the catalogue indicators of its concept (the
multisector study's food-insecurity figure is SDG 2.1.2 because ENPOVE's is). `frame_tags` turns an indicator table
into the long table the report and the exports use (`pipelines.indicators.tables.POLICY_FRAMES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

from pipelines.errors import SpecError
from pipelines.indicators.catalogue import CATALOGUE_DIR, load_catalogue
from pipelines.indicators.tables import POLICY_FRAMES

FRAMES = ("gcm", "sdg", "mgi")
COLUMNS = {"gcm": "gcm_objectives", "sdg": "sdg_targets", "mgi": "mgi_domain"}


@dataclass(frozen=True)
class PolicyFrames:
    tags: pl.DataFrame    # indicator_id, frame, code: one row per tag, in the file's order
    labels: pl.DataFrame  # frame, code, label_en, label_es, reference
    notes: dict[str, str]  # indicator_id -> why a tag is a nearest fit


def _read(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False).fill_null("")


@cache
def load_policy_frames(folder: Path = CATALOGUE_DIR) -> PolicyFrames:
    """The policy frames of the catalogue in `folder`, every code checked against the labels file."""
    rows, labels = _read(folder / "policy_frames.csv"), _read(folder / "policy_frame_labels.csv")
    where = str(folder / "policy_frames.csv")
    duplicated = rows.filter(pl.col("indicator_id").is_duplicated())["indicator_id"].unique().to_list()
    if duplicated:
        raise SpecError(f"indicators listed twice: {sorted(duplicated)}", where=where)
    bad_frames = sorted(set(labels["frame"]) - set(FRAMES))
    if bad_frames:
        raise SpecError(f"frames {bad_frames} not in {FRAMES}", where=str(folder / "policy_frame_labels.csv"))
    tags = pl.concat([
        rows.select("indicator_id", pl.lit(frame).alias("frame"), pl.col(column).str.split(";").alias("code"))
        .explode("code").with_columns(pl.col("code").str.strip_chars()).filter(pl.col("code") != "")
        for frame, column in COLUMNS.items()
    ]).with_row_index("order").sort("indicator_id", "frame", "order").drop("order")
    unknown = tags.join(labels, on=["frame", "code"], how="anti")
    if unknown.height:
        raise SpecError(f"codes without a label in policy_frame_labels.csv: {unknown.rows()[:5]}", where=where)
    notes = {i: n for i, n in rows.select("indicator_id", "note").rows() if n}
    return PolicyFrames(tags=tags, labels=labels, notes=notes)


def frame_tags(indicators: pl.DataFrame, frames: PolicyFrames | None = None,
               catalogue_dir: Path = CATALOGUE_DIR) -> pl.DataFrame:
    """Every tag of every indicator id in `indicators` (schema `POLICY_FRAMES`): its own row of
    `policy_frames.csv`, else the rows of the catalogue indicators that share its concept (`tagged_as` says which)."""
    frames = frames or load_policy_frames(catalogue_dir)
    concepts = {i.indicator_id: i.concept_id for i in load_catalogue(catalogue_dir).indicators}
    ids = indicators.select("indicator_id", "concept_id").unique(maintain_order=True)
    own = set(frames.tags["indicator_id"])
    pairs = []
    for indicator_id, concept_id in ids.rows():
        if indicator_id in own:
            pairs.append((indicator_id, indicator_id))
        else:
            pairs += [(indicator_id, tagged) for tagged, concept in concepts.items()
                      if concept == concept_id and tagged in own]
    link = pl.DataFrame(pairs, schema=["indicator_id", "tagged_as"], orient="row").unique(maintain_order=True)
    tagged = (link.join(frames.tags.rename({"indicator_id": "tagged_as"}), on="tagged_as", how="inner")
              .unique(["indicator_id", "frame", "code"], keep="first", maintain_order=True)
              .join(frames.labels.select("frame", "code", "label_en", "label_es"), on=["frame", "code"], how="left"))
    return tagged.select(pl.col(c).cast(t) for c, t in POLICY_FRAMES.items()).sort("indicator_id", "frame",
                                                                                   maintain_order=True)
