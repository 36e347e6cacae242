"""Write INEI-shaped module frames as INEI ships them: `code.label` CSV, bare-code CSV or SPSS `.sav`."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.synthetic.settings import GeneratorSettings

BLANK = " "  # INEI writes a blank answer as a single space
_NUMBER = r"^(?:0|-?[1-9][0-9]*)(?:\.[0-9]+)?$"


def labels(values: pl.DataFrame, settings: GeneratorSettings) -> dict[str, dict[str, str]]:
    """source column -> {code: "code.label"} for numeric codes, from values.csv and the control codes."""
    rows = pl.concat([
        values.select(pl.col("source_var").alias("column"), pl.col("source_value").alias("code"), "label"),
        settings.control_codes.select("column", "code", "label"),
    ]).filter(pl.col("code").str.contains(r"^[0-9]+$") & pl.col("label").is_not_null())
    rows = rows.unique(["column", "code"], keep="first", maintain_order=True)
    out: dict[str, dict[str, str]] = {}
    for column, code, label in rows.iter_rows():
        out.setdefault(column, {})[code] = f"{code}.{label}"
    return out


def _csv(frame: pl.DataFrame, path: Path) -> None:
    frame.write_csv(path, include_bom=True, null_value=BLANK, line_terminator="\r\n")


def write_csv_labelled(frame: pl.DataFrame, path: Path, label_map: dict[str, dict[str, str]]) -> None:
    labelled = [c for c in frame.columns if c in label_map]
    _csv(frame.with_columns(
        pl.col(c).replace(list(label_map[c]), list(label_map[c].values())) for c in labelled
    ), path)


def write_csv_bare(frame: pl.DataFrame, path: Path) -> None:
    _csv(frame, path)


def write_sav(frame: pl.DataFrame, path: Path, text: frozenset[str] = frozenset(),
              stamp: date = date(2000, 1, 1)) -> None:
    """Numeric codes as SPSS numbers; zero-padded identifiers, text and the `text` columns stay strings.

    The file's creation stamp is `stamp` at midnight, not the time of writing: the same seed gives the same bytes
    (a refresh fingerprints its inputs by sha256)."""
    import pyreadstat

    numeric = frame.select(
        (pl.col(c).is_null().all() | pl.col(c).drop_nulls().str.contains(_NUMBER).all()) & pl.lit(c not in text)
        for c in frame.columns
    ).row(0)
    out = frame.with_columns(
        pl.col(c).cast(pl.Float64) if is_number else pl.col(c).fill_null("")
        for c, is_number in zip(frame.columns, numeric)
    )
    stand_ins = _stand_ins(out.columns)
    out = out.rename(stand_ins)
    if out.height <= _SMALL or not _write_sav_fast(out, path):
        pyreadstat.write_sav(out, str(path))
    _restore_names(path, stand_ins, stamp)


_SMALL = 1000  # below this many rows readstat writes the whole file (its writer loops over cells in Python)
_SYSMIS = -np.finfo(np.float64).max  # SPSS's system-missing value


def _write_sav_fast(frame: pl.DataFrame, path: Path) -> bool:
    """Write an uncompressed .sav as readstat would, fast: readstat writes the dictionary from one row carrying
    each string column's longest value, then the cases are appended as numpy records (8-byte numbers, strings
    space-padded to their 8-byte segments) and the case count is set. False (nothing kept) if the dictionary is
    not the one expected, so that the caller lets readstat write the whole file."""
    import pyreadstat

    strings = [c for c, t in frame.schema.items() if t == pl.String]
    widths = dict(zip(strings, frame.select(pl.col(strings).str.len_bytes().max()).row(0) if strings else ()))
    longest = {c: "x" * max(1, widths[c] or 0) for c in strings}
    probe = frame.head(1).with_columns(pl.lit(v).alias(c) for c, v in longest.items())
    pyreadstat.write_sav(probe, str(path))
    _, meta = pyreadstat.read_sav(str(path), metadataonly=True, output_format="polars")
    cells = {c: 1 if c not in longest else -(-int(meta.original_variable_types[c][1:]) // 8) for c in frame.columns}
    data = path.read_bytes()
    row_bytes = 8 * sum(cells.values())
    if not data.startswith(b"$FL2") or int.from_bytes(data[80:84], "little") != 1 or len(data) < row_bytes:
        return False
    header = bytearray(data[:-row_bytes])
    if not header.endswith(b"\xe7\x03\x00\x00\x00\x00\x00\x00"):  # the dictionary-termination record
        return False
    header[80:84] = frame.height.to_bytes(4, "little")
    # The extension record of subtype 16 repeats the case count as a 64-bit number (after its 1).
    extension = header.find(b"\x07\x00\x00\x00\x10\x00\x00\x00\x08\x00\x00\x00\x02\x00\x00\x00")
    if extension >= 0:
        if int.from_bytes(header[extension + 24:extension + 32], "little") != 1:
            return False
        header[extension + 24:extension + 32] = frame.height.to_bytes(8, "little")
    records = np.empty(frame.height, dtype=[(c, f"S{8 * n}" if c in longest else "<f8") for c, n in cells.items()])
    for column in frame.columns:
        if column in longest:  # UTF-8 bytes, then spaces (numpy pads with NUL)
            text = frame[column].fill_null("").cast(pl.Binary).to_numpy().astype(f"S{8 * cells[column]}")
            records[column] = np.char.ljust(text, 8 * cells[column], b" ")
        else:
            values = frame[column].cast(pl.Float64).fill_null(float("nan")).to_numpy().copy()
            values[np.isnan(values)] = _SYSMIS
            records[column] = values
    with path.open("wb") as handle:
        handle.write(header)
        handle.write(records.tobytes())
    return True


def _stand_ins(columns: list[str]) -> dict[str, str]:
    """Names SPSS allows but readstat's writer refuses (INEI's `@_P14_2`: not starting with a letter or `_`),
    each with a stand-in of the same length starting with a letter."""
    taken, out = list(columns), {}
    for name in columns:
        if re.match(r"^[A-Za-z_]", name):
            continue
        # Found in no other name, so that restoring it cannot touch another column's.
        stand_in = next(f"{letter}{name[1:]}" for letter in "ZYXWVUTSRQ"
                        if not any(f"{letter}{name[1:]}" in other for other in taken))
        taken.append(stand_in)
        out[name] = stand_in
    return out


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _restore_names(path: Path, stand_ins: dict[str, str], stamp: date) -> None:
    """Put the real names back in the file's dictionary (same length, so every offset stays valid) and set the
    header's creation date and time (bytes 92-108 of the file header record: `dd Mmm yy`, `hh:mm:ss`), in place."""
    with path.open("r+b") as handle:
        head = handle.read(1 << 20)  # the dictionary: a few kB for INEI's widest chapter
        if not head.startswith(b"$FL2"):
            raise ValueError(f"{path}: not an SPSS system file")
        header_end = head.find(b"\xe7\x03\x00\x00", 176)  # the dictionary-termination record (type 999)
        if header_end < 0:
            raise ValueError(f"{path}: dictionary longer than expected")
        header = head[:header_end]
        for name, stand_in in stand_ins.items():
            header = header.replace(stand_in.encode(), name.encode())
        created = f"{stamp.day:02d} {_MONTHS[stamp.month - 1]} {stamp.year % 100:02d}00:00:00".encode()
        handle.seek(0)
        handle.write(header[:92] + created + header[109:])
