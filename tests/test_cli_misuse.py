"""Misuse, concurrency and malformed files (issue 10): one row per case, each a hostile but realistic user's act.

Every row states what the user does and what must hold afterwards: a one-line message naming the file, variable
and values (exit 1; 2 for an option that names nothing usable), no traceback, and the store and the user's files
exactly as they were. Most rows use a small synthetic round written once (`write_synthetic_round`), copied per
row into `tmp_path`; nothing is ever written into the repository or into `../shared`. The next case is one row.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

import pipelines.store as store_module
from pipelines.refresh import refresh
from tests.helpers import REPO, run_surveys

HOUSEHOLDS = "Características de la vivienda y del hogar.csv"
RESIDENTS = "Características de los residentes del hogar.csv"
EDUCATION = "Educación.csv"
HOUSEHOLD_KEY = ["CONGLOMERADO", "VIVIENDA", "NHOGAR"]


# ---------------------------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture(scope="module")
def synthetic_round(tmp_path_factory) -> Path:
    """A small synthetic II ENPOVE 2022 raw folder (`<raw>/enpove/2022/`), written once for the module."""
    from pipelines.synthetic import write_synthetic_round

    raw = tmp_path_factory.mktemp("synthetic") / "raw"
    write_synthetic_round(raw / "enpove" / "2022", households=120)
    return raw


@dataclass
class Ctx:
    tmp: Path
    template: Path
    monkeypatch: pytest.MonkeyPatch

    def raw(self, name: str = "raw", *, microdata: bool = False) -> Path:
        """A fresh copy of the synthetic raw folder; `microdata` drops the SYNTHETIC marker (a stand-in for INEI's
        files, stored as microdata)."""
        raw = self.tmp / name
        shutil.copytree(self.template, raw)
        if microdata:
            (raw / "enpove" / "2022" / "SYNTHETIC.txt").unlink()
        return raw

    def round(self, raw: Path) -> Path:
        return raw / "enpove" / "2022"

    def store(self, raw: Path, name: str = "store") -> Path:
        store = self.tmp / name
        result = run_surveys("refresh", "--raw", raw, "--store", store)
        assert result.exit_code == 0, result.output
        return store


def said(result) -> str:
    return " ".join(result.output.split())


def fails_cleanly(result, code: int, *expect: str) -> str:
    """Exit `code`, no traceback, an `error:` or `failed` line, and every `expect` in the output."""
    text = said(result)
    assert result.exception is None, f"a traceback reached the user: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    assert "error:" in text or "failed" in text, text
    for part in expect:
        assert part in text, f"{part!r} not in: {text}"
    return text


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (links followed) with its sha256; the writers' lock file is not content."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def version_of(store: Path) -> Path:
    """The folder the store's current version is in, whatever the layout."""
    try:
        from pipelines.store import current_version
    except ImportError:  # the symlinked layout
        return store.resolve()
    return current_version(store)


def rewrite(path: Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    change(pl.read_csv(path, infer_schema=False)).write_csv(path)


def set_cell(column: str, row: int, value: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column))
    return change


def responding(frame: pl.DataFrame) -> int:
    return frame.with_row_index().filter(pl.col("RESFIN").str.starts_with("1."))["index"][0]


def edit_lines(path: Path, change: Callable[[list[str]], None]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    change(lines)
    path.write_text("".join(lines), encoding="utf-8")


def refresh_fails(c: Ctx, raw: Path, *expect: str, code: int = 1) -> str:
    """A bad round folder: the refresh exits 1 naming what is wrong, and an existing store is as it was."""
    store = c.tmp / "store"
    before = snapshot(store)
    text = fails_cleanly(run_surveys("refresh", "--raw", raw, "--store", store), code, *expect)
    assert snapshot(store) == before, "the store changed"
    return text


# ---------------------------------------------------------------------------------------------------------------
# 1. The store only ever deletes or moves what it created


def store_on_a_users_folder(c: Ctx) -> None:
    raw, docs = c.raw(), c.tmp / "mydocs"
    docs.mkdir()
    (docs / "thesis.docx").write_text("thesis")
    first = run_surveys("refresh", "--raw", raw, "--store", docs)
    run_surveys("refresh", "--raw", raw, "--store", docs, "--force")
    assert (docs / "thesis.docx").read_text() == "thesis" and not docs.is_symlink()
    assert sorted(p.name for p in docs.iterdir()) == ["thesis.docx"]
    fails_cleanly(first, 1, "not a surveys store", "thesis.docx")


def store_is_a_regular_file(c: Ctx) -> None:
    raw, notes = c.raw(), c.tmp / "notes.txt"
    notes.write_text("my notes")
    fails_cleanly(run_surveys("refresh", "--raw", raw, "--store", notes), 1, "is a file")
    assert notes.is_file() and not notes.is_symlink() and notes.read_text() == "my notes"
    assert sorted(p.name for p in c.tmp.iterdir()) == ["notes.txt", "raw"]


def store_is_the_raw_folder(c: Ctx) -> None:
    raw = c.raw()
    before = snapshot(raw)
    fails_cleanly(run_surveys("refresh", "--raw", raw, "--store", raw), 1, "raw folder")
    assert snapshot(raw) == before and not raw.is_symlink()


def store_inside_the_raw_folder(c: Ctx) -> None:
    raw = c.raw()
    before = snapshot(raw)
    fails_cleanly(run_surveys("refresh", "--raw", raw, "--store", raw / "harmonized"), 1, "inside the raw folder")
    assert snapshot(raw) == before and not (raw / "harmonized").exists()


def raw_folder_inside_the_store(c: Ctx) -> None:
    store = c.store(c.raw())
    inner = version_of(store).parent.parent / "raw" if (store / "STORE.json").exists() else store / "raw"
    shutil.copytree(c.template, inner)
    before = snapshot(inner)
    fails_cleanly(run_surveys("refresh", "--raw", inner, "--store", store, "--force"), 1, "inside the store")
    assert snapshot(inner) == before


# ---------------------------------------------------------------------------------------------------------------
# 2. Writers are serialised (several writers at once, many times: tests/test_store_concurrency.py)


def second_writer_waits_then_says_why(c: Ctx) -> None:
    from pipelines.store import store_lock

    raw = c.raw()
    store = c.store(raw)
    before = snapshot(store)
    c.monkeypatch.setattr(store_module, "LOCK_TIMEOUT", 1.0)
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store_lock(store):
            held.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        held.wait(10)
        result = run_surveys("refresh", "--raw", raw, "--store", store, "--force")
    finally:
        release.set()
        thread.join()
    fails_cleanly(result, 1, "waiting for another surveys process", "gave up", "SURVEYS_LOCK_TIMEOUT")
    assert snapshot(store) == before


# ---------------------------------------------------------------------------------------------------------------
# 3. Estimates record what they were computed from


def indicators_racing_a_refresh_are_not_marked_current(c: Ctx) -> None:
    import pipelines.indicators.estimate as indicators
    from pipelines.store import derived_is_current
    from pipelines.synthetic import write_synthetic_round

    store = c.store(c.raw())
    newer = c.tmp / "newer"
    write_synthetic_round(newer / "enpove" / "2022", households=60, seed=7)
    real, swapped = indicators.estimate_round, []

    def estimate_while_a_refresh_lands(*args, **kwargs):
        if not swapped:
            swapped.append(refresh(newer, store).written)
        return real(*args, **kwargs)

    c.monkeypatch.setattr(indicators, "estimate_round", estimate_while_a_refresh_lands)
    indicators.run_indicators(store, theme="housing")
    assert swapped == [["enpove/2022"]]
    assert not derived_is_current(store, "indicators"), "old numbers marked as built from the new round"


# ---------------------------------------------------------------------------------------------------------------
# 4. A mistyped --raw never replaces microdata


def raw_that_does_not_exist(c: Ctx) -> None:
    store = c.store(c.raw(microdata=True))
    before = snapshot(store)
    fails_cleanly(run_surveys("refresh", "--raw", c.tmp / "raww", "--store", store), 2, "raww", "does not exist")
    assert snapshot(store) == before


def raw_that_is_a_file(c: Ctx) -> None:
    store = c.store(c.raw(microdata=True))
    before = snapshot(store)
    (c.tmp / "raw.zip").write_bytes(b"PK")
    fails_cleanly(run_surveys("refresh", "--raw", c.tmp / "raw.zip", "--store", store), 2, "raw.zip", "is a file")
    assert snapshot(store) == before


def raw_without_a_round_folder(c: Ctx) -> None:
    store = c.store(c.raw(microdata=True))
    before = snapshot(store)
    loose = c.tmp / "loose"
    loose.mkdir()
    shutil.copy(c.template / "enpove" / "2022" / HOUSEHOLDS, loose / HOUSEHOLDS)
    fails_cleanly(run_surveys("refresh", "--raw", loose, "--store", store), 2, "no round folder", HOUSEHOLDS)
    assert snapshot(store) == before


def embedded_default_never_replaces_microdata(c: Ctx) -> None:
    store = c.store(c.raw(microdata=True))
    before = snapshot(store)
    c.monkeypatch.chdir(c.tmp)  # no data/raw here: the embedded default would be used
    fails_cleanly(run_surveys("refresh", "--store", "store"), 1, "microdata", "enpove/2022", "--raw")
    assert snapshot(store) == before


# ---------------------------------------------------------------------------------------------------------------
# 5. Non-finite and absurd weights


def non_finite_weights(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / HOUSEHOLDS
    original = path.read_bytes()
    for value in ("inf", "Infinity", "1e400", "1e308"):
        path.write_bytes(original)
        rewrite(path, lambda f, v=value: set_cell("factorfinal", responding(f), v)(f))
        report = refresh(raw, c.tmp / "store")
        message = report.failed.get("enpove/2022", "")
        assert str(path) in message and "factorfinal" in message and value in message, (value, report)


# ---------------------------------------------------------------------------------------------------------------
# 6. Rows and headers that would lose values


def row_with_fewer_fields(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    edit_lines(path, lambda lines: lines.__setitem__(5, ",".join(lines[5].rstrip("\n").split(",")[:-3]) + "\n"))
    refresh_fails(c, raw, str(path), "line 6 has", "fields")


def row_with_extra_fields(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    edit_lines(path, lambda lines: lines.__setitem__(7, lines[7].rstrip("\n") + ",extra,fields\n"))
    refresh_fails(c, raw, str(path), "line 8 has", "fields")


def header_with_a_column_twice(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS

    def twice(lines: list[str]) -> None:
        names = lines[0].rstrip("\n").split(",")
        names[-1] = "P204"
        lines[0] = ",".join(names) + "\n"

    edit_lines(path, twice)
    refresh_fails(c, raw, str(path), "'P204' twice")


# ---------------------------------------------------------------------------------------------------------------
# 7. Files that would be skipped silently


def module_file_that_is_a_dangling_symlink(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / EDUCATION
    path.unlink()
    os.symlink(c.tmp / "elsewhere" / EDUCATION, path)
    refresh_fails(c, raw, str(path), "symbolic link", "does not exist")


def module_file_with_an_unrecognised_name(c: Ctx) -> None:
    raw = c.raw()
    (c.round(raw) / EDUCATION).rename(c.round(raw) / "modulo cinco (final).csv")
    result = run_surveys("refresh", "--raw", raw, "--store", c.tmp / "store")
    assert result.exit_code == 0, result.output
    assert "matched no module" in said(result) and "modulo cinco (final).csv" in said(result)


# ---------------------------------------------------------------------------------------------------------------
# 8. Values that would be stored wrong


def unknown_code_in_a_universe_variable(c: Ctx) -> None:
    """RESFIN (INEI's final result, codes 1-9) decides who is a responding household; the spec may list its codes
    (`codes:`), and a code outside them stops the round. The spec is a copy here (its owner adds the codes)."""
    from pipelines.specs import load_round_spec

    spec_dir = c.tmp / "enpove_2022"
    shutil.copytree(REPO / "surveys" / "enpove_2022", spec_dir)
    source = spec_dir / "source.yaml"
    declared = '{var: RESFIN, in: ["1", "2"], codes: ["1", "2", "3", "4", "5", "6", "7", "8", "9"]}'
    source.write_text(source.read_text(encoding="utf-8").replace('{var: RESFIN, in: ["1", "2"]}', declared),
                      encoding="utf-8")
    raw = c.raw()
    path = c.round(raw) / HOUSEHOLDS
    rewrite(path, lambda f: set_cell("RESFIN", responding(f), "12.Otro")(f))
    report = refresh(raw, c.tmp / "store", specs=[load_round_spec(spec_dir)])
    message = report.failed.get("enpove/2022", "")
    assert str(path) in message and "RESFIN" in message and "12.Otro" in message, report


def responding_household_without_residents(c: Ctx) -> None:
    raw = c.raw()
    folder = c.round(raw)
    households = pl.read_csv(folder / HOUSEHOLDS, infer_schema=False)
    key = households.row(responding(households), named=True)
    gone = pl.all_horizontal(pl.col(k) == key[k] for k in HOUSEHOLD_KEY)
    for path in folder.glob("*.csv"):
        if path.name != HOUSEHOLDS:
            rewrite(path, lambda f: f.filter(~gone))
    refresh_fails(c, raw, str(folder / HOUSEHOLDS), "no resident", key["CONGLOMERADO"])


def impossible_ages(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    rewrite(path, lambda f: set_cell("P205_A", 4, "999")(set_cell("P205_A", 2, "-5")(f)))
    refresh_fails(c, raw, str(path), "age outside 0..120", "-5", "999")


def label_contradicting_the_crosswalk(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    rewrite(path, set_cell("P204", 3, "1.Mujer"))
    refresh_fails(c, raw, str(path), "P204", "1.Mujer", "label of code 2")


# ---------------------------------------------------------------------------------------------------------------
# 9. Paths are read literally


def file_name_with_glob_characters(c: Ctx) -> None:
    raw = c.raw()
    (c.round(raw) / EDUCATION).rename(c.round(raw) / "Educación [2022].csv")
    result = run_surveys("refresh", "--raw", raw, "--store", c.tmp / "store")
    assert result.exit_code == 0 and "stored enpove/2022" in said(result), result.output


def raw_and_store_folders_with_glob_characters(c: Ctx) -> None:
    raw = c.raw("raw [v2] *?")
    store = c.tmp / "store [v2]"
    result = run_surveys("refresh", "--raw", raw, "--store", store)
    assert result.exit_code == 0 and "stored enpove/2022" in said(result), result.output
    from pipelines.store import scan_table

    assert scan_table(store, "persons").collect().height > 0


# ---------------------------------------------------------------------------------------------------------------
# 10. User data is printed literally


def value_that_looks_like_markup(c: Ctx) -> None:
    raw = c.raw()
    rewrite(c.round(raw) / RESIDENTS, set_cell("P204", 3, "[bold]Lima[/bold]"))
    refresh_fails(c, raw, "[bold]Lima[/bold]")


def value_that_breaks_markup(c: Ctx) -> None:
    raw = c.raw()
    rewrite(c.round(raw) / RESIDENTS, set_cell("P204", 3, "[/x]"))
    refresh_fails(c, raw, "[/x]")


# ---------------------------------------------------------------------------------------------------------------
# 11. No traceback, ever


def non_integer_age(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    rewrite(path, set_cell("P205_A", 3, "abc"))
    refresh_fails(c, raw, str(path), "P205_A", "abc")


def gzip_file_named_csv(c: Ctx) -> None:
    raw = c.raw()
    path = c.round(raw) / RESIDENTS
    path.write_bytes(gzip.compress(path.read_bytes()))
    refresh_fails(c, raw, str(path), "gzip")


def unreadable_file(c: Ctx) -> None:
    import pipelines.refresh as refresh_module

    raw = c.raw()
    path = c.round(raw) / RESIDENTS

    def denied(p: Path) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(p))

    c.monkeypatch.setattr(refresh_module, "sha256_of", denied)
    refresh_fails(c, raw, "Permission denied", str(path.parent))


def unreadable_store(c: Ctx) -> None:
    store = c.store(c.raw())
    real = Path.read_text

    def denied(self, *args, **kwargs):
        if self.name in ("manifest.json", "STORE.json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    c.monkeypatch.setattr(Path, "read_text", denied)
    fails_cleanly(run_surveys("status", "--store", store), 1, "Permission denied")
    fails_cleanly(run_surveys("indicators", "--store", store), 1, "Permission denied")


def full_disk(c: Ctx) -> None:
    raw = c.raw()
    store = c.store(raw)
    before = snapshot(store)
    real = store_module._write_table

    def fills_the_disk(frame, path, record):
        real(frame.head(10), path, record)
        raise OSError(errno.ENOSPC, "No space left on device", str(path / "part-0.parquet"))

    c.monkeypatch.setattr(store_module, "_write_table", fills_the_disk)
    fails_cleanly(run_surveys("refresh", "--raw", raw, "--store", store, "--force"), 1, "No space left on device")
    assert snapshot(store) == before
    assert not list(c.tmp.rglob("*.partial")), "a .partial was left behind"


def truncated_manifest(c: Ctx) -> None:
    store = c.store(c.raw())
    manifest = version_of(store) / "manifest.json"
    text = manifest.read_text(encoding="utf-8")
    manifest.unlink()  # a hard link may share it with another version: cut this one only
    manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    fails_cleanly(run_surveys("status", "--store", store), 1, "manifest.json", "not valid JSON")
    fails_cleanly(run_surveys("indicators", "--store", store), 1, "not valid JSON")


def store_under_a_file(c: Ctx) -> None:
    (c.tmp / "afile").write_text("x")
    fails_cleanly(run_surveys("refresh", "--raw", c.raw(), "--store", c.tmp / "afile" / "store"), 1, "is a file")
    assert (c.tmp / "afile").read_text() == "x"


def report_in_an_unknown_language(c: Ctx) -> None:
    fails_cleanly(run_surveys("report", "--store", c.tmp / "nowhere", "--lang", "xx"), 2, "--lang", "xx")


def report_out_under_a_file(c: Ctx) -> None:
    (c.tmp / "afile").write_text("x")
    fails_cleanly(run_surveys("report", "--store", c.tmp / "nowhere", "--out", c.tmp / "afile" / "r.html"), 2, "afile")


def report_out_onto_a_folder(c: Ctx) -> None:
    (c.tmp / "reports").mkdir()
    fails_cleanly(run_surveys("report", "--store", c.tmp / "nowhere", "--out", c.tmp / "reports"), 2, "is a folder")
    assert not list(c.tmp.rglob("*.partial"))


def export_out_onto_an_existing_file(c: Ctx) -> None:
    (c.tmp / "exports").write_text("mine")
    fails_cleanly(run_surveys("export", "--store", c.tmp / "nowhere", "--out", c.tmp / "exports"), 2, "existing file")
    assert (c.tmp / "exports").read_text() == "mine"


def usage_errors_the_parser_finds(c: Ctx) -> None:
    """Typos on the command line itself: one line naming the --help that lists the options, exit 2, nothing done."""
    for args, expect, help_of in [
            (["refresh", "--raw"], "--raw: expected one argument", "surveys refresh"),
            (["refresh", "--forse"], "unrecognized arguments: --forse", "surveys refresh"),
            (["refresh", "--for"], "unrecognized arguments: --for", "surveys refresh"),  # never an abbreviation
            (["fetch", "enpove"], "required: ROUND", "surveys fetch"),
            (["status", "--store", c.tmp, "extra"], "unrecognized arguments: extra", "surveys status"),
            (["statsu"], "invalid choice: 'statsu'", "surveys")]:
        result = run_surveys(*args)
        fails_cleanly(result, 2, expect, f"`{help_of} --help`")
        assert len(result.output.splitlines()) == 1 and not result.stdout, result.output
    assert not list(c.tmp.iterdir())


def indicators_with_an_unknown_theme(c: Ctx) -> None:
    store = c.store(c.raw())
    before = snapshot(store)
    result = run_surveys("indicators", "--store", store, "--theme", "nonsense")
    fails_cleanly(result, 2, "--theme", "nonsense", "housing")
    assert snapshot(store) == before


# ---------------------------------------------------------------------------------------------------------------
# 12. Leftovers of a killed refresh


def leftover_partial_is_removed(c: Ctx) -> None:
    raw = c.raw()
    store = c.store(raw)
    versions = store / "versions" if (store / "STORE.json").exists() else store.parent / f"{store.name}.versions"
    leftover = versions / "99991231T235959-deadbeef.partial"
    (leftover / "persons").mkdir(parents=True)
    (leftover / "persons" / "part-0.parquet").write_bytes(b"half a file")
    assert run_surveys("refresh", "--raw", raw, "--store", store, "--force").exit_code == 0
    assert not list(c.tmp.rglob("*.partial")), "the leftover staging folder is still there"


# ---------------------------------------------------------------------------------------------------------------
# 13. Messages


def huge_offending_value_is_cut(c: Ctx) -> None:
    raw = c.raw()
    rewrite(c.round(raw) / RESIDENTS, set_cell("P204", 3, "x" * 1_000_000))
    text = refresh_fails(c, raw, "P204", "1,000,000 characters")
    assert len(text) < 5_000


def two_files_for_one_module_in_subfolders(c: Ctx) -> None:
    raw = c.raw()
    folder = c.round(raw)
    for sub in ("a", "b"):
        (folder / sub).mkdir()
        shutil.copy(folder / EDUCATION, folder / sub / EDUCATION)
    (folder / EDUCATION).unlink()
    refresh_fails(c, raw, "two files for module 500", f"a/{EDUCATION}", f"b/{EDUCATION}")


def status_of_no_store(c: Ctx) -> None:
    fails_cleanly(run_surveys("status", "--store", c.tmp / "nowhere"), 1, "no store")


def indicators_for_a_round_not_stored(c: Ctx) -> None:
    store = c.store(c.raw())
    before = snapshot(store)
    fails_cleanly(run_surveys("indicators", "--store", store, "--round", "1999"), 2, "--round 1999", "enpove/2022")
    assert snapshot(store) == before


# ---------------------------------------------------------------------------------------------------------------
# A store that works where users work


def symlinks_unavailable(c: Ctx) -> None:
    def no_symlinks(*args, **kwargs):
        raise OSError(errno.EPERM, "A required privilege is not held by the client (symlinks need admin rights)")

    c.monkeypatch.setattr(os, "symlink", no_symlinks)
    raw = c.raw()
    store = c.store(raw)
    assert run_surveys("refresh", "--raw", raw, "--store", store, "--force").exit_code == 0
    assert not [p for p in c.tmp.rglob("*") if p.is_symlink()]


def store_path_with_spaces_and_non_ascii(c: Ctx) -> None:
    store = c.tmp / "Análisis de campo ñ" / "almacén 2022 ü"
    store = c.store(c.raw(), name=str(store.relative_to(c.tmp)))
    result = run_surveys("indicators", "--store", store, "--theme", "housing")
    assert result.exit_code == 0, result.output
    status = run_surveys("status", "--store", store)
    assert status.exit_code == 0, status.output
    folder = Path(" ".join(status.output.split("current version:")[1].split()))
    assert (folder / "manifest.json").is_file() and folder.parent.parent == store.resolve()
    assert pl.read_parquet(folder / "indicators" / "part-0.parquet").height > 0


# ---------------------------------------------------------------------------------------------------------------
# Packaging


def published_figures_are_package_data(c: Ctx) -> None:
    from importlib import resources

    import pipelines.indicators.published as published

    shipped = resources.files("surveys").joinpath("published", "estimates.csv")
    assert shipped.is_file()
    assert Path(published.PUBLISHED_CSV).resolve() == Path(str(shipped)).resolve()


def gitignore_covers_the_store(c: Ctx) -> None:
    for path in ("data/harmonized/STORE.json", "data/harmonized/versions/x/manifest.json",
                 "data/harmonized/.lock", "data/harmonized.versions/x/manifest.json"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO)
        assert ignored.returncode == 0, f"{path} is not ignored"


CASES: dict[str, Callable[[Ctx], None]] = {
    "1-store-on-a-users-folder": store_on_a_users_folder,
    "1-store-is-a-regular-file": store_is_a_regular_file,
    "1-store-is-the-raw-folder": store_is_the_raw_folder,
    "1-store-inside-the-raw-folder": store_inside_the_raw_folder,
    "1-raw-folder-inside-the-store": raw_folder_inside_the_store,
    "2-second-writer-waits-then-says-why": second_writer_waits_then_says_why,
    "3-indicators-racing-a-refresh-not-current": indicators_racing_a_refresh_are_not_marked_current,
    "4-raw-does-not-exist": raw_that_does_not_exist,
    "4-raw-is-a-file": raw_that_is_a_file,
    "4-raw-without-round-folder": raw_without_a_round_folder,
    "4-embedded-default-never-replaces-microdata": embedded_default_never_replaces_microdata,
    "5-non-finite-weights": non_finite_weights,
    "6-row-with-fewer-fields": row_with_fewer_fields,
    "6-row-with-extra-fields": row_with_extra_fields,
    "6-header-with-a-column-twice": header_with_a_column_twice,
    "7-dangling-symlink-module-file": module_file_that_is_a_dangling_symlink,
    "7-unrecognised-file-name-listed": module_file_with_an_unrecognised_name,
    "8-unknown-code-in-a-universe-variable": unknown_code_in_a_universe_variable,
    "8-responding-household-without-residents": responding_household_without_residents,
    "8-impossible-ages": impossible_ages,
    "8-label-contradicting-the-crosswalk": label_contradicting_the_crosswalk,
    "9-file-name-with-glob-characters": file_name_with_glob_characters,
    "9-folders-with-glob-characters": raw_and_store_folders_with_glob_characters,
    "10-value-that-looks-like-markup": value_that_looks_like_markup,
    "10-value-that-breaks-markup": value_that_breaks_markup,
    "11-non-integer-age": non_integer_age,
    "11-gzip-file-named-csv": gzip_file_named_csv,
    "11-unreadable-file": unreadable_file,
    "11-unreadable-store": unreadable_store,
    "11-full-disk": full_disk,
    "11-truncated-manifest": truncated_manifest,
    "11-store-under-a-file": store_under_a_file,
    "11-report-lang-xx": report_in_an_unknown_language,
    "11-report-out-under-a-file": report_out_under_a_file,
    "11-report-out-onto-a-folder": report_out_onto_a_folder,
    "11-export-out-onto-an-existing-file": export_out_onto_an_existing_file,
    "11-indicators-theme-nonsense": indicators_with_an_unknown_theme,
    "11-usage-errors-the-parser-finds": usage_errors_the_parser_finds,
    "12-leftover-partial-removed": leftover_partial_is_removed,
    "13-huge-value-cut": huge_offending_value_is_cut,
    "13-two-files-in-subfolders-shown-by-path": two_files_for_one_module_in_subfolders,
    "13-status-of-no-store": status_of_no_store,
    "13-indicators-round-not-stored": indicators_for_a_round_not_stored,
    "store-symlinks-unavailable": symlinks_unavailable,
    "store-path-with-spaces-and-non-ascii": store_path_with_spaces_and_non_ascii,
    "packaging-published-figures-are-package-data": published_figures_are_package_data,
    "packaging-gitignore-covers-the-store": gitignore_covers_the_store,
}


@pytest.mark.parametrize("case", list(CASES))
def test_misuse(case: str, tmp_path: Path, synthetic_round: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    CASES[case](Ctx(tmp_path, synthetic_round, monkeypatch))
