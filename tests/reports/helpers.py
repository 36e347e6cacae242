"""Hand-made indicator and comparison tables, and a tiny store holding them, for the report and export tests; a
report opened offline in the browser.

The frames follow `pipelines.indicators.tables.INDICATORS` / `COMPARISONS`: two sources, four rounds, microdata, synthetic and
published rows, domains sex / age group / city, every flag (`ok`, `high_cv`, `small_n`, `empty`, `published`), the FIES
raw-score distributions, and text fields holding `<script>alert(1)</script>` to prove escaping.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import polars as pl

from pipelines.indicators.catalogue import CATALOGUE_DIR
from pipelines.indicators.tables import COMPARISONS, INDICATORS
from pipelines.store import RoundRecord, write_derived, write_store
from surveys.schema import SCHEMA_VERSION, polars_schema

XSS = "<script>alert(1)</script>"
SPEC_CITATION = "surveys/enpove_{round}: modules 100-800"
PUBLISHED_CITATION = "INEI (2019) ENPOVE 2018, Tabla 26, p. 224"


def estimate_row(indicator_id: str, theme: str, source: str, round_: str, origin: str, estimate: float | None, *,
                 domain: str = "all", value: str = "all", n: int = 800, se: float | None = 0.015,
                 unit: str = "proportion", statistic: str = "proportion", concept_id: str | None = None,
                 citation: str | None = None, flag: str | None = None) -> dict:
    """One indicator row; CI, CV and flag follow from the estimate, SE and n unless given."""
    published = origin == "published"
    if published:
        se = None
    ci = (None, None) if se is None or estimate is None else (estimate - 1.96 * se, estimate + 1.96 * se)
    cv = None if se is None or not estimate else se / estimate
    if flag is None:
        flag = ("published" if published else "empty" if estimate is None
                else "small_n" if n < 30 else "high_cv" if cv and cv > 0.3 else "ok")
    return {
        "indicator_id": indicator_id, "concept_id": concept_id or indicator_id, "theme": theme, "source": source,
        "round": round_, "period": round_, "origin": origin, "domain": domain, "domain_value": value,
        "statistic": statistic, "unit": unit, "estimate": estimate, "se": se, "ci_low": ci[0], "ci_high": ci[1],
        "df": None if published else 120.0, "n": None if published and n is None else n,
        "weighted_n": None if published else n * 150.0, "cv": cv, "deff": None if published else 1.4,
        "flag": flag, "universe": "Migrants from Venezuela",
        "citation": citation or (PUBLISHED_CITATION if published else SPEC_CITATION.format(round=round_)),
    }


def _by_domain(indicator_id: str, theme: str, source: str, round_: str, origin: str, base: float) -> list[dict]:
    rows = [estimate_row(indicator_id, theme, source, round_, origin, base)]
    rows += [estimate_row(indicator_id, theme, source, round_, origin, base + d, domain="sex", value=v, n=400)
             for v, d in (("female", 0.03), ("male", -0.03))]
    rows += [
        estimate_row(indicator_id, theme, source, round_, origin, base + 0.05, domain="age_group", value="18-29"),
        estimate_row(indicator_id, theme, source, round_, origin, base - 0.02, domain="age_group", value="30-44"),
        # few cases: drawn hollow
        estimate_row(indicator_id, theme, source, round_, origin, base + 0.1, domain="age_group", value="65+",
                     n=21, se=0.05),
    ]
    rows += [
        estimate_row(indicator_id, theme, source, round_, origin, base, domain="city", value="Lima", n=500),
        # imprecise: drawn hollow
        estimate_row(indicator_id, theme, source, round_, origin, 0.06, domain="city", value="Tumbes", n=60,
                     se=0.03),
        # nobody in the domain: not drawn
        estimate_row(indicator_id, theme, source, round_, origin, None, domain="city", value="Cusco", n=0,
                     se=None),
    ]
    return rows


def _fies_distribution(source: str, round_: str, origin: str, shift: float) -> list[dict]:
    weights = [math.exp(-((k - 2 - shift) ** 2) / 6) for k in range(9)]
    total = sum(weights)
    return [estimate_row("fies_raw_score_8", "food_security", source, round_, origin, w / total, domain="raw_score",
                         value=str(k), se=0.01, statistic="distribution") for k, w in enumerate(weights)]


def indicators_frame() -> pl.DataFrame:
    rows: list[dict] = []
    for source, round_, origin, shift in (("enpove", "2018", "microdata", 0.0), ("enpove", "2022", "synthetic", 0.05)):
        rows += _by_domain("no_health_insurance", "health", source, round_, origin, 0.55 + shift)
        rows += _by_domain("overcrowding_room", "housing", source, round_, origin, 0.21 - shift)
        rows += _by_domain("knows_victim_physical", "violence", source, round_, origin, 0.33 + shift)
        rows += _by_domain("employed", "employment", source, round_, origin, 0.62 + shift)
        rows.append(estimate_row("fies_moderate_severe", "food_security", source, round_, origin, 0.31 + shift,
                                 statistic="fies_prevalence", concept_id="food_insecurity_moderate_severe"))
        rows.append(estimate_row("fies_severe", "food_security", source, round_, origin, 0.08 + shift, se=0.03,
                                 statistic="fies_prevalence", concept_id="food_insecurity_severe"))
        rows += _fies_distribution(source, round_, origin, shift * 10)
        rows.append(estimate_row("labour_income_monthly", "employment", source, round_, origin, 1180.0 + 400 * shift,
                                 se=35.0, unit="soles", statistic="mean"))
    rows += [
        estimate_row("no_health_insurance", "health", "enpove", "2018", "published", 0.464, n=None),
        estimate_row("no_health_insurance", "health", "multisector_lima", "2021", "published", 0.71, n=None,
                     citation=f"Estudio multisectorial 2021 {XSS}"),
        estimate_row("multisector_lima_food_insecurity_severe", "food_security", "multisector_lima", "2021",
                     "published", 0.12, n=None, concept_id="food_insecurity_severe"),
        # A context figure outside the five themes: listed in a table, not charted.
        estimate_row("multisector_lima_age_mean", "context", "multisector_lima", "2021", "published", 31.7, n=None,
                     unit="years", statistic="mean"),
        # An indicator whose label (from the test catalogue) is a script, with a script in its domain value.
        estimate_row("xss_indicator", "violence", "enpove", "2018", "microdata", 0.4),
        estimate_row("xss_indicator", "violence", "enpove", "2018", "microdata", 0.4, domain="city", value=XSS),
    ]
    return pl.DataFrame(rows, schema=INDICATORS)


def comparison_row(concept_id: str, theme: str, a: tuple, b: tuple, *, domain: str = "all", value: str = "all",
                   p_adjusted: float = 0.02, comparable: bool = True, flags: str = "",
                   reasons: str = "", kind: str = "across_rounds") -> dict:
    """`a` and `b` are (indicator_id, source, round, origin, estimate, se)."""
    difference = b[4] - a[4]
    se_difference = math.hypot(a[5], b[5]) if a[5] is not None and b[5] is not None else None
    t = difference / se_difference if se_difference else None
    side = {}
    for name, s in (("a", a), ("b", b)):
        ci = (None, None) if s[5] is None else (s[4] - 1.96 * s[5], s[4] + 1.96 * s[5])
        side.update({f"indicator_{name}": s[0], f"source_{name}": s[1], f"round_{name}": s[2],
                     f"origin_{name}": s[3], f"domain_value_{name}": value, f"estimate_{name}": s[4],
                     f"se_{name}": s[5], f"ci_low_{name}": ci[0], f"ci_high_{name}": ci[1],
                     f"n_{name}": None if s[5] is None else 800})
    return {
        "kind": kind, "family": None if t is None else kind, "family_size": None if t is None else 4,
        "concept_id": concept_id, "theme": theme, "coverage": "as_fielded", "domain": domain, **side,
        "difference": difference, "se_difference": se_difference, "covariance": None if t is None else 0.0,
        "df": None if t is None else 700.0,
        "ci_low": None if t is None else difference - 1.96 * se_difference,
        "ci_high": None if t is None else difference + 1.96 * se_difference, "statistic": t,
        "p_value": None if t is None else p_adjusted / 3, "p_adjusted": None if t is None else p_adjusted,
        "adjust_method": "holm", "comparable": comparable, "testable": t is not None, "inside": None,
        "flags": flags, "reasons": reasons,
    }


def comparisons_frame() -> pl.DataFrame:
    rows = [
        comparison_row("no_health_insurance", "health", ("no_health_insurance", "enpove", "2018", "microdata", 0.55, 0.015),
                       ("no_health_insurance", "enpove", "2022", "synthetic", 0.60, 0.015), p_adjusted=0.0004),
        comparison_row("no_health_insurance", "health", ("no_health_insurance", "enpove", "2022", "synthetic", 0.60, 0.015),
                       ("no_health_insurance", "multisector_lima", "2021", "published", 0.71, None),
                       comparable=False, flags="universe;non_probability",
                       reasons=f"Different universes: beneficiary list vs population sample {XSS}"),
        comparison_row("overcrowding", "housing", ("overcrowding_room", "enpove", "2018", "microdata", 0.21, 0.015),
                       ("overcrowding_room", "enpove", "2022", "synthetic", 0.16, 0.015), p_adjusted=0.31),
        comparison_row("employed", "employment", ("employed", "enpove", "2018", "microdata", 0.62, 0.015),
                       ("employed", "enpove", "2022", "synthetic", 0.67, 0.015), domain="sex", value="female",
                       p_adjusted=0.045),
        comparison_row("employed", "employment", ("employed", "enpove", "2018", "microdata", 0.59, 0.015),
                       ("employed", "enpove", "2022", "synthetic", 0.64, 0.015), domain="sex", value="male",
                       p_adjusted=0.03),
        # within one round: women (b) minus men (a), one design
        comparison_row("employed", "employment", ("employed", "enpove", "2018", "microdata", 0.59, 0.015),
                       ("employed", "enpove", "2018", "microdata", 0.65, 0.015), domain="sex",
                       p_adjusted=0.01, kind="within_round"),
        # the published ENPOVE 2018 figure beside the same round's microdata: outside its interval
        comparison_row("no_health_insurance", "health",
                       ("no_health_insurance", "enpove", "2018", "published", 0.464, None),
                       ("no_health_insurance", "enpove", "2018", "microdata", 0.55, 0.015),
                       kind="reconciliation", reasons=f"Published with another denominator {XSS}"),
    ]
    frame = pl.DataFrame(rows, schema=COMPARISONS)
    sides = {"within_round": ("male", "female")}
    return frame.with_columns(
        pl.when(pl.col("kind") == "within_round").then(pl.lit(sides["within_round"][0]))
        .otherwise(pl.col("domain_value_a")).alias("domain_value_a"),
        pl.when(pl.col("kind") == "within_round").then(pl.lit(sides["within_round"][1]))
        .otherwise(pl.col("domain_value_b")).alias("domain_value_b"),
        pl.when(pl.col("kind") == "reconciliation").then(pl.lit(False)).otherwise(pl.col("inside")).alias("inside"),
    )


def _harmonised(table: str, source: str, round_: str, n: int, *, synthetic: bool) -> pl.DataFrame:
    schema = polars_schema(table)
    given = {
        "source": [source] * n, "round": [round_] * n, "year": [int(round_)] * n, "synthetic": [synthetic] * n,
        "hh_id": [f"{round_}-{i // 2 if table == 'persons' else i}" for i in range(n)],
        "person_id": [f"{round_}-{i // 2}-{i % 2 + 1}" for i in range(n)],
        "weight": [100.0 + i for i in range(n)], "stratum": [str(i % 3) for i in range(n)],
        "psu": [str(i % 6) for i in range(n)], "city": ["Lima" if i % 2 else "Tumbes" for i in range(n)],
        "sex": ["female" if i % 2 else "male" for i in range(n)], "age": [20 + i for i in range(n)],
        "fies_worried": [i % 3 == 0 for i in range(n)], "has_health_insurance": [i % 4 == 0 for i in range(n)],
    }
    return pl.DataFrame({name: pl.Series(name, given.get(name, [None] * n)).cast(dtype)
                         for name, dtype in schema.items()})


def record(source: str, round_: str, *, synthetic: bool, rows: dict[str, int]) -> RoundRecord:
    return RoundRecord(
        source=source, round=round_, synthetic=synthetic,
        inputs=({"file": "x.csv", "module": "100", "sha256": f"{source}{round_}".ljust(64, "0"), "encoding": "utf-8"},),
        crosswalk_sha256="c" * 64, schema_version=SCHEMA_VERSION, rows=rows, notes=(),
        refreshed_at="2024-01-01T00:00:00Z",
    )


def build_store(root: Path, *, extra_person_column: str | None = None) -> Path:
    """A store with enpove 2018 (microdata) and 2022 (synthetic), plus the derived tables above."""
    store = root / "store"
    updates = {}
    for round_, synthetic in (("2018", False), ("2022", True)):
        households = _harmonised("households", "enpove", round_, 6, synthetic=synthetic)
        persons = _harmonised("persons", "enpove", round_, 12, synthetic=synthetic)
        if extra_person_column:
            persons = persons.with_columns(pl.lit("999 888 777").alias(extra_person_column))
        rows = {"households": households.height, "persons": persons.height}
        updates[f"enpove/{round_}"] = (record("enpove", round_, synthetic=synthetic, rows=rows),
                                       {"households": households, "persons": persons})
    write_store(store, updates)
    write_derived(store, {"indicators": indicators_frame(), "comparisons": comparisons_frame()})
    return store


def write_catalogue(root: Path) -> Path:
    """A `surveys/` folder with a small catalogue whose xss_indicator label is a script: the package's rows of its
    indicators (the xss one a copy of knows_victim_physical) with the fixture's themes, concepts and names, the
    package's universes and parameters, and no domains or contrasts (their names come from the UI strings)."""
    folder = root / "surveys" / "indicators"
    folder.mkdir(parents=True)
    for name in ("universes.csv", "parameters.yaml", "published_concepts.csv"):
        shutil.copyfile(CATALOGUE_DIR / name, folder / name)
    for name in ("domains.csv", "contrasts.csv"):
        header = (CATALOGUE_DIR / name).read_text(encoding="utf-8").splitlines()[0]
        (folder / name).write_text(header + "\n", encoding="utf-8")
    package = pl.read_csv(CATALOGUE_DIR / "catalogue.csv", infer_schema=False)
    rows = []
    for indicator_id, theme, en, es in (
        ("no_health_insurance", "health", "No health insurance", "Sin seguro de salud"),
        ("overcrowding_room", "housing", "Overcrowding", "Hacinamiento"),
        ("fies_moderate_severe", "food_security", "Moderate or severe food insecurity", "Inseguridad moderada o grave"),
        ("fies_severe", "food_security", "Severe food insecurity", "Inseguridad grave"),
        ("knows_victim_physical", "violence", "Knows a victim of physical abuse", "Conoce a una víctima"),
        ("employed", "employment", "Employed", "Ocupado"),
        ("labour_income_monthly", "employment", "Monthly labour income", "Ingreso laboral mensual"),
        ("xss_indicator", "violence", XSS, XSS),
    ):
        concept = {"fies_moderate_severe": "food_insecurity_moderate_severe",
                   "fies_severe": "food_insecurity_severe"}.get(indicator_id, indicator_id)
        like = "knows_victim_physical" if indicator_id == "xss_indicator" else indicator_id
        rows.append(package.filter(pl.col("indicator_id") == like).with_columns(
            indicator_id=pl.lit(indicator_id), theme=pl.lit(theme), concept_id=pl.lit(concept),
            label_en=pl.lit(en), label_es=pl.lit(es)))
    pl.concat(rows).write_csv(folder / "catalogue.csv")
    (folder / "sources.csv").write_text(
        "source,label_en,label_es\nenpove,ENPOVE (INEI),ENPOVE (INEI)\n"
        "multisector_lima,Lima multisector study,Estudio multisectorial de Lima\n", encoding="utf-8")
    return root / "surveys"


def open_offline(browser, path: Path):
    """Open a report with every non-file request aborted and recorded; console errors and dialogs recorded."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    seen = {"requests": [], "errors": [], "dialogs": []}

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            seen["requests"].append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_function("window.reportReady === true", timeout=20_000)
    page.wait_for_function("window.reportAllDrawn === true", timeout=30_000)
    return page, seen
