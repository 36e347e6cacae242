"""Words and numbers of the report in Spanish or English.

UI strings live in `reports/labels.csv` (key, es, en); indicator, source and domain names come from the indicator
catalogue (`surveys/indicators/catalogue.csv`, `sources.csv`, `domains.csv`)
when it exists, and fall back to the id otherwise. Numbers follow the language: `12,3 %` in Spanish and `12.3%` in
English, with a no-break space as the Spanish thousands separator (`12 487`), as INEI prints its tables.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipelines.estimation.flags import Reliability

LANGS = ("es", "en")
LABELS_CSV = Path(__file__).resolve().parent / "labels.csv"
SURVEYS_DIR = Path(__file__).resolve().parent.parent / "surveys"
NBSP = "\u00a0"


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _by(rows: list[dict[str, str]], key: str, lang: str) -> dict[str, str]:
    column = f"label_{lang}"
    return {row[key]: row[column] for row in rows if row.get(key) and row.get(column)}


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
        values = {k: self.number(v, 0) if k == "min_n" else f"{v:g}".replace(".", "," if self.lang == "es" else ".")
                  for k, v in self.reliability.items()}
        return text.format(**values) if values and "{" in text else text

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


def _catalogue_rows(root: Path) -> list[dict[str, str]]:
    return _read_csv(root / "indicators" / "catalogue.csv")


def load_labels(lang: str, *, surveys_dir: Path = SURVEYS_DIR) -> Labels:
    """The labels of `lang` (`es` or `en`), with catalogue names where the catalogue has them."""
    if lang not in LANGS:
        raise ValueError(f"language `{lang}` is not one of {LANGS}; use --lang es or --lang en")
    ui = {row["key"]: row[lang] for row in _read_csv(LABELS_CSV)}
    catalogue = _catalogue_rows(surveys_dir)
    sources = _read_csv(surveys_dir / "indicators" / "sources.csv")
    return Labels(
        lang=lang,
        ui=ui,
        indicators=_by(catalogue, "indicator_id", lang),
        sources=_by(sources, "source", lang),
        domains=_by(_read_csv(surveys_dir / "indicators" / "domains.csv"), "domain", lang),
        catalogue_order=tuple(row["indicator_id"] for row in catalogue if row.get("indicator_id")),
        concepts={row["indicator_id"]: row.get("concept_id") or row["indicator_id"] for row in catalogue
                  if row.get("indicator_id")},
        reliability=_reliability(surveys_dir / "indicators" / "parameters.yaml"),
        populations={row["source"]: row.get("population") or "" for row in sources if row.get("source")},
        contrasts=_by(_read_csv(surveys_dir / "indicators" / "contrasts.csv"), "domain", lang),
    )


def _reliability(path: Path) -> dict[str, float]:
    """The catalogue's flag thresholds; the engine's defaults for a catalogue without them."""
    stated = yaml.safe_load(path.read_text(encoding="utf-8")).get("reliability", {}) if path.exists() else {}
    default = Reliability()
    return {"min_n": default.min_n, "max_cv": default.max_cv, **stated}
