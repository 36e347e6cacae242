"""Assemble INEI's module frames (bare codes as text, blanks null) in INEI's column order from `layout.csv`."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.specs import RoundSpec
from pipelines.synthetic.catalogue import Catalogue
from pipelines.synthetic.inei import composed, crosswalk_columns, zero_padded


def person_modules_of(spec: RoundSpec, cat: Catalogue) -> tuple[str, ...]:
    """The round's person modules, the base person module first (each has a file of one row per person)."""
    others = [m for m, module in spec.modules.items() if module.unit == "person" and m != cat.person_module]
    return (cat.person_module, *others)


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
    """The household module: every listed dwelling × household; only responding households answer."""
    responding = base["responding"].to_numpy()
    answers = crosswalk_columns(spec, cat, cat.household_module, base, rng)
    preset = set(base.columns)
    filled = {k: np.where(responding, v, None) for k, v in answers.items() if k not in preset}
    layout = cat.layout[cat.household_module]
    answered = frozenset(c for c in cat.multiple_response if c in layout)
    frame = _layout_frame(base, filled, layout, answered)
    blank = [c for c in layout if c in answered]
    return frame.with_columns(pl.when(pl.Series(responding)).then(pl.col(c)).alias(c) for c in blank)


def _in_universe(cat: Catalogue, module: str, persons: pl.DataFrame) -> pl.Series:
    if module == cat.person_module:
        return pl.Series([True] * persons.height)
    migrants_only, min_age = cat.universe(module)
    keep = persons["age"] >= min_age
    return keep & (persons["migrant"] == "true") if migrants_only else keep


def person_modules(spec: RoundSpec, cat: Catalogue, base: pl.DataFrame, persons: pl.DataFrame,
                   rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Person modules: one row per person in the module's universe, keyed and weighted like INEI's files."""
    weight, person = spec.design.weight, cat.role("person")
    ids = base.select("row", *[c for c in cat.layout[cat.person_module] if c in base.columns and c != weight],
                      weight)
    people = persons.rename({"_person": person}).join(ids, on="row", how="left", maintain_order="left")
    people = people.with_columns(pl.col(person).cast(pl.String)).with_columns(*zero_padded(cat, people.select(person)))
    people = composed(cat, people.with_columns(
        pl.when(pl.col("age") >= cat.informant_min_age).then(pl.col(person))
        .otherwise(pl.lit(cat.proxy_informant)).cast(pl.String).alias("_informant"),
        *(pl.lit(value).alias(column) for column, value in cat.person_constants.items()),
    ), unless_all_in=frozenset(base.columns))
    modules = {}
    for module in person_modules_of(spec, cat):
        frame = people.filter(_in_universe(cat, module, people))
        filled = crosswalk_columns(spec, cat, module, frame, rng)
        informant = cat.informant_column(module)
        if informant:
            filled[informant] = frame["_informant"].to_numpy().astype(object)
        modules[module] = _layout_frame(frame, filled, cat.layout[module], cat.multiple_response).with_columns(
            frame["row"].alias("_row"))
    return modules


def consolidated(spec: RoundSpec, cat: Catalogue, modules: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The consolidated person file: the base module's rows, other modules' columns blank outside their universe."""
    person = cat.role("person")
    frame = modules[cat.person_module]
    for module in spec.consolidated.modules:
        if module == cat.person_module:
            continue
        extra = modules[module]
        own = ["_row", person, *[c for c in extra.columns if c not in frame.columns]]
        frame = frame.join(extra.select(own), on=["_row", person], how="left", maintain_order="left")
    return frame.select(cat.layout["consolidated"])
