"""Helpers shared by test modules: where the read-only shared material lives (beside the repository, never copied
in), the fixture round in INEI's layout, and copies of the repository's spec folders to break.

Plain constants and functions, not fixtures: test modules need some of them at import time (module constants,
parametrize lists) where a fixture cannot reach. `conftest.py` builds its fixtures from them; no test module imports
another test module or a conftest.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
ENPOVE_2022_RAW = SHARED / "data" / "enpove" / "2022"
# The fixture round of II ENPOVE 2022 modules 300-800 in INEI's layout (written by its seeded make_fixtures.py).
ENPOVE_2022_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "enpove_2022"


def shared_path(*parts: str) -> Path:
    """A path under ../shared that must exist: a missing reference fails the test, it never skips."""
    path = SHARED.joinpath(*parts)
    assert path.exists(), f"{path} is missing: tests read ../shared in place (see README)"
    return path


def catalogue_with(tmp_path: Path, name: str, edit: Callable[[str], str]) -> Path:
    """A copy of the catalogue folder (`surveys/indicators/`) with one file edited."""
    folder = tmp_path / "indicators"
    shutil.copytree(REPO / "surveys" / "indicators", folder)
    path = folder / name
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return folder
