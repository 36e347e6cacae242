"""The command line as a user meets it: the embedded default, a second refresh that does no work, status, the help,
exit codes of interrupted and unforeseen failures, and what a quick command imports."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from pipelines.store import current_version
from tests.helpers import REPO, SHARED, run_surveys


def test_embedded_default_is_synthetic_and_said_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/raw here
    first = run_surveys("refresh", "--store", "store")
    assert first.exit_code == 0, first.output
    assert "SYNTHETIC" in first.output and "stored enpove/2022" in first.output
    second = run_surveys("refresh", "--store", "store")
    assert second.exit_code == 0 and "no work done" in second.output
    persons = pl.read_parquet(current_version(tmp_path / "store") / "persons")
    assert persons["synthetic"].all()
    status = run_surveys("status", "--store", "store")
    assert "SYNTHETIC" in status.output and "enpove/2022" in status.output


def test_real_round_then_indicators_and_compare(tmp_path):
    store = str(tmp_path / "store")
    assert run_surveys("refresh", "--raw", str(SHARED / "data"), "--store", store).exit_code == 0
    result = run_surveys("indicators", "--store", store)
    assert result.exit_code == 0 and "microdata" in result.output
    result = run_surveys("compare", "--store", store, "--adjust", "bh")
    assert result.exit_code == 0 and "adjusted by bh" in " ".join(result.output.split())
    comparisons = pl.read_parquet(current_version(tmp_path / "store") / "comparisons")
    assert set(comparisons["adjust_method"]) == {"bh"}


def test_commands_without_a_store_fail_clearly(tmp_path):
    result = run_surveys("indicators", "--store", str(tmp_path / "nothing"))
    assert result.exit_code == 1


def test_python_dash_m_pipelines_is_the_same_program(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pipelines", "--help"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0
    for command in ("fetch", "refresh", "status", "indicators", "compare", "report", "export"):
        assert command in out.stdout
    nowhere = [sys.executable, "-m", "pipelines", "status", "--store", str(tmp_path / "nowhere")]
    out = subprocess.run(nowhere, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.startswith("error:") and len(out.stderr.splitlines()) == 1


def test_no_arguments_print_the_help_and_exit_2():
    result = run_surveys()
    assert result.exit_code == 2 and result.stdout.startswith("usage: surveys")
    for command in ("fetch", "refresh", "status", "indicators", "compare", "report", "export"):
        assert f"\n    {command}" in result.stdout
    options = run_surveys("compare", "--help")
    assert options.exit_code == 0 and not options.stderr
    assert "--adjust METHOD" in options.stdout and "(default: holm)" in options.stdout


def test_a_command_interrupted_exits_130_in_one_line(tmp_path, monkeypatch):
    import pipelines.jobs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipelines.jobs, "estimate", interrupted)
    result = run_surveys("indicators", "--store", tmp_path)
    assert result.exit_code == 130 and result.exception is None
    assert result.stderr.startswith("error: interrupted;") and len(result.output.splitlines()) == 1


def test_an_unforeseen_error_is_one_line_unless_surveys_debug(tmp_path, monkeypatch):
    import pipelines.jobs

    def broken(*args, **kwargs):
        raise ValueError("[bold]a bug[/bold]")

    monkeypatch.setattr(pipelines.jobs, "estimate", broken)
    result = run_surveys("indicators", "--store", tmp_path)
    assert result.exit_code == 1 and result.exception is None
    assert result.stderr == "error: unexpected ValueError: [bold]a bug[/bold] (SURVEYS_DEBUG=1 shows where)\n"
    monkeypatch.setenv("SURVEYS_DEBUG", "1")
    result = run_surveys("indicators", "--store", tmp_path)
    assert isinstance(result.exception, ValueError) and "Traceback" in result.stderr


@pytest.mark.parametrize("args", [["status", "--store", "/nonexistent"], ["status", "--help"]])
def test_a_quick_command_imports_no_cli_framework(args):
    """The start-up a command line framework adds (click, rich, a pydantic adapter per option: ~0.37 s) is not paid
    by commands that draw nothing (issue 11: four commands under 5 s)."""
    script = ("import sys; from pipelines.cli import main; code = main(sys.argv[1:]); "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'rich', 'pydantic'}))")
    out = subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.splitlines()[-1] == "[]", out.stdout + out.stderr
