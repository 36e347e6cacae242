"""docs/first-analysis.ipynb runs top to bottom on a fresh store (the embedded default, in an empty folder) and its
outputs are checked: the estimates it prints equal the stored indicator table, and its chart is a Plotly figure."""

from __future__ import annotations

import json
import math

import nbformat
import polars as pl
from nbclient import NotebookClient

import surveys as sv
from tests.helpers import REPO

NOTEBOOK = REPO / "docs" / "first-analysis.ipynb"


def _tagged(notebook, tag: str):
    return next(c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", []))


def test_the_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_on_the_embedded_default_and_matches_the_store(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # a failing cell raises here
    printed = "".join(o.get("text", "") for o in _tagged(notebook, "check").outputs if o.output_type == "stream")
    rows = json.loads(next(line for line in printed.splitlines() if line.startswith("{")))[
        "no_health_insurance_2022_by_sex"]
    store = tmp_path / "data" / "harmonized"
    assert sv.rounds(store).filter(pl.col("kind") == "synthetic").height == 2
    stored = sv.indicators(store, indicator="no_health_insurance", round="2022", domain="sex").sort("domain_value")
    assert [r["domain_value"] for r in rows] == stored["domain_value"].to_list() == ["female", "male"]
    for row, expected in zip(rows, stored.iter_rows(named=True)):
        for column in ("estimate", "se", "ci_low", "ci_high"):
            assert math.isclose(row[column], expected[column], rel_tol=1e-12), column
    figures = [o["data"]["application/vnd.plotly.v1+json"] for o in _tagged(notebook, "figure").outputs
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 1 and figures[0]["data"] and "insurance" in figures[0]["layout"]["title"]["text"]
    assert (tmp_path / "data" / "exports" / "tables.xlsx").is_file()
