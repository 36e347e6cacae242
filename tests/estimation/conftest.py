"""Fixtures for the estimation tests: the R `survey` reference data, read in place from ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
R_SURVEY = REPO_ROOT.parent / "shared" / "reference" / "r-survey"


def reference_file(name: str) -> Path:
    """A reference file that must exist: a missing file fails the test, it never skips."""
    path = R_SURVEY / name
    assert path.is_file(), f"{path} is missing: the R reference values are read in place from ../shared"
    return path


def load_api(name: str) -> pl.DataFrame:
    """One of R survey's `api` data sets (``NA`` is null)."""
    return pl.read_csv(reference_file(f"{name}.csv"), null_values="NA", infer_schema_length=None)


def load_expected() -> list[dict]:
    return json.loads(reference_file("expected.json").read_text())


@pytest.fixture(scope="session")
def apiclus1() -> pl.DataFrame:
    return load_api("apiclus1")


@pytest.fixture(scope="session")
def apistrat() -> pl.DataFrame:
    return load_api("apistrat")
