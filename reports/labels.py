"""Words and numbers of the report in Spanish or English.

UI strings live in `reports/labels.csv` (key, es, en); indicator, source, domain and contrast names and the
reliability thresholds come from the indicator catalogue (`surveys/indicators/`), read and checked by
`pipelines.indicators.catalogue.load_catalogue`; a name the catalogue leaves blank falls back to the id. Numbers
follow the language: `12,3 %` in Spanish and `12.3%` in
English, with a no-break space as the Spanish thousands separator (`12 487`), as INEI prints its tables.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pipelines.indicators.catalogue import CATALOGUE_DIR, Catalogue, load_catalogue, reliability

LANGS = ("es", "en")
LABELS_CSV = Path(__file__).resolve().parent / "labels.csv"
NBSP = "\u00a0"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _named(pairs) -> dict[str, str]:
    """id -> name, leaving out the ids without a name (they are shown as themselves)."""
    return {key: name for key, name in pairs if key and name}


@dataclass(frozen=True)
class Labels:
    """UI strings, catalogue names and number formats for one language."""

    lang: str
    ui: dict[str, str]
    indicators: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    catalogue_order: tuple[str, ...] = ()
    concepts: dict[str, str] = field(default_factory=dict)  # indicator_id -> concept_id, from the catalogue
    reliability: dict[str, float] = field(default_factory=dict)  # min_n, max_cv of the catalogue's parameters.yaml
    populations: dict[str, str] = field(default_factory=dict)  # source -> population it is about (sources.csv order)
    contrasts: dict[str, str] = field(default_factory=dict)  # domain -> name of its within-round contrast

    def __getitem__(self, key: str) -> str:
        return self.ui.get(key, key)

    # --- names -------------------------------------------------------------------------------------------------
    def indicator(self, indicator_id: str) -> str:
        return self.indicators.get(indicator_id, indicator_id)

    def source(self, source: str) -> str:
        return self.sources.get(source, source)

    def domain(self, domain: str) -> str:
        return self.domains.get(domain) or self.ui.get(f"domain_{domain}", domain)

    def domain_value(self, domain: str, value: str) -> str:
        return self.ui.get(f"value_{domain}_{value}", value)

    def population(self, population: str) -> str:
        return self.ui.get(f"population_{population}", population) if population else self.ui["population_other"]

    def cmp_flag(self, flag: str) -> str:
        """A comparability flag of the comparisons table (universe, definition, ...) in words."""
        return self.ui.get(f"cmpflag_{flag}", flag)

    def contrast(self, domain: str) -> str:
        return self.contrasts.get(domain) or self.ui.get(f"contrast_{domain}", domain)

    def theme(self, theme: str) -> str:
        return self.ui.get(f"theme_{theme}", theme)

    def origin(self, origin: str) -> str:
        return self.ui.get(f"origin_{origin}", origin)

    def flag(self, flag: str | None) -> str:
        """A reliability flag kind in words, with the threshold of `parameters.yaml` that raised it."""
        return self._thresholds(self.ui.get(f"flag_{flag}", flag or ""))

    def legend(self, flag: str) -> str:
        return self._thresholds(self.ui.get(f"legend_{flag}", flag))

    def _thresholds(self, text: str) -> str:
        values = self._threshold_texts
        return text.format(**values) if values and "{" in text else text

    @cached_property
    def _threshold_texts(self) -> dict[str, str]:
        """The reliability thresholds as written in this language, made once: every hover label names its flag."""
        return {k: self.number(v, 0) if k == "min_n" else f"{v:g}".replace(".", "," if self.lang == "es" else ".")
                for k, v in self.reliability.items()}

    # --- numbers -----------------------------------------------------------------------------------------------
    def number(self, value: float | None, decimals: int = 1) -> str:
        """`1,234.5` in English, `1 234,5` in Spanish; `n/a` / `s. d.` when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self["na"]
        text = f"{value:,.{decimals}f}"
        if self.lang == "es":
            text = text.replace(",", NBSP).replace(".", ",")
        return text

    def count(self, value: int | None) -> str:
        return self.number(value, 0)

    def percent(self, proportion: float | None, decimals: int = 1) -> str:
        """A proportion (0-1) as a percentage: `12,3 %` in Spanish, `12.3%` in English."""
        if proportion is None or (isinstance(proportion, float) and math.isnan(proportion)):
            return self["na"]
        text = self.number(proportion * 100, decimals)
        return f"{text} %" if self.lang == "es" else f"{text}%"

    def points(self, difference: float | None, decimals: int = 1) -> str:
        """A difference of proportions in percentage points, signed."""
        if difference is None or (isinstance(difference, float) and math.isnan(difference)):
            return self["na"]
        sign = "+" if difference > 0 else ("−" if difference < 0 else "")
        return f"{sign}{self.number(abs(difference) * 100, decimals)} {self['points']}"

    def p_value(self, p: float | None) -> str:
        if p is None or (isinstance(p, float) and math.isnan(p)):
            return self["na"]
        return f"< {self.number(0.001, 3)}" if p < 0.001 else self.number(p, 3)

    def estimate(self, value: float | None, unit: str | None, decimals: int = 1) -> str:
        """An estimate in its unit: proportions as percentages, anything else as a number and its unit's name."""
        if is_proportion(unit) or value is None:
            return self.percent(value, decimals)
        name = self.ui.get(f"unit_{unit}", unit or "")
        return f"{self.number(value, decimals)} {name}".rstrip()

    def difference(self, value: float | None, unit: str | None) -> str:
        if is_proportion(unit):
            return self.points(value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self["na"]
        return ("+" if value > 0 else "") + self.number(value)

    @property
    def plotly_separators(self) -> str:
        """Plotly's `separators`: decimal mark then thousands separator."""
        return "," + NBSP if self.lang == "es" else ".,"


def is_proportion(unit: str | None) -> bool:
    """Proportions are stored 0-1 for every origin (pipelines/indicators/tables.py) and shown as percentages."""
    return unit in (None, "", "proportion", "percent", "prevalence", "share")


def load_labels(lang: str, *, surveys_dir: Path | None = None) -> Labels:
    """The labels of `lang` (`es` or `en`), with the names of the catalogue in `surveys_dir/indicators/` (default:
    the package's, `surveys/indicators/`)."""
    if lang not in LANGS:
        raise ValueError(f"language `{lang}` is not one of {LANGS}; use --lang es or --lang en")
    ui = {row["key"]: row[lang] for row in _read_csv(LABELS_CSV)}
    catalogue = load_catalogue(Path(surveys_dir) / "indicators" if surveys_dir else CATALOGUE_DIR)
    return Labels(lang=lang, ui=ui, **_catalogue_names(catalogue, f"label_{lang}"))


def _catalogue_names(catalogue: Catalogue, label: str) -> dict:
    """The catalogue's names in one language (`label`: its `label_es` or `label_en` column), its order, concepts
    and flag thresholds, as `Labels` holds them."""
    sources = catalogue.sources.to_dicts()
    thresholds = reliability(catalogue)
    return {
        "indicators": _named((i.indicator_id, getattr(i, label)) for i in catalogue.indicators),
        "sources": _named((row["source"], row.get(label)) for row in sources),
        "domains": _named((d.domain, getattr(d, label)) for d in catalogue.domains),
        "catalogue_order": tuple(i.indicator_id for i in catalogue.indicators),
        "concepts": {i.indicator_id: i.concept_id or i.indicator_id for i in catalogue.indicators},
        "reliability": {"min_n": thresholds.min_n, "max_cv": thresholds.max_cv},
        "populations": {row["source"]: row.get("population") or "" for row in sources if row["source"]},
        "contrasts": _named((c.domain, getattr(c, label)) for c in catalogue.contrasts),
    }
