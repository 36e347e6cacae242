"""The harmonised tables for Stata and SPSS (`surveys export --format dta|sav`), labelled, through pyreadstat.

One file per table and stored round, `<out>/<table>_<source>_<round>.dta` (or `.sav`): strata and PSU labels are
unique within a round only, so rounds are never stacked into one design by accident. Columns are those of the
common schema (`surveys/schema.py`), in its order:

- categories become integers 1, 2, … in the schema's order, with value labels; booleans become 0/1 labelled
  No/Yes; integers and numbers stay as they are; a null is Stata's `.` and SPSS's system-missing;
- text columns (identifiers, stratum, PSU) are empty where the harmonised value is null: neither format has a
  missing text value;
- variable and value labels come from `surveys/labels.csv`, in Spanish or English; its `(boolean)` rows label
  every boolean; its `stata_name` shortens the names Stata cannot hold (`check_stata_names`).

A SYNTHETIC round says so in the file label (and in an SPSS document note).
"""

from __future__ import annotations

import csv
import textwrap
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl
import pyreadstat

from pipelines.atomic import replaced_when_complete
from pipelines.errors import SpecError
from pipelines.store import TABLES, RoundRecord, partition
from surveys import schema

LABELS_CSV = Path(str(resources.files("surveys").joinpath("labels.csv")))
BOOLEAN = "(boolean)"  # the `column` of the rows labelling every boolean's false and true
STATA_NAME_MAX = 32
SPSS_NOTE_LINE = 80  # an SPSS document record holds lines of 80 characters


@dataclass(frozen=True)
class SchemaLabels:
    """Labels of the harmonised columns in one language."""

    lang: str
    variables: dict[str, str]  # column -> label
    values: dict[str, dict[str, str]]  # column -> category (or "false"/"true" under BOOLEAN) -> label
    stata_names: dict[str, str]  # column -> the shorter name Stata files use


def load_labels(lang: str, path: Path = LABELS_CSV) -> SchemaLabels:
    """Variable and value labels of the common schema in `lang` (`es` or `en`), checked complete: every column
    has a label, every category a value label."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    variables = {r["column"]: r[f"label_{lang}"] for r in rows if not r["value"]}
    values: dict[str, dict[str, str]] = {}
    for r in rows:
        if r["value"]:
            values.setdefault(r["column"], {})[r["value"]] = r[f"label_{lang}"]
    stata = {r["column"]: r["stata_name"] for r in rows if r["stata_name"]}
    missing = []
    for column in {c.name: c for columns in schema.TABLES.values() for c in columns}.values():
        if not variables.get(column.name):
            missing.append(column.name)
        missing += [f"{column.name}={c}" for c in column.categories if not values.get(column.name, {}).get(c)]
    if sorted(values.get(BOOLEAN, {})) != ["false", "true"]:
        missing.append(f"{BOOLEAN}=false/true")
    if missing:
        raise SpecError(f"labels missing for {', '.join(missing)}", where=str(path),
                        hint="Add a row per column and per category, in Spanish and English.")
    return SchemaLabels(lang, variables, values, stata)


def labelled(frame: pl.DataFrame, table: str, labels: SchemaLabels) -> tuple[pl.DataFrame, dict, dict]:
    """`frame` (a harmonised table) with categories and booleans as labelled integers; returns it, the variable
    labels and the value labels by column."""
    exprs, value_labels = [], {}
    for column in schema.TABLES[table]:
        col = pl.col(column.name)
        if isinstance(column.dtype, pl.Enum):
            exprs.append((col.to_physical().cast(pl.Int32) + 1).alias(column.name))
            value_labels[column.name] = {i + 1: labels.values[column.name][c]
                                         for i, c in enumerate(column.categories)}
        elif column.dtype == pl.Boolean:
            exprs.append(col.cast(pl.Int8))
            value_labels[column.name] = {0: labels.values[BOOLEAN]["false"], 1: labels.values[BOOLEAN]["true"]}
        elif column.dtype == pl.String:
            exprs.append(col.fill_null(""))
        else:
            exprs.append(col.cast(column.dtype))
    variable_labels = {c.name: labels.variables[c.name] for c in schema.TABLES[table]}
    return frame.select(exprs), variable_labels, value_labels


def check_stata_names(names: dict[str, str]) -> None:
    """Every Stata name fits: 32 characters, and for a labelled variable fewer, because pyreadstat names its value
    labels after it with a running number appended (`sex0`, …, `knows_sex_exchange71`)."""
    too_long = []
    for columns in schema.TABLES.values():
        labelled_count = sum(1 for c in columns if c.categories or c.dtype == pl.Boolean)
        for column in columns:
            labelled = column.categories or column.dtype == pl.Boolean
            limit = STATA_NAME_MAX - (len(str(labelled_count)) if labelled else 0)
            if len(names.get(column.name, column.name)) > limit:
                too_long.append(column.name)
    if too_long:
        raise SpecError(f"columns {sorted(set(too_long))} have names too long for Stata ({STATA_NAME_MAX} "
                        "characters, fewer with value labels) and no stata_name short enough",
                        where=str(LABELS_CSV), hint="Give each a shorter stata_name.")


def _write(frame: pl.DataFrame, path: Path, fmt: str, *, file_label: str, note: str, variable_labels: dict,
           value_labels: dict, names: dict[str, str]) -> None:
    if fmt == "dta":
        frame = frame.rename({c: names.get(c, c) for c in frame.columns})
        pyreadstat.write_dta(frame, path, file_label=file_label[:80],
                             column_labels={names.get(c, c): v for c, v in variable_labels.items()},
                             variable_value_labels={names.get(c, c): v for c, v in value_labels.items()})
        return
    measure = {c: "nominal" if c in value_labels or frame[c].dtype == pl.String else "scale" for c in frame.columns}
    pyreadstat.write_sav(frame, path, file_label=file_label[:64], column_labels=variable_labels,
                         variable_value_labels=value_labels, variable_measure=measure,
                         note=textwrap.wrap(note, SPSS_NOTE_LINE))


def write_stat_files(store: Path, rounds: dict[str, RoundRecord], out: Path, *, format: str,
                     lang: str) -> tuple[list[str], list[Path]]:
    """Write the households and persons of every stored round as labelled Stata (`dta`) or SPSS (`sav`) files."""
    from pipelines.export import _check_columns

    labels = load_labels(lang)
    names = labels.stata_names
    if format == "dta":
        check_stata_names(names)
    out.mkdir(parents=True, exist_ok=True)
    lines, paths = [], []
    for record in sorted(rounds.values(), key=lambda r: (r.source, r.round)):
        for table in TABLES:
            source_path = partition(store, table, record.source, record.round) / "part-0.parquet"
            frame = pl.read_parquet(source_path, glob=False)
            _check_columns(frame.columns, list(schema.polars_schema(table)), str(source_path))
            data, variable_labels, value_labels = labelled(frame, table, labels)
            mark = " SYNTHETIC" if record.synthetic else ""
            note = (f"{table} of {record.source} {record.round}, harmonised (schema {schema.SCHEMA_VERSION})."
                    + (" SYNTHETIC: generated data, never quote." if record.synthetic else ""))
            path = out / f"{table}_{record.source}_{record.round}.{format}"
            with replaced_when_complete(path) as partial:
                _write(data, partial, format, file_label=f"{table} {record.source} {record.round}{mark}", note=note,
                       variable_labels=variable_labels, value_labels=value_labels, names=names)
            paths.append(path)
            lines.append(f"wrote {path}: {data.height:,} rows, labels in {lang}{mark}")
    return lines, paths
