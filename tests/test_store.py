"""Store: hive layout, zstd with provenance metadata, manifest, atomic swap, and no work for unchanged inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import pipelines.store as store_module
from pipelines.refresh import refresh
from surveys.schema import SCHEMA_VERSION, polars_schema
from tests.conftest import shared_path


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw" / "enpove" / "2022"
    shutil.copytree(shared_path("data", "enpove", "2022"), folder)
    return tmp_path / "raw"


def test_layout_metadata_and_manifest(raw, tmp_path):
    store = tmp_path / "store"
    assert refresh(raw, store).written == ["enpove/2022"]
    for table in ("households", "persons"):
        path = store / table / "source=enpove" / "round=2022" / "part-0.parquet"
        meta = pq.read_metadata(path)
        assert meta.row_group(0).column(0).compression == "ZSTD"
        kv = meta.metadata
        assert kv[b"schema_version"].decode() == SCHEMA_VERSION
        assert len(kv[b"crosswalk_sha256"]) == 64
        assert {i["module"] for i in json.loads(kv[b"inputs"])} == {"100", "200", "300", "300_1", "500", "700", "800"}
        assert pl.read_parquet(path).schema == polars_schema(table)
    manifest = json.loads((store / "manifest.json").read_text())
    wave = manifest["waves"]["enpove/2022"]
    assert wave["rows"] == {"households": 3739, "persons": 12487}
    assert wave["synthetic"] is False
    assert all(len(i["sha256"]) == 64 for i in wave["inputs"])
    # INEI's labelled CSV of module 100 has no SEGMENTO: the fallback PSU is used, and the manifest says so.
    assert wave["design"]["psu"] == ["CONGLOMERADO"] and "Fallback" in wave["design"]["note"]


def test_second_refresh_with_unchanged_inputs_does_no_work(raw, tmp_path, monkeypatch):
    store = tmp_path / "store"
    refresh(raw, store)
    version = store.resolve()
    monkeypatch.setattr("pipelines.refresh.write_store", lambda *a, **k: pytest.fail("wrote the store"))
    report = refresh(raw, store)
    assert report.unchanged == ["enpove/2022"] and not report.written
    assert store.resolve() == version


def test_changed_input_is_redone(raw, tmp_path):
    store = tmp_path / "store"
    refresh(raw, store)
    path = raw / "enpove" / "2022" / "Educación.csv"
    path.write_bytes(path.read_bytes() + b"")  # same bytes: still unchanged
    assert refresh(raw, store).unchanged == ["enpove/2022"]
    frame = pl.read_csv(path, infer_schema=False)
    frame.head(frame.height - 1).write_csv(path)  # one person fewer in module 500
    assert refresh(raw, store).written == ["enpove/2022"]


def test_interrupted_refresh_leaves_the_previous_store_whole(raw, tmp_path, monkeypatch):
    store = tmp_path / "store"
    refresh(raw, store)
    before = pl.read_parquet(store / "persons")
    calls = {"n": 0}
    real_write = store_module._write_table

    def dies_on_second_table(frame, path, record):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-write")
        real_write(frame, path, record)

    monkeypatch.setattr(store_module, "_write_table", dies_on_second_table)
    with pytest.raises(KeyboardInterrupt):
        refresh(raw, store, force=True)
    assert pl.read_parquet(store / "persons").equals(before)
    monkeypatch.undo()
    assert refresh(raw, store, force=True).ok  # a leftover partial version does not block the next refresh
    assert pl.read_parquet(store / "persons").equals(before)


def test_swap_replaces_a_plain_directory_store(raw, tmp_path):
    store = tmp_path / "plain"
    store.mkdir()
    (store / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "waves": {}}))
    assert refresh(raw, store).ok
    assert store.is_symlink() and os.path.exists(store / "manifest.json")
