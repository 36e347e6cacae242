"""ENPOVE 2018: INEI's real SPSS chapters (../shared/data/enpove/2018, read in place) plus the chapter-300 fixture.

INEI's chapter 300 main file is not in our copy, and a long file (`300_Preg.318`) is read only beside its main
file, so the round folder is built in a temporary directory: symlinks to the nine real files and the chapter-300
file that `tests/fixtures/enpove_2018/make_chapter_300.py` writes for the first 16 migrants. Expectations are
INEI's published figures or counts made here straight from the raw files with plain polars / pyreadstat,
independently of the crosswalk.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyreadstat
import pytest

from pipelines.refresh import refresh
from pipelines.store import scan_table
from tests.fixtures.enpove_2018.make_chapter_300 import answers, make_chapter_300
from tests.helpers import shared_path

RAW = ("data", "enpove", "2018")
HOUSEHOLD = ["CONGLOMERADO", "VIVIENDA", "HOGAR"]
PERSON = [*HOUSEHOLD, "CODPERSO"]
CHAPTER = {
    "100": "Capitulo 100 -", "200": "Capitulo 200 -", "300_318": "Capitulo 300_Preg.318", "400": "Capitulo 400 -",
    "500": "Capitulo 500 -", "600": "Capitulo 600 -", "600_630": "Capitulo 600_Preg.630", "700": "Capitulo 700 -",
    "800": "Capitulo 800 -",
}


def raw_path(module: str) -> Path:
    folder = shared_path(*RAW)
    (path,) = [p for p in folder.glob("*.sav") if CHAPTER[module] in p.name]
    return path


def raw(module: str) -> pl.DataFrame:
    frame, _meta = pyreadstat.read_sav(str(raw_path(module)), output_format="polars")
    return frame


def ids(frame: pl.DataFrame, key: list[str] = PERSON, name: str = "person_id") -> pl.DataFrame:
    return frame.with_columns(pl.concat_str([pl.col(k) for k in key], separator="-").alias(name))


def weighted_share(frame: pl.DataFrame, condition: pl.Expr, weight: str) -> float:
    return frame.select((condition.cast(pl.Float64) * pl.col(weight)).sum() / pl.col(weight).sum()).item()


@pytest.fixture(scope="module")
def spec(enpove_2018_spec):
    return enpove_2018_spec


@pytest.fixture(scope="module")
def chapter_300_path(tmp_path_factory) -> Path:
    return make_chapter_300(raw_path("200"), tmp_path_factory.mktemp("chapter_300"))


@pytest.fixture(scope="module")
def round_2018(spec, chapter_300_path, tmp_path_factory):
    """The harmonised round: (households, persons, refresh notes)."""
    root = tmp_path_factory.mktemp("enpove_2018")
    folder = root / "raw" / "enpove" / "2018"
    folder.mkdir(parents=True)
    for module in CHAPTER:
        source = raw_path(module)
        (folder / source.name).symlink_to(source)
    (folder / chapter_300_path.name).symlink_to(chapter_300_path)
    report = refresh(root / "raw", root / "store", specs=[spec])
    assert report.ok, report.failed
    households = scan_table(root / "store", "households", source="enpove", round_="2018").collect()
    persons = scan_table(root / "store", "persons", source="enpove", round_="2018").collect()
    return households, persons, report.notes["enpove/2018"]


def test_complete_households(round_2018):
    chapter_100 = raw("100")
    complete = chapter_100.filter(pl.col("RESULTADO_FINAL_VIVIENDA") == 1)
    households, _, _ = round_2018
    assert chapter_100.height == 3713
    assert complete.height == 3697
    assert households.height == 3697
    assert households["hh_id"].is_unique().all()
    assert set(households["hh_id"]) == set(ids(complete, HOUSEHOLD, "hh_id")["hh_id"])


def test_residents_and_migrants(round_2018):
    _, persons, _ = round_2018
    assert persons.height == 9852 == raw("200").height
    assert persons["person_id"].is_unique().all()
    assert persons["migrant"].sum() == 9487
    assert persons.filter("migrant")["weight"].sum() == pytest.approx(630_715, abs=1)


def test_household_aggregates_match_persons(round_2018):
    households, persons, _ = round_2018
    assert households["hh_size"].sum() == persons.height
    assert households["n_migrants"].sum() == 9487
    assert households["hh_size"].null_count() == 0


def test_inei_published_figures(round_2018):
    """INEI's 2018 report: 47.7 % women, 91.5 % without health insurance, 35.6 % felt discriminated against."""
    _, persons, _ = round_2018
    migrants = persons.filter("migrant")
    assert round(100 * weighted_share(migrants, pl.col("sex") == "female", "weight"), 1) == 47.7
    insured = migrants.filter(pl.col("has_health_insurance").is_not_null())
    assert insured.height == 9487
    assert round(100 * weighted_share(insured, ~pl.col("has_health_insurance"), "weight"), 1) == 91.5
    asked = migrants.filter(pl.col("discriminated_since_arrival").is_not_null())
    assert asked.height == 8836
    assert round(100 * weighted_share(asked, pl.col("discriminated_since_arrival"), "weight"), 1) == 35.6
    # The same three figures straight from the raw chapters.
    assert round(100 * weighted_share(raw("200").filter(pl.col("P207") == 1), pl.col("P204") == 2,
                                      "FACTOR_DE_EXPANSION"), 1) == 47.7
    assert round(100 * weighted_share(raw("400"), pl.col("P401_5") == 1, "FACTOR_DE_EXPANSION"), 1) == 91.5
    assert round(100 * weighted_share(raw("700"), pl.col("P701") == 1, "FACTOR_DE_EXPANSION"), 1) == 35.6


def test_design_is_nine_cities_and_blocks(round_2018):
    households, persons, _ = round_2018
    complete = raw("100").filter(pl.col("RESULTADO_FINAL_VIVIENDA") == 1)
    expected = dict(complete.group_by("CIUDADES_DE_ESTUDIO").agg(pl.col("CONGLOMERADO").n_unique()).select(
        pl.col("CIUDADES_DE_ESTUDIO").cast(pl.Int64).cast(pl.String), "CONGLOMERADO").rows())
    strata = dict(households.group_by("stratum").agg(pl.col("psu").n_unique()).rows())
    assert strata == expected
    assert len(strata) == 9 and sum(strata.values()) == 742
    assert min(strata.values()) == 34  # Tumbes: no stratum with a single PSU (lonely_psu: fail)
    assert households.group_by("psu").agg(pl.col("stratum").n_unique()).filter(pl.col("stratum") > 1).height == 0
    assert persons.select(pl.col("stratum", "psu", "weight").null_count()).sum_horizontal().item() == 0
    lima = households.filter(pl.col("city") == "Lima")
    assert lima.height == 449 + 440 + 450 + 439 + 448
    assert lima["lima_zone"].null_count() == 0
    assert households.filter(pl.col("city") != "Lima")["lima_zone"].null_count() == households.height - lima.height
    assert dict(households.filter(pl.col("city") != "Lima").group_by("city").len().rows()) == {
        "Arequipa": 508, "Cusco": 286, "Trujillo": 487, "Tumbes": 190}
    zones = dict(lima.group_by("lima_zone").len().rows())
    assert zones == {"north": 449, "east": 440, "centre": 450, "south": 439, "callao": 448}


def test_module_universes_are_exact(round_2018):
    """Who has a row in each chapter file is exactly the declared universe (the harmoniser's notes count it)."""
    _, _, notes = round_2018
    for module, universe, rows in (("400", "migrants", 9487), ("500", "migrants_3plus", 9128),
                                   ("600", "migrants_5plus", 8836), ("700", "migrants_5plus", 8836),
                                   ("800", "migrants_18plus", 7689)):
        assert (f"module {module}: {rows} rows; universe `{universe}` {rows} persons; 0 rows outside it, "
                f"0 persons of it without a row") in notes


def test_infants_are_age_zero(round_2018):
    chapter_200 = raw("200")
    _, persons, _ = round_2018
    assert persons["age"].null_count() == 0
    assert (persons["age"] == 0).sum() == (chapter_200["P205_A"] == 0).sum() == 156
    assert chapter_200.filter(pl.col("P205_A") == 0)["P205_M"].null_count() == 0


def _answered(spec, source: str, harmonised: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of `frame` where `source` holds an answer that is not one of the crosswalk's missing codes."""
    missing = spec.values.filter(
        pl.col("harmonised_var").eq(harmonised) & pl.col("source_var").eq(source) & pl.col("is_missing")
    )["source_value"]
    code = pl.col(source).cast(pl.Int64, strict=False).cast(pl.String)
    value = pl.when(pl.col(source).cast(pl.String).str.len_chars() > 0).then(pl.col(source).cast(pl.String))
    answered = pl.coalesce(code, value)
    return frame.filter(answered.is_not_null() & ~answered.is_in(missing.implode()))


def test_every_column_non_null_where_inei_recorded_an_answer(spec, round_2018, chapter_300_path):
    """Each copy / recode / any_yes row: where the source holds an answer that is not a missing code, the
    harmonised column is filled (chapter 300 from the fixture file)."""
    households, persons, _ = round_2018
    frames = {m: raw(m) for m in ("100", "200", "400", "500", "600", "700", "800")}
    frames["300"] = pyreadstat.read_sav(str(chapter_300_path), output_format="polars")[0]
    frames["100"] = frames["100"].filter(pl.col("RESULTADO_FINAL_VIVIENDA") == 1)
    checked = 0
    for var in spec.variables:
        if var.module not in frames or var.transform not in ("copy", "recode", "any_yes"):
            continue
        table, key, id_col = ((households, HOUSEHOLD, "hh_id") if var.table == "households"
                              else (persons, PERSON, "person_id"))
        for source in var.source_vars:
            answered = _answered(spec, source, var.harmonised_var, frames[var.module])
            answered = ids(answered, key, id_col).select(id_col)
            joined = answered.join(table.select(id_col, var.harmonised_var), on=id_col, how="inner")
            assert joined.height == answered.height, f"{var.harmonised_var}: rows lost"
            assert joined[var.harmonised_var].null_count() == 0, f"{var.harmonised_var} <- {source}"
            checked += 1
    assert checked >= 65  # 67 source variables at the time of writing


def test_not_asked_columns_are_null_and_say_why(spec, round_2018):
    households, persons, _ = round_2018
    reasons = spec.not_asked()
    assert {"internet", "fies_worried", "covid_vaccinated", "ill_or_injured_4w", "sought_work_4w",
            "asylum_claim", "money_decider"} <= set(reasons)
    assert all(len(reason) > 20 for reason in reasons.values())
    for column in reasons:
        table = households if column in households.columns and column not in persons.columns else persons
        assert table[column].null_count() == table.height, column


def test_n_household_members_left_behind_from_the_long_file(round_2018):
    long = ids(raw("300_318"))
    per_person = long.group_by("person_id").agg(pl.len().alias("rows"))
    assert long.height == 13362 and per_person.height == 5330
    assert long["P318"].unique().to_list() == [1.0]  # only persons who left relatives have rows
    _, persons, _ = round_2018
    migrants = persons.filter("migrant")
    assert migrants["left_household_members_behind"].sum() == 5330
    assert (~migrants["left_household_members_behind"]).sum() == 9487 - 5330
    assert persons.filter(~pl.col("migrant"))["n_household_members_left_behind"].null_count() == 365
    counts = migrants.join(per_person, on="person_id", how="left").with_columns(pl.col("rows").fill_null(0))
    assert (counts["n_household_members_left_behind"] == counts["rows"]).all()
    assert migrants["n_household_members_left_behind"].sum() == 13362
    assert migrants["n_household_members_left_behind"].max() == 14


def test_remittances_from_the_long_file(round_2018):
    long = ids(raw("600_630"))
    per_person = long.group_by("person_id").agg(pl.len().alias("rows"), (pl.col("P630_2") == 1).any().alias("sent"))
    assert per_person.height == 7939 and (per_person["rows"] == 2).all()
    _, persons, _ = round_2018
    asked = persons.filter(pl.col("migrant") & (pl.col("age") >= 14))
    assert asked.height == 7939
    joined = asked.join(per_person, on="person_id", how="inner")
    assert joined.height == 7939
    assert (joined["sends_remittances"] == joined["sent"]).all()
    assert asked["sends_remittances"].sum() == 5236
    assert persons.filter(~(pl.col("migrant") & (pl.col("age") >= 14)))["sends_remittances"].null_count() == (
        persons.height - 7939)


def test_income_is_inei_monthly_ingtot(round_2018):
    """monthly_labour_income is INEI's ingtot: ingprin (pay x 25 / 52/12 / 2 / 1, or last month's profit) plus the
    secondary jobs' income of last month."""
    chapter = ids(raw("600"))
    employed = chapter.filter(pl.col("OCU600A") == 1)
    amount = lambda cash, kind: pl.col(cash).fill_null(0) + pl.col(kind).fill_null(0)  # noqa: E731
    assert (employed["ingtot"] - employed["ingprin"] - employed.select(amount("P616_MON", "P616_ESP")).to_series()
            ).abs().max() < 0.01
    daily = employed.filter(pl.col("P613") == 1)
    assert daily.height == 558
    assert (daily["ingprin"] - 25 * daily.select(amount("P614_MON", "P614_ESP")).to_series()).abs().max() < 0.01
    _, persons, _ = round_2018
    joined = persons.join(chapter.select("person_id", "ingtot", "ingprin"), on="person_id", how="inner")
    assert (joined["monthly_labour_income"] - joined["ingtot"]).abs().max() < 1e-9
    assert (joined["monthly_income_main_job"] - joined["ingprin"]).abs().max() < 1e-9


def test_employment_uses_the_one_hour_rule_not_ocu600a(round_2018):
    _, persons, _ = round_2018
    employed = persons.filter(
        pl.col("migrant") & (pl.col("age") >= 14) & (pl.col("worked_last_week") | pl.col("has_job_to_return")))
    assert employed.height == 6847
    assert (raw("600")["OCU600A"] == 1).sum() == 6838  # INEI's 15-hour rule for unpaid family work: 9 fewer


def test_chapter_300_fixture_migratory_status(round_2018, spec):
    """Each hand-written P315 answer gives the migratory status and permit worked out by hand."""
    hand = answers()
    first = ids(raw("200")).filter(pl.col("P207") == 1).head(hand.height)["person_id"]
    _, persons, _ = round_2018
    got = pl.DataFrame({"person_id": first}).join(persons, on="person_id", how="left")
    for i, row in enumerate(hand.iter_rows(named=True)):
        person = got.row(i, named=True)
        assert person["migratory_status"] == row["expected_migratory_status"], (i, row["note"])
        assert person["migratory_document"] == row["expected_migratory_document"], (i, row["note"])
        assert person["arrival_year"] == int(row["P303_A"]) and person["arrival_month"] == int(row["P303_M"])
        assert person["entry_registered"] == (row["P304"] == "1")
        assert person["entry_point"] == {"1": "tumbes", "2": "tacna", "3": "lima_airport", "4": "other", None: None}[
            row["P305"]]
        assert person["intends_to_stay"] == (row["P313"] == "1")
    assert got["migratory_status"].null_count() == 2  # 'otra situación' alone cannot be placed
    others = persons.filter(~pl.col("person_id").is_in(first.implode()))
    assert others["migratory_status"].null_count() == others.height  # no chapter-300 row: not asked
