"""The fast `.sav` reader (`pipelines.savfile`) reads exactly what pyreadstat reads, or hands the file back.

Each file is written here with pyreadstat (uncompressed, as readstat writes by default) and read both ways; the
files it must not read (compressed as INEI ships them, cut, user-missing values, dates, very long strings, text not
in its declared encoding) give None, so that `pipelines.read` lets readstat read them and name their errors.
"""

from __future__ import annotations

import datetime
import struct
from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from pipelines.read import read_sav
from pipelines.savfile import read_uncompressed
from tests.helpers import shared_path


def both(path: Path, columns: list[str] | None = None):
    _frame, meta = pyreadstat.read_sav(str(path), metadataonly=True, output_format="polars")
    wanted = columns or list(meta.column_names)
    fast = read_uncompressed(path, wanted, meta)
    slow, _meta = pyreadstat.read_sav(str(path), output_format="polars", apply_value_formats=False, usecols=wanted)
    return fast, slow.select(wanted)


def frame(rows: int = 50) -> pl.DataFrame:
    return pl.DataFrame({
        "CONGLOMERADO": [f"{15013500000000 + i // 3:015d}" for i in range(rows)],
        "CODPERSO": [f"{i % 3 + 1:02d}" for i in range(rows)],
        "P207": [float(1 + i % 2) if i % 7 else None for i in range(rows)],
        "EMPTY": [None] * rows,
        "P630_2": [1234.5 * i if i % 5 else None for i in range(rows)],
        "TEXT": ["  indented", "trailing   ", "", "sí, año", "x" * 40][0:1] * 0 +
                [["  indented", "trailing   ", "", "sí, año", "x" * 40][i % 5] for i in range(rows)],
    }, schema_overrides={"EMPTY": pl.Float64})


def test_reads_what_pyreadstat_reads(tmp_path):
    path = tmp_path / "chapter.sav"
    pyreadstat.write_sav(frame(), str(path))
    fast, slow = both(path)
    assert fast is not None
    assert fast.schema == slow.schema  # an all-missing column is Null in both
    assert fast.equals(slow)
    fast, slow = both(path, ["P630_2", "CODPERSO"])  # a few columns, in the order asked
    assert fast.columns == ["P630_2", "CODPERSO"] and fast.equals(slow)


def test_text_in_a_single_byte_encoding(tmp_path):
    """A file that declares Windows-1252 (INEI's 2018 chapters do): non-ASCII text decoded as such."""
    utf8 = tmp_path / "utf8.sav"
    pyreadstat.write_sav(frame(), str(utf8))
    data = utf8.read_bytes()
    # "sí, año" is 9 bytes in UTF-8 and 7 in cp1252: two spaces more keep the record layout.
    data = data.replace("sí, año".encode() + b" ", "sí, año".encode("cp1252") + b"   ")
    path = tmp_path / "cp1252.sav"
    path.write_bytes(_declare(data, b"WINDOWS-1252", 1252))
    fast, slow = both(path)
    assert fast is not None and fast.equals(slow)
    assert "sí, año" in fast["TEXT"].to_list()


def _declare(data: bytes, name: bytes, code: int) -> bytes:
    """The same .sav declaring another character set: the machine-integer record's code and the encoding record."""
    integer_info = data.index(struct.pack("<4i", 7, 3, 4, 8))
    data = data[:integer_info + 16 + 28] + struct.pack("<i", code) + data[integer_info + 16 + 32:]
    encoding = data.index(struct.pack("<2i", 7, 20))
    size, count = struct.unpack("<2i", data[encoding + 8:encoding + 16])
    return (data[:encoding + 8] + struct.pack("<2i", 1, len(name)) + name
            + data[encoding + 16 + size * count:])


def test_inei_compressed_chapters_go_to_readstat():
    path = shared_path("data", "enpove", "2018", "ENPOVE_Capitulo 200 - Carctaerísticas de los Residentes del Hogar.sav.sav")
    _frame, meta = pyreadstat.read_sav(str(path), metadataonly=True, output_format="polars")
    assert read_uncompressed(path, ["CONGLOMERADO", "P207"], meta) is None
    compressed, _encoding = read_sav(path, ("CONGLOMERADO", "P207"))
    assert compressed.height == 9852


def write_and_break(tmp_path: Path, how: str) -> tuple[Path, list[str]]:
    path = tmp_path / f"{how}.sav"
    data = frame()
    if how == "cut":
        pyreadstat.write_sav(data, str(path))
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "compressed":
        pyreadstat.write_sav(data, str(path), row_compress=True)
    elif how == "user_missing":
        pyreadstat.write_sav(data, str(path), missing_ranges={"P207": [2.0]})
    elif how == "date":
        pyreadstat.write_sav(data.with_columns(pl.lit(datetime.date(2018, 11, 1)).alias("P207")), str(path))
    elif how == "very_long_string":
        pyreadstat.write_sav(data.with_columns(pl.lit("x" * 300).alias("TEXT")), str(path))
    elif how == "bad_encoding":  # declares UTF-8, holds Windows-1252 text
        pyreadstat.write_sav(data, str(path))
        path.write_bytes(path.read_bytes().replace("sí, año".encode(), "sí, año".encode("cp1252") + b"  "))
    return path, ["P207", "TEXT"]


@pytest.mark.parametrize("how", ["cut", "compressed", "user_missing", "date", "very_long_string", "bad_encoding"])
def test_files_it_does_not_read_exactly_go_to_readstat(tmp_path, how):
    path, columns = write_and_break(tmp_path, how)
    _frame, meta = pyreadstat.read_sav(str(path), metadataonly=True, output_format="polars")
    assert read_uncompressed(path, columns, meta) is None
