"""Published figures: every row of surveys/published/estimates.csv pinned to the seed thesis text it was transcribed
from, and `published_indicators` reading them as indicator rows.

"Near" is defined on the whitespace-normalised seed text (every run of whitespace collapsed to one space):
a row passes when some occurrence of its ``seed_label`` lies inside the region of the seed that holds its
table (Tabla 26, or the text introducing Tablas 5-7) and the estimate, in a printed form ("46,4", "46.4",
"3 592"), starts at most ``MAX_GAP`` characters after the label ends or ends at most ``MAX_GAP`` characters
before the label starts. The number must be a whole token: no digit, and no "," or "." followed by a digit,
directly before or after it, and no digit followed by "," or "." before it (so neither "8" nor "3" matches
inside "28,3").

The seed is read in place from ``<repo_root>/../shared/seeds``; a missing seed fails, it never skips.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polars as pl
import pytest

from pipelines.indicators.published import published_indicators

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_PATH = REPO_ROOT.parent / "shared" / "seeds" / "004_819b83dbc0b264a5.txt"
ESTIMATES_PATH = REPO_ROOT / "surveys" / "published" / "estimates.csv"

COLUMNS = [
    "source", "round", "indicator_id", "definition", "estimate", "unit", "universe", "sample",
    "citation_document", "citation_table", "citation_page", "seed_label",
]
UNITS = {"percent", "percent_of_gdp", "persons", "soles", "years", "months", "usd_millions"}
SOURCES = {"enpove", "multisector_lima", "admin_profile", "diaspora", "youth_survey"}
# Indicator ids of the package catalogue as listed in the task brief; no catalogue file exists in the repository yet.
CATALOGUE_IDS = frozenset({
    "no_health_insurance", "chronic_illness", "chronic_untreated", "mental_health_symptom", "ill_no_care",
    "overcrowding_room", "overcrowding_bedroom", "one_room_dwelling", "rented_dwelling", "water_network_inside",
    "sanitation_network_inside", "electricity", "internet", "fies_moderate_severe", "fies_severe",
    "food_insecure_reported", "discriminated_since_arrival", "knows_victim_physical", "knows_victim_psychological",
    "knows_victim_sexual", "knows_sex_exchange", "ipv_women", "sought_help", "employed", "informal",
    "labour_income_monthly", "underemployed_time", "sends_remittances",
})
# Column order of Tabla 26 as printed in its header.
TABLA_26_COLUMNS = [("enpove", "2018"), ("multisector_lima", "2019"), ("multisector_lima", "2021"),
                    ("admin_profile", "2017-2021"), ("multisector_lima", "2022")]
# At most this many characters (punctuation, "%", a short connective) between a label and its number.
MAX_GAP = 12
# Each citation_table maps to the stretch of seed text that holds it: (start marker, end marker), normalised.
REGIONS = {
    "Tabla 26": ("Tabla 26. Características sociodemográficas de los migrantes en el Perú",
                 "Nota: Información recogida de la ENPOVE 2018"),
    "Tablas 5-7": ("Características de los peruanos migrantes En el caso",
                   "Características de los migrantes en el Perú En materia"),
}


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _read_rows() -> list[dict[str, str]]:
    with ESTIMATES_PATH.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


ROWS = _read_rows()


def _row_id(row: dict[str, str]) -> str:
    return f"{row['source']}-{row['round']}-{row['indicator_id']}"


def _region_key(citation_table: str) -> str:
    if citation_table == "Tabla 26":
        return "Tabla 26"
    if re.match(r"Tabla [567]\b", citation_table):
        return "Tablas 5-7"
    raise AssertionError(f"citation_table {citation_table!r} has no seed region in tests/indicators/test_published.py")


def _printed_forms(estimate: str) -> set[str]:
    forms = {estimate, estimate.replace(".", ",")}
    if re.fullmatch(r"\d{4,}", estimate):
        grouped = f"{int(estimate):,}"
        forms |= {grouped.replace(",", " "), grouped.replace(",", ".")}
    return forms


def pinned_position(text: str, start: int, end: int, label: str, estimate: str) -> int | None:
    """Offset of the first printed ``estimate`` in ``text[start:end]`` that lies near an occurrence of ``label``."""
    numbers = []
    for form in _printed_forms(estimate):
        token = re.compile(r"(?<!\d)(?<!\d[.,])" + re.escape(form) + r"(?!\d|[.,]\d)")
        numbers += [(m.start(), m.end()) for m in token.finditer(text, start, end)]
    labels = [(start + m.start(), start + m.end()) for m in re.finditer(re.escape(label), text[start:end])]
    for num_start, num_end in sorted(numbers):
        for lab_start, lab_end in labels:
            if 0 <= num_start - lab_end <= MAX_GAP or 0 <= lab_start - num_end <= MAX_GAP:
                return num_start
    return None


def number_near_label(text: str, start: int, end: int, label: str, estimate: str) -> bool:
    return pinned_position(text, start, end, label, estimate) is not None


@pytest.fixture(scope="module")
def seed_text() -> str:
    assert SEED_PATH.is_file(), f"seed text missing: {SEED_PATH} (expected ../shared beside the repository)"
    return _normalise(SEED_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def regions(seed_text: str) -> dict[str, tuple[int, int]]:
    spans = {}
    for key, (first, last) in REGIONS.items():
        start = seed_text.index(first)
        spans[key] = (start, seed_text.index(last, start) + len(last))
    return spans


def test_seed_present() -> None:
    assert SEED_PATH.is_file(), f"seed text missing: {SEED_PATH}"


def test_header_is_exact() -> None:
    with ESTIMATES_PATH.open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == COLUMNS


@pytest.mark.parametrize("row", ROWS, ids=_row_id)
def test_row_is_pinned_to_seed(row: dict[str, str], seed_text: str, regions: dict[str, tuple[int, int]]) -> None:
    label = row["seed_label"]
    assert label and label == _normalise(label).strip(), f"seed_label not whitespace-normalised: {label!r}"
    start, end = regions[_region_key(row["citation_table"])]
    assert label in seed_text[start:end], f"seed_label {label!r} not in the {row['citation_table']} region of the seed"
    assert number_near_label(seed_text, start, end, label, row["estimate"]), (
        f"{row['estimate']} not printed within {MAX_GAP} characters of {label!r} in {row['citation_table']}"
    )


def test_tabla_26_cells_follow_column_order(seed_text: str, regions: dict[str, tuple[int, int]]) -> None:
    """Rows sharing a label and an indicator must be pinned to occurrences in the table's column order.

    The flattened Tabla 26 prints each table row's cells left to right, so the same label ("no tiene seguro de
    salud") recurs once per column; this catches a number copied from a neighbouring column.
    """
    start, end = regions["Tabla 26"]
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in ROWS:
        if row["citation_table"] == "Tabla 26":
            stem = row["indicator_id"].removeprefix(row["source"] + "_")
            groups.setdefault((row["seed_label"], stem), []).append(row)
    for (label, stem), rows in groups.items():
        rows = sorted(rows, key=lambda r: TABLA_26_COLUMNS.index((r["source"], r["round"])))
        positions = [pinned_position(seed_text, start, end, label, r["estimate"]) for r in rows]
        assert None not in positions, (label, stem)
        assert positions == sorted(set(positions)), (
            f"{stem}: rows {[_row_id(r) for r in rows]} are not pinned to distinct cells in column order"
        )


def test_no_duplicate_keys() -> None:
    keys = [(r["source"], r["round"], r["indicator_id"]) for r in ROWS]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, f"duplicate (source, round, indicator_id): {duplicates}"


def test_units_from_closed_set() -> None:
    bad = sorted({r["unit"] for r in ROWS} - UNITS)
    assert not bad, f"units outside {sorted(UNITS)}: {bad}"


def test_sources_and_rounds_are_well_formed() -> None:
    for row in ROWS:
        assert row["source"] in SOURCES, row
        assert re.fullmatch(r"\d{4}(-\d{4})?", row["round"]), row


def test_estimates_are_plain_decimals() -> None:
    for row in ROWS:
        assert re.fullmatch(r"\d+(\.\d+)?", row["estimate"]), f"{_row_id(row)}: {row['estimate']!r}"
        if row["unit"] == "percent":
            assert float(row["estimate"]) <= 100, _row_id(row)


def test_indicator_ids_and_definitions() -> None:
    for row in ROWS:
        iid = row["indicator_id"]
        assert re.fullmatch(r"[a-z][a-z0-9_]*", iid), iid
        assert row["definition"].strip(), f"{_row_id(row)} has no definition"
        if iid not in CATALOGUE_IDS:
            assert iid.startswith(row["source"] + "_"), f"non-catalogue id {iid} lacks the source prefix"


def test_every_row_has_a_citation() -> None:
    for row in ROWS:
        assert "via:" in row["citation_document"], _row_id(row)
        assert row["citation_table"].strip() and row["citation_page"].strip(), _row_id(row)
        assert re.fullmatch(r"~?\d+", row["citation_page"]), f"{_row_id(row)}: {row['citation_page']!r}"


def test_gap_rule_rejects_a_wrong_number(seed_text: str, regions: dict[str, tuple[int, int]]) -> None:
    start, end = regions["Tabla 26"]
    assert number_near_label(seed_text, start, end, "no tiene seguro de salud", "91.5")
    assert not number_near_label(seed_text, start, end, "no tiene seguro de salud", "91.6")
    assert not number_near_label(seed_text, start, end, "tienen enfermedades crónicas", "8")
    assert not number_near_label(seed_text, start, end, "tienen enfermedades crónicas", "3")


def test_published_rows_keep_the_printed_number_and_no_se():
    published = published_indicators()
    raw = pl.read_csv(REPO_ROOT / "surveys" / "published" / "estimates.csv", infer_schema=False)
    assert published.height == raw.height
    row = published.filter((pl.col("source") == "enpove") & (pl.col("round") == "2018")
                           & (pl.col("indicator_id") == "no_health_insurance")).row(0, named=True)
    assert row["estimate"] == pytest.approx(0.915) and row["se"] is None and row["flag"] == "published"
    assert published.filter(pl.col("se").is_not_null()).height == 0
    food = published.filter(pl.col("indicator_id") == "multisector_lima_food_insecurity_moderate_severe")
    assert set(food["concept_id"]) == {"food_insecurity_moderate_severe"}
    assert set(food["theme"]) == {"food_security"}
