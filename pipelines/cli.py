"""The `surveys` command line: fetch, refresh, status, indicators, compare, report, export.

A thin layer over the Python API (`pipelines.api`, `pipelines.jobs`; `import surveys as sv`): each command parses
its options, calls one API function, draws progress and prints the lines it reports. Every command takes `--store
DIR` (default `data/harmonized`). `python -m pipelines` is the same program.

A failure is one line on stderr, never a traceback: exit 1, or 2 for a usage error or an option that names nothing
usable (user data in a message is printed literally). `SURVEYS_DEBUG=1` lets tracebacks through.
"""

# The parser is the standard library's argparse: the command line framework used before (on click, with rich, and a
# pydantic adapter built for every option) cost ~0.37 s of every command's start-up, more than a quick command's
# work. rich is imported only where it draws: the refresh's spinners, the fetch's download bars, the status table.

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from pipelines.errors import StoreError, SurveysError, UsageError
from pipelines.store import DEFAULT_RAW, DEFAULT_STORE, current_version, is_store

if TYPE_CHECKING:
    import polars as pl
    from rich.progress import Progress

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130  # the exit codes
ANSI_COLOURS = {"green": "32", "red": "31"}


# ---------------------------------------------------------------------------------------------------------------
# Output


def say(text: object) -> None:
    """Print a line on stderr as it is: user data (names, values, paths) is never read as markup."""
    print(text, file=sys.stderr, flush=True)


def painted(word: str, colour: str) -> str:
    """`word` in `colour` when stderr is a terminal that wants colour (not under NO_COLOR or TERM=dumb)."""
    plain = os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb" or not sys.stderr.isatty()
    return word if plain else f"\x1b[{ANSI_COLOURS[colour]}m{word}\x1b[0m"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, SurveysError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}" + (f" (to {exc.filename2})" if exc.filename2 else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fail(exc: BaseException, code: int) -> int:
    say(f"{painted('error:', 'red')} {_one_line(exc)}")
    return code


def guarded(command: Callable[..., int], options: dict[str, object]) -> int:
    """Run a command so that every failure is one line: the package's errors and OSError (disk full, permission)
    exit 1, usage errors 2, anything unforeseen 1 with its type named; the store is never left half-written
    (writers stage and swap, see `pipelines.store`)."""
    debugging = bool(os.environ.get("SURVEYS_DEBUG"))
    try:
        return command(**options)
    except UsageError as exc:
        return _fail(exc, USAGE)
    except (SurveysError, OSError) as exc:
        if debugging:
            raise
        return _fail(exc, FAILED)
    except KeyboardInterrupt:
        interrupted = KeyboardInterrupt("interrupted; the store holds a whole version, the one before or the new one")
        return _fail(interrupted, INTERRUPTED)
    except Exception as exc:
        if debugging:
            raise
        return _fail(RuntimeError(f"unexpected {type(exc).__name__}: {exc} (SURVEYS_DEBUG=1 shows where)"), FAILED)


# ---------------------------------------------------------------------------------------------------------------
# Commands: keyword arguments named as the parser's destinations, an exit code back


def refresh(raw: Path | None, store: Path, force: bool) -> int:
    """Read, harmonise and store every round under RAW; with no --raw and nothing in data/raw, the embedded
    synthetic default (never over a stored microdata round)."""
    from pipelines import jobs
    from pipelines.refresh import stored_microdata

    embedded = jobs.uses_embedded_default(raw)
    with _round_spinners() as progress:
        if embedded and not stored_microdata(store):
            say(f"No rounds under {DEFAULT_RAW}: refreshing the embedded default: SYNTHETIC ENPOVE 2018 and II ENPOVE "
                "2022 rounds.")
        report = jobs.refresh(store, raw=raw, force=force, progress=progress)
    for name in report.written:
        say(f"{painted('stored', 'green')} {name}")
        for note in report.notes.get(name, ()):
            say(f"  note: {note}")
    for name in report.unchanged:
        say(f"unchanged {name}: inputs and crosswalk as stored, no work done")
    if not report.written and not report.failed:
        say("The store is up to date; nothing was redone.")
    for name, message in report.failed.items():
        say(f"{painted('failed', 'red')} {name}: {' '.join(message.split())}")
        say(f"  the store keeps what it had for {name}.")
    return OK if report.ok else FAILED


@contextmanager
def _round_spinners() -> Iterator[Callable[[str, str], None]]:
    """A spinner per round with the step it is at; yields the callback `pipelines.jobs.refresh` reports to."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("[bold]{task.fields[round]}"), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, step: str) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(escape(step), round=escape(name), total=None)
            bar.update(tasks[name], description=escape(step))

        yield progress


def fetch(source: str, round_: str, fmt: str, modules: list[str] | None, raw: Path, base_url: str | None,
          then_refresh: bool, store: Path) -> int:
    """Download a round's module zips from INEI's microdata portal, verify them and unpack them into RAW."""
    from pipelines.fetch import DEFAULT_BASE_URL, fetch_round
    from pipelines.specs import SPECS_DIR, load_round_spec

    folder = SPECS_DIR / f"{source}_{round_}"
    try:
        if not (folder / "source.yaml").is_file():
            known = sorted(p.parent.name for p in SPECS_DIR.glob("*/source.yaml"))
            raise SurveysError(f"no spec for {source}/{round_} (specs: {known})", where=str(folder))
        with _download_bars() as progress:
            report = fetch_round(load_round_spec(folder), raw, fmt=fmt, modules=modules,
                                 base_url=base_url or DEFAULT_BASE_URL, progress=progress)
    except (SurveysError, OSError) as exc:  # OSError: the raw folder cannot be written (permissions, full disk)
        raise SurveysError(f"{_one_line(exc)} ({raw} is as it was)") from exc
    for label in report.fetched:
        say(f"{painted('fetched', 'green')} {label}")
    for label in report.unchanged:
        say(f"unchanged {label}: as fetched before, no work done")
    for note in report.notes:
        say(f"  note: {note}")
    say(f"{report.folder}: {'updated' if report.fetched else 'up to date'}")
    return refresh(raw=raw, store=store, force=False) if then_refresh else OK


@contextmanager
def _download_bars() -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress display with one bar per download; yields the callback `pipelines.fetch` reports to. rich is
    imported at the first byte: a fetch with nothing to download draws nothing."""
    bar, tasks = None, {}

    def progress(label: str, done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = _download_display()
            bar.start()
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.stop()


def _download_display() -> Progress:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    return Progress(*columns, console=Console(stderr=True), transient=False)


def status(store: Path) -> int:
    """Rounds in the store: rows, input checksums, when refreshed; and the current version's folder, for engines
    that read the hive Parquet directly."""
    import polars as pl

    from pipelines.api import rounds

    version = current_version(store)
    if version is None:
        if is_store(store):
            raise StoreError("the store has no version yet (its first refresh failed or is running)",
                             where=str(store), hint="Run `surveys refresh`.")
        raise StoreError("no store here", where=str(store), hint="Run `surveys refresh`, or give --store.")
    _print_rounds(f"Store {store} ({version.name})", rounds(version).filter(pl.col("kind") != "published"))
    print(f"current version: {version.resolve()}", flush=True)
    return OK


def _print_rounds(title: str, stored: pl.DataFrame) -> None:
    """The stored rounds (`pipelines.api.rounds`) as a table on stdout."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for column in ("round", "kind", "households", "persons", "design (PSU)", "inputs (sha256)", "refreshed"):
        table.add_column(column, no_wrap=column in ("round", "kind"), overflow="fold")
    for row in stored.iter_rows(named=True):
        inputs = "\n".join(f"{i['module']}: {i['sha256'][:12]}" for i in row["inputs"])
        kind = "SYNTHETIC" if row["kind"] == "synthetic" else "microdata"
        table.add_row(escape(f"{row['source']}/{row['round']}"), kind, f"{row['households']:,}",
                      f"{row['persons']:,}", escape(" x ".join(row["psu"]) or "?"), escape(inputs),
                      escape(row["refreshed_at"]))
    Console().print(table)


def indicators(store: Path, source: str | None, round_: str | None, theme: str | None) -> int:
    """Estimate every catalogue indicator for every stored round and domain; store the long table."""
    from pipelines.jobs import estimate

    estimate(store, source=source, round=round_, theme=theme, echo=say)
    return OK


def compare(store: Path, indicator: str | None, theme: str | None, adjust: str) -> int:
    """Compare each indicator across consecutive rounds and across sources of the same period; store the table."""
    from pipelines.jobs import compare as run_compare

    run_compare(store, concept=indicator, theme=theme, adjust=adjust, echo=say)
    return OK


def report(store: Path, lang: str, out: Path) -> int:
    """Write the self-contained interactive HTML report (opens offline)."""
    from pipelines.jobs import report as run_report

    run_report(store, lang=lang, out=out, echo=say)
    return OK


def export(store: Path, out: Path, fmt: str, lang: str) -> int:
    """Write exports for other teams: Parquet with a data dictionary and datapackage.json, an Excel workbook, or
    labelled Stata / SPSS files."""
    from pipelines.jobs import export as run_export

    run_export(store, out=out, format=fmt, lang=lang, echo=say)
    return OK


# ---------------------------------------------------------------------------------------------------------------
# The parser


class _Paragraphs(argparse.HelpFormatter):
    """Rewrap each blank-line-separated paragraph of a description on its own (argparse would join them all)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n\n".join(fill(paragraph, width, indent) for paragraph in text.strip().split("\n\n"))


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose usage errors (unknown option, missing value) are one line and exit 2, like every
    other failure; options are never abbreviated (`--for` is not `--force`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(formatter_class=_Paragraphs, allow_abbrev=False, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        """Parse `args`; one this parser does not know is an error here, where the message can name the
        subcommand whose `--help` lists the options (argparse would pass it up to `surveys`)."""
        options, unknown = super().parse_known_args(args, namespace)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return options, unknown

    def error(self, message: str) -> NoReturn:
        self.exit(_fail(UsageError(f"{message} (`{self.prog} --help` says more)"), USAGE))


def _store_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--store", type=Path, default=DEFAULT_STORE, metavar="DIR",
                         help=f"The harmonised Parquet store (default: {DEFAULT_STORE}).")


def parser() -> argparse.ArgumentParser:
    """The `surveys` parser: one subcommand per command function, its options named as the function's arguments."""
    top = _Parser(prog="surveys", description=__doc__)
    commands = top.add_subparsers(title="commands", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(function: Callable[..., int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(function.__name__, help=function.__doc__, description=function.__doc__)
        sub.set_defaults(command=function)
        return sub

    sub = command(refresh)
    sub.add_argument("--raw", type=Path, metavar="DIR", help="Raw folder: one folder per source and round, "
                     f"RAW/<source>/<round>/ (default: {DEFAULT_RAW}, else the embedded synthetic rounds).")
    _store_option(sub)
    sub.add_argument("--force", action="store_true", help="Redo every round even if its inputs are unchanged.")

    sub = command(fetch)
    sub.add_argument("source", metavar="SOURCE", help="Source, e.g. enpove.")
    sub.add_argument("round_", metavar="ROUND", help="Round, e.g. 2022.")
    sub.add_argument("--format", dest="fmt", default="spss", metavar="FORMAT", help="The portal's format: spss, "
                     "csv or stata. SPSS module 100 carries the sampling unit (SEGMENTO), INEI's labelled CSV does "
                     "not (default: spss).")
    sub.add_argument("--modules", action="append", metavar="MODULES", help="Modules to fetch (numbers, INEI codes "
                     "or `consolidated`; repeat or comma-separate). Default: every module of the round's spec with "
                     "an INEI code, the consolidated file excepted.")
    sub.add_argument("--raw", type=Path, default=DEFAULT_RAW, metavar="DIR",
                     help=f"Raw folder; the round goes to RAW/<source>/<round>/ (default: {DEFAULT_RAW}).")
    sub.add_argument("--base-url", metavar="URL", help="The portal or a mirror of it (default INEI's).")
    sub.add_argument("--refresh", dest="then_refresh", action="store_true",
                     help="Run `surveys refresh --raw RAW` afterwards.")
    _store_option(sub)

    _store_option(command(status))

    sub = command(indicators)
    _store_option(sub)
    sub.add_argument("--source", metavar="SOURCE", help="Only this source.")
    sub.add_argument("--round", dest="round_", metavar="ROUND", help="Only this round.")
    sub.add_argument("--theme", metavar="THEME", help="Only this theme.")

    sub = command(compare)
    _store_option(sub)
    sub.add_argument("--indicator", metavar="CONCEPT", help="Only this indicator (concept id).")
    sub.add_argument("--theme", metavar="THEME", help="Only this theme.")
    sub.add_argument("--adjust", default="holm", metavar="METHOD",
                     help="p-value adjustment across the family: holm or bh (default: holm).")

    sub = command(report)
    _store_option(sub)
    sub.add_argument("--lang", default="es", metavar="LANG", help="Language of labels and numbers: es or en "
                     "(default: es).")
    sub.add_argument("--out", type=Path, default=Path("data/exports/report.html"), metavar="FILE",
                     help="Where to write the HTML report (default: data/exports/report.html).")

    sub = command(export)
    _store_option(sub)
    sub.add_argument("--out", type=Path, default=Path("data/exports"), metavar="DIR",
                     help="Folder for the exports (default: data/exports).")
    sub.add_argument("--format", dest="fmt", default="parquet", metavar="FORMAT", help="parquet (harmonised and "
                     "derived tables, dictionary, datapackage.json), xlsx (the derived tables as one workbook), dta "
                     "or sav (the harmonised tables of each round for Stata or SPSS, labelled) (default: parquet).")
    sub.add_argument("--lang", default="es", metavar="LANG",
                     help="Language of the Stata and SPSS labels: es or en (default: es).")
    return top


def main(argv: list[str] | None = None) -> int:
    """Run `surveys` with the arguments `argv` (default: the process's) and return the exit code.

    Parameters
    ----------
    argv
        The arguments after the program's name, e.g. ``["status", "--store", "S"]``.

    Returns
    -------
    int
        0 done; 1 failed (one line on stderr says why); 2 a usage error or an option that names nothing usable
        (with no arguments at all: the help); 130 interrupted.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    surveys = parser()
    if not argv:
        surveys.print_help()
        return USAGE
    try:
        options = vars(surveys.parse_args(argv))
    except SystemExit as stop:  # --help (0), or a usage error `_Parser.error` has said in one line (2)
        return int(stop.code or OK)
    return guarded(options.pop("command"), options)
