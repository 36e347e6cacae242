"""Harmonised surveys of Venezuelan migrants in Peru: the Python API.

This package holds what each source round is (`surveys/<source>_<round>/`, the common schema in
`surveys.schema`) and, as attributes, the functions an analyst works with::

    import surveys as sv

    store = sv.open_store("data/harmonized")                  # after `surveys refresh`
    sv.rounds(store)                                          # kind, design and provenance of each round
    d = sv.design(store, "enpove", "2022", unit="household")  # the round's design, declared from its spec
    d.proportion("internet", by="city")                       # estimate, se, CI, df, n, cv, deff, flag
    sv.figure(sv.indicators(store), "internet", by="city")    # the report's chart, a plotly Figure

Reading: `open_store`, `rounds`, `households`, `persons`, `design`, `universe`, `indicator_expr`, `tables`,
`table`, `indicators`, `comparisons`, `figure` (`pipelines.api`). Writing: `refresh`, `estimate`, `compare`,
`update_estimates`, `report`, `export` (`pipelines.jobs`). `docs/api.md` lists them with examples.

The functions load on first use, so that `import surveys.schema` (which the pipeline does everywhere) stays light
and free of import cycles.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.api import (
        Store,
        comparisons,
        design,
        figure,
        households,
        indicator_expr,
        indicators,
        open_store,
        persons,
        rounds,
        table,
        tables,
        universe,
    )
    from pipelines.estimation import SurveyDesign
    from pipelines.jobs import compare, estimate, export, refresh, report, update_estimates

__all__ = [  # reading: pipelines.api; writing: pipelines.jobs (_JOBS); the estimator: pipelines.estimation
    "Store", "SurveyDesign", "compare", "comparisons", "design", "estimate", "export", "figure", "households",
    "indicator_expr", "indicators", "open_store", "persons", "refresh", "report", "rounds", "table", "tables",
    "universe", "update_estimates",
]
_JOBS = ("compare", "estimate", "export", "refresh", "report", "update_estimates")


def _module_of(name: str) -> str:
    if name == "SurveyDesign":
        return "pipelines.estimation"
    return "pipelines.jobs" if name in _JOBS else "pipelines.api"


def __getattr__(name: str):
    if name in __all__:
        value = getattr(import_module(_module_of(name)), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'surveys' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
