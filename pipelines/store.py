"""Store: the harmonised Parquet store, its manifest, and the atomic swap that makes a refresh all-or-nothing.

Layout (hive partitions, zstd)::

    <store>/households/source=enpove/round=2022/part-0.parquet
    <store>/persons/source=enpove/round=2022/part-0.parquet
    <store>/manifest.json

`<store>` is a symbolic link to one complete version under `<store>.versions/`. A refresh builds a new version
beside the current one (unchanged partitions are hard-linked, not copied) and then replaces the link in one
`os.replace`, which is atomic on POSIX: a reader sees the old store or the new one, never a mixture, and a refresh
that fails or is killed leaves the old store as it was. Rounds are stacked only here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from surveys.schema import SCHEMA_VERSION

TABLES = ("households", "persons")
MANIFEST = "manifest.json"
KEEP_VERSIONS = 2  # the current version and the one before it


@dataclass(frozen=True)
class WaveRecord:
    """What the manifest says about one stored round."""

    source: str
    round: str
    synthetic: bool
    inputs: tuple[dict, ...]  # file, module, sha256, encoding
    crosswalk_sha256: str
    schema_version: str
    rows: dict[str, int]
    notes: tuple[str, ...]
    refreshed_at: str
    design: dict = field(default_factory=dict)  # weight, strata and PSU source columns used, lonely_psu, note

    @property
    def name(self) -> str:
        return f"{self.source}/{self.round}"

    def fingerprint(self) -> tuple:
        """What must change for a refresh to redo this round."""
        return (self.schema_version, self.crosswalk_sha256, tuple(sorted(i["sha256"] for i in self.inputs)))


def partition(root: Path, table: str, source: str, round_: str) -> Path:
    return root / table / f"source={source}" / f"round={round_}"


def read_manifest(store: Path) -> dict[str, WaveRecord]:
    """The stored rounds by `source/round`; empty when there is no store yet."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return {}
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: WaveRecord(**{**w, "inputs": tuple(w["inputs"]), "notes": tuple(w["notes"])})
        for name, w in raw["waves"].items()
    }


def _write_table(frame: pl.DataFrame, path: Path, record: WaveRecord) -> None:
    path.mkdir(parents=True, exist_ok=True)
    table = frame.to_arrow()
    metadata = {
        **(table.schema.metadata or {}),
        b"schema_version": record.schema_version.encode(),
        b"crosswalk_sha256": record.crosswalk_sha256.encode(),
        b"inputs": json.dumps(record.inputs).encode(),
        b"synthetic": str(record.synthetic).lower().encode(),
    }
    pq.write_table(table.replace_schema_metadata(metadata), path / "part-0.parquet", compression="zstd")


def _link_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=os.link)


def _new_version(store: Path) -> Path:
    versions = store.parent / f"{store.name}.versions"
    versions.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return versions / f"{stamp}-{uuid.uuid4().hex[:8]}"


def _swap(store: Path, version: Path) -> None:
    if store.exists() and not store.is_symlink():
        # A plain directory from elsewhere becomes the first version, so it too can be swapped atomically.
        legacy = _new_version(store)
        store.rename(legacy)
        os.symlink(os.path.relpath(legacy, store.parent), store)
    link = store.parent / f".{store.name}.{uuid.uuid4().hex[:8]}.link"
    os.symlink(os.path.relpath(version, store.parent), link)
    os.replace(link, store)


def _prune(store: Path) -> None:
    versions = store.parent / f"{store.name}.versions"
    current = store.resolve()
    old = sorted(p for p in versions.iterdir() if p.is_dir() and p.resolve() != current)
    for path in old[: max(0, len(old) - (KEEP_VERSIONS - 1))]:
        shutil.rmtree(path, ignore_errors=True)


def _carry_derived(store: Path, staging: Path) -> dict:
    """Derived tables travel to the new version as they were; their manifest entry shows they may be stale."""
    path = store / MANIFEST
    derived = json.loads(path.read_text(encoding="utf-8")).get("derived", {}) if path.exists() else {}
    for name in derived:
        if (store / name).exists():
            _link_tree(store / name, staging / name)
    return derived


def write_store(store: Path, updates: dict[str, tuple[WaveRecord, dict[str, pl.DataFrame]]]) -> Path:
    """Write a new store version with `updates` (round name -> record and tables) and swap it in atomically.

    Rounds not in `updates` are carried over unchanged (hard links). Returns the new version's folder.
    """
    store = Path(store)
    previous = read_manifest(store)
    version = _new_version(store)
    staging = version.with_name(version.name + ".partial")
    for name, record in previous.items():
        if name in updates:
            continue
        for table in TABLES:
            _link_tree(partition(store, table, record.source, record.round),
                       partition(staging, table, record.source, record.round))
    derived = _carry_derived(store, staging)
    for record, tables in updates.values():
        for table in TABLES:
            _write_table(tables[table], partition(staging, table, record.source, record.round), record)
    waves = {**previous, **{name: record for name, (record, _) in updates.items()}}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "refreshed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "waves": {name: {**record.__dict__, "inputs": list(record.inputs), "notes": list(record.notes)}
                  for name, record in sorted(waves.items())},
        "derived": derived,
    }
    (staging / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    staging.rename(version)
    _swap(store, version)
    _prune(store)
    return version


def write_derived(store: Path, tables: dict[str, pl.DataFrame]) -> Path:
    """Replace derived tables (`indicators`, `comparisons`) in a new store version, swapped in atomically.

    The manifest records, per derived table, its rows and the stored rounds it was built from, so a later
    refresh that changes a round makes it visibly stale (`derived_is_current`).
    """
    store = Path(store)
    if not (store / MANIFEST).exists():
        raise FileNotFoundError(f"{store}: no store yet; run `surveys refresh` first")
    version = _new_version(store)
    staging = version.with_name(version.name + ".partial")
    _link_tree(store.resolve(), staging)
    manifest = json.loads((staging / MANIFEST).read_text(encoding="utf-8"))
    built_from = _waves_fingerprint(manifest)
    for name, frame in tables.items():
        target = staging / name
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        frame.write_parquet(target / "part-0.parquet", compression="zstd")
        manifest.setdefault("derived", {})[name] = {
            "rows": frame.height, "built_from": built_from,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    (staging / MANIFEST).unlink()  # a hard link to the old version's manifest: write a new file, not through it
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    staging.rename(version)
    _swap(store, version)
    _prune(store)
    return version


def _waves_fingerprint(manifest: dict) -> str:
    return json.dumps({n: [w["crosswalk_sha256"], sorted(i["sha256"] for i in w["inputs"])]
                       for n, w in sorted(manifest["waves"].items())}, sort_keys=True)


def derived_is_current(store: Path, name: str) -> bool:
    """True when derived table `name` exists and was built from the rounds now in the store."""
    path = Path(store) / MANIFEST
    if not path.exists() or not (Path(store) / name / "part-0.parquet").exists():
        return False
    manifest = json.loads(path.read_text(encoding="utf-8"))
    derived = manifest.get("derived", {}).get(name)
    return derived is not None and derived["built_from"] == _waves_fingerprint(manifest)


def derived_built_at(store: Path, name: str) -> str | None:
    """When derived table `name` was last built (ISO time), or None if never."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("derived", {}).get(name, {}).get("built_at")


def read_derived(store: Path, name: str) -> pl.DataFrame:
    """A derived table (`indicators`, `comparisons`) from the store."""
    path = Path(store) / name / "part-0.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not in the store; run `surveys {name}` first")
    return pl.read_parquet(path)


def scan_table(store: Path, table: str, *, source: str | None = None, round_: str | None = None) -> pl.LazyFrame:
    """Lazily read one harmonised table from the store, optionally one source and round."""
    root = Path(store) / table
    if not root.exists():
        raise FileNotFoundError(f"{root}: no `{table}` in the store; run `surveys refresh` first")
    frame = pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=False)
    if source is not None:
        frame = frame.filter(pl.col("source") == source)
    if round_ is not None:
        frame = frame.filter(pl.col("round") == round_)
    return frame
