"""Fixtures for the estimation tests: the R `survey` reference data, read in place from ../shared."""

from __future__ import annotations

import polars as pl
import pytest

from tests.estimation.helpers import load_api


@pytest.fixture(scope="session")
def apiclus1() -> pl.DataFrame:
    return load_api("apiclus1")


@pytest.fixture(scope="session")
def apistrat() -> pl.DataFrame:
    return load_api("apistrat")
