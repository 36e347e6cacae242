"""A file a user keeps is replaced whole or not at all (`pipelines.atomic`)."""

from __future__ import annotations

import pytest

from pipelines.atomic import replaced_when_complete


def test_a_complete_write_replaces_the_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("old", encoding="utf-8")
    with replaced_when_complete(path) as partial:
        assert partial.parent == tmp_path and partial.name.startswith(".")
        assert path.read_text(encoding="utf-8") == "old", "the old file stays while the new one is written"
        partial.write_text("new", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_partial(tmp_path):
    path = tmp_path / "tables.xlsx"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(OSError, match="disk full"), replaced_when_complete(path) as partial:
        partial.write_text("half of the ne", encoding="utf-8")
        raise OSError(28, "disk full")
    assert path.read_text(encoding="utf-8") == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["tables.xlsx"]
