"""A fast reader for the plain case of an SPSS `.sav` file: uncompressed cases, the columns asked only.

readstat (through pyreadstat) parses every slot of every case, also of the columns it is asked to skip, and hands
each value asked to Python one at a time (~2 us a case plus ~0.3 us a value measured here); on the 1.2-million-person
chapters of the synthetic 2018 round that was most of a refresh. An uncompressed `.sav` stores each case as a fixed-width
record of 8-byte slots (a number, or 8 bytes of a space-padded string), so the columns asked can be cut out of
blocks of records with numpy, without a Python object per value.

The reader reads what readstat would, or nothing: `read_uncompressed` returns None (and the caller lets pyreadstat
read the file) for anything it does not handle exactly as readstat does: compressed cases (INEI ships its chapters
bytecode-compressed), big-endian files, very long strings, user-missing values or date formats on a column asked,
a dictionary that does not agree with pyreadstat's metadata, a file whose size is not its case count times its
record length (a cut file: readstat names the error), and text that does not decode strictly in the file's encoding,
that holds a NUL byte or a NaN that is not SPSS's missing value.
"""

from __future__ import annotations

import codecs
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

# readstat's defaults for the values that mean system-missing, when the file has no floating-point record.
_SYSMIS, _HIGHEST, _LOWEST = 0xFFEFFFFFFFFFFFFF, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFE
# Print formats pyreadstat passes through as plain numbers (others, dates and times, it converts).
_PLAIN_NUMBER = re.compile(r"^(F|N|E|COMMA|DOT|DOLLAR|PCT)\d")
_BLOCK_BYTES = 1 << 23  # bytes of records cut at a time


@dataclass(frozen=True)
class _Variable:
    slot: int  # its first 8-byte slot in the case record
    slots: int  # 1 for a number; ceil(width / 8) for a string
    width: int  # 0 for a number, else the string's width in bytes
    has_missing: bool  # user-missing values declared


@dataclass(frozen=True)
class _Layout:
    variables: list[_Variable]
    record_bytes: int
    cases: int
    data_offset: int
    system_missing: tuple[int, int, int]


class _NotPlain(Exception):
    """The file is not the plain case this reader handles."""


def _layout(path: Path) -> _Layout:
    with path.open("rb") as handle:
        def read(n: int) -> bytes:
            data = handle.read(n)
            if len(data) != n:
                raise _NotPlain("cut dictionary")
            return data

        def int32() -> int:
            return struct.unpack("<i", read(4))[0]

        header = read(176)
        layout_code, nominal_slots, compression, _weight, cases = struct.unpack("<5i", header[64:84])
        if header[:4] != b"$FL2" or layout_code not in (2, 3) or compression != 0 or cases < 0:
            raise _NotPlain("not an uncompressed little-endian .sav with a case count")
        variables: list[_Variable] = []
        slots, system_missing = 0, (_SYSMIS, _HIGHEST, _LOWEST)
        while True:
            record = int32()
            if record == 2:
                kind, has_label, n_missing, _print, _write = struct.unpack("<5i", read(20))
                read(8)  # the short name: names are taken from pyreadstat's metadata and checked against it
                if has_label:
                    read((int32() + 3) // 4 * 4)
                if n_missing:
                    read(abs(n_missing) * 8)
                if kind < 0:
                    if not variables:
                        raise _NotPlain("a continuation record first")
                    last = variables[-1]
                    variables[-1] = _Variable(last.slot, last.slots + 1, last.width, last.has_missing)
                else:
                    variables.append(_Variable(slots, 1, kind, n_missing != 0))
                slots += 1
            elif record == 3:
                for _ in range(int32()):
                    length = read(9)[8]
                    read((length + 8) // 8 * 8 - 1)
                if int32() != 4:
                    raise _NotPlain("a value-label record without its variable list")
                read(4 * int32())
            elif record == 6:
                read(80 * int32())
            elif record == 7:
                subtype, size, count = struct.unpack("<3i", read(12))
                data = read(size * count)
                if subtype == 14:
                    raise _NotPlain("very long strings")
                if subtype == 4 and size == 8 and count == 3:
                    system_missing = struct.unpack("<3Q", data)
            elif record == 999:
                read(4)
                data_offset = handle.tell()
                break
            else:
                raise _NotPlain(f"record type {record}")
    if nominal_slots not in (-1, slots):
        raise _NotPlain("the header's case size is not the dictionary's")
    if any(v.width and v.slots != -(-v.width // 8) for v in variables):
        raise _NotPlain("a string whose slots are not its width's")
    return _Layout(variables, 8 * slots, cases, data_offset, system_missing)


def read_uncompressed(path: Path, wanted: list[str], meta) -> pl.DataFrame | None:
    """The `wanted` columns of an uncompressed `.sav` as pyreadstat would read them (numbers as Float64 with
    system-missing as null, strings decoded in the file's encoding without their trailing spaces), or None when
    the file is not the plain case (see the module docstring). `meta` is pyreadstat's metadata of the file."""
    try:
        return _read(path, wanted, meta)
    except (_NotPlain, OSError, UnicodeDecodeError, LookupError, ValueError, KeyError, pl.exceptions.PolarsError):
        return None


def _read(path: Path, wanted: list[str], meta) -> pl.DataFrame:
    if not wanted:
        raise _NotPlain("no columns asked")
    layout = _layout(path)
    if not layout.cases:
        raise _NotPlain("no cases")
    names, kinds = list(meta.column_names), meta.readstat_variable_types
    if len(set(names)) != len(names) or len(names) != len(layout.variables) or any(
            (kinds[n] == "string") != (v.width > 0) for n, v in zip(names, layout.variables)):
        raise _NotPlain("the dictionary does not agree with pyreadstat's")
    if meta.number_rows not in (None, layout.cases):
        raise _NotPlain("case counts differ")
    if path.stat().st_size != layout.data_offset + layout.cases * layout.record_bytes:
        raise _NotPlain("the file is not its case count times its record length")
    by_name = dict(zip(names, layout.variables))
    chosen = {name: by_name[name] for name in wanted}
    for name, variable in chosen.items():
        form = meta.original_variable_types.get(name, "")
        plain = form.startswith("A") if variable.width else _PLAIN_NUMBER.match(form) is not None
        if variable.has_missing or not plain:
            raise _NotPlain(f"{name}: user-missing values or format {form}")
    encoding = codecs.lookup(meta.file_encoding or "utf-8").name
    fields = {name: (f"S{8 * v.slots}" if v.width else "<u8", 8 * v.slot) for name, v in chosen.items()}
    record = np.dtype({"names": list(fields), "formats": [f for f, _ in fields.values()],
                       "offsets": [o for _, o in fields.values()], "itemsize": layout.record_bytes})
    out = {name: np.empty(layout.cases, dtype=record.fields[name][0]) for name in fields}
    step = max(1, _BLOCK_BYTES // layout.record_bytes)
    with path.open("rb") as handle:
        handle.seek(layout.data_offset)
        for start in range(0, layout.cases, step):
            block = np.fromfile(handle, dtype=record, count=min(step, layout.cases - start))
            if len(block) != min(step, layout.cases - start):
                raise _NotPlain("cut data")
            for name in fields:
                out[name][start:start + len(block)] = block[name]
    return pl.DataFrame([_number(name, out[name], layout.system_missing) if not chosen[name].width
                         else _text(name, out[name], encoding) for name in wanted])


def _number(name: str, bits: np.ndarray, system_missing: tuple[int, int, int]) -> pl.Series:
    missing = np.isin(bits, np.array(system_missing, dtype=np.uint64))
    values = bits.view(np.float64)
    if np.isnan(values).any():
        raise _NotPlain(f"{name}: a NaN that is not system-missing")
    if missing.all():  # pyreadstat's type for a column with no value
        return pl.Series(name, [None] * len(values), dtype=pl.Null)
    values[missing] = np.nan
    return pl.Series(name, values, nan_to_null=True)


def _text(name: str, raw: np.ndarray, encoding: str) -> pl.Series:
    """Fixed-width bytes to text without their trailing spaces, as readstat does: cast by polars when the bytes
    are UTF-8 in the file's encoding (a UTF-8 file, or plain ASCII in one of the usual single-byte encodings),
    else each distinct value decoded once."""
    import pyarrow as pa

    width = raw.dtype.itemsize
    column = pl.Series(name, pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(raw),
                                                                 [None, pa.py_buffer(raw)]))
    if column.bin.contains(b"\0").any():
        raise _NotPlain(f"{name}: a NUL byte")
    if encoding == "utf-8" or (encoding in _ASCII_SUPERSETS and not (raw.view(np.uint8) >= 0x80).any()):
        try:
            return column.cast(pl.String).str.strip_chars_end(" ")
        except pl.exceptions.ComputeError as exc:  # not UTF-8: readstat says so
            raise _NotPlain(f"{name}: not UTF-8") from exc
    distinct = column.unique()
    # Strict: text not in the encoding goes to readstat, which names the error.
    decoded = [value.rstrip(b" ").decode(encoding) for value in distinct.to_list()]
    return column.replace_strict(distinct, pl.Series(decoded, dtype=pl.String), return_dtype=pl.String)


# Single-byte encodings whose bytes below 0x80 are ASCII.
_ASCII_SUPERSETS = frozenset({*(f"cp{n}" for n in range(1250, 1259)), "ascii",
                              *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 15, 16))})
