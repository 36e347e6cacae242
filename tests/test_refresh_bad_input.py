"""Bad input stops only the affected round, names file, variable and values, and leaves the store as it was.

Each test copies the real II ENPOVE 2022 files into a temporary raw folder (never into the repository), refreshes
once to get a good store, breaks one thing, refreshes again and checks the error and the untouched store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import polars as pl
import pytest

from pipelines.refresh import refresh
from pipelines.store import scan_table
from tests.helpers import ENPOVE_2022_RAW, run_surveys, shared_path

HOUSEHOLDS = "Características de la vivienda y del hogar.csv"
RESIDENTS = "Características de los residentes del hogar.csv"
EDUCATION = "Educación.csv"


@pytest.fixture()
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw" / "enpove" / "2022"
    folder.mkdir(parents=True)
    for name in (HOUSEHOLDS, RESIDENTS, EDUCATION):
        shutil.copy(shared_path("data", "enpove", "2022", name), folder / name)
    return tmp_path / "raw"


def store_fingerprint(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*")) if p.is_file()
    }


def rewrite(path: Path, change) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    change(frame).write_csv(path)


def set_cell(frame: pl.DataFrame, column: str, row: int, value: str) -> pl.DataFrame:
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def first_responding_row(frame: pl.DataFrame) -> int:
    return frame.with_row_index().filter(pl.col("RESFIN").str.starts_with("1."))["index"][0]


def refresh_fails(raw: Path, store: Path, *, expect: list[str]) -> str:
    before = store_fingerprint(store)
    report = refresh(raw, store)
    assert not report.ok
    message = report.failed["enpove/2022"]
    for fragment in expect:
        assert fragment in message, f"{fragment!r} not in: {message}"
    assert store_fingerprint(store) == before, "the store changed"
    return message


@pytest.fixture()
def store(raw: Path, tmp_path: Path) -> Path:
    store = tmp_path / "harmonized"
    assert refresh(raw, store).ok
    return store


def folder(raw: Path) -> Path:
    return raw / "enpove" / "2022"


def test_required_module_missing(raw, store):
    (folder(raw) / RESIDENTS).unlink()
    refresh_fails(raw, store, expect=["required module(s) ['200']", str(folder(raw))])


def test_category_code_absent_from_crosswalk(raw, store):
    path = folder(raw) / RESIDENTS
    rewrite(path, lambda f: set_cell(f, "P204", 3, "7.Otro"))
    refresh_fails(raw, store, expect=[str(path), "P204", "'7'", "sex", "values.csv"])


@pytest.mark.parametrize("name, key", [(HOUSEHOLDS, "NHOGAR"), (RESIDENTS, "P200_N")])
def test_duplicate_key(raw, store, name, key):
    path = folder(raw) / name
    rewrite(path, lambda f: pl.concat([f, f.slice(first_responding_row(f), 1)]))
    refresh_fails(raw, store, expect=[str(path), "duplicate key", key])


@pytest.mark.parametrize("bad", [" ", "0", "-3.5", "abc", "NaN"])
def test_unusable_weight(raw, store, bad):
    path = folder(raw) / HOUSEHOLDS
    rewrite(path, lambda f: set_cell(f, "factorfinal", first_responding_row(f), bad))
    message = refresh_fails(raw, store, expect=[str(path), "factorfinal", "1 rows"])
    assert repr(bad.strip() or None) in message


def test_file_that_is_not_csv_sav_or_dta(raw, store):
    (folder(raw) / EDUCATION).rename(folder(raw) / "Educación.xlsx")
    refresh_fails(raw, store, expect=["Educación.xlsx", "not CSV, SAV or DTA", "module 500"])


def test_truncated_csv(raw, store):
    path = folder(raw) / RESIDENTS
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    refresh_fails(raw, store, expect=[str(path), "truncated"])


def test_person_whose_household_is_not_in_module_100(raw, store):
    path = folder(raw) / RESIDENTS
    rewrite(path, lambda f: set_cell(f, "CONGLOMERADO", 0, "99999"))
    refresh_fails(raw, store, expect=[str(path), "1 rows belong to no household of module 100", "99999"])


def test_latin1_csv_is_read_correctly_and_said(raw, tmp_path):
    path = folder(raw) / HOUSEHOLDS
    text = path.read_bytes().decode("utf-8-sig")
    path.write_bytes(text.encode("latin-1"))
    store = tmp_path / "latin1-store"
    report = refresh(raw, store)
    assert report.ok
    assert any("read as cp1252" in note for note in report.notes["enpove/2022"])
    good = tmp_path / "utf8-store"
    shutil.copy(shared_path("data", "enpove", "2022", HOUSEHOLDS), path)
    assert refresh(raw, good).ok
    for table in ("households", "persons"):
        assert scan_table(store, table).collect().equals(scan_table(good, table).collect())


def test_a_bad_round_does_not_stop_the_others(raw, tmp_path, enpove_2022_spec):
    other = dataclasses.replace(enpove_2022_spec, round="2021")
    shutil.copytree(folder(raw), raw / "enpove" / "2021")
    (folder(raw) / RESIDENTS).unlink()
    store = tmp_path / "two-rounds"
    report = refresh(raw, store, specs=[enpove_2022_spec, other])
    assert report.written == ["enpove/2021"]
    assert list(report.failed) == ["enpove/2022"]
    assert scan_table(store, "persons").collect()["round"].unique().to_list() == ["2021"]


def test_cli_exits_non_zero_and_keeps_the_store(raw, store):
    before = store_fingerprint(store)
    (folder(raw) / RESIDENTS).unlink()
    result = run_surveys("refresh", "--raw", str(raw), "--store", str(store))
    assert result.exit_code == 1
    assert "failed enpove/2022" in result.output
    assert store_fingerprint(store) == before


def test_real_folder_is_present():
    assert ENPOVE_2022_RAW.is_dir()


MIGRATION_I = "ENPOVE 2022_V_300 Migración I.csv"
MIGRATION_II = "ENPOVE2022_V_300_1_Migración II.SAV"


def test_part_of_a_module_without_its_main_file(raw, store):
    shutil.copy(shared_path("data", "enpove", "2022", MIGRATION_II), folder(raw) / MIGRATION_II)
    refresh_fails(raw, store, expect=[MIGRATION_II, "part 300_1 of module 300", "main file is not in the folder"])


def test_long_file_whose_person_is_not_a_resident(raw, store):
    shutil.copy(shared_path("data", "enpove", "2022", MIGRATION_I), folder(raw) / MIGRATION_I)
    import pyreadstat

    frame, _meta = pyreadstat.read_sav(str(shared_path("data", "enpove", "2022", MIGRATION_II)), output_format="polars")
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(99.0)).otherwise(pl.col("P200_N"))
                               .alias("P200_N"))
    pyreadstat.write_sav(frame, str(folder(raw) / MIGRATION_II))
    refresh_fails(raw, store, expect=[MIGRATION_II, "module 300_1", "1 rows belong to no resident of module 200",
                                      "-99"])


def test_a_2018_chapter_in_the_2022_folder_is_named_as_2018(raw, store):
    chapter = "ENPOVE_Capitulo 700 - Discriminación.sav.sav"
    (folder(raw) / chapter).symlink_to(shared_path("data", "enpove", "2018", chapter))
    from pipelines.specs import available_specs

    report = refresh(raw, store, specs=available_specs())
    message = report.failed["enpove/2022"]
    for fragment in (chapter, "lacks its key columns", "looks like a file of enpove/2018"):
        assert fragment in message, message


def test_spss_file_whose_text_is_not_in_the_encoding_it_declares(raw, tmp_path):
    """A .sav that declares UTF-8 but holds Windows-1252 text is read as Windows-1252, and the round says so."""
    import pyreadstat

    spss = tmp_path / "residents.sav"
    from pipelines.derive import code_of

    frame = pl.read_csv(folder(raw) / RESIDENTS, infer_schema=False)  # bare codes, ASCII names: all else ASCII
    frame = frame.select(code_of(pl.col(c)).alias(c) for c in frame.columns if c.isascii())
    labels = {c: ("EDAD EN AÑOS" if c == "P205_A" else c) for c in frame.columns}  # one non-ASCII variable label
    pyreadstat.write_sav(frame, str(spss), column_labels=labels)
    data = spss.read_bytes()
    assert "Ñ".encode() in data
    # Same byte length keeps the file's record layout: "Ñ" is two bytes in UTF-8, "Ñ" plus a space in cp1252.
    (folder(raw) / RESIDENTS).unlink()
    (folder(raw) / "Características de los residentes del hogar.sav").write_bytes(
        data.replace("Ñ".encode(), "Ñ".encode("cp1252") + b" "))
    report = refresh(raw, tmp_path / "store")
    assert report.ok, report.failed
    assert any("read as cp1252, not UTF-8" in note for note in report.notes["enpove/2022"])
