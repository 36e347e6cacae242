"""Food Insecurity Experience Scale (FIES): weighted Rasch model and equating to the FAO global standard.

Mirrors FAO's R package ``RM.weights`` 2.0 (Cafiero, Viviani & Nord 2018):

- :func:`fit_rasch` mirrors ``RM.w(.data, .w)`` with its defaults (``.d = c(0.5, k - 0.5)``,
  ``se.control = TRUE``): weighted conditional maximum likelihood (CML) item severities, their standard
  errors, raw-score severities, item infit/outfit and Rasch reliability.
- :func:`equate_to_global_standard` mirrors ``equating.fun(rr, st = NULL, tol = 0.35, maxuniq = 3)``:
  iterative equating to the FAO 2014-2016 global standard and probabilistic assignment of each raw score
  to the moderate-or-severe (ATELESS) and severe (WHLDAY) classes.
- :func:`respondent_probabilities` gives each respondent its raw score's probabilities (``probs.rs``), so
  that the survey estimator can turn them into design-based prevalences with standard errors.

Layout: ``items.py`` (item names, global standard, input checks), ``rasch.py`` (``RM.w``), ``equating.py``
(``equating.fun``). Conventions are stated in the docstrings' Notes and in ``docs/fies.md``.
"""

from pipelines.fies.equating import Equating, equate_to_global_standard, respondent_probabilities
from pipelines.fies.items import GLOBAL_STANDARD_2014_2016, ITEMS, ITEMS_7, THRESHOLD_ITEMS
from pipelines.fies.rasch import (
    RaschModel,
    conditional_probabilities,
    elementary_symmetric_functions,
    fit_rasch,
)

__all__ = [
    "GLOBAL_STANDARD_2014_2016", "ITEMS", "ITEMS_7", "THRESHOLD_ITEMS", "Equating", "RaschModel",
    "conditional_probabilities", "elementary_symmetric_functions", "equate_to_global_standard",
    "fit_rasch", "respondent_probabilities",
]
