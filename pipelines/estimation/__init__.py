"""Design-based estimation (Taylor linearisation) matching R ``survey``.

>>> from pipelines.estimation import SurveyDesign
>>> design = SurveyDesign(frame, weight="pw", strata="stype", psu="dnum", fpc="fpc", lonely_psu="adjust")
>>> design.mean(["api00", "enroll"], by=["stype"])
>>> design.contrast("api00", by="stype", pairs="adjacent")
>>> design.quantile("enroll", q=[0.25, 0.5, 0.75])

The names are imported on first use: a module that needs only the reliability flags (the report's labels)
does not pay for scipy, which `SurveyDesign`'s intervals import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.estimation.design import SurveyDesign
    from pipelines.estimation.flags import Reliability

__all__ = ["Reliability", "SurveyDesign"]


def __getattr__(name: str) -> object:
    if name == "SurveyDesign":
        from pipelines.estimation.design import SurveyDesign

        return SurveyDesign
    if name == "Reliability":
        from pipelines.estimation.flags import Reliability

        return Reliability
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
