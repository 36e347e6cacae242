"""The Python API, write side: refresh the store, estimate the indicators, compare, write the report and exports.

Each job is what one `surveys` command does (the command line only parses options, draws progress and prints the
lines a job reports through `echo`); each returns what it built. They write the store as every writer does: under
its lock, into a new version swapped in atomically.

>>> import surveys as sv
>>> sv.refresh("data/harmonized")             # no raw data under data/raw: the embedded SYNTHETIC rounds
>>> sv.update_estimates("data/harmonized")    # indicators and comparisons, when missing or stale
>>> sv.export("data/harmonized", format="xlsx")
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from pipelines.api import StoreLike, table
from pipelines.errors import StoreError, UsageError
from pipelines.store import DEFAULT_RAW, DEFAULT_STORE, read_manifest

if TYPE_CHECKING:  # only `refresh` reads rounds: the readers (numpy, the harmonisation rules) load there
    from pipelines.refresh import Progress, RefreshReport

DEFAULT_REPORT = Path("data/exports/report.html")
DEFAULT_EXPORTS = Path("data/exports")
EXPORT_FORMATS = ("parquet", "xlsx", "dta", "sav")
Echo = Callable[[str], None] | None


def _say(echo: Echo, lines) -> None:
    for line in lines or ():
        if echo is not None:
            echo(line)


def uses_embedded_default(raw: str | os.PathLike | None) -> bool:
    """True when a refresh would store the embedded SYNTHETIC default: no `raw` given and nothing in `data/raw`."""
    return raw is None and not DEFAULT_RAW.is_file() and not (
        DEFAULT_RAW.is_dir() and any(not p.name.startswith(".") for p in DEFAULT_RAW.iterdir()))


def refresh(store: StoreLike = DEFAULT_STORE, *, raw: str | os.PathLike | None = None, force: bool = False,
            progress: Progress | None = None) -> RefreshReport:
    """Read, harmonise and store every round under `raw`; with none, the embedded SYNTHETIC default.

    Parameters
    ----------
    store
        The store folder (made when new; an existing folder must be empty or a store).
    raw
        The raw folder, one folder per round: ``<raw>/<source>/<round>/``. None: ``data/raw``, and when that
        holds nothing, the embedded default (SYNTHETIC ENPOVE 2018 and II ENPOVE 2022 rounds in INEI's layouts),
        which never replaces a stored microdata round.
    force
        Redo every round, even one whose inputs and crosswalk are unchanged.
    progress
        Called with (round, step) as the refresh goes.

    Returns
    -------
    RefreshReport
        ``written``, ``unchanged`` and ``failed`` rounds (a failed round keeps what the store had), ``notes``.

    Examples
    --------
    >>> report = sv.refresh("data/harmonized", raw="../shared/data")
    >>> report.written, report.failed
    """
    from pipelines.refresh import refresh as refresh_rounds
    from pipelines.refresh import refresh_embedded_default, stored_microdata

    store, progress = Path(store), progress or (lambda name, step: None)
    if uses_embedded_default(raw):
        microdata = stored_microdata(store)
        if microdata:
            raise StoreError(
                f"no raw folder given and nothing under {DEFAULT_RAW}; the store holds microdata "
                f"({', '.join(microdata)}), which the embedded SYNTHETIC default never replaces", where=str(store),
                hint="Give --raw DIR (e.g. --raw ../shared/data), or a new --store for the synthetic default.")
        return refresh_embedded_default(store, progress=progress)
    return refresh_rounds(Path(raw if raw is not None else DEFAULT_RAW), store, progress=progress, force=force)


def check_theme(theme: str | None) -> None:
    """A theme must be one the catalogue or the published figures have."""
    if theme is None:
        return
    from pipelines.indicators.catalogue import CONTEXT, load_catalogue

    themes = sorted({i.theme for i in load_catalogue().indicators} | {CONTEXT})
    if theme not in themes:
        raise UsageError(f"--theme {theme!r} is not one of {', '.join(themes)}")


def check_rounds(store: StoreLike, source: str | None, round: str | None) -> None:
    """`source`/`round` must name a stored round or a published figure: a filter matching nothing is said."""
    if source is None and round is None:
        return
    from pipelines.indicators.published import published_indicators

    stored = [(r.source, r.round) for r in read_manifest(Path(store)).values()]
    published = published_indicators().select("source", "round").unique().rows()
    known = sorted({*stored, *published})
    if not any((source is None or s == source) and (round is None or r == round) for s, r in known):
        asked = " ".join(f"{o} {v}" for o, v in (("--source", source), ("--round", round)) if v)
        raise UsageError(f"{asked} matches no stored round and no published figure "
                         f"(there are: {', '.join(f'{s}/{r}' for s, r in known) or 'none'})")


def estimate(store: StoreLike = DEFAULT_STORE, *, source: str | None = None, round: str | None = None,
             theme: str | None = None, echo: Echo = None) -> pl.DataFrame:
    """Estimate every catalogue indicator for the stored rounds and domains; store and return the long table.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    source, round, theme
        Re-estimate only these; the table keeps its other rows.
    echo
        Called with each line to report (``print`` shows them).

    Returns
    -------
    polars.DataFrame
        The whole stored indicator table (`pipelines.indicators.tables.INDICATORS`), published figures included.

    Examples
    --------
    >>> sv.estimate(store, theme="health", echo=print)
    """
    from pipelines.indicators.estimate import run_indicators

    check_theme(theme)
    check_rounds(store, source, round)
    _say(echo, run_indicators(Path(store), source=source, round_=round, theme=theme))
    return table(store, "indicators")


def compare(store: StoreLike = DEFAULT_STORE, *, concept: str | None = None, theme: str | None = None,
            adjust: str = "holm", echo: Echo = None) -> pl.DataFrame:
    """Compare each indicator across rounds and sources; store and return the comparison table.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    concept, theme
        Compare only this concept or theme.
    adjust
        p-value adjustment across the family of comparisons: ``holm`` or ``bh``.
    echo
        Called with each line to report.

    Returns
    -------
    polars.DataFrame
        The stored comparison table.

    Examples
    --------
    >>> sv.compare(store, adjust="bh")
    """
    from pipelines.compare import run_compare

    check_theme(theme)
    if adjust not in ("holm", "bh"):
        raise UsageError(f"--adjust {adjust!r} is not one of holm, bh")
    _say(echo, run_compare(Path(store), indicator=concept, theme=theme, adjust=adjust))
    return table(store, "comparisons")


def update_estimates(store: StoreLike = DEFAULT_STORE, *, echo: Echo = None) -> list[str]:
    """Re-estimate the indicators when the store's rounds changed since they were built, and re-compare when the
    indicators are newer than the comparisons, so a report or export never shows stale numbers.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    echo
        Called with each line to report.

    Returns
    -------
    list of str
        What was redone, in words (empty when everything was current).

    Examples
    --------
    >>> sv.update_estimates(store)
    """
    from pipelines.store import derived_built_at, derived_is_current

    # The estimate and compare stages are imported only when they must run (scipy is slow to import).
    store = Path(store)
    lines = []
    if not derived_is_current(store, "indicators"):
        from pipelines.indicators.estimate import run_indicators

        lines += ["indicators are missing or older than the stored rounds: estimating them now"]
        lines += run_indicators(store)
    compared, estimated = derived_built_at(store, "comparisons"), derived_built_at(store, "indicators")
    if compared is None or compared < estimated:
        from pipelines.compare import run_compare

        lines += ["comparisons are missing or older than the indicators: comparing now"]
        lines += run_compare(store)
    _say(echo, lines)
    return lines


def check_out(out: str | os.PathLike, option: str, *, folder: bool) -> None:
    """An output path must be writable as what it is meant to be, before anything is computed."""
    out = Path(out)
    if folder and out.exists() and not out.is_dir():
        raise UsageError(f"{option} {out} is an existing file, not a folder")
    if not folder and out.is_dir():
        raise UsageError(f"{option} {out} is a folder; give a file name, e.g. {out / 'report.html'}")
    for parent in Path(os.path.abspath(out)).parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option} {out} is under {parent}, which is a file")
            break


def report(store: StoreLike = DEFAULT_STORE, *, lang: str = "es", out: str | os.PathLike = DEFAULT_REPORT,
           echo: Echo = None) -> Path:
    """Write the self-contained interactive HTML report (opens offline), estimating first when stale.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    lang
        ``es`` or ``en``.
    out
        The HTML file (default ``data/exports/report.html``).
    echo
        Called with each line to report.

    Returns
    -------
    pathlib.Path
        The report written.

    Examples
    --------
    >>> sv.report(store, lang="en", out="report.html")
    """
    from reports.labels import LANGS
    from reports.report import run_report

    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r} is not one of {', '.join(LANGS)}")
    check_out(out, "--out", folder=False)
    update_estimates(store, echo=echo)
    _say(echo, run_report(Path(store), lang=lang, out=Path(out)))
    return Path(out)


def export(store: StoreLike = DEFAULT_STORE, *, out: str | os.PathLike = DEFAULT_EXPORTS, format: str = "parquet",
           lang: str = "es", echo: Echo = None) -> list[Path]:
    """Write exports for other teams, estimating first when stale.

    Parameters
    ----------
    store
        A `Store` or the store's folder.
    out
        The folder to write into (default ``data/exports``).
    format
        ``parquet``: the harmonised tables (hive partitions) and derived tables, ``dictionary.csv``/``.json`` and
        a ``datapackage.json`` that ``frictionless validate`` accepts. ``xlsx``: the derived tables as one
        workbook, ``tables.xlsx`` (a sheet each, a dictionary sheet, the rounds). ``dta`` / ``sav``: the
        harmonised households and persons of each round for Stata / SPSS, with variable and value labels.
    lang
        Language of the Stata and SPSS labels: ``es`` or ``en``.
    echo
        Called with each line to report.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Examples
    --------
    >>> sv.export(store, format="dta", lang="es", out="exports")
    """
    from pipelines.export import write_exports

    if format not in EXPORT_FORMATS:
        raise UsageError(f"--format {format!r} is not one of {', '.join(EXPORT_FORMATS)}")
    if lang not in ("es", "en"):
        raise UsageError(f"--lang {lang!r} is not one of es, en")
    check_out(out, "--out", folder=True)
    if format in ("parquet", "xlsx"):
        update_estimates(store, echo=echo)
    lines, paths = write_exports(Path(store), out=Path(out), format=format, lang=lang)
    _say(echo, lines)
    return paths

