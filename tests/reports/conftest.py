"""Fixtures for the report tests: a tiny store with hand-made derived tables, a test catalogue, written reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from reports.labels import load_labels
from tests.reports.helpers import build_store, write_catalogue

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright. Missing, it FAILS: a report is only known to work once drawn."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: the browser test needs Debian's chromium (apt-get install -y chromium); "
        "it fails rather than skips so an untested report never passes CI")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in the dev extras
        pytest.fail("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()
