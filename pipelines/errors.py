"""The package's exception hierarchy: one module, one base class.

Every message names where the problem is (file, round, module, variable), what was found and how to fix it.
"""

from __future__ import annotations

MAX_VALUE = 120  # characters of one offending value shown in a message
MAX_MESSAGE = 2000  # characters of a whole message; the middle of a longer one is cut


def shorten(value: object, limit: int = MAX_VALUE) -> str:
    """`value` as text, cut to `limit` characters with the length it had (a 1 MB cell is not echoed whole)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


class SurveysError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes ``where``, ``expected``, ``got`` and ``hint`` keep the structured parts of the message.
    """

    def __init__(self, message: str, *, where: str = "", expected: str = "", got: str = "", hint: str = ""):
        self.where, self.expected, self.got, self.hint = where, expected, got, hint
        parts = [f"{where}: {message}" if where else message]
        if hint:
            parts.append(hint)
        text = " ".join(parts)
        if len(text) > MAX_MESSAGE:
            cut = len(text) - MAX_MESSAGE
            text = f"{text[:MAX_MESSAGE - 400]} …({cut:,} characters cut)… {text[-400:]}"
        super().__init__(text)


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


class UsageError(SurveysError):
    """A command-line option names nothing usable (a missing raw folder, an unknown theme or language); exit 2."""


class StoreError(SurveysError):
    """The store cannot be used as asked: not a store, a store in the wrong place, unreadable, or busy."""


class StoreLocked(StoreError):
    """Another process is writing the store and did not finish within the wait allowed."""


class NotInStore(StoreError, FileNotFoundError):
    """Something asked of the store is not there (no store yet, a table not built); also a FileNotFoundError."""


class FetchError(SurveysError):
    """A download from the producer's portal failed or is not what the round's spec expects."""
