"""The package's exception hierarchy: one module, one base class.

Every message names where the problem is (file, round, module, variable), what was found and how to fix it.
"""

from __future__ import annotations


class SurveysError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes ``where``, ``expected``, ``got`` and ``hint`` keep the structured parts of the message.
    """

    def __init__(self, message: str, *, where: str = "", expected: str = "", got: str = "", hint: str = ""):
        self.where, self.expected, self.got, self.hint = where, expected, got, hint
        parts = [f"{where}: {message}" if where else message]
        if hint:
            parts.append(hint)
        super().__init__(" ".join(parts))


class SpecError(SurveysError):
    """A `source.yaml`, crosswalk or catalogue is invalid."""


class SourceFileError(SurveysError):
    """A source file is missing, unreadable, truncated or of an unknown format."""


class CrosswalkError(SurveysError):
    """A code has no mapping in the crosswalk, or is mapped twice."""


class SchemaViolation(SurveysError):
    """Harmonised output breaks the common schema (duplicate keys, orphan rows, bad weights)."""


class DesignError(SurveysError):
    """The survey design cannot be used as given (weights, strata, PSUs, lonely PSUs)."""


class ComparisonError(SurveysError):
    """An indicator cannot be compared as asked."""


class FetchError(SurveysError):
    """A download from the producer's portal failed or is not what the round's spec expects."""
