"""The command line as a user meets it: the embedded default, a second refresh that does no work, status."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.store import current_version
from tests.helpers import REPO, SHARED


def test_embedded_default_is_synthetic_and_said_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/raw here
    runner = CliRunner()
    first = runner.invoke(app, ["refresh", "--store", "store"])
    assert first.exit_code == 0, first.output
    assert "SYNTHETIC" in first.output and "stored enpove/2022" in first.output
    second = runner.invoke(app, ["refresh", "--store", "store"])
    assert second.exit_code == 0 and "no work done" in second.output
    persons = pl.read_parquet(current_version(tmp_path / "store") / "persons")
    assert persons["synthetic"].all()
    status = runner.invoke(app, ["status", "--store", "store"])
    assert "SYNTHETIC" in status.output and "enpove/2022" in status.output


def test_real_round_then_indicators_and_compare(tmp_path):
    runner = CliRunner()
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["refresh", "--raw", str(SHARED / "data"), "--store", store]).exit_code == 0
    result = runner.invoke(app, ["indicators", "--store", store])
    assert result.exit_code == 0 and "microdata" in result.output
    result = runner.invoke(app, ["compare", "--store", store, "--adjust", "bh"])
    assert result.exit_code == 0 and "adjusted by bh" in " ".join(result.output.split())
    comparisons = pl.read_parquet(current_version(tmp_path / "store") / "comparisons")
    assert set(comparisons["adjust_method"]) == {"bh"}


def test_commands_without_a_store_fail_clearly(tmp_path):
    result = CliRunner().invoke(app, ["indicators", "--store", str(tmp_path / "nothing")])
    assert result.exit_code == 1


def test_python_dash_m_pipelines_is_the_same_program():
    out = subprocess.run([sys.executable, "-m", "pipelines", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("fetch", "refresh", "status", "indicators", "compare", "report", "export"):
        assert command in out.stdout
