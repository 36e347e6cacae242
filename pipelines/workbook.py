"""The derived tables as one Excel workbook (`surveys export --format xlsx`), written by polars' Excel writer.

`<out>/tables.xlsx` holds a sheet per derived table the store has (`pipelines.store.DERIVED_TABLES` order, then
any other), `policy_frames` (the GCM / SDG / MGI tags of the indicators, as in the Parquet export), then `dictionary` (every column of those sheets: type, description, categories) and `rounds` (kind,
design and provenance, as `sv.rounds` gives them). On each table's sheet:

- row 1 names the table and, when any of its rows comes from SYNTHETIC microdata, says so; those rows are filled
  orange (a conditional format on the `origin` columns);
- row 2 is the header, frozen with row 1 and with filters; the columns are the table's own (new columns appear
  without code changes), each confidence interval moved beside the estimate it belongs to;
- numbers in the estimate's unit (estimates, SEs, intervals, differences) are percentages where the row's unit is
  a proportion (its `unit` column, or the unit of its indicator in the indicator table) and plain numbers
  otherwise; the cell holds the stored value (0.464 shown as 46.4 %), so the workbook and the Parquet export agree.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from pipelines.atomic import replaced_when_complete
from pipelines.store import RoundRecord

WORKBOOK = "tables.xlsx"
TITLE_ROW, HEADER_ROW = 0, 1
# Columns in the unit of the estimate they describe: `estimate`, `se`, `ci_low`, `ci_high`, `difference`, alone or
# with a suffix naming the side or the quantity (`estimate_a`, `se_difference`, `ci_low_b`, ...).
IN_UNIT = re.compile(r"^(estimate|se|ci_low|ci_high|difference)(_\w+)?$")
PROPORTION_UNITS = ("proportion", "percent", "prevalence", "share")
FORMATS = {"percent": "0.0%", "number": "#,##0.000", "count": "#,##0", "p": "0.0000"}
SYNTHETIC_FILL = "#FCE4D6"
TABLE_STYLE = "Table Style Light 9"


def ci_beside_estimates(columns: list[str]) -> list[str]:
    """`columns` with every `ci_low<s>`/`ci_high<s>` moved right after `estimate<s>` (or after `<s>` itself, e.g.
    `ci_low_difference` after `difference`; a bare `ci_low` after `difference` in a table of differences, where
    there is no `estimate`), where that column exists; other columns keep their order."""
    def anchor(ci: str) -> str | None:
        suffix = re.sub(r"^ci_(low|high)", "", ci)
        for candidate in (f"estimate{suffix}", suffix.lstrip("_"), "" if suffix else "difference"):
            if candidate and candidate in columns:
                return candidate
        return None

    moved = {c: anchor(c) for c in columns if re.match(r"^ci_(low|high)", c)}
    moved = {c: a for c, a in moved.items() if a is not None}
    order = []
    for column in columns:
        if column in moved:
            continue
        order.append(column)
        order += sorted((c for c, a in moved.items() if a == column), key=lambda c: "high" in c)
    return order


def _row_units(frame: pl.DataFrame, units: dict[str, str]) -> pl.Series:
    """The unit of each row: its `unit` column, else the unit of the indicator it names."""
    if "unit" in frame.columns:
        return frame["unit"]
    for column in ("indicator_id", "indicator_a", "indicator_b"):
        if column in frame.columns:
            return frame[column].replace_strict(units, default=None, return_dtype=pl.String)
    return pl.Series([None] * frame.height, dtype=pl.String)


def _synthetic_rule(frame: pl.DataFrame, last_row: int) -> dict | None:
    """A formula format filling rows whose origin (any `origin*` column) is synthetic; None when there are none."""
    origins = [c for c in frame.columns if c.startswith("origin")]
    if not origins or not frame.select(pl.any_horizontal(pl.col(c).cast(pl.String) == "synthetic"
                                                         for c in origins).any()).item():
        return None
    first = HEADER_ROW + 2  # Excel's row number of the first data row
    tests = ",".join(f'${xl_col_to_name(frame.columns.index(c))}{first}="synthetic"' for c in origins)
    return {"type": "formula", "criteria": f"=OR({tests})", "first_row": HEADER_ROW + 1, "last_row": last_row}


def _sheet(workbook: xlsxwriter.Workbook, name: str, frame: pl.DataFrame, units: dict[str, str],
           description: str, formats: dict) -> None:
    frame = frame.select(ci_beside_estimates(frame.columns))
    in_unit = [c for c in frame.columns if IN_UNIT.match(c) and frame[c].dtype.is_float()]
    column_formats = dict.fromkeys(in_unit, FORMATS["number"])
    column_formats.update({c: FORMATS["count"] for c in ("n", "n_a", "n_b", "weighted_n", "df") if c in frame.columns})
    column_formats.update({c: FORMATS["p"] for c in frame.columns if c.startswith("p_")})
    frame.write_excel(workbook, name, position=(HEADER_ROW, 0), table_style=TABLE_STYLE, table_name=name,
                      column_formats=column_formats, float_precision=3, autofit=True,
                      freeze_panes=(HEADER_ROW + 1, 0))
    sheet = workbook.get_worksheet_by_name(name)
    rule = _synthetic_rule(frame, HEADER_ROW + frame.height)
    title = f"{name}: {description}"
    if rule is not None:
        title += " SYNTHETIC rows (orange) come from generated microdata: never quote them."
        sheet.conditional_format(rule["first_row"], 0, rule["last_row"], frame.width - 1,
                                 {"type": "formula", "criteria": rule["criteria"], "format": formats["synthetic"]})
    sheet.write_string(TITLE_ROW, 0, title, formats["synthetic_title" if rule else "title"])
    proportion = _row_units(frame, units).is_in(PROPORTION_UNITS).fill_null(False)
    for column in in_unit:  # the stored value stays; only its format follows the row's unit
        index = frame.columns.index(column)
        for row, (value, is_proportion) in enumerate(zip(frame[column], proportion)):
            if is_proportion and value is not None:
                sheet.write_number(HEADER_ROW + 1 + row, index, value, formats["percent"])


def _dictionary(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    from pipelines.export import derived_dictionary

    rows = []
    for name, frame in frames.items():
        types = dict(zip(frame.columns, frame.to_arrow().schema.types))
        entries = {e["column"]: e for e in derived_dictionary(name, types)}
        rows += [entries[c] for c in ci_beside_estimates(frame.columns)]
    return pl.DataFrame(rows).select("table", "column", "type", "arrow_type", "description", "categories")


def _rounds(store: Path) -> pl.DataFrame:
    from pipelines.api import rounds

    return rounds(store).with_columns(
        pl.col("strata", "psu", "citations").list.join("; "),
        pl.col("inputs").list.eval(pl.format("module {}: {} (sha256 {})", pl.element().struct.field("module"),
                                             pl.element().struct.field("file"), pl.element().struct.field("sha256")))
        .list.join("; "),
    )


def write_workbook(store: Path, rounds: dict[str, RoundRecord], out: Path) -> tuple[list[str], list[Path]]:
    """Write `<out>/tables.xlsx` from the store version `store`; returns the lines to print and the file."""
    from pipelines.export import derived_frames

    frames = derived_frames(store)
    if "indicators" in frames:  # the policy frames leave beside the indicators, as in the Parquet export
        from pipelines.indicators.frames import frame_tags
        from pipelines.indicators.tables import POLICY_FRAMES

        frames["policy_frames"] = frame_tags(frames["indicators"]).select(
            pl.col(c).cast(t) for c, t in POLICY_FRAMES.items())
    if not frames:
        from pipelines.errors import NotInStore

        raise NotInStore("the store has no derived tables to write", where=str(store),
                         hint="Run `surveys indicators` and `surveys compare` first.")
    units = {}
    if "indicators" in frames:
        units = dict(frames["indicators"].select("indicator_id", "unit").unique("indicator_id").iter_rows())
    out.mkdir(parents=True, exist_ok=True)
    path = out / WORKBOOK
    with replaced_when_complete(path) as partial:
        with xlsxwriter.Workbook(partial) as workbook:
            formats = {
                "title": workbook.add_format({"bold": True}),
                "synthetic_title": workbook.add_format({"bold": True, "font_color": "#C00000"}),
                "synthetic": workbook.add_format({"bg_color": SYNTHETIC_FILL}),
                "percent": workbook.add_format({"num_format": FORMATS["percent"]}),
            }
            for name, frame in frames.items():
                description = (f"{frame.height:,} rows, each column described in the dictionary sheet; "
                               "proportions shown as percentages, the cells hold them as stored (0-1).")
                _sheet(workbook, name, frame, units, description, formats)
            for name, frame, text in (("dictionary", _dictionary(frames), "every column of the sheets before."),
                                      ("rounds", _rounds(store), "rounds in the store: kind, design, provenance.")):
                frame.write_excel(workbook, name, position=(HEADER_ROW, 0), table_style=TABLE_STYLE,
                                  table_name=name, autofit=True, freeze_panes=(HEADER_ROW + 1, 0))
                workbook.get_worksheet_by_name(name).write_string(TITLE_ROW, 0, f"{name}: {text}",
                                                                  formats["title"])
    synthetic = " (holds SYNTHETIC rows)" if any(r.synthetic for r in rounds.values()) else ""
    lines = [f"wrote {path}: sheets {', '.join([*frames, 'dictionary', 'rounds'])}{synthetic}"]
    return lines, [path]

