"""Store: hive layout, zstd with provenance metadata, manifest, atomic swap, and no work for unchanged inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import pipelines.store as store_module
from pipelines.errors import StoreError
from pipelines.refresh import refresh
from pipelines.store import (
    current_version,
    derived_is_current,
    read_manifest,
    rounds_fingerprint,
    scan_table,
    write_derived,
    write_store,
)
from surveys.schema import SCHEMA_VERSION, polars_schema
from tests.helpers import REPO, shared_path
from tests.reports.helpers import build_store, indicators_frame, record


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw" / "enpove" / "2022"
    shutil.copytree(shared_path("data", "enpove", "2022"), folder)
    return tmp_path / "raw"


def test_layout_metadata_and_manifest(raw, tmp_path):
    store = tmp_path / "store"
    assert refresh(raw, store).written == ["enpove/2022"]
    for table in ("households", "persons"):
        path = current_version(store) / table / "source=enpove" / "round=2022" / "part-0.parquet"
        meta = pq.read_metadata(path)
        assert meta.row_group(0).column(0).compression == "ZSTD"
        kv = meta.metadata
        assert kv[b"schema_version"].decode() == SCHEMA_VERSION
        assert len(kv[b"crosswalk_sha256"]) == 64
        assert {i["module"] for i in json.loads(kv[b"inputs"])} == {"100", "200", "300", "300_1", "500", "700", "800"}
        assert pl.read_parquet(path).schema == polars_schema(table)
    manifest = json.loads((current_version(store) / "manifest.json").read_text())
    record = manifest["rounds"]["enpove/2022"]
    assert record["rows"] == {"households": 3739, "persons": 12487}
    assert record["synthetic"] is False
    assert all(len(i["sha256"]) == 64 for i in record["inputs"])
    # INEI's labelled CSV of module 100 has no SEGMENTO: the fallback PSU is used, and the manifest says so.
    assert record["design"]["psu"] == ["CONGLOMERADO"] and "Fallback" in record["design"]["note"]


def test_second_refresh_with_unchanged_inputs_does_no_work(raw, tmp_path, monkeypatch):
    store = tmp_path / "store"
    refresh(raw, store)
    version = current_version(store)
    monkeypatch.setattr("pipelines.refresh.write_store", lambda *a, **k: pytest.fail("wrote the store"))
    report = refresh(raw, store)
    assert report.unchanged == ["enpove/2022"] and not report.written
    assert current_version(store) == version


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
    before = pl.read_parquet(current_version(store) / "persons")
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
    assert pl.read_parquet(current_version(store) / "persons").equals(before)
    monkeypatch.undo()
    assert refresh(raw, store, force=True).ok  # a leftover partial version does not block the next refresh
    assert pl.read_parquet(current_version(store) / "persons").equals(before)


def test_a_plain_directory_that_is_not_a_store_is_refused_and_left_as_it_was(raw, tmp_path):
    store = tmp_path / "plain"
    store.mkdir()
    (store / "manifest.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "rounds": {}}))
    with pytest.raises(StoreError, match="not a surveys store"):
        refresh(raw, store)
    assert sorted(p.name for p in store.iterdir()) == ["manifest.json"] and not store.is_symlink()


def test_the_store_is_a_marked_folder_with_a_pointer_and_no_symlink(raw, tmp_path):
    store = tmp_path / "store"
    refresh(raw, store)
    pointer = json.loads((store / "STORE.json").read_text())
    assert pointer["format"] == "surveys-store" and pointer["format_version"] == 1 and len(pointer["store_id"]) == 32
    assert current_version(store) == store / "versions" / pointer["current"]
    assert not any(p.is_symlink() for p in [tmp_path, *tmp_path.rglob("*")])
    first = pointer["current"]
    refresh(raw, store, force=True)
    refresh(raw, store, force=True)
    versions = sorted(p.name for p in (store / "versions").iterdir())
    assert len(versions) == 2 and first not in versions  # the current one and the one before it


def test_a_store_of_the_old_symlinked_layout_is_moved_into_a_store_folder(raw, tmp_path, capsys):
    built = tmp_path / "built"
    refresh(raw, built)
    version = current_version(built)
    persons = scan_table(built, "persons").collect()
    old = tmp_path / "old.versions"
    old.mkdir()
    (old / "20200101T000000-older").mkdir()  # an older version the old layout kept
    version.rename(old / version.name)
    store = tmp_path / "old"
    os.symlink(os.path.relpath(old / version.name, tmp_path), store)
    assert read_manifest(store)  # readers follow the old link until a writer moves it
    assert refresh(raw, store).unchanged == ["enpove/2022"]  # moved, and nothing to redo
    assert store.is_dir() and not store.is_symlink() and (store / "STORE.json").is_file()
    assert scan_table(store, "persons").collect().equals(persons)
    assert sorted(p.name for p in old.iterdir()) == ["20200101T000000-older"]  # left for the user to delete
    assert "old layout" in capsys.readouterr().err


def _write_old_manifest(store: Path) -> None:
    """Rewrite the current version's manifest as stores written before the rename have it: the rounds under
    `waves`, everything else as it is."""
    path = current_version(store) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    old = {("waves" if key == "rounds" else key): value for key, value in manifest.items()}
    path.unlink()  # never write through a hard link another version shares
    path.write_text(json.dumps(old, indent=2), encoding="utf-8")


def _keep_2018(store: Path) -> None:
    households, persons = (scan_table(store, t, source="enpove", round_="2018").collect()
                           for t in ("households", "persons"))
    rows = {"households": households.height, "persons": persons.height}
    write_store(store, {"enpove/2018": (record("enpove", "2018", synthetic=False, rows=rows),
                                        {"households": households, "persons": persons})})


@pytest.mark.parametrize("write", [lambda store: write_derived(store, {"indicators": indicators_frame()}),
                                   _keep_2018], ids=["write_derived", "write_store"])
def test_a_manifest_with_the_old_key_waves_is_read_and_rewritten_with_rounds(tmp_path, write):
    store = build_store(tmp_path)
    rounds, built_from = read_manifest(store), rounds_fingerprint(store)
    _write_old_manifest(store)
    assert "rounds" not in json.loads((current_version(store) / "manifest.json").read_text(encoding="utf-8"))
    assert read_manifest(store) == rounds
    assert rounds_fingerprint(store) == built_from and derived_is_current(store, "indicators")
    write(store)
    manifest = json.loads((current_version(store) / "manifest.json").read_text(encoding="utf-8"))
    assert "waves" not in manifest and sorted(manifest["rounds"]) == ["enpove/2018", "enpove/2022"]
    assert read_manifest(store).keys() == rounds.keys()


def test_a_csv_round_is_refreshed_without_importing_pyarrow_or_pyreadstat(tmp_path):
    """Start-up is on the job's clock: a refresh of CSV files needs neither pyreadstat (it reads .sav and .dta only)
    nor pyarrow (polars writes the Parquet), and imports neither."""
    folder = tmp_path / "raw" / "enpove" / "2022"
    folder.mkdir(parents=True)
    for path in shared_path("data", "enpove", "2022").glob("*.csv"):
        shutil.copy(path, folder)
    code = ("import sys; from pipelines.refresh import refresh; report = refresh(sys.argv[1], sys.argv[2]); "
            "assert report.written == ['enpove/2022'], report; "
            "print(sorted(m for m in ('pyarrow', 'pyreadstat') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "raw"), str(tmp_path / "store")],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
