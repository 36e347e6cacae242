"""The real II ENPOVE 2022 modules 300 (both files), 700 and 800, through the crosswalk into the store, pinned.

Each figure is computed twice: here with plain polars straight from INEI's files (CSV or SPSS, weighted with
`factorfinal`, among the rows the module asked), and from the harmonised store (the weighted mean of the harmonised
column over its non-null rows). The two must agree to rounding; the raw figure is also pinned, so a change in INEI's
files or in this reading of them shows up. This is about the crosswalk, not the variance: no standard errors.

The store is built by `pipelines.refresh.refresh` from a raw folder of symlinks to ../shared (never copied).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyreadstat
import pytest
from polars.testing import assert_frame_equal

from pipelines.refresh import refresh
from pipelines.store import scan_table
from tests.helpers import shared_path

RAW = ("data", "enpove", "2022")
KEY = ("CONGLOMERADO", "VIVIENDA", "NHOGAR", "P200_N")
MODULE_300 = "ENPOVE 2022_V_300 Migración I.csv"
PART_300_1 = "ENPOVE2022_V_300_1_Migración II.SAV"
MODULE_700_CSV = "ENPOVE2022_V_700 Discriminación.csv"
MODULE_700_SAV = "ENPOVE2022_V_700 Discriminación.SAV"  # in ../shared/data_spss
MODULE_800 = "ENPOVE2022_V_800 Género y victimización.SAV"
PINNED = 5e-5  # the pinned shares are rounded to 4 decimals
SAME = 1e-9  # raw and harmonised figures are the same arithmetic on the same rows


# --- the raw files, read with plain polars ------------------------------------------------------------------------

def _code(column: str) -> pl.Expr:
    """INEI's bare code: `3.Pasaporte vigente` -> `3`, `3` -> `3`."""
    return pl.coalesce(pl.col(column).str.extract(r"^(\d+)\.(?:\D|$)", 1), pl.col(column))


def raw_csv(name: str) -> pl.DataFrame:
    frame = pl.read_csv(shared_path(*RAW, name), infer_schema=False)
    frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    blank_is_null = pl.when(pl.col(pl.String) != " ").then(pl.col(pl.String)).name.keep()
    return frame.with_columns(blank_is_null).with_columns(pl.col("factorfinal").cast(pl.Float64))


def raw_sav(*parts: str) -> pl.DataFrame:
    """SPSS bare codes as text (`1`, not `1.0`), as a CSV would have them."""
    frame, _ = pyreadstat.read_sav(str(shared_path(*parts)), output_format="polars", apply_value_formats=False)
    numbers = pl.col(pl.Float64).exclude("factorfinal")
    return frame.with_columns(numbers.cast(pl.Int64).cast(pl.String))


def person_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.concat_str([pl.col(k) for k in KEY], separator="-").alias("person_id"))


def weighted_share(frame: pl.DataFrame, condition: pl.Expr, among: pl.Expr) -> float:
    rows = frame.filter(among)
    return rows.select((condition.cast(pl.Float64) * pl.col("factorfinal")).sum() / pl.col("factorfinal").sum()).item()


@pytest.fixture(scope="module")
def m300() -> pl.DataFrame:
    return raw_csv(MODULE_300)


@pytest.fixture(scope="module")
def m700() -> pl.DataFrame:
    return raw_csv(MODULE_700_CSV)


@pytest.fixture(scope="module")
def m800() -> pl.DataFrame:
    return raw_sav(*RAW, MODULE_800)


@pytest.fixture(scope="module")
def relatives_left(m300) -> pl.DataFrame:
    """Module 300 with `n`, the person's rows in the long file 300_1 (0 for none)."""
    long = person_id(raw_sav(*RAW, PART_300_1))
    counts = long.group_by("person_id").agg(pl.len().cast(pl.Int64).alias("n"))
    joined = person_id(m300).join(counts, on="person_id", how="left")
    assert joined["n"].sum() == long.height == 11_049  # every relative belongs to a migrant of module 300
    return joined.with_columns(pl.col("n").fill_null(0))


# --- the harmonised store -----------------------------------------------------------------------------------------

def _round_folder(root: Path, files: dict[str, Path]) -> Path:
    """`<root>/raw/enpove/2022/` made of symlinks; returns `<root>/raw`."""
    folder = root / "raw" / "enpove" / "2022"
    folder.mkdir(parents=True)
    for name, target in files.items():
        (folder / name).symlink_to(target)
    return root / "raw"


def _real_files(*, spss_700: bool) -> dict[str, Path]:
    files = {p.name: p for p in shared_path(*RAW).iterdir() if p.suffix.lower() in (".csv", ".sav")}
    assert {MODULE_300, PART_300_1, MODULE_700_CSV, MODULE_800} <= set(files)  # both files of module 300
    if spss_700:
        del files[MODULE_700_CSV]
        files[MODULE_700_SAV] = shared_path("data_spss", "enpove", "2022", MODULE_700_SAV)
    return files


def _persons(root: Path, files: dict[str, Path]) -> pl.DataFrame:
    raw, store = _round_folder(root, files), root / "store"
    report = refresh(raw, store)
    assert report.ok, report.failed
    return scan_table(store, "persons", source="enpove", round_="2022").collect()


@pytest.fixture(scope="session")
def real_persons(tmp_path_factory) -> pl.DataFrame:
    """The harmonised persons of the real round: modules 100, 200, 500 and 300 (CSV + 300_1 SAV), 700 CSV, 800 SAV."""
    return _persons(tmp_path_factory.mktemp("real_modules"), _real_files(spss_700=False))


@pytest.fixture(scope="session")
def real_persons_spss_700(tmp_path_factory) -> pl.DataFrame:
    """The same round with INEI's SPSS module 700 in place of its labelled CSV."""
    return _persons(tmp_path_factory.mktemp("real_modules_spss_700"), _real_files(spss_700=True))


def harmonised_share(persons: pl.DataFrame, column: str, category: str | None = None) -> tuple[float, int]:
    """Weighted mean of a Boolean or numeric column (or the share of one category) over its non-null rows."""
    rows = persons.filter(pl.col(column).is_not_null())
    value = pl.col(column).cast(pl.String).eq(category) if category else pl.col(column)
    mean = rows.select((value.cast(pl.Float64) * pl.col("weight")).sum() / pl.col("weight").sum()).item()
    return mean, rows.height


# --- module 700: discrimination (migrants 5+; reasons and places if P701 = 1) -------------------------------------

DISCRIMINATION = [  # harmonised column, INEI option, pinned share among those who felt discriminated against
    ("discriminated_for_migratory_status", "P702_3", 0.0536),
    ("discriminated_for_nationality", "P702_5", 0.9449),
    ("discriminated_at_work", "P703_1", 0.3829),
    ("discriminated_at_school", "P703_2", 0.0832),
    ("discriminated_in_health_facility", "P703_3", 0.0354),
    ("discriminated_in_public_places", "P703_5", 0.6744),
]


def test_felt_discriminated_since_arriving(m700, real_persons):
    answered = _code("P701").is_not_null()
    raw = weighted_share(m700, _code("P701") == "1", answered)
    harmonised, rows = harmonised_share(real_persons, "discriminated_since_arrival")
    assert m700.height == 10_242 and rows == m700.filter(answered).height == 10_227
    assert raw == pytest.approx(0.2955, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


@pytest.mark.parametrize(("column", "option", "pinned"), DISCRIMINATION)
def test_discrimination_reasons_and_places(m700, real_persons, column, option, pinned):
    felt = _code("P701") == "1"
    raw = weighted_share(m700, _code(option) != "0", felt)
    harmonised, rows = harmonised_share(real_persons, column)
    assert rows == m700.filter(felt).height == 3_104
    assert raw == pytest.approx(pinned, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


def test_module_700_as_spss_gives_the_same_columns_as_the_csv(real_persons, real_persons_spss_700, enpove_2022_spec):
    columns = ["person_id", *dict.fromkeys(v.harmonised_var for v in enpove_2022_spec.variables if v.module == "700")]
    assert len(columns) == 8
    csv, spss = (p.select(columns).sort("person_id") for p in (real_persons, real_persons_spss_700))
    assert_frame_equal(csv, spss)
    assert csv["discriminated_for_migratory_status"].sum() == 212  # the SPSS file marks it 1, the CSV 3.Condición…


# --- module 800: knows a victim (migrants 18+) --------------------------------------------------------------------

VICTIMISATION = [  # harmonised column, INEI item (Sí = 1), pinned share of migrants 18+ who answered
    ("knows_victim_physical", "P802_1", 0.1529),
    ("knows_victim_psychological", "P802_2", 0.1615),
    ("knows_victim_sexual", "P802_3", 0.0283),
    ("knows_sex_exchange", "P807", 0.1625),
]


@pytest.mark.parametrize(("column", "item", "pinned"), VICTIMISATION)
def test_knows_a_victim(m800, real_persons, column, item, pinned):
    answered = pl.col(item).is_not_null()
    raw = weighted_share(m800, pl.col(item) == "1", answered)
    harmonised, rows = harmonised_share(real_persons, column)
    assert m800.height == 7_751 and rows == m800.filter(answered).height == 7_739
    assert raw == pytest.approx(pinned, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


def test_knows_a_victim_of_a_partner(m800, real_persons):
    # INEI's file records no aggressor at all for sexual violence (p802a_3_* all 0): only 802A_1/2 can count.
    assert m800.filter(pl.col("P802_3") == "1")["p802a_3_1"].unique().to_list() == ["0"]
    partner = pl.any_horizontal((pl.col(f"P802_{k}") == "1") & (pl.col(a) == "1")
                                for k, a in ((1, "P802A_1_1"), (2, "P802A_2_1"), (3, "p802a_3_1")))
    raw = weighted_share(m800, partner, pl.col("P802_1").is_not_null())
    harmonised, rows = harmonised_share(real_persons, "knows_victim_of_partner")
    assert rows == 7_739
    assert raw == pytest.approx(0.0765, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


def test_known_sexual_violence_victim_sought_help(m800, real_persons):
    # SPSS codes a marked P804 option 1 (not the option number): institutions are options 6-13.
    asked = pl.col("P803").is_not_null()
    helped = weighted_share(m800, pl.col("P803") == "1", asked)
    institution = (pl.col("P803") == "1") & pl.any_horizontal(pl.col(f"P804_{k}") == "1" for k in range(6, 14))
    went_to_institution = weighted_share(m800, institution, asked)
    assert m800.filter(asked).height == 202 and m800.filter(institution).height == 79
    for column, raw, pinned in (("known_sexual_victim_sought_help", helped, 0.4490),
                                ("known_sexual_victim_sought_institution", went_to_institution, 0.3365)):
        harmonised, rows = harmonised_share(real_persons, column)
        assert rows == 202
        assert raw == pytest.approx(pinned, abs=PINNED)
        assert harmonised == pytest.approx(raw, abs=SAME)


# --- module 300: migratory status, permits, documents (all migrants) ----------------------------------------------

def _raw_status() -> pl.Expr:
    """The README's precedence, written out on INEI's codes."""
    permit, claim = _code("P307"), _code("P308")
    return (
        pl.when((permit == "7") | (claim == "3")).then(pl.lit("refugee"))
        .when(~permit.is_in(["10", "15"])).then(pl.lit("regular"))
        .when(claim == "1").then(pl.lit("asylum_seeker"))
        .otherwise(pl.lit("irregular"))
    )


MIGRATORY_STATUS = [("regular", 0.5727), ("irregular", 0.3063), ("asylum_seeker", 0.0635), ("refugee", 0.0576)]
PERMITS = [  # P307 codes, the round-neutral kind they map to in migratory_document, pinned share of migrants
    (("15",), "none", 0.3572), (("2", "3", "4", "5", "6", "8"), "residence_card", 0.3117),
    (("1", "9"), "temporary_permit", 0.1991), (("13",), "national_id", 0.0890), (("7",), "refugee_card", 0.0251),
    (("10",), "temporary_permit_expired", 0.0166), (("12",), "tourist", 0.0007), (("11",), "visa", 0.0006),
]


@pytest.mark.parametrize(("status", "pinned"), MIGRATORY_STATUS)
def test_migratory_status(m300, real_persons, status, pinned):
    answered = _code("P307").is_not_null()
    raw = weighted_share(m300, _raw_status() == status, answered)
    harmonised, rows = harmonised_share(real_persons, "migratory_status", status)
    assert m300.height == 11_621 and rows == m300.filter(answered).height == 11_605
    assert raw == pytest.approx(pinned, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


def test_every_answered_permit_and_claim_gets_a_status(m300, real_persons):
    # Every P307 code but 14 (otro tipo de permiso) occurs, with every P308 code; none falls through the rules.
    assert set(m300.select(_code("P307")).to_series().drop_nulls()) == {str(c) for c in range(1, 16)} - {"14"}
    statuses = real_persons.filter(pl.col("migratory_document").is_not_null())["migratory_status"]
    assert statuses.null_count() == 0
    assert statuses.value_counts().sort("migratory_status").rows() == [
        ("regular", 5_953), ("asylum_seeker", 959), ("refugee", 559), ("irregular", 4_134)]


@pytest.mark.parametrize(("codes", "document", "pinned"), PERMITS)
def test_permit_held(m300, real_persons, codes, document, pinned):
    raw = weighted_share(m300, _code("P307").is_in(codes), _code("P307").is_not_null())
    harmonised, _ = harmonised_share(real_persons, "migratory_document", document)
    assert raw == pytest.approx(pinned, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


def test_has_valid_passport(m300, real_persons):
    raw = weighted_share(m300, _code("P306_3") != "0", _code("P306_3").is_not_null())
    harmonised, rows = harmonised_share(real_persons, "has_valid_passport")
    assert rows == 11_605
    assert raw == pytest.approx(0.1360, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)


# --- module 300 and its second file 300_1: household members left in Venezuela (migrants 12+) ----------------------

def test_left_household_members_behind(m300, relatives_left, real_persons):
    asked = _code("P313").is_not_null()
    said_yes = weighted_share(m300, _code("P313") == "1", asked)
    listed = weighted_share(relatives_left, pl.col("n") > 0, asked)
    harmonised, rows = harmonised_share(real_persons, "left_household_members_behind")
    assert rows == m300.filter(asked).height == 8_643
    assert said_yes == pytest.approx(0.5210, abs=PINNED)
    assert harmonised == pytest.approx(said_yes, abs=SAME)  # INEI's question P313 decides the yes/no
    # The long file lists relatives for 6 more persons, who answered P313 = 2 (see variables.csv).
    assert listed == pytest.approx(0.5219, abs=PINNED)


def test_n_household_members_left_behind(relatives_left, real_persons):
    asked = relatives_left.filter(_code("P313").is_not_null())
    raw = (asked["n"] * asked["factorfinal"]).sum() / asked["factorfinal"].sum()
    harmonised, rows = harmonised_share(real_persons, "n_household_members_left_behind")
    assert rows == asked.height == 8_643 and asked["n"].sum() == 11_049
    assert raw == pytest.approx(1.2375, abs=PINNED)
    assert harmonised == pytest.approx(raw, abs=SAME)
    among_yes = asked.filter(_code("P313") == "1")
    assert among_yes.select((pl.col("n") * pl.col("factorfinal")).sum() / pl.col("factorfinal").sum()).item() == (
        pytest.approx(2.3713, abs=PINNED))


def test_n_household_members_left_behind_against_p313(real_persons):
    count = pl.col("n_household_members_left_behind")
    disagree = real_persons.filter(count.is_not_null() & (pl.col("left_household_members_behind") != (count > 0)))
    # INEI's two files disagree for 6 persons: P313 = 2 (No) in Migración I, 1-3 relatives in Migración II.
    assert disagree.height == 6
    assert disagree["left_household_members_behind"].to_list() == [False] * 6
    assert sorted(disagree["n_household_members_left_behind"].to_list()) == [1, 2, 2, 2, 2, 3]
