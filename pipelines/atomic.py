"""Files a user keeps (an export, a workbook, a report) are replaced whole or not at all.

The new content is written to a hidden sibling, `.<name>.partial`, and renamed over the file only when it is
complete: a rename within one folder is atomic, so a reader sees the old file or the new one, never half of one.
When writing fails (a full disk, an `--out` that is a folder, an interrupt) the sibling is removed and the old file
is left as it was. The store's versions follow the same rule at folder level (`pipelines.store`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replaced_when_complete(path: Path) -> Iterator[Path]:
    """The path to write `path`'s new content to; it replaces `path` when the block ends without an error.

    >>> with replaced_when_complete(out / "report.html") as partial:
    ...     partial.write_text(page, encoding="utf-8")
    """
    partial = path.with_name(f".{path.name}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()
