"""Load a round's declarative spec (`source.yaml` + crosswalk CSVs) into frozen dataclasses, validating it.

A spec folder is `surveys/<source>_<round>/`. Nothing here knows any source variable name: those live in the
spec files only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import yaml

from pipelines.errors import SpecError
from surveys import schema

SPECS_DIR = Path(__file__).resolve().parent.parent / "surveys"
TRANSFORMS = ("copy", "recode")
UNIVERSE_OPERATORS = ("eq", "in")


@dataclass(frozen=True)
class Module:
    """One producer module (INEI's chapter/file), e.g. `100` households or `500` education."""

    number: str
    title: str
    inei_code: str
    names: tuple[str, ...]
    unit: str
    key: tuple[str, ...]
    required: bool
    universe: str | None


@dataclass(frozen=True)
class Consolidated:
    """A producer file that carries several person modules in one row per person."""

    title: str
    inei_code: str
    names: tuple[str, ...]
    modules: tuple[str, ...]


@dataclass(frozen=True)
class Design:
    """Survey design variables as the source names them."""

    weight: str
    strata: tuple[str, ...]
    psu: str
    lonely_psu: str
    note: str


@dataclass(frozen=True)
class Condition:
    var: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Universe:
    """A named filter: rows where all conditions hold."""

    name: str
    module: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class VariableMap:
    """One row of `variables.csv`: where a harmonised column comes from."""

    harmonised_var: str
    table: str
    module: str
    source_vars: tuple[str, ...]
    transform: str  # copy | recode | derive:<name>
    note: str

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
    modules: dict[str, Module]
    consolidated: Consolidated | None
    unknown_inei_codes: tuple[str, ...]
    household_key: tuple[str, ...]
    person_key: tuple[str, ...]
    design: Design
    universes: dict[str, Universe]
    variables: tuple[VariableMap, ...]
    values: pl.DataFrame  # harmonised_var, source_var, source_value, harmonised_value, label, is_missing, note
    crosswalk_sha256: str

    @property
    def name(self) -> str:
        return f"{self.source}/{self.round}"

    def variables_of(self, module: str) -> tuple[VariableMap, ...]:
        return tuple(v for v in self.variables if v.module == module)

    def source_columns(self, module: str) -> tuple[str, ...]:
        """Columns the pipeline needs from a module's file: keys, design, universe and crosswalk inputs."""
        wanted = list(self.modules[module].key)
        if module == "100":
            wanted += [self.design.weight, *self.design.strata, self.design.psu]
        for universe in self.universes.values():
            if universe.module == module:
                wanted += [c.var for c in universe.conditions]
        for variable in self.variables_of(module):
            wanted += list(variable.source_vars)
        return tuple(dict.fromkeys(wanted))


def category_columns(spec: RoundSpec, modules: tuple[str, ...]) -> frozenset[str]:
    """Source columns used only as recode inputs: a reader may hold them as categoricals (keys, design,
    universe, copy and derive inputs stay text)."""
    used = {v for m in modules for v in spec.source_columns(m)}
    recoded = {v.source_vars[0] for v in spec.variables if v.module in modules and v.transform == "recode"}
    other = {s for v in spec.variables if v.transform != "recode" for s in v.source_vars}
    other |= {*spec.household_key, *spec.person_key, spec.design.weight, *spec.design.strata, spec.design.psu}
    other |= {c.var for u in spec.universes.values() for c in u.conditions}
    return frozenset((recoded & used) - other)


def _require(mapping: dict, key: str, where: str):
    if key not in mapping:
        raise SpecError(f"missing key `{key}`", where=where, hint=f"Add `{key}:` to the spec.")
    return mapping[key]


def _module(number: str, raw: dict, where: str) -> Module:
    return Module(
        number=number,
        title=_require(raw, "title", where),
        inei_code=str(raw.get("inei_code", "")),
        names=tuple(raw.get("names", ())),
        unit=_require(raw, "unit", where),
        key=tuple(_require(raw, "key", where)),
        required=bool(raw.get("required", False)),
        universe=raw.get("universe"),
    )


def _universe(name: str, raw: dict, where: str) -> Universe:
    conditions = []
    for item in _require(raw, "all", where):
        ops = [op for op in UNIVERSE_OPERATORS if op in item]
        if "var" not in item or len(ops) != 1:
            raise SpecError(f"universe {name}: condition {item} must be {{var, eq|in}}", where=where)
        value = item[ops[0]]
        values = tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)
        conditions.append(Condition(item["var"], values))
    return Universe(name, str(_require(raw, "module", where)), tuple(conditions))


def _read_variables(path: Path) -> tuple[VariableMap, ...]:
    frame = pl.read_csv(path, infer_schema=False).fill_null("")
    rows = []
    for i, row in enumerate(frame.iter_rows(named=True), start=2):
        where = f"{path}:{i}"
        transform = row["transform"]
        if transform not in TRANSFORMS and not transform.startswith("derive:"):
            raise SpecError(f"transform `{transform}` is not copy, recode or derive:<name>", where=where)
        columns = schema.columns(row["table"]) if row["table"] in schema.TABLES else None
        if columns is None or row["harmonised_var"] not in columns:
            raise SpecError(
                f"`{row['harmonised_var']}` is not a column of table `{row['table']}` in surveys/schema.py",
                where=where,
            )
        sources = tuple(s for s in row["source_var"].split(";") if s)
        rows.append(VariableMap(row["harmonised_var"], row["table"], row["module"], sources, transform, row["note"]))
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
    for variable in variables:
        if variable.transform != "recode":
            continue
        column = schema.columns(variable.table)[variable.harmonised_var]
        rows = values.filter(
            pl.col("harmonised_var").eq(variable.harmonised_var) & pl.col("source_var").eq(variable.source_vars[0])
        )
        if rows.height == 0:
            raise SpecError(f"no value rows for {variable.harmonised_var} <- {variable.source_vars[0]}", where=str(path))
        targets = set(rows.filter(~pl.col("is_missing"))["harmonised_value"])
        allowed = set(column.categories) if column.categories else {"true", "false"} if column.dtype == pl.Boolean() else None
        if allowed is not None and not targets <= allowed:
            raise SpecError(
                f"{variable.harmonised_var}: values {sorted(targets - allowed)} are not categories of the schema "
                f"({sorted(allowed)})",
                where=str(path),
            )
    return values


def _hash_files(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_round_spec(folder: Path | str) -> RoundSpec:
    """Read and validate the spec in `folder` (a `surveys/<source>_<round>/` directory)."""
    folder = Path(folder)
    where = str(folder / "source.yaml")
    try:
        raw = yaml.safe_load((folder / "source.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"cannot read the spec: {exc}", where=where) from exc
    modules = {str(k): _module(str(k), v, f"{where}: modules.{k}") for k, v in _require(raw, "modules", where).items()}
    consolidated = raw.get("consolidated")
    design = _require(raw, "design", where)
    variables = _read_variables(folder / "variables.csv")
    for variable in variables:
        if variable.module not in modules:
            raise SpecError(f"{variable.harmonised_var}: module {variable.module} is not in source.yaml", where=where)
    return RoundSpec(
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
        household_key=tuple(_require(raw, "keys", where)["household"]),
        person_key=tuple(raw["keys"]["person"]),
        design=Design(
            weight=_require(design, "weight", where), strata=tuple(design.get("strata", ())),
            psu=_require(design, "psu", where), lonely_psu=design.get("lonely_psu", "fail"), note=design.get("note", ""),
        ),
        universes={n: _universe(n, u, f"{where}: universes.{n}") for n, u in raw.get("universes", {}).items()},
        variables=variables,
        values=_read_values(folder / "values.csv", variables),
        crosswalk_sha256=_hash_files(folder / "source.yaml", folder / "variables.csv", folder / "values.csv"),
    )


def available_specs(root: Path = SPECS_DIR) -> list[RoundSpec]:
    """Every round spec under `surveys/` (folders holding a `source.yaml`)."""
    return [load_round_spec(p.parent) for p in sorted(root.glob("*/source.yaml"))]
