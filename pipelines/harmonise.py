"""Harmonise: turn one round's module frames into the common schema's `households` and `persons` tables.

Per round this stage only renames, recasts and recodes, one to one from source to schema, as the crosswalk says.
Nothing is dropped silently: rows outside a declared universe are counted in the notes; an unmapped code, a
duplicate key, an orphan person or an unusable weight stops the round with an error naming file, variable and values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import polars as pl

from pipelines.derive import AGGREGATES, DERIVATIONS, code_of
from pipelines.errors import CrosswalkError, DesignError, SchemaViolation
from pipelines.read import CONSOLIDATED, ModuleData
from pipelines.specs import RoundSpec, Universe, VariableMap
from surveys import schema

_SHOW = 8  # offending values shown in a message


@dataclass(frozen=True)
class HarmonisedRound:
    """The two harmonised tables of a round, and what the harmoniser has to say about them."""

    households: pl.DataFrame
    persons: pl.DataFrame
    notes: tuple[str, ...] = field(default=())


def _where(data: ModuleData) -> str:
    return f"{data.path} (module {data.module})"


def _key(columns: tuple[str, ...]) -> pl.Expr:
    return pl.concat_str([pl.col(c) for c in columns], separator="-")


def _check_unique(frame: pl.DataFrame, key: tuple[str, ...], data: ModuleData) -> None:
    nulls = frame.filter(pl.any_horizontal(pl.col(key).is_null()))
    if nulls.height:
        raise SchemaViolation(f"{nulls.height} rows have a blank key {list(key)}", where=_where(data))
    if frame.select(pl.struct(key).n_unique()).item() == frame.height:
        return
    dupes = frame.group_by(key).len().filter(pl.col("len") > 1)
    if dupes.height:
        shown = dupes.head(_SHOW).rows()
        raise SchemaViolation(
            f"duplicate key {list(key)}: {dupes.height} values occur more than once, e.g. {shown} (value…, count)",
            where=_where(data), hint="Each household/person must appear once per module; check for a doubled file.",
        )


def _in_universe(universe: Universe) -> pl.Expr:
    return pl.all_horizontal(code_of(pl.col(c.var)).is_in(c.values) for c in universe.conditions)


def _check_weights(frame: pl.DataFrame, weight: str, data: ModuleData) -> pl.Expr:
    number = pl.col(weight).cast(pl.Float64, strict=False)
    bad = frame.filter(number.is_null() | number.is_nan() | (number <= 0))
    if bad.height:
        values = bad[weight].unique().head(_SHOW).to_list()
        raise DesignError(
            f"weight `{weight}` is missing, not a number, zero or negative in {bad.height} rows: values {values}",
            where=_where(data), hint="Every responding unit needs a positive expansion factor.",
        )
    return number


def _value_rows(spec: RoundSpec, var: VariableMap) -> pl.DataFrame:
    source = var.source_vars[0]
    return spec.values.filter(pl.col("harmonised_var").eq(var.harmonised_var) & pl.col("source_var").eq(source))


def _offending(data: ModuleData, source: str, values: pl.Series, *, as_codes: bool = False) -> list[tuple]:
    """The offending values (or their INEI codes) of `source` with row counts, most frequent first."""
    rows = data.frame.filter(pl.col(source).is_in(values.implode()))
    shown = rows.select(code_of(pl.col(source)) if as_codes else pl.col(source)).to_series()
    return shown.value_counts(sort=True).head(_SHOW).rows()


def _recode(data: ModuleData, var: VariableMap, spec: RoundSpec, dtype: pl.DataType) -> pl.Expr:
    """Map each distinct value in the file (`2.Mujer` or `2`) through INEI's bare code to its harmonised value.

    Working on the distinct values keeps a million-row module cheap; a value whose code has no row in values.csv
    stops the round, with its row count.
    """
    source = var.source_vars[0]
    seen = pl.DataFrame({"raw": data.frame[source].drop_nulls().unique().cast(pl.String)})
    rows = _value_rows(spec, var).select(pl.col("source_value").alias("code"), "harmonised_value", "is_missing")
    lookup = seen.with_columns(code_of(pl.col("raw")).alias("code")).join(rows, on="code", how="left")
    unmapped = lookup.filter(pl.col("is_missing").is_null())
    if unmapped.height:
        raise CrosswalkError(
            f"{source} value(s) {_offending(data, source, unmapped['raw'], as_codes=True)} (code, rows) have no mapping for "
            f"{var.harmonised_var} in {spec.folder.name}/values.csv",
            where=_where(data), hint="Add a row for each code to values.csv, or mark it is_missing.",
        )
    value = pl.when(~pl.col("is_missing")).then(pl.col("harmonised_value"))
    target = lookup.select(value.eq("true") if dtype == pl.Boolean() else value.cast(dtype))
    return pl.col(source).replace_strict(lookup["raw"], target.to_series(), default=None, return_dtype=dtype)


def _copy(data: ModuleData, var: VariableMap, dtype: pl.DataType) -> pl.Expr:
    source = var.source_vars[0]
    seen = data.frame[source].drop_nulls().unique()
    bad = seen.filter(seen.cast(dtype, strict=False).is_null())
    if bad.len():
        raise CrosswalkError(
            f"{source} has values that are not {dtype} for {var.harmonised_var}: "
            f"{_offending(data, source, bad)} (value, rows)",
            where=_where(data),
        )
    return pl.col(source).cast(dtype)


def _expression(data: ModuleData, var: VariableMap, spec: RoundSpec) -> pl.Expr:
    dtype = schema.columns(var.table)[var.harmonised_var].dtype
    if var.transform == "recode":
        return _recode(data, var, spec, dtype)
    if var.transform == "copy":
        return _copy(data, var, dtype)
    return DERIVATIONS[var.derive_name](*(pl.col(s) for s in var.source_vars))


def apply_crosswalk(data: ModuleData, variables: list[VariableMap], spec: RoundSpec) -> list[pl.Expr]:
    """One expression per harmonised column fed by this module; several source variables are coalesced in order.
    Every value is checked to map before any expression is returned."""
    by_target: dict[str, list[pl.Expr]] = {}
    for var in variables:
        by_target.setdefault(var.harmonised_var, []).append(_expression(data, var, spec))
    return [pl.coalesce(e).alias(name) if len(e) > 1 else e[0].alias(name) for name, e in by_target.items()]


def _households(spec: RoundSpec, module: ModuleData, notes: list[str]) -> pl.DataFrame:
    frame = module.frame
    universe = spec.modules[module.module].universe
    if universe:
        kept = frame.filter(_in_universe(spec.universes[universe]))
        notes.append(f"module {module.module}: {kept.height} of {frame.height} rows in universe `{universe}`; "
                     f"{frame.height - kept.height} rows outside it are not households of the round")
        frame = kept
    _check_unique(frame, spec.household_key, module)
    weight = _check_weights(frame, spec.design.weight, module)
    design = spec.design
    crosswalk = [v for v in spec.variables_of(module.module) if v.table == "households"]
    exprs = apply_crosswalk(ModuleData(module.module, module.path, module.sha256, module.encoding, frame),
                            crosswalk, spec)
    return frame.select(
        _key(spec.household_key).alias("hh_id"),
        weight.alias("weight"),
        pl.concat_str([pl.col(s) for s in design.strata], separator="|", ignore_nulls=True).alias("stratum"),
        pl.col(design.psu).alias("psu"),
        *exprs,
    )


def _person_modules(spec: RoundSpec, modules: Mapping[str, ModuleData]) -> Iterator[ModuleData]:
    """Person modules, 200 first, fetched one at a time so that a lazy mapping holds one raw module in memory."""
    if CONSOLIDATED in modules:
        data = modules[CONSOLIDATED]
        for module in spec.consolidated.modules:
            yield ModuleData(module, data.path, data.sha256, data.encoding, data.frame)
        return
    for module in sorted(m for m in modules if spec.modules[m].unit == "person"):
        yield modules[module]


def _check_orphans(frame: pl.DataFrame, key: str, parents: pl.Series, data: ModuleData, what: str) -> None:
    orphans = frame.filter(~pl.col(key).is_in(parents.implode()))
    if orphans.height:
        raise SchemaViolation(
            f"{orphans.height} rows belong to no {what}, e.g. {orphans[key].head(_SHOW).to_list()}",
            where=_where(data), hint="Every person must belong to a responding household and appear in module 200.",
        )


def _person_columns(spec: RoundSpec, data: ModuleData, parent: str, parents: pl.Series | None) -> pl.DataFrame:
    """Crosswalked columns of one person module; `parents` are the ids its rows must belong to (None: checked)."""
    frame = data.frame.with_columns(
        _key(spec.household_key).alias("hh_id"), _key(spec.person_key).alias("person_id")
    )
    if parents is not None:
        _check_unique(frame, spec.person_key, data)
        what = "responding household of module 100" if parent == "hh_id" else "resident of module 200"
        _check_orphans(frame, parent, parents, data, what)
    crosswalk = [v for v in spec.variables_of(data.module) if v.table == "persons"]
    exprs = apply_crosswalk(ModuleData(data.module, data.path, data.sha256, data.encoding, frame), crosswalk, spec)
    return frame.select("hh_id", "person_id", *exprs)


def _persons(spec: RoundSpec, modules: Mapping[str, ModuleData],
             households: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The persons table, and the household aggregates (residents, migrants) taken from module 200."""
    person_modules = _person_modules(spec, modules)
    base = next(person_modules)
    assert base.module == "200", "module 200 comes first"
    persons = _person_columns(spec, base, "hh_id", households["hh_id"])
    aggregates = _household_aggregates(spec, base)
    base_path = base.path
    del base  # with a lazy mapping, the raw module can now be freed
    for data in person_modules:
        # The consolidated file was checked as module 200; its other modules are the same rows.
        parents = None if data.path == base_path else persons["person_id"]
        columns = _person_columns(spec, data, "person_id", parents)
        persons = persons.join(columns.drop("hh_id"), on="person_id", how="left", validate="1:1")
    design = households.select("hh_id", "weight", "stratum", "psu", "city", "lima_zone")
    return persons.join(design, on="hh_id", how="left", validate="m:1"), aggregates


def _household_aggregates(spec: RoundSpec, persons_data: ModuleData) -> pl.DataFrame:
    aggregates = [v for v in spec.variables if v.table == "households" and v.derive_name in AGGREGATES]
    frame = persons_data.frame.with_columns(_key(spec.household_key).alias("hh_id"))
    return frame.group_by("hh_id").agg(
        DERIVATIONS[v.derive_name](*(pl.col(s) for s in v.source_vars)).alias(v.harmonised_var) for v in aggregates
    )


def conform(frame: pl.DataFrame, table: str, spec: RoundSpec, *, synthetic: bool) -> pl.DataFrame:
    """Order, type and complete `frame` to the schema of `table`; columns no module fed are null."""
    identity = {"source": pl.lit(spec.source), "round": pl.lit(spec.round), "year": pl.lit(spec.year),
                "synthetic": pl.lit(synthetic)}
    out = []
    for name, column in schema.columns(table).items():
        expr = identity.get(name, pl.col(name) if name in frame.columns else pl.lit(None))
        out.append(expr.cast(column.dtype).alias(name))
    return frame.select(out)


def harmonise_round(spec: RoundSpec, modules: Mapping[str, ModuleData], *, synthetic: bool = False) -> HarmonisedRound:
    """Build the harmonised tables of one round from its module frames (see `pipelines.read`).

    `modules` maps module numbers (or `consolidated`) to their data; each is fetched once, so a mapping that reads
    on access (`pipelines.read.ModuleReader`) keeps one raw module in memory at a time.
    """
    notes: list[str] = []
    households = _households(spec, modules["100"], notes)
    persons, aggregates = _persons(spec, modules, households)
    households = households.join(aggregates, on="hh_id", how="left", validate="1:1")
    absent = [m for m, module in spec.modules.items() if m not in modules and not (
        CONSOLIDATED in modules and m in spec.consolidated.modules)]
    if absent:
        notes.append(f"modules {absent} not supplied: their columns are null (not asked), not 'no'")
    return HarmonisedRound(
        conform(households, "households", spec, synthetic=synthetic),
        conform(persons, "persons", spec, synthetic=synthetic),
        tuple(notes),
    )
