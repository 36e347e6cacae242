"""Load a round's declarative spec (`source.yaml` + crosswalk CSVs + precedence tables) into frozen dataclasses.

A spec folder is `surveys/<source>_<round>/`; its format is `docs/round-spec.md` (version 2). Nothing here knows any
source variable name: those live in the spec files only. Every check a spec can fail is made here, at load, with a
`SpecError` naming the file, the row and the value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import yaml

from pipelines.derive import RULES, TRANSFORMS, rule_argument, rule_name
from pipelines.errors import SpecError
from surveys import schema

# libyaml's safe loader where PyYAML was built with it: the same objects, ten times faster than the pure-Python one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SPECS_DIR = Path(__file__).resolve().parent.parent / "surveys"
SPEC_VERSION = 2
UNIVERSE_OPERATORS = ("eq", "in", "ge", "le")
MODULE_UNITS = ("household", "person", "person_long")
LONG_TRANSFORMS = ("copy", "count_rows", "any_yes", "any_marked", "not_asked")
PRECEDENCE_OPERATORS = ("in", "not_in", "marked", "answered")


@dataclass(frozen=True)
class Module:
    """One producer module (INEI's chapter/file), e.g. `100` households, or a further file (`part`) of one."""

    number: str
    title: str
    inei_code: str
    names: tuple[str, ...]
    unit: str  # household | person | person_long
    key: tuple[str, ...]
    required: bool
    universe: str | None
    parts: tuple[str, ...] = ()  # ids of this module's further files
    part_of: str | None = None  # for a part: its main module


@dataclass(frozen=True)
class Consolidated:
    """A producer file that carries several person modules in one row per person."""

    title: str
    inei_code: str
    names: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass(frozen=True)
class PsuOption:
    """One way to label the primary sampling unit: the source columns concatenated, and what it means."""

    columns: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class Design:
    """Survey design variables as the source names them."""

    weight: str
    strata: tuple[str, ...]
    psu_options: tuple[PsuOption, ...]  # the first whose columns are all in the household module's file is used
    lonely_psu: str
    note: str

    def psu_for(self, available: set[str] | frozenset[str]) -> PsuOption | None:
        """The first PSU option whose columns are all among `available` (a household module file's columns)."""
        return next((o for o in self.psu_options if set(o.columns) <= set(available)), None)

    @property
    def psu_columns(self) -> tuple[str, ...]:
        """Every column any PSU option uses."""
        return tuple(dict.fromkeys(c for o in self.psu_options for c in o.columns))


@dataclass(frozen=True)
class SourceCondition:
    """One condition of a `SourceUniverse` on a source variable's codes (the catalogue's `Condition` is on
    harmonised columns)."""

    var: str
    op: str  # eq | in | ge | le
    values: tuple[str, ...]
    codes: tuple[str, ...] = ()  # every code the variable has (optional): any other value stops the round


@dataclass(frozen=True)
class SourceUniverse:
    """A named filter on one module's source variables: rows where all conditions hold (who has a row in a
    module, or which of the base module's rows are households). Not the catalogue's `Universe`, which is who an
    indicator is about, on harmonised columns."""

    name: str
    module: str
    conditions: tuple[SourceCondition, ...]


@dataclass(frozen=True)
class Codes:
    """The round's codes for yes, no and an unmarked multiple-response option."""

    yes: str
    no: str
    not_marked: str


@dataclass(frozen=True)
class VariableMap:
    """One row of `variables.csv`: where a harmonised column comes from."""

    harmonised_var: str
    table: str
    module: str
    source_vars: tuple[str, ...]
    transform: str  # copy | recode | not_asked | <rule> | scale:<parameter> | derive:<name>
    note: str

    @property
    def rule(self) -> str:
        """The transform without its argument (`scale:pay_period_months` -> `scale`)."""
        return rule_name(self.transform)

    @property
    def derive_name(self) -> str | None:
        return self.transform.split(":", 1)[1] if self.transform.startswith("derive:") else None


@dataclass(frozen=True)
class RoundSpec:
    """Everything the pipeline knows about one round of one source."""

    folder: Path
    source: str
    round: str
    year: int
    title: str
    fieldwork_start: date
    modules: dict[str, Module]  # main modules and their parts, by id
    consolidated: Consolidated | None
    unknown_inei_codes: tuple[str, ...]
    household_module: str
    household_universe: str | None
    person_module: str
    geography: tuple[str, ...]
    codes: Codes
    parameters: dict
    household_key: tuple[str, ...]
    person_key: tuple[str, ...]
    design: Design
    universes: dict[str, SourceUniverse]
    variables: tuple[VariableMap, ...]
    values: pl.DataFrame  # harmonised_var, source_var, source_value, harmonised_value, label, is_missing, note
    precedence: dict[str, pl.DataFrame] = field(default_factory=dict)  # harmonised_var -> rank, value, var, op, codes
    crosswalk_sha256: str = ""
    inei_survey_code: str = ""  # INEI's survey code on its microdata portal (769 for II ENPOVE 2022)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.round}"

    def variables_of(self, module: str) -> tuple[VariableMap, ...]:
        return tuple(v for v in self.variables if v.module == module and v.transform != "not_asked")

    def source_columns(self, module: str) -> tuple[str, ...]:
        """Columns the pipeline needs from a module's file: keys, design, universe and crosswalk inputs.

        The PSU columns are not among them (the design takes the first PSU option the file has): see
        `optional_columns`.
        """
        wanted = list(self.modules[module].key)
        if module == self.household_module:
            wanted += [self.design.weight, *self.design.strata]
        for universe in self.universes.values():
            if universe.module == module:
                wanted += [c.var for c in universe.conditions]
        for variable in self.variables_of(module):
            wanted += list(variable.source_vars)
        return tuple(dict.fromkeys(wanted))

    def optional_columns(self, module: str) -> tuple[str, ...]:
        """Columns read from a module's file when it has them: the household module's PSU options."""
        if module != self.household_module:
            return ()
        return tuple(c for c in self.design.psu_columns if c not in self.source_columns(module))

    def not_asked(self) -> dict[str, str]:
        """Harmonised columns this round cannot answer, with the crosswalk's reason (a `not_asked` row's note)."""
        return {v.harmonised_var: v.note for v in self.variables if v.transform == "not_asked"}

    def main_modules(self) -> tuple[str, ...]:
        return tuple(m for m, module in self.modules.items() if module.part_of is None)


def category_columns(spec: RoundSpec, modules: tuple[str, ...]) -> frozenset[str]:
    """Source columns used only as recode inputs: a reader may hold them as categoricals (keys, design,
    universe, copy and rule inputs stay text)."""
    used = {v for m in modules for v in spec.source_columns(m)}
    recoded = {v.source_vars[0] for v in spec.variables if v.module in modules and v.transform == "recode"}
    other = {s for v in spec.variables if v.transform != "recode" for s in v.source_vars}
    other |= {*spec.household_key, *spec.person_key, spec.design.weight, *spec.design.strata,
              *spec.design.psu_columns}
    other |= {c.var for u in spec.universes.values() for c in u.conditions}
    return frozenset((recoded & used) - other)


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping:
        raise SpecError(f"missing key `{key}`", where=where, hint=f"Add `{key}:` to the spec.")
    return mapping[key]


def _module(number: str, raw: dict, where: str, part_of: str | None = None) -> Module:
    unit = _require(raw, "unit", where)
    if unit not in MODULE_UNITS:
        raise SpecError(f"unit `{unit}` is not one of {MODULE_UNITS}", where=where)
    return Module(
        number=number,
        title=_require(raw, "title", where),
        inei_code=str(raw.get("inei_code", "")),
        names=tuple(raw.get("names", ())),
        unit=unit,
        key=tuple(_require(raw, "key", where)),
        required=bool(raw.get("required", False)),
        universe=raw.get("universe"),
        parts=tuple(str(p) for p in (raw.get("parts") or {})),
        part_of=part_of,
    )


def _modules(raw: dict, where: str) -> dict[str, Module]:
    modules = {}
    for number, body in _require(raw, "modules", where).items():
        number = str(number)
        modules[number] = _module(number, body, f"{where}: modules.{number}")
        for part, part_body in (body.get("parts") or {}).items():
            part = str(part)
            if part in modules:
                raise SpecError(f"part `{part}` of module {number} is declared twice", where=where)
            modules[part] = _module(part, part_body, f"{where}: modules.{number}.parts.{part}", part_of=number)
    return modules


def _universe(name: str, raw: dict, where: str) -> SourceUniverse:
    conditions = []
    for item in _require(raw, "all", where):
        ops = [op for op in UNIVERSE_OPERATORS if op in item]
        if "var" not in item or len(ops) != 1:
            raise SpecError(f"universe {name}: condition {item} must be {{var, eq|in|ge|le}}", where=where)
        value = item[ops[0]]
        values = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        if ops[0] in ("ge", "le") and (len(values) != 1 or not _is_number(values[0])):
            raise SpecError(f"universe {name}: `{ops[0]}` takes one number, not {value!r}", where=where)
        codes = tuple(str(v) for v in item.get("codes") or ())
        if codes and (ops[0] not in ("eq", "in") or not set(values) <= set(codes)):
            raise SpecError(f"universe {name}: `codes` of {item['var']} go with eq/in and must hold its values "
                            f"{list(values)}", where=where)
        conditions.append(SourceCondition(item["var"], ops[0], values, codes))
    return SourceUniverse(name, str(_require(raw, "module", where)), tuple(conditions))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _psu_options(design: dict, where: str) -> tuple[PsuOption, ...]:
    raw = _require(design, "psu", where)
    if isinstance(raw, str):  # one column, no alternative
        return (PsuOption((raw,), design.get("note", "")),)
    options = []
    for i, option in enumerate(raw):
        columns = option.get("columns") if isinstance(option, dict) else None
        if not columns:
            raise SpecError(f"design.psu[{i}] must be {{columns: [...], note: ...}}", where=where)
        options.append(PsuOption(tuple(columns), option.get("note", "")))
    return tuple(options)


def _design(raw: dict, where: str) -> Design:
    design = _require(raw, "design", where)
    return Design(
        weight=_require(design, "weight", where), strata=tuple(design.get("strata", ())),
        psu_options=_psu_options(design, where), lonely_psu=design.get("lonely_psu", "fail"),
        note=design.get("note", ""),
    )


def _check_arity(transform: str, inputs: int, where: str) -> None:
    name = rule_name(transform)
    if name not in TRANSFORMS and name not in RULES:
        known = sorted({*TRANSFORMS, *RULES})
        raise SpecError(f"transform `{transform}` is unknown (known: {known})", where=where)
    accepts = RULES[name].accepts if name in RULES else TRANSFORMS[name]
    if not accepts(inputs):
        raise SpecError(f"transform `{transform}` does not take {inputs} source variable(s)", where=where)


def _read_variables(path: Path) -> tuple[VariableMap, ...]:
    frame = pl.read_csv(path, infer_schema=False).fill_null("")
    rows = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        where = f"{path}:{i}"
        sources = tuple(s for s in row["source_var"].split(";") if s)
        _check_arity(row["transform"], len(sources), where)
        columns = schema.columns(row["table"]) if row["table"] in schema.TABLES else None
        if columns is None or row["harmonised_var"] not in columns:
            raise SpecError(
                f"`{row['harmonised_var']}` is not a column of table `{row['table']}` in surveys/schema.py",
                where=where,
            )
        rows.append(VariableMap(row["harmonised_var"], row["table"], row["module"], sources, row["transform"],
                                row["note"]))
    return tuple(rows)


def _read_values(path: Path, variables: tuple[VariableMap, ...]) -> pl.DataFrame:
    values = pl.read_csv(path, infer_schema=False).with_columns(
        pl.col("harmonised_value").fill_null(""), pl.col("is_missing").eq("true")
    )
    duplicated = values.filter(pl.struct("harmonised_var", "source_var", "source_value").is_duplicated())
    if duplicated.height:
        raise SpecError(
            f"codes mapped twice: {duplicated.select('harmonised_var', 'source_var', 'source_value').rows()}",
            where=str(path),
        )
    # Split once, not filtered once per recoded variable: a round has a hundred of them, and every command loads
    # the specs.
    groups = values.partition_by("harmonised_var", "source_var", as_dict=True) if values.height else {}
    for variable in variables:
        if variable.transform == "recode":
            _check_recode(groups.get((variable.harmonised_var, variable.source_vars[0])), variable, path)
    return values


def _check_recode(rows: pl.DataFrame | None, variable: VariableMap, path: Path) -> None:
    """The variable's rows of values.csv (None: it has none) map only to categories of its schema column."""
    column = schema.columns(variable.table)[variable.harmonised_var]
    if rows is None or rows.height == 0:
        raise SpecError(f"no value rows for {variable.harmonised_var} <- {variable.source_vars[0]}", where=str(path))
    targets = {value for value, missing in zip(rows["harmonised_value"].to_list(), rows["is_missing"].to_list())
               if missing is False}
    allowed = _allowed_values(column)
    if allowed is not None and not targets <= allowed:
        raise SpecError(
            f"{variable.harmonised_var}: values {sorted(targets - allowed)} are not categories of the schema "
            f"({sorted(allowed)})",
            where=str(path),
        )


def _allowed_values(column: schema.Column) -> set[str] | None:
    if column.categories:
        return set(column.categories)
    return {"true", "false"} if column.dtype == pl.Boolean() else None


def _read_precedence(folder: Path, variables: tuple[VariableMap, ...]) -> dict[str, pl.DataFrame]:
    tables = {}
    for variable in (v for v in variables if v.transform == "precedence"):
        path = folder / "precedence" / f"{variable.harmonised_var}.csv"
        if not path.is_file():
            raise SpecError(f"{variable.harmonised_var} is derived by precedence but {path} is missing",
                            where=str(folder / "variables.csv"))
        table = pl.read_csv(path, infer_schema=False).fill_null("")
        _check_precedence(table, variable, path)
        tables[variable.harmonised_var] = table.with_columns(pl.col("rank").cast(pl.Int32))
    return tables


def _check_precedence(table: pl.DataFrame, variable: VariableMap, path: Path) -> None:
    missing = {"rank", "value", "var", "op", "codes"} - set(table.columns)
    if missing:
        raise SpecError(f"columns {sorted(missing)} are missing", where=str(path))
    allowed = _allowed_values(schema.columns(variable.table)[variable.harmonised_var])
    for i, row in enumerate(table.iter_rows(named=True), start=2):
        problems = []
        if row["op"] not in PRECEDENCE_OPERATORS:
            problems.append(f"op `{row['op']}` is not one of {PRECEDENCE_OPERATORS}")
        if row["var"] not in variable.source_vars:
            problems.append(f"var `{row['var']}` is not among the row's source_var {list(variable.source_vars)}")
        if allowed is not None and row["value"] not in allowed:
            problems.append(f"value `{row['value']}` is not a category of the schema ({sorted(allowed)})")
        if not row["rank"].isdigit():
            problems.append(f"rank `{row['rank']}` is not a whole number")
        if problems:
            raise SpecError("; ".join(problems), where=f"{path}:{i}")


def _hash_files(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _units(raw: dict, modules: dict[str, Module], where: str) -> tuple[str, str | None, str]:
    units = _require(raw, "units", where)
    household = _require(_require(units, "household", where), "module", where)
    person = _require(_require(units, "person", where), "module", where)
    for unit, number in (("household", household), ("person", person)):
        if str(number) not in modules or modules[str(number)].unit != unit:
            raise SpecError(f"units.{unit}: module {number} is not a {unit} module of modules:", where=where)
    return str(household), units["household"].get("universe"), str(person)


def _check_references(spec: RoundSpec, where: str) -> None:
    """Cross-references inside the spec: modules, universes, geography, parameters, long-file transforms."""
    for variable in spec.variables:
        if variable.transform == "not_asked" and not variable.module:
            continue  # a column the round cannot answer needs no module
        if variable.module not in spec.modules:
            raise SpecError(f"{variable.harmonised_var}: module {variable.module} is not in source.yaml", where=where)
        if spec.modules[variable.module].unit == "person_long" and variable.rule not in LONG_TRANSFORMS:
            raise SpecError(f"{variable.harmonised_var}: a long file ({variable.module}) takes only "
                            f"{LONG_TRANSFORMS}, not `{variable.transform}`", where=where)
        argument = rule_argument(variable.transform)
        if (variable.rule == "scale" or argument) and argument not in spec.parameters:
            raise SpecError(f"{variable.harmonised_var}: `{variable.transform}` names parameter `{argument}`, "
                            f"which is not under parameters:", where=where)
    named = [m.universe for m in spec.modules.values() if m.universe] + [spec.household_universe or ""]
    for universe in filter(None, named):
        if universe not in spec.universes:
            raise SpecError(f"universe `{universe}` is not declared under universes:", where=where)
    for universe in spec.universes.values():
        if universe.module not in spec.modules:
            raise SpecError(f"universe {universe.name}: module {universe.module} is not in modules:", where=where)
    for column in spec.geography:
        if any(column not in schema.columns(t) for t in schema.TABLES):
            raise SpecError(f"geography `{column}` is not a column of both tables in surveys/schema.py", where=where)


def load_round_spec(folder: Path | str) -> RoundSpec:
    """Read and validate the spec in `folder` (a `surveys/<source>_<round>/` directory)."""
    folder = Path(folder)
    where = str(folder / "source.yaml")
    try:
        raw = yaml.load((folder / "source.yaml").read_text(encoding="utf-8"), Loader=YAML_LOADER)
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the spec: {exc}", where=where) from exc
    if raw.get("spec_version") != SPEC_VERSION:
        raise SpecError(f"spec_version {raw.get('spec_version')!r} is not {SPEC_VERSION}", where=where,
                        hint="See docs/round-spec.md.")
    modules = _modules(raw, where)
    household, household_universe, person = _units(raw, modules, where)
    consolidated = raw.get("consolidated")
    # YAML 1.1 reads a bare `yes:` / `no:` key as a boolean: take both spellings.
    codes = {{True: "yes", False: "no"}.get(k, k): v for k, v in _require(raw, "codes", where).items()}
    variables = _read_variables(folder / "variables.csv")
    precedence_files = sorted((folder / "precedence").glob("*.csv")) if (folder / "precedence").is_dir() else []
    spec = RoundSpec(
        folder=folder,
        source=_require(raw, "source", where),
        round=str(_require(raw, "round", where)),
        year=int(_require(raw, "year", where)),
        title=raw.get("title", ""),
        fieldwork_start=date.fromisoformat(str(_require(_require(raw, "fieldwork", where), "start", where))),
        modules=modules,
        consolidated=Consolidated(
            consolidated["title"], str(consolidated["inei_code"]), tuple(consolidated["names"]),
            tuple(str(m) for m in consolidated["modules"]),
        ) if consolidated else None,
        unknown_inei_codes=tuple(str(c) for c in raw.get("unknown_inei_codes", ())),
        household_module=household, household_universe=household_universe, person_module=person,
        geography=tuple(raw.get("geography", ())),
        codes=Codes(*(str(_require(codes, k, where)) for k in ("yes", "no", "not_marked"))),
        parameters={str(k): {str(c): float(f) for c, f in v.items()} for k, v in (raw.get("parameters") or {}).items()},
        household_key=tuple(_require(_require(raw, "keys", where), "household", where)),
        person_key=tuple(_require(raw["keys"], "person", where)),
        design=_design(raw, where),
        universes={n: _universe(n, u, f"{where}: universes.{n}") for n, u in (raw.get("universes") or {}).items()},
        variables=variables,
        values=_read_values(folder / "values.csv", variables),
        precedence=_read_precedence(folder, variables),
        crosswalk_sha256=_hash_files(folder / "source.yaml", folder / "variables.csv", folder / "values.csv",
                                     *precedence_files),
        inei_survey_code=str(raw.get("inei_survey_code") or ""),
    )
    _check_references(spec, where)
    return spec


def available_specs(root: Path = SPECS_DIR) -> list[RoundSpec]:
    """Every round spec under `surveys/` (folders holding a `source.yaml`)."""
    return [load_round_spec(p.parent) for p in sorted(root.glob("*/source.yaml"))]
