"""Figures through their JSON: traces hold the table's numbers, flags change markers, hover says n, CV, citation."""

from __future__ import annotations

import html
import json

import plotly.io as pio
import polars as pl
import pytest

from reports import figures
from tests.reports.helpers import PUBLISHED_CITATION, XSS, indicators_frame

COLOURS = figures.source_colours(["enpove", "multisector_lima"])


def _rows(indicator_id: str, domain: str = "all") -> pl.DataFrame:
    frame = indicators_frame()
    return frame.filter((pl.col("indicator_id") == indicator_id) & (pl.col("domain") == domain))


def _points(figure) -> list[tuple[dict, int]]:
    """(trace json, point index) for every drawn point."""
    spec = figure.to_plotly_json()
    return [(trace, i) for trace in spec["data"] for i in range(len(trace["y"]))]


@pytest.fixture()
def insurance(labels_es):
    frame = pl.concat([_rows("no_health_insurance")])
    return frame, figures.rounds_figure(frame, labels=labels_es, title="Sin seguro", colours=COLOURS)


def test_rounds_figure_holds_every_estimate_with_its_ci(insurance):
    frame, figure = insurance
    points = _points(figure)
    assert len(points) == frame.height == 4
    drawn = {(t["meta"]["source"], t["meta"]["origin"], t["x"][i]): (t, i) for t, i in points}
    for row in frame.iter_rows(named=True):
        trace, i = drawn[(row["source"], row["origin"], row["period"])]
        assert trace["y"][i] == pytest.approx(row["estimate"] * 100)
        if row["ci_low"] is None:
            continue
        assert trace["y"][i] + trace["error_y"]["array"][i] == pytest.approx(row["ci_high"] * 100)
        assert trace["y"][i] - trace["error_y"]["arrayminus"][i] == pytest.approx(row["ci_low"] * 100)
    spec = figure.to_plotly_json()
    assert spec["layout"]["xaxis"]["title"]["text"] == "Ronda (periodo)"
    assert spec["layout"]["yaxis"]["title"]["text"] == "%"


def test_published_figures_are_open_diamonds_named_published_without_error_bars(insurance):
    _, figure = insurance
    published = [t for t in figure.to_plotly_json()["data"] if t["meta"]["origin"] == "published"]
    assert {t["meta"]["source"] for t in published} == {"enpove", "multisector_lima"}
    for trace in published:
        assert trace["marker"]["symbol"] == "diamond-open"
        assert "publicado" in trace["name"]
        assert trace["error_y"]["visible"] is False
    estimated = [t for t in figure.to_plotly_json()["data"] if t["meta"]["origin"] != "published"]
    assert {t["marker"]["symbol"] for t in estimated} == {"circle", "square"}  # microdata, synthetic


def test_sources_differ_by_colour(insurance):
    _, figure = insurance
    colour = {t["meta"]["source"]: t["marker"]["color"] for t in figure.to_plotly_json()["data"]}
    assert colour["enpove"] != colour["multisector_lima"]


def test_hover_has_estimate_ci_n_cv_flag_and_citation(insurance):
    _, figure = insurance
    microdata = next(t for t in figure.to_plotly_json()["data"] if t["meta"]["origin"] == "microdata")
    hover = microdata["hovertext"][0]
    for text in ("Estimación: 55,0 %", "IC 95 %: 52,1 % – 57,9 %", "n: 800", "CV: 0,03", "Calidad: fiable",
                 "Cita: surveys/enpove_2018"):
        assert text in hover
    published = next(t for t in figure.to_plotly_json()["data"] if t["meta"]["source"] == "enpove"
                     and t["meta"]["origin"] == "published")
    assert PUBLISHED_CITATION in published["hovertext"][0]
    assert "cifra publicada" in published["hovertext"][0]


@pytest.mark.parametrize("domain, value, flag, words", [
    ("age_group", "65+", "small_n", "n < 30: muy pocos casos"),
    ("city", "Tumbes", "high_cv", "CV > 0,3: estimación imprecisa"),
])
def test_flagged_estimates_are_hollow_and_say_why(labels_es, domain, value, flag, words):
    frame = _rows("employed", domain)
    figure = figures.domain_figure(frame, domain, labels=labels_es, title="Ocupado", colours=COLOURS)
    flagged = [t for t in figure.to_plotly_json()["data"] if t["meta"]["flag"] == flag]
    assert flagged, f"no trace for {flag}"
    for trace in flagged:
        assert trace["marker"]["symbol"].endswith("-open")
        assert all(words in html.unescape(text) for text in trace["hovertext"])  # Plotly shows entities as text
    reliable = [t for t in figure.to_plotly_json()["data"] if t["meta"]["flag"] == "ok"]
    assert all(not t["marker"]["symbol"].endswith("-open") for t in reliable)
    assert sum(len(t["y"]) for t in flagged) == frame.filter(pl.col("flag") == flag).height


def test_empty_estimates_are_not_drawn(labels_es):
    frame = _rows("employed", "city")
    figure = figures.domain_figure(frame, "city", labels=labels_es, title="Ocupado", colours=COLOURS)
    assert len(_points(figure)) == frame.filter(pl.col("flag") != "empty").height
    hovers = " ".join(t["hovertext"][i] for t, i in _points(figure))
    assert "Cusco" not in hovers  # every Cusco row is `empty`
    titles = [a["text"] for a in figure.to_plotly_json()["layout"]["annotations"]]
    assert "Cusco (sin casos en la muestra)" in titles


def test_domain_figure_has_one_panel_per_value_and_one_legend_entry_per_group(labels_en):
    frame = _rows("employed", "sex")
    figure = figures.domain_figure(frame, "sex", labels=labels_en, title="Employed", colours=COLOURS)
    spec = figure.to_plotly_json()
    assert [a["text"] for a in spec["layout"]["annotations"]] == ["Women", "Men"]
    assert {t["xaxis"] for t in spec["data"]} == {"x", "x2"}
    legend = [t["name"] for t in spec["data"] if t.get("showlegend", True)]
    assert len(legend) == len(set(legend)) == 2
    assert spec["layout"]["meta"]["domain"] == "sex"


def test_fies_distribution_bars_per_round(labels_es):
    frame = _rows("fies_raw_score_8", "raw_score")
    figure = figures.fies_distribution_figure(frame, labels=labels_es, title="FIES", colours=COLOURS)
    spec = figure.to_plotly_json()
    assert [t["type"] for t in spec["data"]] == ["bar", "bar"]
    for trace in spec["data"]:
        assert trace["x"] == [str(k) for k in range(9)]
        assert sum(trace["y"]) == pytest.approx(100)
    assert {t["meta"]["round"] for t in spec["data"]} == {"2018", "2022"}


def test_fies_prevalences_side_by_side(labels_es):
    frame = indicators_frame().filter(pl.col("concept_id").str.starts_with("food_insecurity"))
    frame = frame.with_columns(pl.when(pl.col("concept_id").str.ends_with("severe") & ~pl.col("concept_id")
                                       .str.contains("moderate")).then(pl.lit("fies_severe"))
                               .otherwise(pl.lit("fies_moderate_severe")).alias("chart"))
    names = {"fies_moderate_severe": "Moderada o grave", "fies_severe": "Grave"}
    figure = figures.fies_prevalence_figure(frame, labels=labels_es, title="FIES", names=names)
    spec = figure.to_plotly_json()
    assert [t["name"] for t in spec["data"]] == ["Moderada o grave", "Grave", "Grave · publicado"]
    published = spec["data"][2]
    assert len(published["y"]) == 1 and published["marker"]["pattern"]["shape"] == ["x"]  # hatched
    assert published["error_y"]["visible"] is False and published["offsetgroup"] == spec["data"][1]["offsetgroup"]


def test_text_from_data_is_escaped_in_figures(labels_es):
    frame = _rows("xss_indicator", "city")
    figure = figures.domain_figure(frame, "city", labels=labels_es, title=XSS, colours=COLOURS)
    text = pio.to_json(figure)
    assert "<script" not in json.loads(text).__repr__()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in figure.layout.title.text


def _contrasts() -> pl.DataFrame:
    from tests.reports.helpers import comparisons_frame

    frame = comparisons_frame().filter(pl.col("kind") == "across_rounds")
    frame = frame.filter(pl.col("source_b") == "enpove").with_columns(
        pl.Series("label", ["Sin seguro", XSS, "Ocupado · Mujeres", "Ocupado · Hombres"]),
        pl.Series("flag_a", ["ok", "ok", "small_n", "ok"]), pl.Series("flag_b", ["ok"] * 4))
    return frame.with_columns(pl.when(pl.col("label") == XSS).then(False).otherwise(pl.col("comparable"))
                              .alias("comparable"))


def test_contrast_figure_draws_both_sides_and_the_difference(labels_es):
    frame = _contrasts()
    figure = figures.contrast_figure(frame, labels=labels_es, title="2018 → 2022",
                                     side_names=("ENPOVE 2018", "ENPOVE 2022"), unit="proportion")
    spec = figure.to_plotly_json()
    sides = {t["meta"]["side"]: t for t in spec["data"] if (t.get("meta") or {}).get("side")}
    assert sides["a"]["x"] == pytest.approx([x * 100 for x in frame["estimate_a"]])
    assert sides["b"]["name"] == "ENPOVE 2022"
    assert sides["a"]["error_x"]["array"][0] == pytest.approx((frame["ci_high_a"][0] - frame["estimate_a"][0]) * 100)
    assert sides["a"]["marker"]["symbol"][2] == "circle-open"  # flagged: hollow
    differences = [t for t in spec["data"] if "significant" in (t.get("meta") or {})]
    filled = {t["meta"]["significant"]: t["marker"]["symbol"] for t in differences}
    assert filled == {True: "diamond", False: "diamond-open"}  # overcrowding: p adjusted 0.31
    brown = [t for t in differences if not t["meta"]["comparable"]]
    assert brown and brown[0]["marker"]["color"] == figures.NOT_COMPARABLE
    assert "&lt;script&gt;" in " ".join(spec["layout"]["yaxis"]["categoryarray"])
    assert "<script" not in json.dumps(spec["layout"]["yaxis"]) and "<script" not in json.dumps(spec["data"])
    hover = " ".join(h for t in differences for h in t["hovertext"])
    assert "Valor p ajustado: 0,310 (holm)" in hover and "Diferencia: +5,0 pp" in hover


def _specs(labels) -> list[dict]:
    frame = indicators_frame()
    fies = frame.filter(pl.col("concept_id").str.starts_with("food_insecurity")).with_columns(
        pl.lit("fies_severe").alias("chart"))
    return [
        figures.rounds_spec(_rows("no_health_insurance"), labels=labels, title="Sin seguro", colours=COLOURS,
                            notes=("a caveat",)),
        *[figures.domain_spec(_rows("employed", d), d, labels=labels, title="Ocupado", colours=COLOURS)
          for d in ("sex", "age_group", "city")],
        figures.fies_distribution_spec(_rows("fies_raw_score_8", "raw_score"), labels=labels, title="FIES",
                                       colours=COLOURS),
        figures.fies_prevalence_spec(fies, labels=labels, title="FIES", names={"fies_severe": "Grave"}),
        figures.contrast_spec(_contrasts(), labels=labels, title="2018 → 2022",
                              side_names=("ENPOVE 2018", "ENPOVE 2022"), unit="proportion"),
    ]


def test_specs_are_what_plotly_serialises(labels_es):
    """The report embeds the plain specs without going through `go.Figure`: each one must be exactly the JSON
    Plotly writes for the figure built from it (valid property names and values, make_subplots' axes)."""
    from plotly.utils import PlotlyJSONEncoder

    for spec in _specs(labels_es):
        ours = json.loads(json.dumps(spec, cls=PlotlyJSONEncoder))
        assert json.loads(pio.to_json(figures.figure(spec), validate=True)) == ours


@pytest.mark.parametrize("panels", range(1, 41))
def test_grids_are_make_subplots_layouts_to_the_byte(panels):
    """The small multiples' grid is computed without Plotly: it must serialise exactly as `make_subplots`'s does
    (same floats, same keys in the same order), for every number of panels a domain can have."""
    from plotly.subplots import make_subplots

    cols = min(panels, figures.PANELS_PER_ROW)
    rows = -(-panels // cols)
    grid = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=[str(i) for i in range(panels)],
                         horizontal_spacing=0.03, vertical_spacing=0.5 / rows if rows > 1 else 0.1)
    plotly_layout = json.loads(pio.to_json(grid, validate=False))["layout"]
    plotly_layout.pop("template")
    assert figures._grid_json(rows, cols, panels) == json.dumps(plotly_layout)


def test_default_template_is_what_an_empty_figure_carries_to_the_byte():
    import plotly.graph_objects as go

    empty = json.loads(pio.to_json(go.Figure(), validate=False))["layout"]["template"]
    assert json.dumps(figures._default_template()) == json.dumps(empty)


def test_specs_of_rows_as_dicts_are_the_specs_of_the_frame(labels_es):
    """The report hands each chart its rows as dicts (`figures.as_rows`): the spec must not depend on which."""
    frame = indicators_frame()
    employed = frame.filter(pl.col("indicator_id") == "employed")
    for domain in ("sex", "age_group", "city"):
        part = employed.filter(pl.col("domain") == domain)
        assert part.height
        assert figures.domain_spec(part.to_dicts(), domain, labels=labels_es, title="Ocupado", colours=COLOURS) \
            == figures.domain_spec(part, domain, labels=labels_es, title="Ocupado", colours=COLOURS)
    insurance = _rows("no_health_insurance")
    assert figures.rounds_spec(insurance.to_dicts(), labels=labels_es, title="t", colours=COLOURS, notes=("n",)) \
        == figures.rounds_spec(insurance, labels=labels_es, title="t", colours=COLOURS, notes=("n",))
    contrasts = _contrasts()
    assert figures.contrast_spec(contrasts.to_dicts(), labels=labels_es, title="t", side_names=("a", "b")) \
        == figures.contrast_spec(contrasts, labels=labels_es, title="t", side_names=("a", "b"))


def test_domain_panels_follow_the_rows_first_appearance(labels_es):
    rows = _rows("employed", "sex").to_dicts()
    values = list(dict.fromkeys(r["domain_value"] for r in rows))
    assert len(values) > 1
    for order in (values, values[::-1]):
        ordered = sorted(rows, key=lambda r: order.index(r["domain_value"]))
        spec = figures.domain_spec(ordered, "sex", labels=labels_es, title="Ocupado", colours=COLOURS)
        titles = [a["text"] for a in spec["layout"]["annotations"]]
        assert titles == [html.escape(labels_es.domain_value("sex", v)) for v in order]
