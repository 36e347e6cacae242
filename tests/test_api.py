"""The Python API (`import surveys as sv`) on the embedded default and on the real rounds.

The declared design is the one each round's spec and manifest give; an indicator re-estimated through
`sv.design(...)` with `sv.indicator_expr(...)` equals the stored table (same engine, same frame); the derived
tables filter as documented; `sv.figure` is the report's figure; every public function is keyword-only after its
positional arguments and has a numpydoc docstring with an example.
"""

from __future__ import annotations

import inspect
import json
import shutil
import warnings

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
import pytest
from polars.testing import assert_series_equal

import surveys as sv
from pipelines.errors import NotInStore, UsageError
from pipelines.store import read_manifest, write_derived
from tests.helpers import REPO

ESTIMATE_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "df", "n", "weighted_n", "cv", "deff"]
RTOL = 1e-12  # the same engine on the same rows: only the order of floating-point sums may differ


def test_open_store_refuses_a_folder_without_a_store(tmp_path):
    with pytest.raises(NotInStore, match="surveys refresh"):
        sv.open_store(tmp_path / "nothing")


def test_rounds_list_kind_design_and_provenance(embedded_store, enpove_2018_spec, enpove_2022_spec):
    rounds = sv.rounds(sv.open_store(embedded_store))
    stored = rounds.filter(pl.col("kind") != "published")
    assert stored.select("source", "round", "kind").rows() == [("enpove", "2018", "synthetic"),
                                                               ("enpove", "2022", "synthetic")]
    for spec in (enpove_2018_spec, enpove_2022_spec):
        row = stored.filter(pl.col("round") == spec.round).row(0, named=True)
        assert row["weight"] == spec.design.weight and row["strata"] == list(spec.design.strata)
        assert row["lonely_psu"] == spec.design.lonely_psu and row["psu"] and row["design_note"]
        assert row["title"] == spec.title and row["inputs"] and all(len(i["sha256"]) == 64 for i in row["inputs"])
    published = rounds.filter(pl.col("kind") == "published")
    assert {"multisector_lima", "enpove"} <= set(published["source"])
    assert published["citations"].list.len().min() > 0


def test_frames_are_lazy_and_hold_the_round(embedded_store):
    manifest = read_manifest(embedded_store)["enpove/2022"]
    households = sv.households(embedded_store, "enpove", "2022")
    persons = sv.persons(embedded_store, "enpove", "2022", measures=True)
    assert isinstance(households, pl.LazyFrame) and isinstance(persons, pl.LazyFrame)
    assert households.select(pl.len()).collect().item() == manifest.rows["households"]
    frame = persons.select("round", "age_group", "no_health_insurance").collect()
    assert frame.height == manifest.rows["persons"] and set(frame["round"]) == {"2022"}
    with pytest.raises(UsageError, match="enpove/1999 is not in the store"):
        sv.persons(embedded_store, "enpove", "1999")


def test_design_is_declared_from_the_round(embedded_store, enpove_2022_spec):
    design = sv.design(embedded_store, "enpove", "2022", unit="household")
    assert (design.weight, design.strata, design.psu) == ("weight", "stratum", "psu")
    assert design.lonely_psu == read_manifest(embedded_store)["enpove/2022"].design["lonely_psu"]
    assert design.lonely_psu == enpove_2022_spec.design.lonely_psu
    frame = sv.households(embedded_store, "enpove", "2022").collect()
    assert design.degf == frame["psu"].n_unique() - frame["stratum"].n_unique()
    with pytest.raises(UsageError, match="design columns"):
        sv.design(embedded_store, "enpove", "2022", unit="person", columns={"weight": pl.lit(1.0)})
    with pytest.raises(UsageError, match="unit"):
        sv.design(embedded_store, "enpove", "2022", unit="dwelling")


@pytest.mark.parametrize("indicator, unit, domain, verb", [
    ("no_health_insurance", "person", "sex", "proportion"), ("employed", "person", "age_group", "proportion"),
    ("internet", "household", "city", "proportion"), ("overcrowding_room", "household", "lima", "proportion"),
    ("lives_in_one_room_dwelling", "person", "sex", "proportion"), ("fies_moderate_severe", "household", "lima", "mean"),
])
@pytest.mark.parametrize("round_", ["2018", "2022"])
def test_an_indicator_through_the_design_equals_the_stored_table(embedded_store, indicator, unit, domain, verb,
                                                                 round_):
    """`sv.design` + `sv.indicator_expr` is how the indicator table was estimated: same numbers and flags, per
    domain (FIES prevalences from the round's own Rasch model, person housing from the dwelling's rooms)."""
    stored = sv.indicators(embedded_store, indicator=indicator, round=round_, domain=domain).sort("domain_value")
    design = sv.design(embedded_store, "enpove", round_, unit=unit,
                       columns={"y": sv.indicator_expr(indicator)})
    mine = (getattr(design, verb)("y", by=domain).filter(pl.col(domain).is_not_null())
            .with_columns(pl.col(domain).cast(pl.String).alias("domain_value")).sort("domain_value"))
    if stored.is_empty():  # not asked in this round (the table has no rows): nobody in any domain
        assert set(mine["flag"]) == {"empty"}, (indicator, round_)
        return
    assert mine["domain_value"].to_list() == stored["domain_value"].to_list()
    for column in ESTIMATE_COLUMNS:
        assert_series_equal(mine[column].cast(pl.Float64), stored[column].cast(pl.Float64), rel_tol=RTOL,
                            check_names=False)
    assert mine["flag"].to_list() == stored["flag"].to_list()  # the engine's flag is what the table stores


def test_a_custom_universe_keeps_the_whole_design(embedded_store):
    """Migrant women 18-29 with a university degree, by city: the point estimate is the weighted share inside the
    universe, and rows outside it stay in the design (same df as the whole sample's PSUs minus strata)."""
    women = sv.universe("migrants") & (pl.col("sex") == "female") & pl.col("age").is_between(18, 29)
    degree = pl.col("education_level").is_in(["university", "postgraduate"])
    design = sv.design(embedded_store, "enpove", "2022", unit="person",
                       columns={"degree": pl.when(women).then(degree)})
    result = design.proportion("degree", by="city").filter(pl.col("city") == "Lima").row(0, named=True)
    frame = sv.persons(embedded_store, "enpove", "2022").collect().filter(women & (pl.col("city") == "Lima")
                                                                          & degree.is_not_null())
    expected = (frame["weight"] * frame.select(degree).to_series().cast(pl.Float64)).sum() / frame["weight"].sum()
    assert result["estimate"] == pytest.approx(expected, rel=1e-12)
    assert result["n"] == frame.height and result["ci_low"] < result["estimate"] < result["ci_high"]
    with pytest.raises(UsageError, match="universe 'nobody'"):
        sv.universe("nobody")
    with pytest.raises(UsageError, match="distribution"):
        sv.indicator_expr("fies_raw_score_8")


def test_tables_filter_by_theme_concept_round_domain(embedded_store):
    assert sv.tables(embedded_store)[:2] == ("indicators", "comparisons")  # and any table the stages add
    health = sv.indicators(embedded_store, theme="health", round="2022", domain=["sex", "all"])
    assert set(health["theme"]) == {"health"} and set(health["domain"]) == {"sex", "all"}
    assert set(health["round"]) == {"2022"}
    pairs = sv.comparisons(embedded_store, concept="no_health_insurance", round="2022")
    assert pairs.height and pairs.select((pl.col("round_a") == "2022") | (pl.col("round_b") == "2022")).to_series().all()
    assert sv.table(embedded_store, "comparisons", where=pl.col("comparable")).select("comparable").to_series().all()
    with pytest.raises(UsageError, match="theme 'helth' is not in table indicators"):
        sv.indicators(embedded_store, theme="helth")
    with pytest.raises(NotInStore, match="no `nonsense` table"):
        sv.table(embedded_store, "nonsense")


def test_a_stale_table_warns(embedded_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(embedded_store, store)
    write_derived(store, {"indicators": sv.indicators(store)}, built_from="rounds that are gone")
    with pytest.warns(UserWarning, match="update_estimates"):
        sv.indicators(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sv.comparisons(store)


def test_figure_is_the_reports_figure(embedded_store):
    """The figures `sv.figure` returns are among those the report registers for the same matrix row."""
    from reports.figures import source_colours
    from reports.labels import load_labels
    from reports.matrix import assign_rows
    from reports.report import FigureRegistry, assign_charts, row_card

    indicators = sv.indicators(embedded_store)
    comparisons = sv.comparisons(embedded_store)
    labels = load_labels("es")
    rows = assign_rows(assign_charts(indicators, labels), labels)
    registry = FigureRegistry()
    row_card("card-0", "no_health_insurance", rows.filter(pl.col("row") == "no_health_insurance"), comparisons,
             labels, source_colours(indicators["source"].to_list()), registry)
    in_report = [json.dumps(f, sort_keys=True) for f in registry.figures.values()]
    for by in (None, "sex"):
        figure = sv.figure(indicators, "no_health_insurance", by=by, comparisons=comparisons)
        assert isinstance(figure, go.Figure)
        spec = json.loads(pio.to_json(figure, validate=False))
        spec["layout"].pop("template")
        assert json.dumps(spec, sort_keys=True) in in_report, by
    by_sex = sv.figure(indicators, "no_health_insurance", by="sex", lang="en")
    assert {t.xaxis for t in by_sex.data} == {"x", "x2"}  # a panel per sex
    assert sv.figure(indicators, "overcrowding").layout.title.text  # a concept draws its first indicator's chart
    assert sv.figure(indicators, "fies_raw_score_8").data[0].type == "bar"
    with pytest.raises(UsageError, match="not in the table"):
        sv.figure(indicators, "nonsense")
    with pytest.raises(UsageError, match="no rows by 'planet'"):
        sv.figure(indicators, "no_health_insurance", by="planet")


def test_real_rounds_through_the_api(real_store):
    rounds = sv.rounds(real_store).filter(pl.col("kind") != "published")
    assert rounds.select("round", "kind").rows() == [("2018", "microdata"), ("2022", "microdata")]
    design = sv.design(real_store, "enpove", "2022", unit="household", columns={"y": sv.indicator_expr("internet")})
    mine = design.proportion("y").row(0, named=True)
    stored = sv.indicators(real_store, indicator="internet", round="2022", domain="all").row(0, named=True)
    assert mine["estimate"] == pytest.approx(stored["estimate"], rel=RTOL)
    assert mine["se"] == pytest.approx(stored["se"], rel=RTOL)


POSITIONAL = {"open_store": ["path"], "rounds": ["store"], "households": ["store", "source", "round"],
              "persons": ["store", "source", "round"], "design": ["store", "source", "round"],
              "universe": ["name"], "indicator_expr": ["indicator_id"], "tables": ["store"],
              "table": ["store", "name"], "figure": ["indicators", "indicator"]}


def test_public_functions_are_keyword_only_typed_and_documented():
    api_page = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    for name in sv.__all__:
        thing = getattr(sv, name)
        doc = inspect.getdoc(thing) or ""
        assert "Examples" in doc and ">>>" in doc, name
        assert f"sv.{name}" in api_page, name
        if not inspect.isfunction(thing):
            continue
        signature = inspect.signature(thing)
        positional = [p.name for p in signature.parameters.values() if p.kind is not p.KEYWORD_ONLY]
        assert positional == POSITIONAL.get(name, ["store"]), name
        assert all(p.annotation is not p.empty for p in signature.parameters.values()), name
        assert signature.return_annotation is not signature.empty, name


def test_the_readme_python_runs_and_matches_the_stored_table(embedded_store):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(block.strip().splitlines()) == 5  # the first screen: five lines of Python
    lines = block.replace('"data/harmonized"', repr(str(embedded_store))).strip().splitlines()
    scope: dict = {}
    exec("\n".join(lines[:-2]), scope)
    by_city = (eval(lines[-2].split("#")[0], scope).with_columns(pl.col("city").cast(pl.String))
               .filter(pl.col("city").is_not_null()).sort("city"))
    assert isinstance(eval(lines[-1].split("#")[0], scope), go.Figure)
    stored = sv.indicators(embedded_store, indicator="internet", round="2022", domain="city").sort("domain_value")
    assert by_city["city"].to_list() == stored["domain_value"].to_list()
    assert_series_equal(by_city["estimate"], stored["estimate"], rel_tol=RTOL, check_names=False)
