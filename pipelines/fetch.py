"""Fetch: bring a round's module zips from INEI's microdata portal into the raw folder, verified, all or nothing.

INEI's portal serves one zip per module at `{base}/{CSV|SPSS|STATA}/{survey code}-Modulo{module code}.zip`. The
codes are data in the round's `source.yaml` (`inei_survey_code`, each module's `inei_code`, the consolidated
file's); a module without an `inei_code` cannot be fetched and is said so. A fetch

1. downloads each zip into a temporary folder beside the round folder (`<raw>/<source>/.<round>.fetch-*`),
   resuming with an HTTP Range request when the connection drops mid-file (restarting when the server ignores it);
2. verifies it: a zip (not the HTML page INEI sends instead of a missing file) whose CRCs hold, sizes sane, holding
   exactly one data file of the chosen format for each module it is the download of (recognised by name as
   `pipelines.read` recognises module files);
3. builds the new round folder in the temporary folder (the files already there, hard-linked, plus the zips'
   members under INEI's names, plus `FETCHED.json`: each zip's URL, sha256, size and members) and only then swaps it
   into place. An error before the swap leaves the raw folder as it was.

A zip the portal confirms unchanged (HTTP 304 to the recorded ETag / Last-Modified), or whose sha256 is the one
recorded, with its members still in the folder as unpacked, is not unpacked again: a second fetch does no work.
Members the refresh would take for a second file of a module (INEI's PDF dictionaries named after the module, a
file in another format) are not unpacked; `FETCHED.json` lists them with the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from pipelines.errors import FetchError

# `carries` and `modules_named` are how the refresh recognises a module file: a fetch must agree with it.
from pipelines.read import CONSOLIDATED, READERS, carries, fold, modules_named, sha256_of
from pipelines.specs import RoundSpec

DEFAULT_BASE_URL = "https://proyectos.inei.gob.pe/iinei/srienaho/descarga"
# --format -> the portal's folder and the suffix of the data files in its zips.
FORMATS = {"spss": ("SPSS", ".sav"), "csv": ("CSV", ".csv"), "stata": ("STATA", ".dta")}
MANIFEST = "FETCHED.json"
ATTEMPTS = 4  # a download whose connection drops is resumed up to three times
TIMEOUT = 60  # seconds without a byte before a connection counts as dropped
CHUNK = 1 << 16
MAX_RATIO = 1000  # a member that expands more than this is no survey file (a zip bomb)
MAX_UNPACKED = 8 << 30  # INEI's largest module files are tens of MB
USER_AGENT = "surveys-fetch (venezuelan-migration-surveys)"

Progress = Callable[[str, int, "int | None"], None]  # (download label, bytes so far, total bytes or None)


def _quiet(label: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True)
class Download:
    """One zip of the portal: the module it is the download of, its INEI code and URL, the files it must hold."""

    module: str  # a module number, or CONSOLIDATED
    inei_code: str
    url: str
    modules: tuple[str, ...]  # modules whose data file the zip must hold
    optional: tuple[str, ...] = ()  # parts it may hold too (those without an INEI code of their own)

    @property
    def label(self) -> str:
        return f"module {self.module} (INEI {self.inei_code})"


@dataclass(frozen=True)
class Member:
    """A file in a zip: its name as INEI wrote it, the module it is a data file of, whether it is unpacked."""

    entry: str  # the name as stored in the zip
    name: str  # the name decoded (INEI's own, accents included)
    module: str | None  # None: not a module file (documentation, a marker), unpacked as is
    size: int
    skipped: str = ""  # why it is not unpacked


@dataclass
class FetchReport:
    """What a fetch did, download by download."""

    folder: Path
    fetched: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- what to download -------------------------------------------------------------------------------------------


def downloadable(spec: RoundSpec) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The round's downloads by id (module number or `consolidated`): INEI code and the parts the zip may hold."""
    out = {}
    for number, module in spec.modules.items():
        if module.inei_code:
            out[number] = (module.inei_code, tuple(p for p in module.parts if not spec.modules[p].inei_code))
    if spec.consolidated and spec.consolidated.inei_code:
        out[CONSOLIDATED] = (spec.consolidated.inei_code, ())
    return out


def not_declared(spec: RoundSpec) -> list[str]:
    """Modules (and parts) no download carries: no INEI code of their own, nor a main module with one."""
    codes = downloadable(spec)
    carried = {p for _code, parts in codes.values() for p in parts}
    return [m for m in spec.modules if m not in codes and m not in carried]


def _wanted(spec: RoundSpec, codes: dict, modules: list[str] | None) -> list[str]:
    if not modules:  # the consolidated file stands in for modules 200-800: fetched only when asked for
        return [m for m in codes if m != CONSOLIDATED]
    by_code = {code: m for m, (code, _parts) in codes.items()}
    names = [m.strip() for item in modules for m in item.split(",") if m.strip()]
    wanted = [by_code.get(m, m) for m in names]
    for module in wanted:
        if module not in codes:
            known = "has no inei_code in source.yaml (INEI's code for it is not known)" if module in spec.modules \
                else f"is not a module of {spec.name}"
            raise FetchError(f"module {module} {known}; fetchable: {', '.join(codes)}",
                             where=str(spec.folder / "source.yaml"))
    return list(dict.fromkeys(wanted))


def _check_consolidated(spec: RoundSpec, wanted: list[str]) -> None:
    if CONSOLIDATED in wanted and spec.consolidated:
        clash = sorted(set(wanted) & set(spec.consolidated.modules))
        if clash:
            raise FetchError(f"the consolidated file carries modules {clash} too: the refresh takes one or the "
                             f"other", hint="Fetch either the consolidated file or the separate modules.")


def module_url(base_url: str, fmt: str, survey_code: str, inei_code: str) -> str:
    """The portal's address of one module zip."""
    return f"{base_url.rstrip('/')}/{FORMATS[fmt][0]}/{survey_code}-Modulo{inei_code}.zip"


def plan_downloads(spec: RoundSpec, fmt: str, base_url: str = DEFAULT_BASE_URL,
                   modules: list[str] | None = None) -> list[Download]:
    """The zips to download for `modules` (numbers, INEI codes or `consolidated`; default every module with an
    INEI code, the consolidated file excepted), from the spec's codes."""
    if fmt not in FORMATS:
        raise FetchError(f"format `{fmt}` is not one of {', '.join(FORMATS)}")
    if not spec.inei_survey_code:
        raise FetchError(f"{spec.name} has no inei_survey_code", where=str(spec.folder / "source.yaml"),
                         hint="Add INEI's survey code (the number before -Modulo in the portal's zip names).")
    codes = downloadable(spec)
    wanted = _wanted(spec, codes, modules)
    _check_consolidated(spec, wanted)
    return [Download(m, codes[m][0], module_url(base_url, fmt, spec.inei_survey_code, codes[m][0]), (m,),
                     codes[m][1]) for m in wanted]


# --- download -----------------------------------------------------------------------------------------------------


def _http_error(exc: urllib.error.HTTPError, label: str) -> str:
    if exc.code == 404:
        return f"{label}: HTTP 404 Not Found: the portal has no such file (check the INEI codes in source.yaml)"
    if exc.code >= 500:
        return f"{label}: HTTP {exc.code} {exc.reason}: the portal is failing; try again later"
    return f"{label}: HTTP {exc.code} {exc.reason}"


def _open(url: str, headers: dict[str, str], label: str):
    """The response to a GET of `url`, or None for 304 Not Modified; HTTP and network errors as `FetchError`."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        raise FetchError(_http_error(exc, label), where=url) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        host = urllib.parse.urlsplit(url).netloc
        raise FetchError(f"{label}: cannot reach {host} ({reason}): no network, or the portal is down",
                         where=url) from exc


def _copy(response, handle, label: str, done: int, total: int | None, progress: Progress) -> int:
    """Append the response's body to `handle`; the bytes written so far, also when the connection drops."""
    with contextlib.closing(response):
        while block := _read(response):
            handle.write(block)  # a full disk is an OSError of its own, not a dropped connection
            done += len(block)
            progress(label, done, total)
    return done


def _read(response) -> bytes:
    """The next block of the body; empty at its end or when the connection drops (the caller resumes)."""
    try:
        return response.read(CHUNK)
    except (OSError, http.client.HTTPException):
        return b""


def _total(response) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _resumed_at(response) -> int | None:
    """Where a resumed response's body starts in the file: 0 for a whole file (200), the start of a 206's
    Content-Range, None when it cannot be told."""
    if response.status == 200:
        return 0
    start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-", 1)[0]  # bytes 10-19/20
    return int(start) if response.status == 206 and start.isdigit() else None


def _resume(url: str, handle, got: int, validator: str, label: str):
    """Ask for the rest of the file from byte `got`; rewind `handle` to where the answer starts (0 when the
    server ignores the Range and sends the whole file again)."""
    headers = {"Range": f"bytes={got}-", **({"If-Range": validator} if validator else {})}
    response = _open(url, headers, label)
    start = _resumed_at(response) if response is not None else None
    if start not in (0, got):
        if response is not None:
            response.close()
        raise FetchError(f"{label}: the portal answered the resumed download from byte {got:,} with "
                         f"{'nothing' if response is None else response.headers.get('Content-Range')}", where=url,
                         hint="Run the fetch again.")
    handle.seek(start)
    handle.truncate()
    return response, start


def _conditional(known: dict | None) -> dict[str, str]:
    if not known:
        return {}
    headers = {"If-None-Match": known.get("etag"), "If-Modified-Since": known.get("last_modified")}
    return {k: v for k, v in headers.items() if v}


def download(url: str, dest: Path, *, label: str, known: dict | None = None,
             progress: Progress = _quiet) -> dict | None:
    """Download `url` to `dest`, resuming a dropped connection; its validators, or None when the server says the
    recorded download (`known`) is unchanged (304). A body still short of its length is a `FetchError`."""
    response = _open(url, _conditional(known), label)
    if response is None:
        return None
    total = _total(response)
    validators = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified")}
    with dest.open("wb") as handle:
        got = _copy(response, handle, label, 0, total, progress)
        for _attempt in range(ATTEMPTS - 1):
            if total is None or got >= total:
                break
            response, got = _resume(url, handle, got, validators["etag"] or validators["last_modified"], label)
            got = _copy(response, handle, label, got, total, progress)
    if total is not None and got != total:
        raise FetchError(f"{label}: truncated download, {got:,} of {total:,} bytes after {ATTEMPTS} attempts "
                         f"(the connection kept dropping)", where=url, hint="Run the fetch again later.")
    return validators


# --- verify -------------------------------------------------------------------------------------------------------


def _check_is_zip(path: Path, label: str, url: str) -> None:
    if zipfile.is_zipfile(path):
        return
    with path.open("rb") as handle:
        head = handle.read(512)
    if b"<html" in head.lower() or b"<!doctype" in head.lower():
        raise FetchError(f"{label}: the portal answered with a web page (HTML), not a zip", where=url,
                         hint="The module code may be wrong, or the portal busy: open the URL in a browser.")
    if head.startswith(b"PK"):
        raise FetchError(f"{label}: the zip is cut short or corrupt ({path.stat().st_size:,} bytes)", where=url,
                         hint="Run the fetch again.")
    raise FetchError(f"{label}: not a zip ({path.stat().st_size:,} bytes starting {head[:16]!r})", where=url)


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name as INEI wrote it: zips made on Windows carry UTF-8 or the OEM code page without saying."""
    name = info.filename
    if not info.flag_bits & 0x800 and not name.isascii():
        raw = name.encode("cp437")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = raw.decode("cp850")
    return name.replace("\\", "/")


def _check_safe(name: str, label: str, url: str) -> None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or ":" in path.parts[0]:
        raise FetchError(f"{label}: member `{name}` would be written outside the round folder", where=url)


def _check_sizes(infos: list[zipfile.ZipInfo], label: str, url: str) -> None:
    total = sum(i.file_size for i in infos)
    bomb = [i.filename for i in infos if i.file_size > MAX_RATIO * max(i.compress_size, 1)]
    if total > MAX_UNPACKED or bomb:
        raise FetchError(f"{label}: sizes are not those of survey files ({total:,} bytes unpacked"
                         f"{'; ' + ', '.join(bomb) + ' expand over ' + str(MAX_RATIO) + '×' if bomb else ''})",
                         where=url)


def _check_crc(archive: zipfile.ZipFile, label: str, url: str) -> None:
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise FetchError(f"{label}: the zip is corrupt ({exc})", where=url, hint="Run the fetch again.") from exc
    if bad:
        raise FetchError(f"{label}: member `{bad}` fails its CRC check", where=url, hint="Run the fetch again.")


def classify(info: zipfile.ZipInfo, spec: RoundSpec, fmt: str) -> Member:
    """What a zip member is for the refresh: a data file of a module, or a file it ignores, or one to leave out
    (named after a module but not a data file of the chosen format, or carrying a code the spec does not know)."""
    name = _member_name(info)
    stem = fold(PurePosixPath(name).stem)
    member = Member(info.filename, name, None, info.file_size)
    unknown = [c for c in spec.unknown_inei_codes if carries(stem, c)]
    if unknown:
        return replace(member, skipped=f"carries INEI code {unknown[0]}, which the spec does not describe")
    modules = modules_named(stem, spec)
    if len(modules) > 1:
        return replace(member, skipped=f"the name fits modules {modules}")
    if not modules:
        return member
    if PurePosixPath(name).suffix.lower() != FORMATS[fmt][1]:
        return replace(member, module=modules[0], skipped=f"named after module {modules[0]}, not a {fmt} data file")
    return replace(member, module=modules[0])


def _check_members(members: tuple[Member, ...], download: Download, fmt: str, url: str) -> None:
    data = [m for m in members if m.module and not m.skipped]
    names = ", ".join(m.name for m in members) or "nothing"
    for member in data:
        if member.module not in (*download.modules, *download.optional):
            raise FetchError(f"{download.label}: holds `{member.name}`, a file of module {member.module}",
                             where=url, hint="Check the INEI codes in source.yaml.")
        if member.size == 0:
            raise FetchError(f"{download.label}: `{member.name}` is empty", where=url)
    for module in (*download.modules, *download.optional):
        files = [m.name for m in data if m.module == module]
        if len(files) > 1:
            raise FetchError(f"{download.label}: {len(files)} {fmt} files of module {module}: {files}", where=url)
        if not files and module in download.modules:
            raise FetchError(f"{download.label}: member missing: no {fmt} ({FORMATS[fmt][1]}) file of module "
                             f"{module} in the zip (it holds: {names})", where=url,
                             hint="Try another --format, or check the INEI code in source.yaml.")


def verify_zip(path: Path, download: Download, spec: RoundSpec, fmt: str) -> tuple[Member, ...]:
    """Check a downloaded zip against the round's spec; its members, each classified (`classify`)."""
    _check_is_zip(path, download.label, download.url)
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        for info in infos:
            _check_safe(_member_name(info), download.label, download.url)
        _check_sizes(infos, download.label, download.url)
        _check_crc(archive, download.label, download.url)
    members = tuple(classify(info, spec, fmt) for info in infos)
    _check_members(members, download, fmt, download.url)
    return members


# --- unpack, record, swap -------------------------------------------------------------------------------------------


def unpack(path: Path, members: tuple[Member, ...], folder: Path) -> list[dict]:
    """Write the members not skipped under `folder` with their names; each one's name, size and sha256."""
    written = []
    with zipfile.ZipFile(path) as archive:
        for member in (m for m in members if not m.skipped):
            target = folder / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # a hard link to the round folder's file: never write through it
            digest = hashlib.sha256()
            with archive.open(member.entry) as source, target.open("wb") as out:
                while block := source.read(CHUNK):
                    digest.update(block)
                    out.write(block)
            written.append({"name": member.name, "size": member.size, "sha256": digest.hexdigest()})
    return written


def read_fetched(folder: Path) -> dict:
    """The round folder's `FETCHED.json` (empty when there is none)."""
    path = folder / MANIFEST
    if not path.is_file():
        return {"downloads": {}}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FetchError(f"not a fetch record ({exc})", where=str(path),
                         hint="Delete it: the next fetch downloads every module again.") from exc


def _intact(entry: dict | None, url: str, folder: Path) -> dict | None:
    """The recorded download of `url`, if every member it unpacked is still in `folder` as unpacked."""
    if not entry or entry.get("url") != url:
        return None
    for member in entry.get("members", ()):
        path = folder / member["name"]
        if not path.is_file() or path.stat().st_size != member["size"] or sha256_of(path) != member["sha256"]:
            return None
    return entry


def _link_existing(target: Path, into: Path, leave_out: set[str]) -> None:
    """Hard-link (copy across file systems) the round folder's files into the new one, except `leave_out`."""
    if not target.is_dir():
        return
    for path in sorted(target.rglob("*")):
        relative = path.relative_to(target).as_posix()
        if path.is_dir() or relative in leave_out:
            continue
        (into / relative).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, into / relative)
        except OSError:
            shutil.copy2(path, into / relative)


def _data_files(folder: Path, spec: RoundSpec) -> dict[str, list[str]]:
    """The data files in a round folder by the module their name fits, as the refresh recognises them."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in READERS):
        for module in modules_named(fold(path.stem), spec)[:1]:
            found.setdefault(module, []).append(path.relative_to(folder).as_posix())
    return found


def missing_required(folder: Path, spec: RoundSpec) -> list[str]:
    """Required modules (the base household and person modules) the round folder has no file of."""
    found = set(_data_files(folder, spec)) if folder.is_dir() else set()
    if CONSOLIDATED in found and spec.consolidated:
        found |= set(spec.consolidated.modules)
    return [m for m, module in spec.modules.items() if module.required and m not in found]


def check_clashes(folder: Path, spec: RoundSpec) -> None:
    """The new round folder holds one data file per module, and not the consolidated file beside its modules'
    files: what the refresh needs (`pipelines.read.find_module_files`)."""
    found = _data_files(folder, spec)
    twice = {m: files for m, files in found.items() if len(files) > 1}
    covered = sorted(set(found) & set(spec.consolidated.modules)) if CONSOLIDATED in found else []
    if twice or covered:
        what = "; ".join(f"module {m}: {files}" for m, files in twice.items()) or \
            f"the consolidated file and modules {covered}"
        raise FetchError(f"after this fetch {spec.name} would hold two files for one module ({what}); the refresh "
                         f"needs one", hint="Move away the files not fetched, or fetch into another --raw folder.")


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _swap(new: Path, target: Path, staging: Path) -> None:
    """Put the new round folder in place: two renames on one file system, never a half-written file."""
    if target.exists():
        os.replace(target, staging / "previous")
    os.replace(new, target)


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target` (its earlier ones, left by a killed fetch, removed first); folders made
    for it are removed again if nothing was put in place."""
    made = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.fetch-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.fetch-", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()


# --- the whole fetch ----------------------------------------------------------------------------------------------


def _fetch_one(item: Download, staging: Path, target: Path, recorded: dict, spec: RoundSpec, fmt: str,
               progress: Progress) -> tuple[Path, dict, tuple[Member, ...]] | None:
    """Download and verify one zip; None when it is the download recorded in the folder, unchanged."""
    known = _intact(recorded.get(item.module), item.url, target)
    path = staging / f"{spec.inei_survey_code}-Modulo{item.inei_code}.zip"
    validators = download(item.url, path, label=item.label, known=known, progress=progress)
    if validators is None:
        return None
    sha256 = sha256_of(path)
    if known and known.get("sha256") == sha256:
        return None
    members = verify_zip(path, item, spec, fmt)
    entry = {"inei_code": item.inei_code, "url": item.url, "format": fmt, "sha256": sha256,
             "size": path.stat().st_size, **validators, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
             "skipped": [{"name": m.name, "reason": m.skipped} for m in members if m.skipped]}
    return path, entry, members


def _build(target: Path, new: Path, changed: dict, recorded: dict, spec: RoundSpec) -> None:
    """The new round folder: the old one's files but those of re-fetched downloads, the zips' members, the record."""
    stale = {m["name"] for module in changed for m in recorded.get(module, {}).get("members", ())}
    new.mkdir()
    _link_existing(target, new, stale | {MANIFEST})
    downloads = dict(recorded)
    for module, (path, entry, members) in changed.items():
        downloads[module] = {**entry, "members": unpack(path, members, new)}
    check_clashes(new, spec)
    _write_json(new / MANIFEST, {"source": spec.source, "round": spec.round, "downloads": downloads})


def _notes(spec: RoundSpec, changed: dict, plan: list[Download]) -> list[str]:
    missing = not_declared(spec)
    notes = [f"{spec.name} modules {', '.join(missing)}: no INEI code in source.yaml (not known), not fetched"] \
        if missing else []
    for module, (_path, entry, members) in changed.items():
        notes += [f"{s['name']}: not unpacked ({s['reason']})" for s in entry["skipped"]]
        item = next(d for d in plan if d.module == module)
        held = {m.module for m in members if not m.skipped}
        notes += [f"part {p} is not in the zip of module {module}" for p in item.optional if p not in held]
    return notes


def fetch_round(spec: RoundSpec, raw: Path, *, fmt: str = "spss", modules: list[str] | None = None,
                base_url: str = DEFAULT_BASE_URL, progress: Progress = _quiet) -> FetchReport:
    """Fetch a round's module zips into `raw/<source>/<round>/`; see the module docstring.

    Raises `FetchError` (HTTP error, no network, truncated download, not a zip, a member missing, a clash with
    files already there) with the raw folder as it was.
    """
    plan = plan_downloads(spec, fmt, base_url, modules)
    target = Path(raw) / spec.source / spec.round
    recorded = read_fetched(target)["downloads"]
    report = FetchReport(target)
    with _staging(target) as staging:
        changed = {}
        for item in plan:
            result = _fetch_one(item, staging, target, recorded, spec, fmt, progress)
            (report.fetched if result else report.unchanged).append(item.label)
            if result:
                changed[item.module] = result
        if changed:
            _build(target, staging / "round", changed, recorded, spec)
            _swap(staging / "round", target, staging)
    report.notes = _notes(spec, changed, plan)
    missing = missing_required(target, spec)
    if missing:
        report.notes.append(f"the refresh needs module(s) {', '.join(missing)} too: fetch them (--modules)")
    return report
