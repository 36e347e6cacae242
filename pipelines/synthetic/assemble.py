"""Assemble INEI's module frames (bare codes as text, blanks null) in INEI's column order from `layout.csv`."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.specs import RoundSpec
from pipelines.synthetic.catalogue import Catalogue
from pipelines.synthetic.inei import crosswalk_columns

PERSON_MODULES = ("200", "300", "400", "500", "600", "700", "800")


def _layout_frame(frame: pl.DataFrame, filled: dict[str, np.ndarray], layout: tuple[str, ...],
                  multiple: frozenset[str]) -> pl.DataFrame:
    """Every layout column: filled ones, else the frame's, else 0 for multiple-response items, else blank."""
    given = pl.DataFrame([pl.Series(name, values.tolist(), dtype=pl.String) for name, values in filled.items()])
    columns = []
    for name in layout:
        if name in filled:
            columns.append(pl.col(f"_filled_{name}").alias(name))
        elif name in frame.columns:
            columns.append(pl.col(name).cast(pl.String))
        else:
            columns.append(pl.lit("0" if name in multiple else None, dtype=pl.String).alias(name))
    combined = pl.concat([frame, given.rename(lambda c: f"_filled_{c}")], how="horizontal") if filled else frame
    return combined.select(columns)


def household_module(spec: RoundSpec, cat: Catalogue, base: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Module 100: every listed dwelling × household; only responding households answer."""
    responding = base["responding"].to_numpy()
    answers = crosswalk_columns(spec, cat, "100", base, rng)
    preset = set(base.columns)
    filled = {k: np.where(responding, v, None) for k, v in answers.items() if k not in preset}
    layout = cat.layout["100"]
    answered = frozenset(c for c in cat.multiple_response if c in layout)
    frame = _layout_frame(base, filled, layout, answered)
    blank = [c for c in layout if c in answered]
    return frame.with_columns(pl.when(pl.Series(responding)).then(pl.col(c)).alias(c) for c in blank)


def _in_universe(cat: Catalogue, module: str, persons: pl.DataFrame) -> pl.Series:
    if module == "200":
        return pl.Series([True] * persons.height)
    migrants_only, min_age = cat.universe(module)
    keep = persons["age"] >= min_age
    return keep & (persons["migrant"] == "true") if migrants_only else keep


def person_modules(spec: RoundSpec, cat: Catalogue, base: pl.DataFrame, persons: pl.DataFrame,
                   rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Modules 200-800: one row per person in the module's universe, keyed and weighted like INEI's files."""
    ids = base.select("row", *[c for c in cat.layout["200"] if c in base.columns and c != "factorfinal"],
                      "factorfinal")
    people = persons.join(ids, on="row", how="left", maintain_order="left").with_columns(
        pl.col("P200_N").cast(pl.String),
        pl.when(pl.col("age") >= 12).then(pl.col("P200_N")).otherwise(pl.lit(1)).cast(pl.String).alias("informant"),
        pl.lit("1").alias("PRESFIN"),
    )
    modules = {}
    for module in PERSON_MODULES:
        frame = people.filter(_in_universe(cat, module, people))
        filled = crosswalk_columns(spec, cat, module, frame, rng)
        filled[f"INF_{module}"] = frame["informant"].to_numpy().astype(object)
        modules[module] = _layout_frame(frame, filled, cat.layout[module], cat.multiple_response).with_columns(
            frame["row"].alias("_row"))
    return modules


def consolidated(cat: Catalogue, modules: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """INEI's consolidated person file: module 200's rows, other modules' columns blank outside their universe."""
    frame = modules["200"]
    for module in PERSON_MODULES[1:]:
        extra = modules[module]
        own = ["_row", "P200_N", *[c for c in extra.columns if c not in frame.columns]]
        frame = frame.join(extra.select(own), on=["_row", "P200_N"], how="left", maintain_order="left")
    return frame.select(cat.layout["consolidated"])
