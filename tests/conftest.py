"""Shared test fixtures, built from `tests/helpers.py` (the read-only shared material lives beside the repository,
never copied in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import ENPOVE_2022_FIXTURES, REPO, shared_path


@pytest.fixture(scope="session")
def enpove_2022_spec():
    from pipelines.specs import load_round_spec

    return load_round_spec(REPO / "surveys" / "enpove_2022")


@pytest.fixture(scope="session")
def enpove_2018_spec():
    from pipelines.specs import load_round_spec

    return load_round_spec(REPO / "surveys" / "enpove_2018")


@pytest.fixture(scope="session")
def real_enpove_2022(enpove_2022_spec):
    """The real II ENPOVE 2022 modules 100, 200, 500, harmonised."""
    from pipelines.harmonise import harmonise_round
    from pipelines.read import read_round

    modules = dict(read_round(shared_path("data", "enpove", "2022"), enpove_2022_spec))  # each module read once
    return modules, harmonise_round(enpove_2022_spec, modules)


@pytest.fixture(scope="session")
def enpove_2022_fixture_round(enpove_2022_spec):
    """The fixture round of II ENPOVE 2022 (modules 100-800, one file per module in INEI's layout), harmonised."""
    from pipelines.harmonise import harmonise_round
    from pipelines.read import read_round

    return harmonise_round(enpove_2022_spec, read_round(ENPOVE_2022_FIXTURES / "modules", enpove_2022_spec))


def _estimated(store: Path) -> Path:
    from pipelines.compare import run_compare
    from pipelines.indicators.estimate import run_indicators

    run_indicators(store)
    run_compare(store)
    return store


@pytest.fixture(scope="session")
def embedded_store(tmp_path_factory) -> Path:
    """The embedded default (SYNTHETIC ENPOVE 2018 and II ENPOVE 2022) with its indicators and comparisons, built
    once; tests read it and never write it."""
    from pipelines.refresh import refresh_embedded_default

    store = tmp_path_factory.mktemp("embedded-store") / "store"
    assert refresh_embedded_default(store).ok
    return _estimated(store)


@pytest.fixture(scope="session")
def real_store(tmp_path_factory) -> Path:
    """Both real ENPOVE rounds (../shared/data, read in place) with indicators and comparisons, built once."""
    from pipelines.refresh import refresh

    store = tmp_path_factory.mktemp("real-store") / "store"
    report = refresh(shared_path("data"), store)
    assert report.ok, report.failed
    return _estimated(store)
