"""`surveys export --format xlsx`: the workbook read back with openpyxl against the Parquet export of the same store.

Every cell of every table sheet equals the Parquet value (xlsx keeps 16 significant digits), the header is frozen
under a title row, intervals sit beside their estimates, proportions are formatted as percentages only on rows
whose unit is a proportion, and SYNTHETIC rows are said and filled where, and only where, the store has them.
"""

from __future__ import annotations

import math

import openpyxl
import polars as pl
import pytest

import surveys as sv
from pipelines.export import run_export
from pipelines.workbook import FORMATS, ci_beside_estimates
from tests.helpers import run_surveys

REL = 1e-15  # xlsxwriter writes numbers with 16 significant digits


@pytest.fixture(scope="module", params=["embedded", "real"])
def exported(request, tmp_path_factory):
    store = request.getfixturevalue(f"{request.param}_store")
    out = tmp_path_factory.mktemp(f"xlsx-{request.param}")
    result = run_surveys("export", "--store", str(store), "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    run_export(store, out=out / "parquet")
    return request.param, store, out, openpyxl.load_workbook(out / "tables.xlsx")


def _rows(sheet) -> list[tuple]:
    return [tuple(c.value for c in row) for row in sheet.iter_rows(min_row=3)]


def _same(cell, value) -> bool:
    if value is None or value == "":  # Excel has no empty text: both are blank cells
        return cell is None
    if isinstance(value, float):
        return isinstance(cell, (int, float)) and math.isclose(cell, value, rel_tol=REL, abs_tol=1e-300)
    return cell == value


def test_sheets_and_frozen_headers(exported):
    _, store, _, workbook = exported
    assert workbook.sheetnames == [*sv.tables(store), "policy_frames", "dictionary", "rounds"]
    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A3", sheet.title
        assert sheet["A1"].value.startswith(f"{sheet.title}: ")


def test_every_cell_equals_the_parquet_export(exported):
    _, store, out, workbook = exported
    for name in [*sv.tables(store), "policy_frames"]:
        frame = pl.read_parquet(out / "parquet" / f"{name}.parquet")
        columns = ci_beside_estimates(frame.columns)
        sheet = workbook[name]
        assert [c.value for c in sheet[2]] == columns
        rows = _rows(sheet)
        assert len(rows) == frame.height
        for column_index, column in enumerate(columns):
            values = frame[column].cast(pl.String).to_list() if frame[column].dtype == pl.Enum else frame[column]
            bad = [(i, row[column_index], v) for i, (row, v) in enumerate(zip(rows, values))
                   if not _same(row[column_index], v)]
            assert not bad, (name, column, bad[:3])


def test_intervals_beside_estimates_and_percentages_by_unit(exported):
    _, _, _, workbook = exported
    sheet = workbook["indicators"]
    header = [c.value for c in sheet[2]]
    at = header.index("estimate")
    assert header[at:at + 3] == ["estimate", "ci_low", "ci_high"]
    unit = header.index("unit")
    units = set()
    for row in sheet.iter_rows(min_row=3):
        if row[at].value is None:
            continue
        units.add(row[unit].value)
        expected = FORMATS["percent"] if row[unit].value == "proportion" else FORMATS["number"]
        assert row[at].number_format == expected, row[unit].value
        assert row[at + 1].value is None or row[at + 1].number_format == expected, row[unit].value
    assert "proportion" in units and units - {"proportion"}  # soles (and published units) are not percentages
    comparisons = workbook["comparisons"]
    header = [c.value for c in comparisons[2]]
    for side in ("_a", "_b"):
        at = header.index(f"estimate{side}")
        assert header[at:at + 3] == [f"estimate{side}", f"ci_low{side}", f"ci_high{side}"]
    at = header.index("difference")
    assert header[at:at + 3] == ["difference", "ci_low", "ci_high"]
    assert {comparisons.cell(3, header.index(c) + 1).number_format for c in ("estimate_a", "difference")} <= {
        FORMATS["percent"], FORMATS["number"]}


def test_synthetic_mark_where_it_applies(exported):
    kind, _, _, workbook = exported
    for name in ("indicators", "comparisons"):
        sheet = workbook[name]
        rules = [r for rng in sheet.conditional_formatting for r in rng.rules]
        if kind == "embedded":
            assert "SYNTHETIC" in sheet["A1"].value
            assert any('"synthetic"' in formula for r in rules for formula in r.formula), name
        else:
            assert "SYNTHETIC" not in sheet["A1"].value and not rules


def test_dictionary_and_rounds_sheets(exported):
    kind, store, _, workbook = exported
    dictionary = _rows(workbook["dictionary"])
    expected = [(name, column) for name in [*sv.tables(store), "policy_frames"]
                for column in [c.value for c in workbook[name][2]]]
    assert [(r[0], r[1]) for r in dictionary] == expected
    assert all(r[4] for r in dictionary)  # every column described
    rounds = _rows(workbook["rounds"])
    stored = [(r[0], r[1], r[2]) for r in rounds if r[2] != "published"]
    kind_name = "synthetic" if kind == "embedded" else "microdata"
    assert stored == [("enpove", "2018", kind_name), ("enpove", "2022", kind_name)]


def test_a_new_derived_table_needs_only_its_column_descriptions(embedded_store, tmp_path, monkeypatch):
    """A stage that stores a new table (here a made-up `decomposition`) or new columns changes no export or API code:
    describing its columns in `derived_tables_dictionary.csv` is all it takes."""
    import shutil

    import pipelines.export as export
    from pipelines.store import write_derived

    store = tmp_path / "store"
    shutil.copytree(embedded_store, store)
    extra = pl.DataFrame({
        "concept_id": ["no_health_insurance"], "source": ["enpove"], "round": ["2018"], "unit": ["proportion"],
        "origin": ["synthetic"], "estimate_published": [0.9], "difference": [0.05], "ci_high_difference": [0.08],
        "ci_low_difference": [0.02], "kind": ["decomposition"]})
    write_derived(store, {"decomposition": extra})
    described = tmp_path / "derived_tables_dictionary.csv"
    rows = "".join(f"decomposition,{c},Test column {c}.,\n" for c in extra.columns)
    described.write_text(export.DERIVED_COLUMNS.read_text(encoding="utf-8") + rows, encoding="utf-8")
    monkeypatch.setattr(export, "DERIVED_COLUMNS", described)

    assert sv.tables(store)[-1] == "decomposition"
    assert sv.table(store, "decomposition", kind="decomposition", round="2018").height == 1
    paths = sv.export(store, format="xlsx", out=tmp_path / "out")
    sheet = openpyxl.load_workbook(paths[0])["decomposition"]
    assert [c.value for c in sheet[2]][-4:] == ["difference", "ci_low_difference", "ci_high_difference", "kind"]
    assert sheet.cell(3, [c.value for c in sheet[2]].index("difference") + 1).number_format == FORMATS["percent"]
    assert "SYNTHETIC" in sheet["A1"].value
    sv.export(store, out=tmp_path / "parquet")
    assert pl.read_parquet(tmp_path / "parquet" / "decomposition.parquet").equals(extra)
