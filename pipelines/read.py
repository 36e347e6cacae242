"""Read: find a round's module files and read them, whatever the format, into all-text polars frames.

Identifiers stay text (INEI zero-pads them); codes are normalised to INEI's bare code (`2.Mujer` -> `2`) later, by
the crosswalk. Blank answers (INEI writes a single space) become null here. Each format has one reader, picked from
`READERS` by file suffix.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.errors import SourceFileError, shorten
from pipelines.specs import RoundSpec

CONSOLIDATED = "consolidated"


@dataclass(frozen=True)
class ModuleFile:
    """A module file found in a raw round folder."""

    module: str  # a module number, or CONSOLIDATED
    path: Path


@dataclass(frozen=True)
class ModuleData:
    """A module's rows (all text, blanks as null) with their provenance."""

    module: str
    path: Path
    sha256: str
    encoding: str
    frame: pl.DataFrame


def fold(text: str) -> str:
    """Compare names as a person would: Unicode-normalised, accents folded, case-insensitive."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def carries(name: str, token: str) -> bool:
    if token.isdigit():
        return re.search(rf"(?<![0-9]){token}(?![0-9])", name) is not None
    return fold(token) in name


def _tokens(number: str, module) -> tuple[str, ...]:
    return tuple(t for t in (number, module.inei_code, *module.names) if t)


def modules_named(name: str, spec: RoundSpec) -> list[str]:
    """The modules (or parts) whose number, INEI code or title the name carries; a part beats its main module
    (`300_1 Migración II` is the second file of module 300, not module 300)."""
    folded = fold(name)
    if spec.consolidated and any(carries(folded, t) for t in (spec.consolidated.inei_code, *spec.consolidated.names)):
        return [CONSOLIDATED]
    named = [number for number, module in spec.modules.items() if any(carries(folded, t) for t in _tokens(number, module))]
    parts = [n for n in named if spec.modules[n].part_of is not None]
    return parts or named


def find_module_files(raw_dir: Path, spec: RoundSpec) -> dict[str, ModuleFile]:
    """Recognise the module files in `raw_dir` (searched recursively).

    Raises `SourceFileError` when two files claim one module, a file's name carries a code we cannot attribute, a
    module file is not CSV/SAV/DTA, or a required module is missing.
    """
    found: dict[str, ModuleFile] = {}
    for path in sorted(p for p in raw_dir.rglob("*") if (p.is_file() or _dangling(p)) and not p.name.startswith(".")):
        stem = fold(path.stem)
        unknown = [c for c in spec.unknown_inei_codes if carries(stem, c)]
        if unknown:
            raise SourceFileError(
                f"the name carries INEI module code {unknown[0]}, which {spec.name} does not describe",
                where=str(path), hint="Rename the file or add the module to source.yaml.",
            )
        modules = modules_named(stem, spec)
        if not modules:
            continue
        if len(modules) > 1:
            raise SourceFileError(f"the name fits modules {modules}; which one is it?", where=str(path))
        if path.suffix.lower() not in READERS:
            raise SourceFileError(
                f"module {modules[0]} file is `{path.suffix or 'without suffix'}`, not CSV, SAV or DTA",
                where=str(path), hint=f"Export it from INEI's download as one of {sorted(READERS)}.",
            )
        if _dangling(path):
            raise SourceFileError(
                f"the module {modules[0]} file is a symbolic link to {os.readlink(path)}, which does not exist",
                where=str(path), hint="Point the link at the file, or copy the file in its place.",
            )
        if modules[0] in found:
            first, second = (f.relative_to(raw_dir).as_posix() for f in (found[modules[0]].path, path))
            raise SourceFileError(f"two files for module {modules[0]}: {first} and {second}", where=str(raw_dir))
        found[modules[0]] = ModuleFile(modules[0], path)
    _check_required(found, raw_dir, spec)
    return found


def _dangling(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def unmatched_files(raw_dir: Path, found: dict[str, ModuleFile]) -> list[str]:
    """Files in the round folder (relative paths) that were recognised as no module: said in the round's notes,
    so a misnamed module file is not silently left out."""
    used = {f.path for f in found.values()}
    ignored = {"SYNTHETIC.txt"}
    return sorted(p.relative_to(raw_dir).as_posix() for p in raw_dir.rglob("*")
                  if (p.is_file() or _dangling(p)) and p not in used and not p.name.startswith(".")
                  and p.name not in ignored)


def _check_required(found: dict[str, ModuleFile], raw_dir: Path, spec: RoundSpec) -> None:
    for part in (m for m in found if m in spec.modules and spec.modules[m].part_of):
        main, universe = spec.modules[part].part_of, spec.modules[part].universe
        # A part whose universe is stated on its main module's variables (who answered P313 is in Migración I)
        # cannot be read without that file; one whose universe is stated on the residents can.
        needs_main = universe is not None and spec.universes[universe].module == main
        if needs_main and main not in found and not (CONSOLIDATED in found and main in spec.consolidated.modules):
            raise SourceFileError(
                f"{found[part].path.name} is part {part} of module {main}, but module {main}'s main file is not "
                f"in the folder (the part's universe `{universe}` is stated on it)", where=str(raw_dir),
                hint=f"Add module {main}'s file (INEI ships both).",
            )
    covered = set(found)
    if CONSOLIDATED in found and spec.consolidated:
        clash = covered & set(spec.consolidated.modules)
        if clash:
            raise SourceFileError(
                f"the consolidated file and separate files for modules {sorted(clash)} are both present",
                where=str(raw_dir), hint="Keep one of them.",
            )
        covered |= set(spec.consolidated.modules)
    missing = [m.number for m in spec.modules.values() if m.required and m.number not in covered]
    if missing:
        raise SourceFileError(
            f"required module(s) {missing} of {spec.name} not found among "
            f"{sorted(p.name for p in raw_dir.rglob('*') if p.is_file())}",
            where=str(raw_dir),
            hint="Module files are recognised by the module number, INEI's module code or its title in the name.",
        )


def _header_and_tail(path: Path) -> tuple[bytes, bytes]:
    with path.open("rb") as handle:
        header = handle.readline()
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 65536))
        tail = handle.read()
    return header, tail


def _check_complete(path: Path, encoding: str) -> None:
    """A cut-off file: its last line has no line end and fewer fields than the header."""
    header, tail = _header_and_tail(path)
    if not tail or tail.endswith((b"\n", b"\r")):
        return
    last = tail.splitlines()[-1]
    fields = lambda line: next(csv.reader([line.decode(encoding, errors="replace")]), [])  # noqa: E731
    expected, got = len(fields(header)), len(fields(last))
    if got < expected:
        raise SourceFileError(
            f"truncated: the last line has {got} of {expected} fields and no line end",
            where=str(path), hint="Copy or download the file again.",
        )


_COMPRESSED = {b"\x1f\x8b": "gzip", b"PK": "zip", b"BZ": "bzip2", b"\xfd7": "xz"}


def _check_not_compressed(path: Path) -> None:
    with path.open("rb") as handle:
        start = handle.read(2)
    if start in _COMPRESSED:
        raise SourceFileError(f"the file is {_COMPRESSED[start]}-compressed, not a plain CSV", where=str(path),
                              hint="Decompress it and put the CSV in the folder.")


_CHUNK = 1 << 18  # bytes of a CSV checked at a time: small enough for the passes over it to stay in cache


def check_fields(path: Path) -> None:
    """Every line of a CSV has as many fields as the header, and the header names each column once.

    polars pads a short row with nulls and a `columns=` read ignores a long row's extra fields; both lose a
    person's answers silently, so they are refused here with the line numbers. Fields are counted by commas
    outside double quotes (vectorised); a quoted field spanning lines is counted with the csv module.
    """
    with path.open("rb") as handle:
        header = handle.readline()
        names = next(csv.reader([header.decode("latin-1")]), [])
        clean = [n.strip().lstrip("\ufeff").lstrip("\u00ef\u00bb\u00bf") for n in names]
        seen: dict[str, int] = {}
        for i, name in enumerate(clean, start=1):
            if name in seen:
                raise SourceFileError(f"the header names column {shorten(name)!r} twice (columns {seen[name]} and {i})",
                                      where=str(path), hint="Each variable must be one column.")
            seen[name] = i
        expected, line, rest, bad = len(names), 1, b"", []
        while len(bad) < _SHOW_LINES:
            block = handle.read(_CHUNK)
            data = rest + block
            if not data:
                break
            if block:  # check whole lines only; the part after the last line end waits for the next block
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
                if not data:
                    continue
            else:
                rest = b""
            counts, blank, odd = _field_counts(data)
            if odd:
                return _check_fields_slowly(path, expected)
            wrong = np.flatnonzero(~blank & (counts != expected))[:_SHOW_LINES]
            bad += [(line + 1 + int(i), int(counts[i])) for i in wrong]
            line += len(counts)
    if bad:
        _raise_fields(path, expected, bad)


_SHOW_LINES = 5


def _field_counts(data: bytes) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per line of `data` (whole lines; the last may lack its line end): the number of fields (commas outside
    double quotes, plus one), whether the line is blank, and whether any line has an odd number of quotes (a
    quoted field spanning lines: then the caller counts with the csv module). Vectorised on the positions of
    line ends, quotes and commas: no line is a Python object."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    if not len(ends) or ends[-1] != len(raw) - 1:
        ends = np.append(ends, len(raw))
    quotes, commas = np.flatnonzero(raw == 34), np.flatnonzero(raw == 44)
    counts = np.diff(np.searchsorted(commas, ends), prepend=0) + 1
    if len(quotes):
        if (np.searchsorted(quotes, ends) & 1).any():  # an odd count before some line end: a line with odd quotes
            return np.array([]), np.array([]), True
        # Every line has an even number of quotes, so they pair up (open, close) within lines; the commas between
        # the two of a pair are inside a quoted field. Counted per pair, from the few quotes, not per comma.
        opens, closes = quotes[0::2], quotes[1::2]
        inside = np.searchsorted(commas, closes) - np.searchsorted(commas, opens)
        counts -= np.bincount(np.searchsorted(ends, opens), weights=inside, minlength=len(ends)).astype(counts.dtype)
    starts = np.concatenate(([0], ends[:-1] + 1))
    length = ends - starts
    blank = (length == 0) | ((length == 1) & (raw[np.minimum(starts, len(raw) - 1)] == 13))
    return counts, blank, False


def _check_fields_slowly(path: Path, expected: int) -> None:
    bad = []
    with path.open("r", encoding="latin-1", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            if row and len(row) != expected:
                bad.append((reader.line_num, len(row)))
                if len(bad) >= _SHOW_LINES:
                    break
    if bad:
        _raise_fields(path, expected, bad)


def _raise_fields(path: Path, expected: int, bad: list[tuple[int, int]]) -> None:
    shown = ", ".join(f"line {line} has {n} fields" for line, n in bad[:_SHOW_LINES])
    raise SourceFileError(f"rows with a different number of fields than the header's {expected}: {shown}",
                          where=str(path), hint="A row was cut or joined; copy or download the file again.")


def _polars_csv(source, columns: tuple[str, ...], path: Path, categorical: frozenset[str],
                optional: tuple[str, ...] = ()) -> pl.DataFrame:
    glob = {"glob": False} if isinstance(source, Path) else {}  # a name holding [ ] * ? is a name, not a pattern
    try:
        header = pl.read_csv(source, infer_schema=False, n_rows=0, **glob).columns
        clean = {c.strip().lstrip("\ufeff"): c for c in header}
        columns = (*columns, *(c for c in optional if c in clean and c not in columns))
        missing = [c for c in columns if c not in clean]
        if missing:
            raise SourceFileError(
                f"variables {missing} are not in the file (it has {header[:12]}{'…' if len(header) > 12 else ''})",
                where=str(path),
            )
        # Category columns are parsed straight into polars Categoricals: a million-row module then takes a third
        # of the memory of plain text.
        overrides = {clean[c]: pl.Categorical for c in columns if c in categorical}
        frame = pl.read_csv(source, infer_schema=False, columns=[clean[c] for c in columns],
                            schema_overrides=overrides, **glob)
    except pl.exceptions.PolarsError as exc:
        raise SourceFileError(f"not a readable CSV: {str(exc).splitlines()[0]}", where=str(path)) from exc
    if frame.height == 0:
        raise SourceFileError("no rows: not a module file", where=str(path))
    return frame.rename({clean[c]: c for c in columns})


def read_csv(path: Path, columns: tuple[str, ...], categorical: frozenset[str] = frozenset(),
             optional: tuple[str, ...] = ()) -> tuple[pl.DataFrame, str]:
    """INEI's CSV, `code.label` or bare codes, UTF-8 (with or without BOM) or Latin-1; the columns asked, as text.

    UTF-8 is read straight from the file; a file that is not valid UTF-8 is decoded as Windows-1252 (a superset
    of Latin-1's printable characters), and the encoding used is returned so the refresh can say so.
    """
    encoding = "utf-8"
    _check_not_compressed(path)
    # The ragged-row check reads the file a second time: it runs in a thread beside polars' read (both release the
    # GIL), and its error comes after the read's own, as when it ran after the read.
    with ThreadPoolExecutor(max_workers=1) as pool:
        fields = pool.submit(check_fields, path)
        try:
            frame = _polars_csv(path, columns, path, categorical, optional)
        except SourceFileError as exc:
            if "utf-8" not in str(exc).lower() and "utf8" not in str(exc).lower():
                raise
            try:
                text = path.read_bytes().decode("cp1252")
            except UnicodeDecodeError as err:
                raise SourceFileError(f"neither UTF-8 nor Windows-1252/Latin-1 ({err})", where=str(path)) from err
            encoding = "cp1252"
            frame = _polars_csv(text.encode("utf-8"), columns, path, categorical, optional)
        _check_complete(path, encoding)
        fields.result()
    return _select(frame, columns, path, optional), encoding


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text; a number column whose values are all whole (or that has none) as whole numbers (`1`,
    not `1.0`): SPSS and Stata store INEI's codes and identifiers as floating-point numbers. Which columns are whole
    is found in one pass over the frame."""
    floats = [c for c, dtype in frame.schema.items() if dtype.is_float()]
    checked = frame.select((pl.col(c).drop_nulls() == pl.col(c).drop_nulls().round(0)).all() for c in floats)
    whole = {c for c, is_whole in zip(floats, checked.row(0) if floats else ()) if is_whole}
    return frame.with_columns((pl.col(c).cast(pl.Int64) if c in whole else pl.col(c)).cast(pl.String)
                              for c in frame.columns)


def _call_stat(reader: Callable, path: Path, encoding: str | None, **kwargs):
    """One pyreadstat call; text in the encoding the file declares, or Windows-1252 when it does not decode as
    declared (seen in SPSS files re-saved on Windows): read it so and say so, rather than refuse a file SPSS opens."""
    try:
        frame, meta = reader(str(path), output_format="polars", apply_value_formats=False,
                             **({"encoding": encoding} if encoding else {}), **kwargs)
        return frame, meta, encoding
    except Exception as exc:  # pyreadstat raises its own ReadstatError and plain OSError
        if encoding or ("encoding" not in str(exc).lower() and "convert" not in str(exc).lower()):
            raise SourceFileError(f"not a readable {path.suffix} file: {exc}", where=str(path)) from exc
    return _call_stat(reader, path, "windows-1252", **kwargs)


@functools.lru_cache(maxsize=64)
def _cached_metadata(reader: Callable, path: Path, _version: tuple[int, int, int]):
    return _call_stat(reader, path, None, metadataonly=True)[1:]


def _stat_metadata(reader: Callable, path: Path):
    """pyreadstat's metadata of a file and the encoding it was read in (None: the one it declares), read once per
    version of the file: the round check (`columns_of`) and the read that follows both need it."""
    try:
        status = path.stat()
    except OSError:  # pyreadstat names the error
        return _call_stat(reader, path, None, metadataonly=True)[1:]
    return _cached_metadata(reader, path, (status.st_ino, status.st_mtime_ns, status.st_size))


def _read_stat(reader: Callable, path: Path, columns: tuple[str, ...], categorical: frozenset[str],
               optional: tuple[str, ...] = (), fast: Callable | None = None) -> tuple[pl.DataFrame, str]:
    # The header first, then only the columns asked: an INEI chapter has up to 150 columns and the spec needs a few.
    meta, encoding = _stat_metadata(reader, path)
    names = {c.strip(): c for c in meta.column_names}
    wanted = [names[c] for c in dict.fromkeys((*columns, *optional)) if c in names]
    # `fast` (an uncompressed .sav, pipelines.savfile) cuts the columns out of the case records, or returns None for
    # any file it does not read exactly as readstat does; readstat reads those, and text not in the declared encoding.
    frame = fast(path, wanted, meta) if fast is not None and encoding is None else None
    if frame is None:
        frame, _meta, encoding = _call_stat(reader, path, encoding, usecols=wanted or None)
    frame = _as_text(frame)
    frame = _select(frame, columns, path, optional)
    return (frame.with_columns(pl.col(c).cast(pl.Categorical) for c in columns if c in categorical),
            "cp1252" if encoding else "native")


def read_sav(path: Path, columns: tuple[str, ...], categorical: frozenset[str] = frozenset(),
             optional: tuple[str, ...] = ()) -> tuple[pl.DataFrame, str]:
    """SPSS `.sav` as INEI exports it: bare codes, value labels ignored, text in the encoding the file declares
    (Windows-1252 when the text does not decode as declared)."""
    import pyreadstat

    from pipelines.savfile import read_uncompressed

    return _read_stat(pyreadstat.read_sav, path, columns, categorical, optional, fast=read_uncompressed)


def read_dta(path: Path, columns: tuple[str, ...], categorical: frozenset[str] = frozenset(),
             optional: tuple[str, ...] = ()) -> tuple[pl.DataFrame, str]:
    """Stata `.dta` as INEI exports it: bare codes, value labels ignored."""
    import pyreadstat

    return _read_stat(pyreadstat.read_dta, path, columns, categorical, optional)


READERS: dict[str, Callable[..., tuple[pl.DataFrame, str]]] = {
    ".csv": read_csv,
    ".sav": read_sav,
    ".dta": read_dta,
}


def _select(frame: pl.DataFrame, columns: tuple[str, ...], path: Path, optional: tuple[str, ...] = ()) -> pl.DataFrame:
    # Column names are matched exactly, except that a BOM or stray spaces around a header are not part of a name.
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    columns = (*columns, *(c for c in optional if c in frame.columns and c not in columns))
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SourceFileError(
            f"variables {missing} are not in the file (it has {frame.columns[:12]}{'…' if frame.width > 12 else ''})",
            where=str(path),
        )
    # INEI writes a blank answer as exactly one space; comparing is 30x faster than stripping every value, and a
    # value with stray spaces is not silently cleaned: it fails the crosswalk loudly instead.
    text = pl.col(pl.String, pl.Categorical)
    return frame.select(columns).with_columns(pl.when((text != " ") & (text != "")).then(text))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_module(found: ModuleFile, columns: tuple[str, ...], *, categorical: frozenset[str] = frozenset(),
                optional: tuple[str, ...] = (), sha256: str | None = None) -> ModuleData:
    """Read one module file, keeping only `columns` (those in `categorical` as polars Categoricals, the rest as
    text) and those of `optional` the file has, with its sha256 (computed unless given; `""` when the caller
    hashes the file itself) and encoding."""
    frame, encoding = READERS[found.path.suffix.lower()](found.path, columns, categorical, optional)
    return ModuleData(found.module, found.path, sha256 if sha256 is not None else sha256_of(found.path), encoding,
                      frame)


def columns_of(path: Path) -> list[str]:
    """A module file's column names, read from its header (CSV) or metadata (SAV/DTA) without its rows."""
    suffix = path.suffix.lower()
    if suffix not in (".sav", ".dta"):
        try:
            _check_not_compressed(path)
            raw = path.open("rb").readline().decode("utf-8", errors="replace")
        except OSError as exc:
            raise SourceFileError(f"cannot read the file: {exc}", where=str(path)) from exc
        return [c.strip().lstrip("\ufeff").strip('"') for c in next(csv.reader([raw]), [])]
    import pyreadstat

    reader = pyreadstat.read_sav if suffix == ".sav" else pyreadstat.read_dta
    return list(_stat_metadata(reader, path)[0].column_names)


def check_round(found: dict[str, ModuleFile], spec: RoundSpec, others: list[RoundSpec]) -> None:
    """Every file carries its module's key columns; a file that carries another round's keys instead is named as
    that round's file (an ENPOVE 2018 chapter dropped in the 2022 folder)."""
    for module, file in found.items():
        key = spec.person_key if module == CONSOLIDATED else spec.modules[module].key
        columns = set(columns_of(file.path))
        if set(key) <= columns:
            continue
        like = [o.name for o in others if o.name != spec.name and set(o.household_key) <= columns]
        looks = f"; it looks like a file of {' or '.join(like)}" if like else ""
        raise SourceFileError(
            f"the file is in the {spec.name} folder but lacks its key columns {list(key)}{looks}",
            where=str(file.path), hint="Move it to the folder of its round.",
        )


READ_AHEAD_BYTES = 256 << 20  # a larger module file is read when asked for, not beside the one before it


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # the read names the error, when the module is asked for
        return READ_AHEAD_BYTES


class ModuleReader(Mapping):
    """The module files of a round as a mapping that reads a module when it is asked for, and keeps nothing.

    Harmonising a round fetches each module once, so only one raw module is in memory at a time (two when reading
    ahead, below); `encodings` records, per module read, the encoding its file was decoded with.

    Given the order the modules will be asked in (`ahead`), the reader reads ahead: when a module of that order is
    asked for, the next one is read in a thread while the caller works on this one (pyreadstat and polars release
    the GIL while they parse), so two raw modules are in memory at a time. Only a file smaller than
    `READ_AHEAD_BYTES` is read ahead: a round of a million persons keeps one raw module in memory at a time. A
    module asked out of that order is read then; a read-ahead's error is raised when its module is asked for, as if
    it were read then. Use the reader as a context manager so that no read is left running (`close`).
    """

    def __init__(self, found: dict[str, ModuleFile], columns: Callable[[str], tuple[str, ...]],
                 hashes: dict[str, str], progress: Callable[[str], None] = lambda module: None,
                 categorical: Callable[[str], frozenset[str]] = lambda module: frozenset(),
                 optional: Callable[[str], tuple[str, ...]] = lambda module: (), ahead: Sequence[str] = ()):
        self._found, self._columns, self._hashes, self._progress = found, columns, hashes, progress
        self._categorical, self._optional = categorical, optional
        self._ahead = [module for module in ahead if module in found]
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") if self._ahead else None
        self._pending: tuple[str, Future] | None = None
        self.encodings: dict[str, str] = {}

    def _read(self, module: str) -> ModuleData:
        return read_module(self._found[module], self._columns(module), categorical=self._categorical(module),
                           optional=self._optional(module), sha256=self._hashes.get(module))

    def __getitem__(self, module: str) -> ModuleData:
        self._progress(module)
        pending, self._pending = self._pending, None
        data = pending[1].result() if pending and pending[0] == module else self._read(module)
        self.encodings[module] = data.encoding
        if self._pool and module in self._ahead[:-1]:
            following = self._ahead[self._ahead.index(module) + 1]
            if _size(self._found[following].path) < READ_AHEAD_BYTES:
                self._pending = (following, self._pool.submit(self._read, following))
        return data

    def close(self) -> None:
        """Wait for a read-ahead still running (its module was not asked for: a round that failed) and drop it."""
        self._pending = None
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ModuleReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def files(self) -> dict[str, ModuleFile]:
        """The module files found, by module (no file is read)."""
        return dict(self._found)

    def __contains__(self, module: object) -> bool:  # Mapping's default would read the module to find out
        return module in self._found

    def __iter__(self) -> Iterator[str]:
        return iter(self._found)

    def __len__(self) -> int:
        return len(self._found)


def read_round(folder: Path | str, spec: RoundSpec, *, found: dict[str, ModuleFile] | None = None,
               hashes: dict[str, str] | None = None, progress: Callable[[str], None] = lambda module: None,
               ahead: Sequence[str] = ()) -> ModuleReader:
    """Read a raw round folder with its spec: the one way the refresh and the tests read a round.

    The folder's module files are recognised at once (`find_module_files`); each is read when it is asked for,
    with the columns the spec needs (a consolidated person file: every person module's columns), its category
    columns as polars Categoricals, and those of its optional columns the file has.

    Parameters
    ----------
    folder
        The raw round folder, e.g. ``data/raw/enpove/2022``, in any of the formats `READERS` knows.
    spec
        The round's spec (`pipelines.specs.load_round_spec`).
    found
        The folder's `find_module_files`, when the caller has it already (the refresh checks it first).
    hashes
        The module files' sha256 by module, when the caller has them; otherwise each is computed as its file is
        read (``""`` records none).
    progress
        Called with the module number before each module is read.
    ahead
        The order the modules will be asked in (`pipelines.harmonise.reading_order`): each is then read while the
        one before it is worked on (see `ModuleReader`). Empty (the default): each module is read when asked for.

    Returns
    -------
    ModuleReader
        A mapping module -> `ModuleData` that reads a module each time it is asked for and keeps nothing (take
        ``dict(...)`` of it to read every module once and keep them), ready for
        `pipelines.harmonise.harmonise_round`. Its ``files`` are the module files found, its ``encodings`` the
        encoding of each module read.

    Raises
    ------
    SourceFileError
        A required module is missing, two files claim one module, or a file cannot be read as its module (named,
        with the file, in the message).

    Examples
    --------
    >>> from pipelines.harmonise import harmonise_round
    >>> from pipelines.specs import load_round_spec
    >>> spec = load_round_spec("surveys/enpove_2022")
    >>> modules = read_round("data/raw/enpove/2022", spec)
    >>> sorted(modules)  # found, none read yet
    ['100', '200', '300', '300_1', '500', '700', '800']
    >>> modules["200"].frame.height  # module 200 read now
    12487
    >>> harmonise_round(spec, modules).households.height
    3739
    """
    from pipelines.specs import category_columns

    found = found if found is not None else find_module_files(Path(folder), spec)

    def modules_in(module: str) -> tuple[str, ...]:
        return spec.consolidated.modules if module == CONSOLIDATED else (module,)

    def columns(module: str) -> tuple[str, ...]:
        # The consolidated file: every person module's columns, once each.
        return tuple(dict.fromkeys(c for m in modules_in(module) for c in spec.source_columns(m)))

    return ModuleReader(found, columns, hashes or {}, progress,
                        lambda module: category_columns(spec, modules_in(module)),
                        lambda module: spec.optional_columns(module) if module != CONSOLIDATED else (), ahead)
