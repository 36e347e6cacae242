"""Exports for other teams: Parquet tables, a data dictionary and a Frictionless `datapackage.json`; the derived
tables as an Excel workbook (`pipelines.workbook`); the harmonised tables for Stata and SPSS (`pipelines.statfiles`).

Layout of `<out>` (Parquet)::

    households/source=<source>/round=<round>/part-0.parquet   harmonised, hive partitions
    persons/source=<source>/round=<round>/part-0.parquet
    indicators.parquet   comparisons.parquet   ...            every derived table the store holds
    policy_frames.parquet                                    GCM / SDG / MGI tags of every indicator id exported
    dictionary.csv   dictionary.json   datapackage.json

`source` and `round` are hive partition keys: they are the folder names and are not repeated inside the files, so
Arrow, polars, DuckDB and Spark read them back as columns without a clash. Only columns of the common schema
(`surveys/schema.py`) and the described columns of the derived tables
(`pipelines/indicators/derived_tables_dictionary.csv`) leave the package: the survey's own keys (hh_id, person_id, psu, stratum) and nothing else identifying. A store table with
any other column stops the export (`SchemaViolation`), so a name or a telephone number that slipped into a table
never reaches another team.

`datapackage.json` declares what the files hold, so that `frictionless validate datapackage.json` passes: one
resource per file (a multipart Parquet resource would be validated on its first file only), every category that
occurs (a `;`-joined list column as a pattern over its categories), and pandas metadata in every file so that
nullable integers and booleans read back as nulls (`<NA>`), not NaN, through pandas and frictionless.

The policy frames (`surveys/indicators/policy_frames.csv`) leave as their own long table keyed by `indicator_id`,
one row per tag, rather than as columns repeated on each of the indicator table's rows: the tags are facts about
an indicator, not about an estimate (`pipelines.indicators.frames`).
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic import replaced_when_complete
from pipelines.errors import NotInStore, SchemaViolation
from pipelines.indicators.frames import frame_tags
from pipelines.indicators.tables import POLICY_FRAMES
from pipelines.specs import RoundSpec, available_specs
from pipelines.store import (
    TABLES,
    RoundRecord,
    current_version,
    derived_is_current,
    derived_tables,
    partition,
    read_derived,
    read_manifest,
)
from surveys import schema

# The derived tables are the estimate stage's (and compare's): their dictionary sits beside their schemas.
DERIVED_COLUMNS = Path(__file__).resolve().parent / "indicators" / "derived_tables_dictionary.csv"
PARTITION_KEYS = ("source", "round")
DICTIONARY_FIELDS = ("table", "column", "arrow_type", "type", "description", "unit", "categories", "role",
                     "source_variables")
ROLES = {"hh_id": "survey key", "person_id": "survey key", "psu": "design", "stratum": "design", "weight": "design",
         "source": "partition key", "round": "partition key"}
# Columns of the derived tables that hold a list of their categories joined by this separator, not one category.
LIST_COLUMNS = {"flags": ";"}


def write_exports(store: Path, *, out: Path = Path("data/exports"), format: str = "parquet",
                  lang: str = "es") -> tuple[list[str], list[Path]]:
    """Write the exports of one format for the store at `store` into `out`; returns the lines to print and the
    files written. Everything is read from the version current when the export starts."""
    store, out = Path(store), Path(out)
    pinned = current_version(store)  # one version throughout, whatever a refresh swaps in meanwhile
    rounds = read_manifest(pinned) if pinned is not None else {}
    if not rounds:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    if format == "xlsx":
        from pipelines.workbook import write_workbook

        return write_workbook(pinned, rounds, out)
    if format in ("dta", "sav"):
        from pipelines.statfiles import write_stat_files

        return write_stat_files(pinned, rounds, out, format=format, lang=lang)
    return _export_parquet(pinned, rounds, out)


def run_export(store: Path, *, out: Path = Path("data/exports")) -> list[str]:
    """Write the Parquet exports for the store at `store` into `out`; returns the lines to print."""
    return write_exports(store, out=out)[0]


def _export_parquet(store: Path, stored: dict[str, RoundRecord], out: Path) -> tuple[list[str], list[Path]]:
    rounds = sorted((r.source, r.round) for r in stored.values())
    for table in TABLES:  # before writing anything: a bad store leaves an earlier export as it was
        for source, round_ in rounds:
            path = partition(store, table, source, round_) / "part-0.parquet"
            _check_columns(pq.read_schema(path).names, list(schema.polars_schema(table)), str(path))
    out.mkdir(parents=True, exist_ok=True)
    lines, resources, dictionary, written = [], [], [], []
    for table in TABLES:
        paths = export_harmonised(store, table, rounds, out)
        fields = _fields(out, paths, table)
        dictionary += harmonised_dictionary(table, fields, [r.name for r in stored.values()])
        synthetic = {r.name: r.synthetic for r in stored.values()}
        for (source, round_), path in zip(rounds, paths):
            resources.append(_resource(table, [path], out, dictionary, partition={"source": source, "round": round_},
                                       synthetic=synthetic[f"{source}/{round_}"]))
        written += paths
        lines.append(f"exported {table}: {len(paths)} partition(s) under {out / table}")
    for name, frame in derived_frames(store).items():
        path = export_derived(frame, name, out)
        dictionary += derived_dictionary(name, _fields(out, [path], name))
        resources.append(_resource(name, [path], out, dictionary))
        written.append(path)
        stale = "" if derived_is_current(store, name) else " (built before the last refresh: may be stale)"
        lines.append(f"exported {name}: {frame.height:,} rows to {path}{stale}")
        if name == "indicators":
            lines.append(export_policy_frames(frame, out, dictionary, resources))
            written.append(out / "policy_frames.parquet")
    write_dictionary(dictionary, out)
    write_datapackage(resources, out, synthetic=any(r.synthetic for r in stored.values()))
    written += [out / "dictionary.csv", out / "dictionary.json", out / "datapackage.json"]
    lines.append(f"wrote {out / 'dictionary.csv'}, {out / 'dictionary.json'} and {out / 'datapackage.json'}")
    return lines, written


def described_columns() -> dict[str, dict[str, dict]]:
    """`derived_tables_dictionary.csv` by table, then column (in file order): description and categories."""
    with DERIVED_COLUMNS.open(encoding="utf-8", newline="") as handle:
        described: dict[str, dict[str, dict]] = {}
        for row in csv.DictReader(handle):
            described.setdefault(row["table"], {})[row["column"]] = row
    return described


def derived_frames(store: Path) -> dict[str, pl.DataFrame]:
    """Every derived table the store holds, checked against its described columns (`derived_tables_dictionary.csv`): a
    table or column without a description stops the export before anything is written."""
    described = described_columns()
    frames = {}
    for name in derived_tables(store):
        frame = read_derived(store, name)
        if name not in described:
            raise SchemaViolation(f"derived table `{name}` has no column descriptions", where=str(DERIVED_COLUMNS),
                                  hint="Add a row per column for it.")
        _check_columns(frame.columns, list(described[name]), f"derived table `{name}`")
        frames[name] = frame
    return frames


def _check_columns(frame_columns: list[str], expected: list[str], where: str) -> None:
    extra = [c for c in frame_columns if c not in expected]
    missing = [c for c in expected if c not in frame_columns]
    if extra or missing:
        raise SchemaViolation(
            f"columns outside the schema {extra}, schema columns missing {missing}; nothing outside the schema is "
            "exported (it could identify people)",
            where=where, hint="Remove the columns from the store or add them to the schema with a description.",
        )


def pandas_metadata(arrow_schema: pa.Schema) -> str:
    """The `pandas` schema metadata that makes pandas (and frictionless, which reads Parquet through pandas) read
    integers, booleans and floats as nullable dtypes: a null comes back as `<NA>`, not NaN or a float column."""
    def dtype(arrow_type: pa.DataType) -> str | None:
        if pa.types.is_integer(arrow_type):
            return f"{'U' if pa.types.is_unsigned_integer(arrow_type) else ''}Int{arrow_type.bit_width}"
        if pa.types.is_boolean(arrow_type):
            return "boolean"
        if pa.types.is_floating(arrow_type):
            return f"Float{arrow_type.bit_width}"
        return None

    columns = [{"name": f.name, "field_name": f.name, "pandas_type": dtype(f.type).lower(),
                "numpy_type": dtype(f.type), "metadata": None} for f in arrow_schema if dtype(f.type)]
    return json.dumps({"index_columns": [], "column_indexes": [], "columns": columns,
                       "creator": {"library": "pyarrow", "version": pa.__version__}, "pandas_version": "2.2.0"})


def _write(table: pa.Table, path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {**metadata, "pandas": pandas_metadata(table.schema)}
    merged = {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
    pq.write_table(table.replace_schema_metadata(merged), path, compression="zstd")


def export_harmonised(store: Path, table: str, rounds: list[tuple[str, str]], out: Path) -> list[Path]:
    """Write one hive partition per round; returns the file paths. Replaces any earlier export of `table`."""
    columns = schema.polars_schema(table)
    staging = out / f".{table}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    paths = []
    try:
        for source, round_ in rounds:
            path = partition(store, table, source, round_) / "part-0.parquet"
            frame = pl.read_parquet(path, glob=False)
            _check_columns(frame.columns, list(columns), str(path))
            kept = [c for c in columns if c not in PARTITION_KEYS]
            frame = frame.select(pl.col(c).cast(columns[c]) for c in kept)
            relative = Path(table) / f"source={source}" / f"round={round_}" / "part-0.parquet"
            synthetic = bool(frame["synthetic"].any()) if frame.height else False
            _write(frame.to_arrow(), staging / relative.relative_to(table),
                   {"schema_version": schema.SCHEMA_VERSION, "synthetic": str(synthetic).lower()})
            paths.append(out / relative)
    except BaseException:  # a full disk leaves the earlier export, and no half-written staging folder
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(out / table, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    staging.rename(out / table)
    return paths


def export_derived(frame: pl.DataFrame, name: str, out: Path) -> Path:
    """Write one derived table as `<out>/<name>.parquet`, its columns as stored (the stages cast them to their
    schemas in `pipelines.indicators.tables`)."""
    path = out / f"{name}.parquet"
    with replaced_when_complete(path) as partial:
        _write(frame.to_arrow(), partial, {"schema_version": schema.SCHEMA_VERSION})
    return path


def export_policy_frames(indicators: pl.DataFrame, out: Path, dictionary: list[dict], resources: list[dict]) -> str:
    """The GCM / SDG / MGI tags of the exported indicators, as `policy_frames.parquet`; returns the line to print."""
    tags = frame_tags(indicators).select(pl.col(c).cast(t) for c, t in POLICY_FRAMES.items())
    path = export_derived(tags, "policy_frames", out)
    dictionary += derived_dictionary("policy_frames", _fields(out, [path], "policy_frames"))
    resources.append(_resource("policy_frames", [path], out, dictionary))
    return f"exported policy_frames: {tags.height:,} tags of {tags['indicator_id'].n_unique():,} indicators to {path}"


def _fields(out: Path, paths: list[Path], table: str) -> dict[str, pa.DataType]:
    """Arrow types as written, identical in every partition."""
    types: dict[str, pa.DataType] = {}
    for path in paths:
        for field in pq.read_schema(path):
            if types.setdefault(field.name, field.type) != field.type:
                raise SchemaViolation(f"{table}.{field.name} is {types[field.name]} in one partition and "
                                      f"{field.type} in {path.relative_to(out)}")
    return types


def frictionless_type(arrow_type: pa.DataType) -> str:
    """The Table Schema type of an Arrow type."""
    if pa.types.is_dictionary(arrow_type):
        return frictionless_type(arrow_type.value_type)
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "number"
    return "string"


def _source_variables(specs: list[RoundSpec], table: str) -> dict[str, list[str]]:
    """Per harmonised column, where each round's crosswalk takes it from."""
    found: dict[str, list[str]] = {}
    for spec in specs:
        design = {"hh_id": spec.household_key, "person_id": spec.person_key, "weight": (spec.design.weight,),
                  "stratum": spec.design.strata,
                  "psu": tuple(" x ".join(o.columns) for o in spec.design.psu_options)}
        for column, variables in design.items():
            if variables:
                found.setdefault(column, []).append(f"{spec.name}: {'+'.join(variables)} (key/design)")
        for variable in spec.variables:
            if variable.table == table:
                found.setdefault(variable.harmonised_var, []).append(
                    f"{spec.name}: module {variable.module} {'+'.join(variable.source_vars)} ({variable.transform})")
    return found


def _entry(table: str, column: str, arrow_type: pa.DataType | None, description: str, *, unit: str = "",
           categories=(), source_variables=()) -> dict:
    return {
        "table": table, "column": column, "arrow_type": str(arrow_type) if arrow_type is not None else "string",
        "type": frictionless_type(arrow_type) if arrow_type is not None else "string", "description": description,
        "unit": unit, "categories": ";".join(categories), "role": ROLES.get(column, "value"),
        "source_variables": " | ".join(source_variables),
    }


def harmonised_dictionary(table: str, types: dict[str, pa.DataType], rounds: list[str]) -> list[dict]:
    specs = [s for s in available_specs() if s.name in rounds]
    sources = _source_variables(specs, table)
    entries = []
    for column in schema.TABLES[table]:
        if column.name in PARTITION_KEYS:
            description = f"{column.description} Hive partition key: the folder name, not stored inside the files."
            entries.append(_entry(table, column.name, None, description))
            continue
        entries.append(_entry(table, column.name, types[column.name], column.description, unit=column.unit,
                              categories=column.categories, source_variables=sources.get(column.name, ())))
    return entries


def derived_dictionary(name: str, types: dict[str, pa.DataType]) -> list[dict]:
    described = described_columns().get(name, {})
    entries = []
    for column in types:
        row = described.get(column)
        if row is None:
            raise SchemaViolation(f"{name}.{column} has no description", where=str(DERIVED_COLUMNS),
                                  hint="Add a row for it.")
        categories = tuple(c for c in row["categories"].split(";") if c)
        entries.append(_entry(name, column, types[column], row["description"], categories=categories))
    return entries


def write_dictionary(entries: list[dict], out: Path) -> None:
    with (out / "dictionary.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=DICTIONARY_FIELDS)
        writer.writeheader()
        writer.writerows(entries)
    tables: dict[str, list[dict]] = {}
    for entry in entries:
        tables.setdefault(entry["table"], []).append({k: v for k, v in entry.items() if k != "table"})
    payload = {"schema_version": schema.SCHEMA_VERSION, "tables": tables}
    (out / "dictionary.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")


def list_pattern(categories: list[str], separator: str) -> str:
    """A regular expression matching a `separator`-joined list of `categories` (Table Schema `pattern`)."""
    one = "(" + "|".join(re.escape(c) for c in categories) + ")"
    return f"{one}({re.escape(separator)}{one})*"


def _field(entry: dict) -> dict:
    field = {"name": entry["column"], "type": entry["type"], "description": entry["description"]}
    if entry["categories"]:
        categories = entry["categories"].split(";")
        separator = LIST_COLUMNS.get(entry["column"]) if entry["table"] not in TABLES else None
        if separator is not None:
            field["constraints"] = {"pattern": list_pattern(categories, separator)}
            field["description"] += f" A list: categories joined by `{separator}`."
        else:
            field["constraints"] = {"enum": categories}
    return field


def _resource(name: str, paths: list[Path], out: Path, dictionary: list[dict], *, partition: dict | None = None,
              synthetic: bool = False) -> dict:
    """One resource per file: `frictionless` reads a multipart Parquet resource's first file only."""
    entries = [e for e in dictionary if e["table"] == name]
    fields = [_field(e) for e in entries if not (partition and e["role"] == "partition key")]
    resource = {"name": name, "path": paths[0].relative_to(out).as_posix(), "format": "parquet",
                "mediatype": "application/vnd.apache.parquet", "schema": {"fields": fields}}
    if partition:
        resource["name"] = re.sub(r"[^a-z0-9._-]", "-", "-".join([name, *partition.values()]).lower())
        resource["title"] = f"{name}, {' '.join(partition.values())}" + (" (SYNTHETIC)" if synthetic else "")
        resource["table"] = name
        resource["partition"] = {"style": "hive", "fields": [
            {"name": e["column"], "type": "string", "value": partition[e["column"]], "description": e["description"]}
            for e in entries if e["role"] == "partition key"]}
    return resource


def write_datapackage(resources: list[dict], out: Path, *, synthetic: bool) -> None:
    description = "Harmonised survey tables, indicator estimates and comparisons on Venezuelan migrants in Peru."
    if synthetic:
        description += " Some rounds are SYNTHETIC (column `synthetic`, origin `synthetic`): never quote them."
    package = {
        "profile": "data-package", "name": "venezuelan-migration-surveys",
        "title": "Venezuelan migrants in Peru: harmonised surveys and indicators", "description": description,
        "version": schema.SCHEMA_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "resources": resources,
    }
    (out / "datapackage.json").write_text(json.dumps(package, indent=2, ensure_ascii=False), encoding="utf-8")
