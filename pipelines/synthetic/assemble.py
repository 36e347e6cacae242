"""Assemble INEI's module frames (bare codes as text, blanks null) in INEI's column order from `layout.csv`."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.errors import SpecError
from pipelines.harmonise import in_universe
from pipelines.specs import RoundSpec
from pipelines.synthetic.inei import composed, crosswalk_columns, zero_padded
from pipelines.synthetic.settings import SETTINGS, GeneratorSettings


def person_modules_of(spec: RoundSpec, settings: GeneratorSettings) -> tuple[str, ...]:
    """The round's person modules with a layout, the base person module first, each followed by its parts."""
    mains = [m for m, module in spec.modules.items() if module.unit == "person" and module.part_of is None]
    ordered = sorted(mains, key=lambda m: m != spec.person_module)
    missing = [m for m in ordered if m not in settings.layout and spec.modules[m].required]
    if missing:
        raise SpecError(f"required modules {missing} have no rows in layout.csv", where=str(spec.folder))
    return tuple(m for main in ordered for m in (main, *spec.modules[main].parts) if m in settings.layout)


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


def household_module(spec: RoundSpec, settings: GeneratorSettings, base: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """The household module: every listed dwelling × household; only responding households answer."""
    responding = base["responding"].to_numpy()
    answers = crosswalk_columns(spec, settings, spec.household_module, base, rng)
    preset = set(base.columns)
    filled = {k: np.where(responding, v, None) for k, v in answers.items() if k not in preset}
    layout = settings.layout[spec.household_module]
    answered = frozenset(c for c in settings.multiple_response if c in layout)
    frame = _layout_frame(base, filled, layout, answered)
    blank = [c for c in layout if c in answered]
    return frame.with_columns(pl.when(pl.Series(responding)).then(pl.col(c)).alias(c) for c in blank)


def _in_universe(spec: RoundSpec, module: str, people: pl.DataFrame,
                 written: dict[str, pl.DataFrame]) -> np.ndarray:
    """Who has a row in `module`: its universe in source.yaml, evaluated on the module it is stated in (already
    written, in INEI's codes); every person when the module declares none."""
    name = spec.modules[module].universe
    mask = np.zeros(people.height, dtype=bool)
    if name is None:
        return ~mask
    universe = spec.universes[name]
    if universe.module not in written:
        raise SpecError(f"module {module}: universe `{name}` is stated on module {universe.module}, which the "
                        "synthetic round does not write before it", where=str(spec.folder / "source.yaml"))
    frame = written[universe.module]
    mask[frame.filter(in_universe(universe))["_pidx"].to_numpy()] = True
    return mask


def _long_rows(spec: RoundSpec, settings: GeneratorSettings, part: str, frame: pl.DataFrame,
               rng: np.random.Generator) -> pl.DataFrame:
    """A long part's rows: each person repeated 0..k times (the round's `long_parts` distribution), numbered in
    the key column the part adds to the person key, with the part's constants."""
    long_part = settings.long_parts.get(part)
    if long_part is None:
        raise SpecError(f"part {part} has a layout but no `long_parts` entry", where=str(settings.folder / SETTINGS))
    p = np.asarray(long_part["rows"], dtype=float)
    count = rng.choice(p.size, size=frame.height, p=p / p.sum())
    number = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + 1
    (row_key,) = [c for c in spec.modules[part].key if c not in spec.person_key]
    long = frame[np.repeat(np.arange(frame.height), count)]
    return long.with_columns(
        pl.Series(row_key, number.astype(str), dtype=pl.String),
        *(pl.lit(str(v), dtype=pl.String).alias(c) for c, v in long_part.get("constants", {}).items()),
    ).with_columns(*zero_padded(settings, pl.DataFrame(schema={row_key: pl.String})))


def person_modules(spec: RoundSpec, settings: GeneratorSettings, base: pl.DataFrame, persons: pl.DataFrame,
                   rng: np.random.Generator) -> dict[str, pl.DataFrame]:
    """Person modules: one row per person in the module's universe, keyed and weighted like INEI's files."""
    weight, person = spec.design.weight, settings.role("person")
    ids = base.select("row", *[c for c in settings.layout[spec.person_module] if c in base.columns and c != weight],
                      weight)
    people = persons.rename({"_person": person}).join(ids, on="row", how="left", maintain_order="left")
    people = people.with_columns(pl.col(person).cast(pl.String)).with_columns(*zero_padded(settings, people.select(person)))
    people = composed(settings, people.with_columns(
        pl.when(pl.col("age") >= settings.informant_min_age).then(pl.col(person))
        .otherwise(pl.lit(settings.proxy_informant)).cast(pl.String).alias("_informant"),
        *(pl.lit(value).alias(column) for column, value in settings.person_constants.items()),
    ), unless_all_in=frozenset(base.columns))
    people = people.with_columns(pl.Series("_pidx", np.arange(people.height)))
    modules, written = {}, {}
    for module in person_modules_of(spec, settings):
        frame = people.filter(_in_universe(spec, module, people, written))
        if spec.modules[module].unit == "person_long":
            frame = _long_rows(spec, settings, module, frame, rng)
        filled = crosswalk_columns(spec, settings, module, frame, rng)
        informant = settings.informant_column(module)
        if informant:
            filled[informant] = frame["_informant"].to_numpy().astype(object)
        modules[module] = _layout_frame(frame, filled, settings.layout[module], settings.multiple_response).with_columns(
            frame["row"].alias("_row"))
        written[module] = modules[module].with_columns(frame["_pidx"])
    return modules


def consolidated(spec: RoundSpec, settings: GeneratorSettings, modules: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The consolidated person file: the base module's rows, other modules' columns blank outside their universe."""
    person = settings.role("person")
    frame = modules[spec.person_module]
    for module in spec.consolidated.modules:
        if module == spec.person_module:
            continue
        extra = modules[module]
        own = ["_row", person, *[c for c in extra.columns if c not in frame.columns]]
        frame = frame.join(extra.select(own), on=["_row", person], how="left", maintain_order="left")
    return frame.select(settings.layout["consolidated"])
