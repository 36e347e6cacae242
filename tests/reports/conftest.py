"""Fixtures for the report tests: a tiny store with hand-made derived tables, a test catalogue, written reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.labels import load_labels
from tests.reports.fixtures import build_store, write_catalogue


@pytest.fixture(scope="session")
def report_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="session")
def store(report_root) -> Path:
    return build_store(report_root)


@pytest.fixture(scope="session")
def surveys_dir(report_root) -> Path:
    return write_catalogue(report_root)


@pytest.fixture(scope="session")
def labels_es(surveys_dir):
    return load_labels("es", surveys_dir=surveys_dir)


@pytest.fixture(scope="session")
def labels_en(surveys_dir):
    return load_labels("en", surveys_dir=surveys_dir)


@pytest.fixture(scope="session")
def reports(store, surveys_dir, report_root) -> dict[str, Path]:
    """The report written in each language, with the test catalogue."""
    from reports.report import run_report

    paths = {}
    for lang in ("es", "en"):
        paths[lang] = report_root / f"report_{lang}.html"
        run_report(store, lang=lang, out=paths[lang], surveys_dir=surveys_dir)
    return paths
