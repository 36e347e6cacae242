"""Refresh: for every round found under the raw folder, read → harmonise → store, redoing only what changed.

The raw folder holds one folder per source and round, `<raw>/<source>/<round>/`, matched to the spec folder
`surveys/<source>_<round>/`. A round that fails (bad input) is reported and keeps what the store had for it; the
other rounds go on. With no raw data at all, the embedded default is a synthetic II ENPOVE 2022 round.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.errors import SourceFileError, SurveysError, UsageError
from pipelines.harmonise import harmonise_round, reading_order
from pipelines.read import check_round, find_module_files, read_round, sha256_of, unmatched_files
from pipelines.specs import RoundSpec, available_specs
from pipelines.store import RoundRecord, open_for_writing, read_manifest, write_store
from surveys.schema import SCHEMA_VERSION

Progress = Callable[[str, str], None]  # (round name, step) -> None


@dataclass
class RefreshReport:
    """What a refresh did, round by round."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def find_rounds(raw: Path, specs: list[RoundSpec]) -> list[tuple[RoundSpec, Path]]:
    """Pair each `<raw>/<source>/<round>/` folder with its spec; a folder without a spec is an error."""
    by_name = {(s.source, s.round): s for s in specs}
    pairs = []
    for folder in sorted(p for p in raw.glob("*/*") if p.is_dir()):
        key = (folder.parent.name, folder.name)
        if key not in by_name:
            known = sorted(f"{s}/{r}" for s, r in by_name)
            raise SurveysError(f"no spec for {key[0]}/{key[1]} (specs: {known})", where=str(folder),
                               hint="Add surveys/<source>_<round>/ or move the folder.")
        pairs.append((by_name[key], folder))
    return pairs


def _hashes(found: dict) -> dict[str, str]:
    return {module: sha256_of(f.path) for module, f in found.items()}


def _fingerprint(spec: RoundSpec, hashes: dict[str, str]) -> tuple:
    return (SCHEMA_VERSION, spec.crosswalk_sha256, tuple(sorted(hashes.values())))


def refresh_round(spec: RoundSpec, folder: Path, found: dict, hashes: dict[str, str] | Future, *, synthetic: bool,
                  progress: Progress):
    """Read and harmonise one round, one module at a time; returns its manifest record and tables. `hashes` (the
    input files' sha256) may still be being computed (a Future): the record waits for them, the read does not."""
    # Each module file is read while the one before it is harmonised (both mostly outside the GIL).
    with read_round(folder, spec, found=found, hashes=dict.fromkeys(found, "") if isinstance(hashes, Future)
                    else hashes, progress=lambda module: progress(spec.name, f"read and harmonise module {module}"),
                    ahead=reading_order(spec, found)) as modules:
        result = harmonise_round(spec, modules, synthetic=synthetic)
    hashes = hashes.result() if isinstance(hashes, Future) else hashes
    notes = result.notes + tuple(
        f"{found[m].path.name}: read as {e}, not UTF-8" for m, e in modules.encodings.items() if e == "cp1252"
    )
    unmatched = unmatched_files(folder, found)
    notes += (f"files in the folder that matched no module (not read): {', '.join(unmatched)}",) if unmatched else ()
    record = RoundRecord(
        source=spec.source, round=spec.round, synthetic=synthetic,
        inputs=tuple({"file": found[m].path.name, "module": m, "sha256": hashes[m], "encoding": modules.encodings[m]}
                     for m in sorted(found)),
        crosswalk_sha256=spec.crosswalk_sha256, schema_version=SCHEMA_VERSION,
        rows={"households": result.households.height, "persons": result.persons.height},
        notes=notes, refreshed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), design=result.design,
    )
    return record, {"households": result.households, "persons": result.persons}


def check_raw_folder(raw: Path) -> None:
    """A raw folder must exist, be a folder and hold at least one `<source>/<round>/` folder: a mistyped `--raw`
    is an error, never an empty refresh (nor the synthetic default)."""
    raw = Path(raw)
    hint = "--raw names a folder holding RAW/<source>/<round>/ folders, e.g. ../shared/data."
    if not raw.exists():
        raise UsageError("the raw folder does not exist", where=str(raw), hint=hint)
    if not raw.is_dir():
        raise UsageError("the raw folder is a file, not a folder", where=str(raw), hint=hint)
    if not has_raw_rounds(raw):
        held = sorted(p.name for p in raw.iterdir())
        shown = ", ".join(held[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "") if held else "nothing"
        raise UsageError(f"the raw folder holds no round folder <source>/<round>/ (it holds {shown})",
                         where=str(raw), hint=hint)


def refresh(raw: Path, store: Path, *, specs: list[RoundSpec] | None = None,
            progress: Progress = lambda name, step: None, force: bool = False) -> RefreshReport:
    """Refresh the store from every round under `raw`; see the module docstring.

    The raw folder is checked first (`check_raw_folder`), then the store (`pipelines.store.open_for_writing`:
    never a folder the package did not make, never inside the raw folder); the whole refresh holds the store's
    writer lock, so concurrent refreshes run one after the other.
    """
    check_raw_folder(Path(raw))
    with open_for_writing(Path(store), raw=Path(raw)):
        return _refresh_rounds(Path(raw), Path(store), specs=specs, progress=progress, force=force)


def _refresh_rounds(raw: Path, store: Path, *, specs: list[RoundSpec] | None = None,
                    progress: Progress = lambda name, step: None, force: bool = False) -> RefreshReport:
    from pipelines.synthetic import is_synthetic_round

    specs = specs if specs is not None else available_specs()
    report = RefreshReport()
    stored = read_manifest(store)
    updates = {}
    for spec, folder in find_rounds(Path(raw), specs):
        try:
            found = find_module_files(folder, spec)
            check_round(found, spec, specs)
            # The inputs' hashes decide whether a stored round can be kept; when there is nothing to compare them
            # with (forced, or a new round) they are only recorded, so they are computed in a thread beside the read.
            with ThreadPoolExecutor(max_workers=1) as pool:
                hashing = pool.submit(_hashes, found)
                if not force and spec.name in stored:
                    if stored[spec.name].fingerprint() == _fingerprint(spec, hashing.result()):
                        report.unchanged.append(spec.name)
                        continue
                record, tables = refresh_round(spec, folder, found, hashing, synthetic=is_synthetic_round(folder),
                                               progress=progress)
        except SurveysError as exc:
            report.failed[spec.name] = str(exc)
            continue
        except OSError as exc:  # unreadable file or folder: named, and the round keeps what the store had
            report.failed[spec.name] = str(SourceFileError(f"cannot be read ({exc.strerror or exc})",
                                                           where=str(exc.filename or folder)))
            continue
        except pl.exceptions.PolarsError as exc:  # a value no check anticipated: the round, not a traceback
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            report.failed[spec.name] = str(SourceFileError(f"could not be harmonised: {first}", where=str(folder)))
            continue
        updates[spec.name] = (record, tables)
        report.written.append(spec.name)
        report.notes[spec.name] = record.notes
    if updates:
        progress("store", "write and swap")
        write_store(store, updates)
    return report


def has_raw_rounds(raw: Path) -> bool:
    return Path(raw).is_dir() and any(p.is_dir() for p in Path(raw).glob("*/*"))


def stored_microdata(store: Path) -> list[str]:
    """The microdata rounds in the store: the embedded synthetic default is never refreshed over (or beside)
    them, so a missing `data/raw` cannot turn real estimates into synthetic ones."""
    return sorted(name for name, record in read_manifest(store).items() if not record.synthetic)


def refresh_embedded_default(store: Path, *, progress: Progress = lambda name, step: None) -> RefreshReport:
    """No raw data: refresh from a synthetic round of every round spec that has a `synthetic/` folder (each seeded
    by its year, so deterministic: a rerun does no work); stamped SYNTHETIC like every generated round."""
    from pipelines.synthetic import synthetic_specs, write_synthetic_round

    specs = available_specs()
    with tempfile.TemporaryDirectory(prefix="surveys-synthetic-") as tmp:
        for spec in synthetic_specs(specs):
            progress(spec.name, "generate synthetic round")
            write_synthetic_round(Path(tmp) / spec.source / spec.round, spec, seed=spec.year)
        return refresh(Path(tmp), store, specs=specs, progress=progress)
