"""Helpers shared by test modules: where the read-only shared material lives (beside the repository, never copied
in), the fixture round in INEI's layout, copies of the repository's spec folders to break, and the `surveys`
command line run in-process (`run_surveys`).

Plain constants and functions, not fixtures: test modules need some of them at import time (module constants,
parametrize lists) where a fixture cannot reach. `conftest.py` builds its fixtures from them; no test module imports
another test module or a conftest.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import traceback
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Run:
    """What a user of `surveys` saw: the exit code, stdout and stderr, and both as the terminal interleaved them."""

    exit_code: int
    output: str
    stdout: str
    stderr: str
    exception: BaseException | None  # one that escaped `main`: the user saw its traceback (also in `stderr`)


class _Stream(io.StringIO):
    """One captured stream that also writes into the transcript both streams share."""

    def __init__(self, transcript: io.StringIO):
        super().__init__()
        self.transcript = transcript

    def write(self, text: str) -> int:
        self.transcript.write(text)
        return super().write(text)


def run_surveys(*args: object) -> Run:
    """Run `surveys ARGS` in this process (`pipelines.cli.main`, arguments as `str`), capturing what it prints.

    An exception escaping `main` is kept, not raised: its traceback goes to the captured stderr and the exit code is
    1, as for the user, so a test can assert that none reached them.
    """
    from pipelines.cli import main

    transcript = io.StringIO()
    out, err = _Stream(transcript), _Stream(transcript)
    exception = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except Exception as exc:
            exception, code = exc, 1
            traceback.print_exc()
    return Run(code, transcript.getvalue(), out.getvalue(), err.getvalue(), exception)
