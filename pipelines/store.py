"""Store: the harmonised Parquet store, its manifest, and the atomic swap that makes a refresh all-or-nothing.

The store is a folder the package owns and marks::

    <store>/STORE.json                     format, format version, store id, current version (the pointer)
    <store>/manifest.json                  a copy of the current version's manifest (where the old layout had it)
    <store>/.lock                          held by the one process writing the store
    <store>/versions/<id>/manifest.json    one complete version:
    <store>/versions/<id>/households/source=enpove/round=2022/part-0.parquet
    <store>/versions/<id>/persons/source=enpove/round=2022/part-0.parquet
    <store>/versions/<id>/indicators/part-0.parquet, comparisons/part-0.parquet   (derived tables)

A writer takes the lock, builds a new version in `versions/<id>.partial` (unchanged partitions are hard-linked, not
copied), renames it to `versions/<id>` and then replaces `STORE.json` with one `os.replace` of a file, which is
atomic on Windows and POSIX alike: a reader resolves the current version through `STORE.json` and sees the old
version or the new one, never a mixture. Old versions are pruned only after the new pointer is in place; a
`.partial` left by a killed or failed writer is removed by the next one. No symbolic link is made anywhere.

The store only ever deletes or moves what it created: a folder that is neither empty nor marked by `STORE.json` is
refused, and so is a store inside the raw folder or a raw folder inside the store. Every public reader also takes
a version folder itself (`current_version(store)`), so a job can pin what it read while a refresh swaps in another.
Rounds are stacked only here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import NotInStore, StoreError, StoreLocked
from surveys.schema import SCHEMA_VERSION

DEFAULT_STORE = Path("data/harmonized")  # where commands and the API look when no store is given
DEFAULT_RAW = Path("data/raw")  # where `surveys refresh` looks for rounds when no raw folder is given
TABLES = ("households", "persons")
# The derived tables, in the order the API, the exports and the workbook list them. A table the store holds that is
# not named here is still read, listed and exported (after these, by name): new tables need no code change.
DERIVED_TABLES = ("indicators", "comparisons", "contrasts")
MANIFEST = "manifest.json"
ROUNDS = "rounds"  # the manifest's key for the stored rounds
OLD_ROUNDS = "waves"  # its name in stores written before the glossary's word was used; read, never written
POINTER = "STORE.json"
VERSIONS = "versions"
LOCK = ".lock"
PARTIAL = ".partial"
STORE_FORMAT = "surveys-store"
FORMAT_VERSION = 1
KEEP_VERSIONS = 2  # the current version and the one before it
LOCK_TIMEOUT = float(os.environ.get("SURVEYS_LOCK_TIMEOUT", "600"))  # seconds a writer waits for another


@dataclass(frozen=True)
class RoundRecord:
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


# ---------------------------------------------------------------------------------------------------------------
# Where things are: the pointer and the current version


def is_store(store: Path) -> bool:
    """True when `store` is a folder marked as a store by this package (it holds `STORE.json`)."""
    return (Path(store) / POINTER).is_file()


def _load_json(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise StoreError(f"the {what} is not UTF-8 text ({exc.reason})", where=str(path),
                         hint="The store is damaged: run `surveys refresh --force` into a new --store.") from exc
    except json.JSONDecodeError as exc:
        raise StoreError(f"the {what} is not valid JSON (truncated or damaged: {exc.msg} at character {exc.pos})",
                         where=str(path),
                         hint="The store is damaged: run `surveys refresh --force` into a new --store.") from exc
    if not isinstance(data, dict):
        raise StoreError(f"the {what} is not a JSON object", where=str(path))
    return data


def read_pointer(store: Path) -> dict:
    """`STORE.json`: format, format_version, store_id, current (a version id, or None before the first write)."""
    path = Path(store) / POINTER
    pointer = _load_json(path, "store pointer")
    if pointer.get("format") != STORE_FORMAT:
        raise StoreError(f"not a surveys store pointer (format {pointer.get('format')!r})", where=str(path))
    if pointer.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"store format version {pointer.get('format_version')!r}; this package reads version "
                         f"{FORMAT_VERSION}", where=str(path), hint="Install the package version that wrote it.")
    current = pointer.get("current")
    if current is not None and (not isinstance(current, str) or "/" in current or "\\" in current
                                or current in ("", ".", "..")):
        raise StoreError(f"the current version {current!r} is not a version id", where=str(path))
    return pointer


def current_version(store: Path) -> Path | None:
    """The folder of the store's current version, resolved through `STORE.json`; None when there is none yet.

    `store` may also be a version folder itself (it holds `manifest.json`): then it is returned as it is, so a job
    that pinned a version reads that one even after a refresh has swapped in another.
    """
    store = Path(store)
    if (store / POINTER).is_file():
        current = read_pointer(store).get("current")
        if current is None:
            return None
        version = store / VERSIONS / current
        if not (version / MANIFEST).is_file():
            raise StoreError(f"the current version {current} named in {POINTER} is missing or incomplete",
                             where=str(store),
                             hint="The store is damaged: run `surveys refresh --force` into a new --store.")
        return version
    if (store / MANIFEST).is_file():
        return store
    return None


def _version_or_fail(store: Path) -> Path:
    version = current_version(store)
    if version is None:
        raise NotInStore("no store yet", where=str(store), hint="Run `surveys refresh` first.")
    return version


def read_manifest(store: Path) -> dict[str, RoundRecord]:
    """The stored rounds by `source/round`; empty when there is no store yet."""
    version = current_version(store)
    if version is None:
        return {}
    raw = _manifest(version)
    try:
        return {
            name: RoundRecord(**{**r, "inputs": tuple(r["inputs"]), "notes": tuple(r["notes"])})
            for name, r in raw[ROUNDS].items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"the store manifest lacks or mangles a field ({exc})", where=str(version / MANIFEST),
                         hint="The store is damaged: run `surveys refresh --force` into a new --store.") from exc


def _manifest(version: Path) -> dict:
    """The manifest of a version; one written before rounds were called rounds (key `waves`) is read as if it said
    `rounds`, so that the next write, which rewrites the whole manifest, stores the new key."""
    manifest = _load_json(version / MANIFEST, "store manifest")
    if ROUNDS not in manifest and OLD_ROUNDS in manifest:
        manifest = {(ROUNDS if key == OLD_ROUNDS else key): value for key, value in manifest.items()}
    return manifest


# ---------------------------------------------------------------------------------------------------------------
# Where a store may be, and the writers' lock


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_store_location(store: Path, raw: Path | None = None) -> None:
    """Refuse a store that would hold or be held by the raw folder, or that cannot be a folder (a file on its
    path). Nothing is created or changed."""
    store = Path(store)
    target = Path(os.path.abspath(store))
    for parent in [target, *target.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                what = "is a file" if parent == target else f"is under {parent}, which is a file"
                raise StoreError(f"the store {what}, not a folder", where=str(store),
                                 hint="Give --store a new or empty folder, or an existing store.")
            break
    if raw is not None:
        raw_path, store_path = Path(raw).resolve(), store.resolve()
        if _inside(store_path, raw_path):
            raise StoreError(f"the store would be inside the raw folder {raw}; a refresh must never write there",
                             where=str(store), hint="Give --store a folder outside --raw.")
        if _inside(raw_path, store_path):
            raise StoreError(f"the raw folder {raw} is inside the store; the store must never hold input files",
                             where=str(store), hint="Give --store a folder outside --raw.")


def _legacy_symlink_store(store: Path) -> bool:
    return store.is_symlink() and Path(os.readlink(store)).parent.name == f"{store.name}.versions"


def _migrate_legacy(store: Path) -> None:
    """The earlier layout, made by this package: `<store>` a symbolic link to `<store>.versions/<id>/`. Its current
    version moves into a marked store folder and the link is removed (both this package's); `<store>.versions/`,
    with any older versions, is left where it is, and the user is told it can be deleted."""
    target = store.parent / os.readlink(store)
    if not (target / MANIFEST).is_file():
        raise StoreError(f"a store in the old format (a symbolic link into {store.name}.versions/) whose current "
                         "version is missing or incomplete", where=str(store),
                         hint=f"Delete {store} and {store.name}.versions/ (both made by `surveys refresh`), then "
                              "refresh again.")
    staging = store.parent / f".{store.name}.migrating-{uuid.uuid4().hex[:8]}"
    (staging / VERSIONS).mkdir(parents=True)
    target.rename(staging / VERSIONS / target.name)
    _write_pointer(staging, {"format": STORE_FORMAT, "format_version": FORMAT_VERSION, "store_id": uuid.uuid4().hex,
                             "current": target.name, "migrated_from": f"{store.name}.versions/{target.name}"})
    _copy_manifest(staging, staging / VERSIONS / target.name)
    os.unlink(store)  # the old layout's link, not what it pointed to
    staging.rename(store)
    notify(f"{store}: the store moved from the old layout (a symbolic link into {store.name}.versions/) into a "
           f"store folder; {target.parent} keeps only older versions and can be deleted")


def _check_ours(store: Path) -> None:
    """A writer may use `store` only if it is absent, an empty folder or a marked store."""
    if _legacy_symlink_store(store):
        raise StoreError(
            f"a store in the old format (a symbolic link into {store.name}.versions/), which this version no "
            "longer writes", where=str(store),
            hint=f"Delete {store} and {store.name}.versions/ (both made by `surveys refresh`), then refresh again.")
    if not store.exists():
        return
    if not store.is_dir():
        raise StoreError("the store is a file, not a folder; it is left as it is", where=str(store),
                         hint="Give --store a new or empty folder, or an existing store.")
    if is_store(store):
        read_pointer(store)
        return
    entries = sorted(p.name for p in store.iterdir() if p.name != LOCK)
    if entries:
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise StoreError(f"the folder exists and is not a surveys store (no {POINTER}); it holds {shown}, which "
                         "a refresh would never touch", where=str(store),
                         hint="Give --store a new or empty folder, or an existing store.")


_held = threading.local()


def _notify(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


notify: Callable[[str], None] = _notify  # how the store tells the user something (a writer waiting, a migration)


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":  # pragma: no cover - exercised on Windows
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as exc:
        if getattr(exc, "errno", None) in (11, 13, 35, 36):  # EAGAIN, EACCES, EDEADLK (Windows), EWOULDBLOCK
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if os.name == "nt":  # pragma: no cover
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


_HOLDER_AT = 16  # the holder's description is written past the locked byte (Windows locks are mandatory)


def _holder(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(_HOLDER_AT)
            text = handle.read(200).decode("utf-8", errors="replace").strip("\x00 \n")
    except OSError:
        return ""
    return f" ({text})" if text else ""


@contextlib.contextmanager
def store_lock(store: Path, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's writer lock (`<store>/.lock`); re-entrant within a thread.

    A second writer waits, saying so once, up to `timeout` seconds (default `SURVEYS_LOCK_TIMEOUT`, 600), then
    raises `StoreLocked` naming the lock file and its holder. The operating system releases the lock when the
    holding process ends, however it ends, so a killed refresh never leaves the store locked.
    """
    store = Path(store)
    key = os.path.normcase(os.path.abspath(store))
    held = getattr(_held, "stores", None)
    if held is None:
        held = _held.stores = {}
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    path = store / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        started, said = time.monotonic(), False
        while not _try_lock(fd):
            waited = time.monotonic() - started
            if waited >= timeout:
                raise StoreLocked(
                    f"another surveys process{_holder(path)} is writing the store; gave up after waiting "
                    f"{waited:.0f} s", where=str(store),
                    hint=f"Let it finish and run the command again (the lock is {path}; its process releases it "
                         "when it ends, and SURVEYS_LOCK_TIMEOUT sets the wait in seconds).")
            if not said:
                notify(f"waiting for another surveys process{_holder(path)} writing {store} "
                        f"(up to {timeout:.0f} s)…")
                said = True
            time.sleep(0.05)
        try:
            os.lseek(fd, _HOLDER_AT, os.SEEK_SET)
            info = f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}".encode().ljust(64)
            os.write(fd, info)
        except OSError:
            pass  # the description is a courtesy; the lock is what counts
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # an idle lock file is empty: a failed command leaves the store byte-identical
            _unlock(fd)
    finally:
        os.close(fd)


def _write_pointer(store: Path, pointer: dict) -> None:
    """Replace `STORE.json` atomically: a reader sees the old pointer or the new one, never a part."""
    tmp = store / f".{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            json.dump(pointer, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        for attempt in range(100):
            try:
                os.replace(tmp, store / POINTER)
                break
            except PermissionError:  # Windows: a reader has the old pointer open for a moment
                if os.name != "nt" or attempt == 99:
                    raise
                time.sleep(0.02)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove_leftovers(store: Path) -> None:
    """Staging folders and pointer drafts of writers that were killed or failed (only a lock holder calls it)."""
    versions = store / VERSIONS
    if versions.is_dir():
        for path in versions.iterdir():
            if path.name.endswith(PARTIAL):
                shutil.rmtree(path, ignore_errors=True)
    for path in [*store.glob(f".{POINTER}.*.tmp"), *store.glob(f".{MANIFEST}.*.tmp")]:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def open_for_writing(store: Path, *, raw: Path | None = None, timeout: float | None = None) -> Iterator[Path]:
    """Check that `store` may be written (see `check_store_location`), make it a store if it is a new or empty
    folder, hold its lock, and remove what killed writers left; yields the store folder."""
    store = Path(store)
    check_store_location(store, raw)
    if _legacy_symlink_store(store):
        _migrate_legacy(store)
    _check_ours(store)
    store.mkdir(parents=True, exist_ok=True)
    with store_lock(store, timeout=timeout):
        _check_ours(store)  # another writer may have made it a store meanwhile; nothing else may have appeared
        made = not is_store(store)
        if made:
            _write_pointer(store, {"format": STORE_FORMAT, "format_version": FORMAT_VERSION,
                                   "store_id": uuid.uuid4().hex, "current": None,
                                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        _remove_leftovers(store)
        try:
            yield store
        finally:
            # The first write failed: unmark the folder again, so it is as it was (the idle lock file stays for
            # anyone waiting on it; an empty folder or one holding only it counts as empty). Never masks the error.
            with contextlib.suppress(OSError, StoreError):
                if made and read_pointer(store).get("current") is None:
                    (store / POINTER).unlink()
                    with contextlib.suppress(OSError):
                        (store / VERSIONS).rmdir()


# ---------------------------------------------------------------------------------------------------------------
# Writing a version


def _write_table(frame: pl.DataFrame, path: Path, record: RoundRecord) -> None:
    path.mkdir(parents=True, exist_ok=True)
    # polars writes the same columns and Arrow schema as pyarrow's writer did, with the provenance as the file's
    # key-value metadata; a refresh then does not import pyarrow (a quarter of a second).
    frame.write_parquet(path / "part-0.parquet", compression="zstd", metadata={
        "schema_version": record.schema_version,
        "crosswalk_sha256": record.crosswalk_sha256,
        "inputs": json.dumps(record.inputs),
        "synthetic": str(record.synthetic).lower(),
    })


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links (FAT, some network shares): copy instead
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=_link_or_copy)


def _new_version_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def _swap(store: Path, version_id: str) -> str | None:
    """Point the store at `version_id`; returns the version it pointed at before."""
    pointer = read_pointer(store)
    previous = pointer.get("current")
    _write_pointer(store, {**pointer, "current": version_id,
                           "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return previous


def _prune(store: Path, keep: set[str]) -> None:
    """Remove versions other than `keep`, after the pointer names the new one (a reader of the one before it has
    time to finish)."""
    for path in (store / VERSIONS).iterdir():
        if path.is_dir() and path.name not in keep and not path.name.endswith(PARTIAL):
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _new_version(store: Path) -> Iterator[tuple[Path, dict]]:
    """Stage a version (`versions/<id>.partial`), let the caller fill it, then publish it: rename, swap the
    pointer, prune. A failure removes the staging folder and leaves the store as it was."""
    version_id = _new_version_id()
    staging = store / VERSIONS / f"{version_id}{PARTIAL}"
    staging.mkdir(parents=True)
    state: dict = {}
    try:
        yield staging, state
        staging.rename(store / VERSIONS / version_id)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = _swap(store, version_id)
    state["version"] = store / VERSIONS / version_id
    _copy_manifest(store, state["version"])
    _prune(store, {version_id, previous} if previous else {version_id})


def _copy_manifest(store: Path, version: Path) -> None:
    """`<store>/manifest.json`: a copy of the current version's manifest for tools that read it where the earlier
    layout had it (replaced atomically after the pointer; the pointer, `STORE.json`, is what readers follow)."""
    tmp = store / f".{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        shutil.copyfile(version / MANIFEST, tmp)
        os.replace(tmp, store / MANIFEST)
    except OSError:
        pass  # a courtesy copy: the store is whole without it
    finally:
        if tmp.exists():
            tmp.unlink()


def _carry_derived(current: Path | None, staging: Path) -> dict:
    """Derived tables travel to the new version as they were; their manifest entry shows they may be stale."""
    if current is None:
        return {}
    derived = _manifest(current).get("derived", {})
    for name in derived:
        if (current / name).exists():
            _link_tree(current / name, staging / name)
    return derived


def _write_manifest(staging: Path, manifest: dict) -> None:
    path = staging / MANIFEST
    if path.exists():
        path.unlink()  # a hard link to the old version's manifest: write a new file, not through it
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def write_store(store: Path, updates: dict[str, tuple[RoundRecord, dict[str, pl.DataFrame]]]) -> Path:
    """Write a new store version with `updates` (round name -> record and tables) and swap it in atomically.

    Rounds not in `updates` are carried over unchanged (hard links). Returns the new version's folder.
    """
    with open_for_writing(store) as store, _new_version(store) as (staging, state):
        current = current_version(store)
        previous = read_manifest(store)
        for name, record in previous.items():
            if name in updates:
                continue
            for table in TABLES:
                _link_tree(partition(current, table, record.source, record.round),
                           partition(staging, table, record.source, record.round))
        derived = _carry_derived(current, staging)
        for record, tables in updates.values():
            for table in TABLES:
                _write_table(tables[table], partition(staging, table, record.source, record.round), record)
        rounds = {**previous, **{name: record for name, (record, _) in updates.items()}}
        _write_manifest(staging, {
            "schema_version": SCHEMA_VERSION,
            "refreshed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            ROUNDS: {name: {**record.__dict__, "inputs": list(record.inputs), "notes": list(record.notes)}
                     for name, record in sorted(rounds.items())},
            "derived": derived,
        })
    return state["version"]


def write_derived(store: Path, tables: dict[str, pl.DataFrame], *, built_from: str | None = None) -> Path:
    """Replace derived tables (`indicators`, `comparisons`) in a new store version, swapped in atomically.

    The manifest records, per derived table, its rows and the stored rounds it was built from, so a later
    refresh that changes a round makes it visibly stale (`derived_is_current`). `built_from` is the
    `rounds_fingerprint` of the version the tables were computed from, taken when it was read; without it, the
    rounds in the store now (right only when nothing was swapped in meanwhile).
    """
    store = Path(store)
    _version_or_fail(store)
    with open_for_writing(store) as store, _new_version(store) as (staging, state):
        current = _version_or_fail(store)
        shutil.rmtree(staging)
        _link_tree(current, staging)
        manifest = _manifest(staging)
        built_from = built_from if built_from is not None else _rounds_fingerprint(manifest)
        for name, frame in tables.items():
            target = staging / name
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            frame.write_parquet(target / "part-0.parquet", compression="zstd")
            manifest.setdefault("derived", {})[name] = {
                "rows": frame.height, "built_from": built_from,
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        _write_manifest(staging, manifest)
    return state["version"]


# ---------------------------------------------------------------------------------------------------------------
# Reading


def _rounds_fingerprint(manifest: dict) -> str:
    return json.dumps({n: [r["crosswalk_sha256"], sorted(i["sha256"] for i in r["inputs"])]
                       for n, r in sorted(manifest[ROUNDS].items())}, sort_keys=True)


def rounds_fingerprint(store: Path) -> str:
    """What the rounds of the store's current version (or of a version folder) are: pass it to `write_derived`
    as `built_from` when a table was computed from that version."""
    return _rounds_fingerprint(_manifest(_version_or_fail(store)))


def derived_is_current(store: Path, name: str) -> bool:
    """True when derived table `name` exists and was built from the rounds now in the store."""
    version = current_version(store)
    if version is None or not (version / name / "part-0.parquet").exists():
        return False
    manifest = _manifest(version)
    derived = manifest.get("derived", {}).get(name)
    return derived is not None and derived["built_from"] == _rounds_fingerprint(manifest)


def derived_built_at(store: Path, name: str) -> str | None:
    """When derived table `name` was last built (ISO time), or None if never."""
    version = current_version(store)
    if version is None:
        return None
    return _manifest(version).get("derived", {}).get(name, {}).get("built_at")


def derived_tables(store: Path) -> tuple[str, ...]:
    """The derived tables the store's current version (or a version folder) holds, in `DERIVED_TABLES` order, any
    other after them by name; empty when there is no store yet."""
    version = current_version(store)
    if version is None:
        return ()
    names = [n for n in _manifest(version).get("derived", {}) if (version / n / "part-0.parquet").is_file()]
    return tuple(sorted(names, key=lambda n: (DERIVED_TABLES.index(n) if n in DERIVED_TABLES else len(DERIVED_TABLES),
                                              n)))


def read_derived(store: Path, name: str) -> pl.DataFrame:
    """A derived table (`indicators`, `comparisons`) from the store."""
    version = current_version(store)
    if version is None:
        raise NotInStore(f"no `{name}` table: no store yet", where=str(store),
                         hint=f"Run `surveys refresh`, then `surveys {name}`.")
    path = version / name / "part-0.parquet"
    if not path.exists():
        raise NotInStore(f"no `{name}` table in the store", where=str(store), hint=f"Run `surveys {name}` first.")
    return pl.read_parquet(path, glob=False)


def table_files(store: Path, table: str, *, source: str | None = None, round_: str | None = None) -> list[Path]:
    """The Parquet files of one harmonised table (optionally one source and round), found without globbing, so
    a store path holding `[`, `*` or `?` is read literally."""
    root = _version_or_fail(store) / table
    if not root.is_dir():
        raise NotInStore(f"no `{table}` table in the store", where=str(store), hint="Run `surveys refresh` first.")
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if source is not None:
        files = [p for p in files if f"source={source}" in p.relative_to(root).parts]
    if round_ is not None:
        files = [p for p in files if f"round={round_}" in p.relative_to(root).parts]
    return files


def scan_table(store: Path, table: str, *, source: str | None = None, round_: str | None = None) -> pl.LazyFrame:
    """Lazily read one harmonised table from the store's current version, optionally one source and round."""
    files = table_files(store, table)
    if not files:
        raise NotInStore(f"no `{table}` rows in the store", where=str(store), hint="Run `surveys refresh` first.")
    frame = pl.scan_parquet(files, hive_partitioning=False, glob=False)
    if source is not None:
        frame = frame.filter(pl.col("source") == source)
    if round_ is not None:
        frame = frame.filter(pl.col("round") == round_)
    return frame
