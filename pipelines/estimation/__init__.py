"""Design-based estimation (Taylor linearisation) matching R ``survey``.

>>> from pipelines.estimation import SurveyDesign
>>> design = SurveyDesign(frame, weight="pw", strata="stype", psu="dnum", fpc="fpc", lonely_psu="adjust")
>>> design.mean(["api00", "enroll"], by=["stype"])
>>> design.contrast("api00", by="stype", pairs="adjacent")
>>> design.quantile("enroll", q=[0.25, 0.5, 0.75])
"""

from pipelines.estimation.design import SurveyDesign
from pipelines.estimation.flags import Reliability

__all__ = ["Reliability", "SurveyDesign"]
