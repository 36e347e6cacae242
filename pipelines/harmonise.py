"""Harmonise: turn one round's module frames into the common schema's `households` and `persons` tables.

Per round this stage only renames, recasts and recodes, one to one from source to schema, as the crosswalk says.
Nothing is dropped silently: rows outside a declared universe are counted in the notes; an unmapped code, a
duplicate key, an orphan person or an unusable weight stops the round with an error naming file, variable and values.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

import polars as pl

from pipelines.derive import RULES, RuleContext, code_of, rule_argument
from pipelines.errors import CrosswalkError, DesignError, SchemaViolation, SourceFileError, shorten
from pipelines.read import CONSOLIDATED, ModuleData, fold
from pipelines.specs import PsuOption, RoundSpec, SourceCondition, SourceUniverse, VariableMap
from surveys import schema

_SHOW = 8  # offending values shown in a message


@dataclass(frozen=True)
class HarmonisedRound:
    """The two harmonised tables of a round, the design it was stored with, and what the harmoniser has to say."""

    households: pl.DataFrame
    persons: pl.DataFrame
    notes: tuple[str, ...] = field(default=())
    design: dict = field(default_factory=dict)  # weight, strata, psu (source columns) and the PSU option's note


def _where(data: ModuleData) -> str:
    return f"{data.path} (module {data.module})"


def _key(columns: tuple[str, ...]) -> pl.Expr:
    return pl.concat_str([pl.col(c) for c in columns], separator="-")


def _check_unique(frame: pl.DataFrame, key: tuple[str, ...], data: ModuleData) -> None:
    nulls = frame.filter(pl.any_horizontal(pl.col(key).is_null()))
    if nulls.height:
        raise SchemaViolation(f"{nulls.height} rows have a blank key {list(key)}", where=_where(data))
    # Distinct row hashes prove distinct keys; equal hashes (a duplicate, or a hash collision) are looked at exactly.
    if frame.select(key).hash_rows().n_unique() == frame.height:
        return
    dupes = frame.group_by(key).len().filter(pl.col("len") > 1)
    if dupes.height:
        shown = dupes.head(_SHOW).rows()
        raise SchemaViolation(
            f"duplicate key {list(key)}: {dupes.height} values occur more than once, e.g. {shown} (value…, count)",
            where=_where(data), hint="Each household/person must appear once per module; check for a doubled file.",
        )


def _holds(condition: SourceCondition) -> pl.Expr:
    code = code_of(pl.col(condition.var))
    if condition.op in ("eq", "in"):
        return code.is_in(condition.values)
    number, bound = code.cast(pl.Float64, strict=False), float(condition.values[0])
    return number >= bound if condition.op == "ge" else number <= bound


def in_universe(universe: SourceUniverse) -> pl.Expr:
    """True on the rows of the universe's module where every condition holds (a blank never holds)."""
    return pl.all_horizontal(_holds(c).fill_null(False) for c in universe.conditions)


MAX_WEIGHT = 1e9  # an expansion factor above this is larger than any population a survey of Peru represents


def _check_universe_codes(universe: SourceUniverse, data: ModuleData) -> None:
    """A universe variable whose codes the spec lists (`codes:`) holds no other code: an unknown code would put a
    household or person outside the universe without a word."""
    for condition in universe.conditions:
        if not condition.codes or condition.var not in data.frame.columns:
            continue
        code = code_of(pl.col(condition.var))
        bad = data.frame.filter(code.is_not_null() & ~code.is_in(list(condition.codes)))[condition.var].unique()
        if bad.len():
            raise CrosswalkError(
                f"{condition.var} value(s) {_offending(data, condition.var, bad)} (value, rows) are not among its "
                f"codes {list(condition.codes)}, so universe `{universe.name}` cannot say whether they are in it",
                where=_where(data), hint="Check the file, or add the code to the universe's `codes` in source.yaml.")


def _check_weights(frame: pl.DataFrame, weight: str, data: ModuleData) -> pl.Expr:
    number = pl.col(weight).cast(pl.Float64, strict=False)
    bad = frame.filter(number.is_null() | number.is_nan() | number.is_infinite() | (number <= 0)
                       | (number > MAX_WEIGHT))
    if bad.height:
        values = [shorten(v) for v in bad[weight].unique().head(_SHOW).to_list()]
        raise DesignError(
            f"weight `{weight}` is missing, not a number, not finite, zero, negative or above {MAX_WEIGHT:g} in "
            f"{bad.height} rows: values {values}",
            where=_where(data), hint="Every responding unit needs a positive expansion factor.",
        )
    return number


def _offending(data: ModuleData, source: str, values: pl.Series, *, as_codes: bool = False) -> list[tuple]:
    """The offending values (or their INEI codes) of `source` with row counts, most frequent first."""
    rows = data.frame.filter(pl.col(source).is_in(values.implode()))
    shown = rows.select(code_of(pl.col(source)) if as_codes else pl.col(source)).to_series()
    return [(shorten(value), count) for value, count in shown.value_counts(sort=True).head(_SHOW).rows()]


def _recode(data: ModuleData, var: VariableMap, spec: RoundSpec, dtype: pl.DataType, seen: pl.DataFrame,
            rows: pl.DataFrame) -> pl.Expr:
    """Map each distinct value in the file (`2.Mujer` or `2`) through INEI's bare code to its harmonised value.

    `seen` holds the source column's distinct values (`raw`) and their codes (`code`), `rows` the variable's rows of
    values.csv (`_distinct_values`, `_value_tables`). Working on the distinct values keeps a million-row module
    cheap, and on plain Python mappings of them keeps a module of a hundred recodes cheap; a value whose code has no
    row in values.csv stops the round, with its row count.
    """
    source = var.source_vars[0]
    _check_labels(data, source, seen["raw"], rows, spec)
    # values.csv maps each (harmonised_var, source_var, code) once (checked at load), so a code finds one row.
    mapped = dict(zip(rows["source_value"].to_list(), zip(rows["harmonised_value"].to_list(),
                                                          rows["is_missing"].to_list())))
    raw, codes = seen["raw"].to_list(), seen["code"].to_list()
    matches = [mapped.get(code, (None, None)) for code in codes]
    unmapped = [value for value, (_, missing) in zip(raw, matches) if missing is None]
    if unmapped:
        raise CrosswalkError(
            f"{source} value(s) {_offending(data, source, pl.Series(unmapped, dtype=pl.String), as_codes=True)} "
            f"(code, rows) have no mapping for {var.harmonised_var} in {spec.folder.name}/values.csv",
            where=_where(data), hint="Add a row for each code to values.csv, or mark it is_missing.",
        )
    value = pl.Series([None if missing else harmonised for harmonised, missing in matches], dtype=pl.String)
    target = value.eq("true") if dtype == pl.Boolean() else value.cast(dtype)
    return pl.col(source).replace_strict(seen["raw"], target, default=None, return_dtype=dtype)


def _distinct_values(data: ModuleData, sources: list[str]) -> dict[str, pl.DataFrame]:
    """The distinct non-null values (`raw`, as text) of each of `sources` with their INEI codes (`code`): found in
    one pass over the module, coded in one more over the few distinct values."""
    if not sources:
        return {}
    distinct = data.frame.select(pl.col(s).drop_nulls().unique().cast(pl.String).implode() for s in sources).row(0)
    long = pl.DataFrame({"source": [s for s, values in zip(sources, distinct) for _ in values],
                         "raw": [value for values in distinct for value in values]},
                        schema={"source": pl.String, "raw": pl.String})
    coded = long.with_columns(code_of(pl.col("raw")).alias("code")).partition_by("source", as_dict=True,
                                                                                include_key=False)
    empty = pl.DataFrame(schema={"raw": pl.String, "code": pl.String})
    return {s: coded.get((s,), empty) for s in sources}


def _value_tables(spec: RoundSpec, variables: list[VariableMap]) -> dict[tuple[str, str], pl.DataFrame]:
    """values.csv's rows of each recoded (harmonised_var, source_var) pair, in file order: split once per module
    rather than filtered once per variable."""
    pairs = {(v.harmonised_var, v.source_vars[0]) for v in variables if v.transform == "recode"}
    if not pairs:
        return {}
    values = spec.values.filter(pl.col("source_var").is_in(sorted({source for _, source in pairs})))
    parts = values.partition_by("harmonised_var", "source_var", as_dict=True, maintain_order=True)
    return {pair: parts.get(pair, values.clear()) for pair in pairs}


def _check_labels(data: ModuleData, source: str, seen: pl.Series, rows: pl.DataFrame, spec: RoundSpec) -> None:
    """A `code.label` value whose label is the crosswalk's label of another code (`1.Mujer` where 1 is Hombre)
    contradicts itself: which of the two is right cannot be known, so the round stops."""
    labels = {fold(str(r["label"])).strip(): str(r["source_value"]) for r in rows.iter_rows(named=True) if r["label"]}
    own = {str(r["source_value"]): fold(str(r["label"])).strip() for r in rows.iter_rows(named=True) if r["label"]}
    wrong = []
    for raw in seen.to_list():
        code, dot, label = str(raw).partition(".")
        if not dot or not code.strip().isdigit():
            continue
        folded = fold(label).strip()
        other = labels.get(folded)
        if other is not None and other != code.strip() and own.get(code.strip()) != folded:
            wrong.append(f"{shorten(raw)} (label of code {other})")
    if wrong:
        raise CrosswalkError(
            f"{source} value(s) {wrong[:_SHOW]} carry a label that values.csv gives to another code",
            where=_where(data), hint=f"Check the file against INEI's dictionary and {spec.folder.name}/values.csv.")


_BOUNDS = {"age": (0, 120)}  # harmonised person columns whose values outside these are impossible


def _check_bounds(frame: pl.DataFrame, data: ModuleData) -> None:
    for column, (low, high) in _BOUNDS.items():
        if column not in frame.columns:
            continue
        bad = frame.filter((pl.col(column) < low) | (pl.col(column) > high))
        if bad.height:
            values = bad[column].value_counts(sort=True).head(_SHOW).rows()
            raise SchemaViolation(f"{column} outside {low}..{high} in {bad.height} rows: {values} (value, rows)",
                                  where=_where(data), hint="Check the file against INEI's dictionary.")


def _select(frame: pl.DataFrame, data: ModuleData, *exprs) -> pl.DataFrame:
    """`frame.select`, with a value no check anticipated (text where a number belongs) named with its file."""
    try:
        return frame.select(*exprs)
    except pl.exceptions.PolarsError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SourceFileError(f"a value cannot be read as the crosswalk says: {shorten(first, 300)}",
                              where=_where(data), hint="Check the file against INEI's dictionary.") from exc


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


def rule_context(spec: RoundSpec, var: VariableMap) -> RuleContext:
    """The round's codes, and the parameter or precedence table the crosswalk row names."""
    argument = rule_argument(var.transform)
    return RuleContext(
        yes=spec.codes.yes, no=spec.codes.no, not_marked=spec.codes.not_marked,
        parameter=spec.parameters.get(argument, {}) if argument else {},
        table=spec.precedence.get(var.harmonised_var) if var.transform == "precedence" else None,
    )


def rule_expression(spec: RoundSpec, var: VariableMap) -> pl.Expr:
    return RULES[var.rule].function(rule_context(spec, var), *(pl.col(s) for s in var.source_vars))


def _expression(data: ModuleData, var: VariableMap, spec: RoundSpec, seen: dict[str, pl.DataFrame],
                values: dict[tuple[str, str], pl.DataFrame]) -> pl.Expr:
    dtype = schema.columns(var.table)[var.harmonised_var].dtype
    if var.transform == "recode":
        source = var.source_vars[0]
        return _recode(data, var, spec, dtype, seen[source], values[var.harmonised_var, source])
    if var.transform == "copy":
        return _copy(data, var, dtype)
    return rule_expression(spec, var).cast(dtype)


def apply_crosswalk(data: ModuleData, variables: list[VariableMap], spec: RoundSpec) -> list[pl.Expr]:
    """One expression per harmonised column fed by this module; several source variables are coalesced in order.
    Every value is checked to map before any expression is returned."""
    recoded = list(dict.fromkeys(v.source_vars[0] for v in variables if v.transform == "recode"))
    seen, values = _distinct_values(data, recoded), _value_tables(spec, variables)
    by_target: dict[str, list[pl.Expr]] = {}
    for var in variables:
        by_target.setdefault(var.harmonised_var, []).append(_expression(data, var, spec, seen, values))
    return [pl.coalesce(e).alias(name) if len(e) > 1 else e[0].alias(name) for name, e in by_target.items()]


def _psu(spec: RoundSpec, module: ModuleData, notes: list[str]) -> PsuOption:
    option = spec.design.psu_for(set(module.frame.columns))
    if option is None:
        wanted = [list(o.columns) for o in spec.design.psu_options]
        raise DesignError(f"none of the PSU options {wanted} is in the file", where=_where(module),
                          hint="The household module must carry the sampling unit (see design.psu in source.yaml).")
    if option != spec.design.psu_options[0]:
        notes.append(f"PSU = {' x '.join(option.columns)}, not {' x '.join(spec.design.psu_options[0].columns)} "
                     f"(not in {module.path.name}): {option.note}")
    return option


def _households(spec: RoundSpec, module: ModuleData, notes: list[str]) -> tuple[pl.DataFrame, dict]:
    frame = module.frame
    universe = spec.household_universe
    if universe:
        _check_universe_codes(spec.universes[universe], module)
        kept = frame.filter(in_universe(spec.universes[universe]))
        notes.append(f"module {module.module}: {kept.height} of {frame.height} rows in universe `{universe}`; "
                     f"{frame.height - kept.height} rows outside it are not households of the round")
        frame = kept
    _check_unique(frame, spec.household_key, module)
    weight = _check_weights(frame, spec.design.weight, module)
    design, psu = spec.design, _psu(spec, module, notes)
    crosswalk = [v for v in spec.variables_of(module.module) if v.table == "households"]
    exprs = apply_crosswalk(ModuleData(module.module, module.path, module.sha256, module.encoding, frame),
                            crosswalk, spec)
    households = _select(
        frame, module,
        _key(spec.household_key).alias("hh_id"),
        weight.alias("weight"),
        pl.concat_str([pl.col(s) for s in design.strata], separator="|", ignore_nulls=True).alias("stratum"),
        pl.concat_str([pl.col(s) for s in psu.columns], separator="|", ignore_nulls=True).alias("psu"),
        *exprs,
    )
    used = {"weight": design.weight, "strata": list(design.strata), "psu": list(psu.columns), "note": psu.note,
            "lonely_psu": design.lonely_psu}
    return households, used


def _person_modules(spec: RoundSpec, modules: Mapping[str, ModuleData]) -> Iterator[ModuleData]:
    """Person modules, the base first, each followed by its parts, fetched one at a time so that a lazy mapping
    holds one raw module in memory."""
    consolidated = None
    for module, key in _person_plan(spec, modules):
        if key != CONSOLIDATED:
            yield modules[key]
            continue
        if consolidated is None:  # one file holds every module: fetched once
            consolidated = modules[CONSOLIDATED]
        yield ModuleData(module, consolidated.path, consolidated.sha256, consolidated.encoding, consolidated.frame)


def _person_plan(spec: RoundSpec, available: Collection[str]) -> list[tuple[str, str]]:
    """(module, the key its data is fetched by) of each person module, in the order they are harmonised: the base
    first, each main module followed by its parts; the modules of INEI's consolidated file all fetch it."""
    if CONSOLIDATED not in available:
        return [(module, module) for module in _person_files(spec, available)]
    plan = []
    for module in spec.consolidated.modules:
        plan.append((module, CONSOLIDATED))
        plan += [(part, part) for part in spec.modules[module].parts if part in available]
    return plan


def _person_files(spec: RoundSpec, available: Collection[str]) -> Iterator[str]:
    """The person modules and parts of a round of separate files, in the order they are harmonised: the base
    first, each main module followed by its parts."""
    mains = sorted(m for m in available if m in spec.modules and spec.modules[m].unit == "person")
    for module in sorted(mains, key=lambda m: m != spec.person_module):
        yield module
        yield from (p for p in spec.modules[module].parts if p in available)
    # Parts read without their main file (allowed when their universe is stated on the residents).
    yield from (p for p in sorted(available) if p in spec.modules and spec.modules[p].part_of
                and spec.modules[p].part_of not in available)


def reading_order(spec: RoundSpec, available: Collection[str]) -> list[str]:
    """The order `harmonise_round` asks for the `available` modules (or parts, or `consolidated`) in: the
    household module, then the person modules as `_person_modules` fetches them. A reader can read ahead in it
    (`pipelines.read.read_round`'s `ahead`)."""
    persons = dict.fromkeys(key for _, key in _person_plan(spec, available))  # the consolidated file once
    return [spec.household_module, *persons]


def _not_in(values: pl.Series, others: pl.Series) -> pl.Series:
    """The non-null `values` that are not among `others`, in order (`values.filter(~values.is_in(others))`, as a
    hash anti-join on the one column: `is_in` against a million-row list is twice as slow)."""
    name = values.name
    return values.drop_nulls().to_frame(name).join(others.drop_nulls().to_frame(name), on=name, how="anti",
                                                    maintain_order="left")[name]


def _check_orphans(frame: pl.DataFrame, key: str, parents: pl.Series, data: ModuleData, what: str,
                   rows: pl.Series | None = None) -> None:
    """Rows whose `key` is not among `parents` stop the round; `rows` (`_rows` of the key, when the caller has them)
    say the same without another join: a non-null key whose row is null."""
    orphans = (_not_in(frame[key], parents) if rows is None
               else frame[key].filter(rows.is_null() & frame[key].is_not_null()))
    if orphans.len():
        raise SchemaViolation(
            f"{orphans.len()} rows belong to no {what}, e.g. {orphans.head(_SHOW).to_list()}",
            where=_where(data), hint="Every person must belong to a responding household and be listed as a resident.",
        )


def _row_index(person_ids: pl.Series) -> pl.DataFrame:
    """person_id -> its row (`__row`) in the persons table, sorted by id: each module's ids are looked up once
    (`_rows`), and every later step (orphans, universe notes, placing the module's columns) works on the row
    numbers."""
    return person_ids.to_frame("person_id").with_row_index("__row").sort("person_id")


def _rows(ids: pl.Series, index: pl.DataFrame) -> pl.Series:
    """Each id's row in the persons table (null: not a person of it), in the order of `ids`."""
    persons, n = index["person_id"], index.height
    if n and not persons.null_count() and (persons.slice(1) > persons.slice(0, n - 1)).all():
        # The index is sorted by id; with every id once, a binary search (each hit checked by equality) is twice
        # as fast as the join.
        position = persons.search_sorted(ids, side="left").clip(0, n - 1)
        hit = persons.gather(position) == ids
        return pl.select(pl.when(hit).then(index["__row"].gather(position))).to_series().rename("__row")
    return ids.to_frame("person_id").join(index, on="person_id", how="left", maintain_order="left")["__row"]


def _with_ids(spec: RoundSpec, frame: pl.DataFrame, *, household: bool = True) -> pl.DataFrame:
    ids = [_key(spec.household_key).alias("hh_id")] if household else []
    return frame.with_columns(*ids, _key(spec.person_key).alias("person_id"))


def _identified(spec: RoundSpec, data: ModuleData, *, household: bool = True) -> ModuleData:
    """A person module with its `person_id` (and `hh_id`, unless `household` is False: only the base module's
    persons carry it into the table), built once for every step that needs them."""
    return ModuleData(data.module, data.path, data.sha256, data.encoding,
                      _with_ids(spec, data.frame, household=household))


def _person_columns(spec: RoundSpec, data: ModuleData, parent: str, parents: pl.Series | None,
                    rows: pl.Series | None = None) -> pl.DataFrame:
    """Crosswalked columns of one person module (`_identified`); `parents` are the ids its rows must belong to
    (None: checked), `rows` its persons' rows (`_rows`) when the parents are the persons."""
    frame = data.frame
    if parents is not None:
        _check_unique(frame, spec.person_key, data)
        what = (f"household of module {spec.household_module} in the round's universe" if parent == "hh_id"
                else f"resident of module {spec.person_module}")
        _check_orphans(frame, parent, parents, data, what, rows)
    crosswalk = [v for v in spec.variables_of(data.module) if v.table == "persons"]
    exprs = apply_crosswalk(ModuleData(data.module, data.path, data.sha256, data.encoding, frame), crosswalk, spec)
    columns = _select(frame, data, *(c for c in ("hh_id", "person_id") if c in frame.columns), *exprs)
    _check_bounds(columns, data)
    return columns


_LONG_AGGREGATE = {"count_rows": "sum", "any_yes": "max", "any_marked": "max", "copy": "sum"}


def _long_columns(spec: RoundSpec, data: ModuleData, persons: pl.Series, index: pl.DataFrame,
                  asked: pl.Series | None) -> pl.DataFrame:
    """A long file (several rows per person) summarised to one row per person (`__row`, its row in the persons
    table) through its crosswalk rows.

    `asked` are the rows of the persons of the part's universe: one with no row gets 0 (counts, sums) or False
    (any_*); a person outside it keeps null (not asked).
    """
    module = spec.modules[data.module]
    frame = data.frame  # `_identified`
    _check_unique(frame, module.key, data)
    rows = _rows(frame["person_id"], index)
    _check_orphans(frame, "person_id", persons, data, f"resident of module {spec.person_module}", rows)
    crosswalk = [v for v in spec.variables_of(data.module) if v.table == "persons"]
    values = frame.select(rows.alias("__row"), *(
        (pl.lit(1, pl.Int32) if v.rule == "count_rows" else _long_row(spec, v, data)).alias(v.harmonised_var)
        for v in crosswalk))
    summary = values.group_by("__row").agg(
        getattr(pl.col(v.harmonised_var), _LONG_AGGREGATE[v.rule])() for v in crosswalk)
    if asked is None:
        return summary
    base = pl.DataFrame({"__row": asked, "__asked": True}).join(summary, on="__row", how="full", coalesce=True)
    zero = {v.harmonised_var: (False if v.rule in ("any_yes", "any_marked") else 0) for v in crosswalk}
    return base.with_columns(
        pl.when(pl.col("__asked").fill_null(False)).then(pl.col(c).fill_null(z)).otherwise(pl.col(c))
        .alias(c) for c, z in zero.items()
    ).drop("__asked")


def _long_row(spec: RoundSpec, var: VariableMap, data: ModuleData) -> pl.Expr:
    if var.rule == "copy":
        return _copy(data, var, pl.Float64())
    return rule_expression(spec, var)


def _universe_persons(spec: RoundSpec, name: str | None, frames: dict[str, pl.DataFrame],
                      found: dict[str, pl.Series]) -> pl.Series | None:
    """The persons (rows, `__row`) of a named universe, evaluated on the raw frame of its module (kept while it is
    needed) once, then taken from `found`: several modules share a universe."""
    if not name:
        return None
    if name not in found:
        universe = spec.universes[name]
        frame = frames.get(universe.module)
        if frame is None:
            return None
        found[name] = frame.filter(in_universe(universe))["__row"]
    return found[name]


def _universe_note(spec: RoundSpec, data: ModuleData, ids: pl.Series, expected: pl.Series | None,
                   persons: int) -> str | None:
    """Who has a row (`ids`: the module's persons' rows) against who the spec says is asked (`expected`, rows of
    `_universe_persons`; None: no universe): said in the round's notes, never dropped."""
    if expected is None:
        return None
    outside = _count_not_in(ids, expected, persons)
    absent = _count_not_in(expected, ids, persons)
    return (f"module {data.module}: {ids.len()} rows; universe `{spec.modules[data.module].universe}` "
            f"{expected.len()} persons; {outside} rows outside it, {absent} persons of it without a row")


def _count_not_in(rows: pl.Series, others: pl.Series, persons: int) -> int:
    """How many non-null `rows` are not among `others` (`_not_in(rows, others).len()`), both rows of a persons table
    of `persons` rows: a mark per person and a lookup per row, instead of a hash join of the two."""
    marked = pl.repeat(False, persons, dtype=pl.Boolean, eager=True).scatter(others.drop_nulls(), True)
    return int((~marked.gather(rows.drop_nulls())).sum())


def _persons(spec: RoundSpec, modules: Mapping[str, ModuleData], households: pl.DataFrame,
             notes: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The persons table, and the household aggregates (residents, migrants) taken from the person base module."""
    person_modules = _person_modules(spec, modules)
    base = _identified(spec, next(person_modules))
    persons = _person_columns(spec, base, "hh_id", households["hh_id"])
    index = _row_index(persons["person_id"])
    aggregates = _household_aggregates(spec, base)
    # Raw variables that universes are stated in; the base module's rows are the persons table's, in order.
    frames = {base.module: _universe_frame(spec, base, pl.int_range(base.frame.height, dtype=pl.UInt32, eager=True))}
    universes: dict[str, pl.Series] = {}  # each universe's persons, found once (`_universe_persons`)
    base_path = base.path
    del base  # with a lazy mapping, the raw module can now be freed
    for data in person_modules:
        data = _identified(spec, data, household=False)
        module = spec.modules[data.module]
        if module.unit == "person_long":
            asked = _universe_persons(spec, module.universe, frames, universes)
            columns = _long_columns(spec, data, persons["person_id"], index, asked)
        else:
            # The consolidated file was checked as the base module; its other modules are the same rows.
            parents = None if data.path == base_path else persons["person_id"]
            rows = _rows(data.frame["person_id"], index)
            columns = _person_columns(spec, data, "person_id", parents, rows).drop("person_id")
            columns = columns.with_columns(rows.alias("__row"))
            frames[data.module] = _universe_frame(spec, data, rows)
            expected = _universe_persons(spec, module.universe, frames, universes) if parents is not None else None
            note = _universe_note(spec, data, rows, expected, persons.height)
            notes.extend([note] if note else [])
        persons = _join_coalescing(persons, columns)
    design = households.select("hh_id", "weight", "stratum", "psu", *spec.geography)
    return persons.join(design, on="hh_id", how="left", validate="m:1"), aggregates


def _join_coalescing(persons: pl.DataFrame, columns: pl.DataFrame) -> pl.DataFrame:
    """Join a module's person columns (keyed by `__row`, the person's row in the persons table); a harmonised
    column already fed by an earlier module keeps that module's value and takes this one's where it is null
    (crosswalk rows are coalesced in file order, across modules too)."""
    shared = [c for c in columns.columns if c != "__row" and c in persons.columns]
    aligned = _aligned(columns.filter(pl.col("__row").is_not_null()), persons.height)
    if shared:
        persons = persons.hstack(aligned.select(pl.col(shared).name.suffix("__next")))
        persons = persons.with_columns(pl.coalesce(c, f"{c}__next").alias(c) for c in shared)
        persons = persons.drop(f"{c}__next" for c in shared)
    rest = aligned.drop(shared)
    return persons.hstack(rest) if rest.width else persons


def _aligned(columns: pl.DataFrame, persons: int) -> pl.DataFrame:
    """A module's columns (`__row`: each row's person, once) put in the persons' row order, null for a person without
    a row: set beside the persons' columns, since joining to the whole table would copy every earlier module's
    columns. Each person's row in `columns` is scattered into one list, and the columns gathered by it, rather than
    joined on the row numbers."""
    rows = columns["__row"]
    source = pl.repeat(None, persons, dtype=pl.UInt32, eager=True).scatter(
        rows, pl.int_range(columns.height, dtype=pl.UInt32, eager=True))
    if persons - source.null_count() != columns.height:
        duplicated = rows.filter(rows.is_duplicated()).unique().head(_SHOW).to_list()
        # Every caller's rows are unique (checked keys, or a group_by): this is the join's former 1:1 validation.
        raise ValueError(f"persons' rows {duplicated} are fed twice by one module's columns")
    return columns.drop("__row").select(pl.all().gather(source))


def _universe_frame(spec: RoundSpec, data: ModuleData, rows: pl.Series) -> pl.DataFrame:
    """The few raw columns of a module (`_identified`) that universes are stated in, with the persons' rows."""
    for universe in (u for u in spec.universes.values() if u.module == data.module):
        _check_universe_codes(universe, data)
    wanted = {c.var for u in spec.universes.values() if u.module == data.module for c in u.conditions}
    return data.frame.select(rows.alias("__row"), *sorted(wanted & set(data.frame.columns) - {"hh_id", "person_id"}))


def _household_aggregates(spec: RoundSpec, persons_data: ModuleData) -> pl.DataFrame:
    aggregates = [v for v in spec.variables if v.table == "households" and v.rule in RULES and RULES[v.rule].aggregate]
    frame = persons_data.frame  # `_identified`: it has its `hh_id`
    return frame.group_by("hh_id").agg(rule_expression(spec, v).alias(v.harmonised_var) for v in aggregates)


def _check_residents(spec: RoundSpec, modules: Mapping[str, ModuleData], households: pl.DataFrame,
                     persons: pl.DataFrame) -> None:
    """A responding household has at least one usual resident in the person base module (else its size is null)."""
    empty = _not_in(households["hh_id"], persons["hh_id"])
    if empty.len():
        files = modules.files if hasattr(modules, "files") else modules  # a lazy reader: do not read it again
        where = f"{files[spec.household_module].path} (module {spec.household_module})"
        raise SchemaViolation(
            f"{empty.len()} responding households have no resident in module {spec.person_module}, e.g. "
            f"{[shorten(v) for v in empty.head(_SHOW).to_list()]}", where=where,
            hint="Every responding household lists its usual residents; check that the person file is complete.")


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
    """Build the harmonised tables of one round from its module frames (see `pipelines.read.read_round`).

    `modules` maps module numbers, part ids (or `consolidated`) to their data; each is fetched once, in
    `reading_order`, so a mapping that reads on access (`pipelines.read.ModuleReader`) keeps one raw module in
    memory at a time (two when it reads ahead). The PSU is the
    first of the spec's PSU options whose columns the household module's file carries; `design` says which.
    """
    notes: list[str] = []
    households, design = _households(spec, modules[spec.household_module], notes)
    persons, aggregates = _persons(spec, modules, households, notes)
    households = households.join(aggregates, on="hh_id", how="left", validate="1:1")
    _check_residents(spec, modules, households, persons)
    absent = [m for m in spec.modules if m not in modules and not (
        CONSOLIDATED in modules and (spec.modules[m].part_of or m) in spec.consolidated.modules)]
    if absent:
        notes.append(f"modules {absent} not supplied: their columns are null (not asked), not 'no'")
    return HarmonisedRound(
        conform(households, "households", spec, synthetic=synthetic),
        conform(persons, "persons", spec, synthetic=synthetic),
        tuple(notes), design,
    )
