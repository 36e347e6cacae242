"""The `surveys` command line: fetch, refresh, status, indicators, compare, report, export.

A thin layer over the Python API (`pipelines.api`, `pipelines.jobs`; `import surveys as sv`): each command parses
its options, calls one API function, draws progress and prints the lines it reports.
Every command takes `--store DIR` (default `data/harmonized`). `python -m pipelines` is the same program.
A failure is one line on stderr, never a traceback: exit 1, or 2 for an option that names nothing usable (user
data in a message is printed literally, never as rich markup). `SURVEYS_DEBUG=1` lets tracebacks through.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.errors import StoreError, SurveysError, UsageError
from pipelines.store import DEFAULT_RAW, DEFAULT_STORE, current_version, is_store

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
console = Console(stderr=True)
StoreOption = typer.Option(DEFAULT_STORE, "--store", help="The harmonised Parquet store.")


def say(text: str) -> None:
    """Print a line holding user data (names, values, paths) literally: never read as rich markup."""
    console.print(escape(str(text)), soft_wrap=True, highlight=False)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, SurveysError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror}" + (f" (to {exc.filename2})" if exc.filename2 else "")
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fail(exc: BaseException, code: int) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(_one_line(exc))}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def guarded(command):
    """Run a command so that every failure is one line: the package's errors and OSError (disk full, permission)
    exit 1, usage errors 2, anything unforeseen 1 with its type named; the store is never left half-written
    (writers stage and swap, see `pipelines.store`)."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except UsageError as exc:
            raise _fail(exc, 2) from None
        except (SurveysError, OSError) as exc:
            if os.environ.get("SURVEYS_DEBUG"):
                raise
            raise _fail(exc, 1) from None
        except KeyboardInterrupt:
            interrupted = KeyboardInterrupt("interrupted; the store holds a whole version, the one before or the new one")
            raise _fail(interrupted, 130) from None
        except Exception as exc:
            if os.environ.get("SURVEYS_DEBUG"):
                raise
            raise _fail(RuntimeError(f"unexpected {type(exc).__name__}: {exc} (SURVEYS_DEBUG=1 shows where)"),
                        1) from None
    return run


@app.command()
@guarded
def refresh(
    raw: Path = typer.Option(None, "--raw", show_default=str(DEFAULT_RAW),
                             help="Raw folder: one folder per source and round, RAW/<source>/<round>/."),
    store: Path = StoreOption,
    force: bool = typer.Option(False, "--force", help="Redo every round even if its inputs are unchanged."),
) -> None:
    """Read, harmonise and store every round under RAW; with no --raw and nothing in data/raw, the embedded
    synthetic default (never over a stored microdata round)."""
    from pipelines import jobs
    from pipelines.refresh import stored_microdata

    embedded = jobs.uses_embedded_default(raw)
    columns = (SpinnerColumn(), TextColumn("[bold]{task.fields[round]}"), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, step: str) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(escape(step), round=escape(name), total=None)
            bar.update(tasks[name], description=escape(step))

        if embedded and not stored_microdata(store):
            say(f"No rounds under {DEFAULT_RAW}: refreshing the embedded default: SYNTHETIC ENPOVE 2018 and II ENPOVE "
                "2022 rounds.")
        report = jobs.refresh(store, raw=raw, force=force, progress=progress)
    for name in report.written:
        console.print(f"[green]stored[/green] {escape(name)}", soft_wrap=True)
        for note in report.notes.get(name, ()):
            say(f"  note: {note}")
    for name in report.unchanged:
        say(f"unchanged {name}: inputs and crosswalk as stored, no work done")
    if not report.written and not report.failed:
        say("The store is up to date; nothing was redone.")
    for name, message in report.failed.items():
        console.print(f"[red]failed[/red] {escape(name)}: {escape(' '.join(message.split()))}", soft_wrap=True)
        say(f"  the store keeps what it had for {name}.")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@guarded
def fetch(
    source: str = typer.Argument(..., metavar="SOURCE", help="Source, e.g. enpove."),
    round_: str = typer.Argument(..., metavar="ROUND", help="Round, e.g. 2022."),
    fmt: str = typer.Option("spss", "--format", help="The portal's format: spss, csv or stata. SPSS module 100 "
                            "carries the sampling unit (SEGMENTO), INEI's labelled CSV does not."),
    modules: list[str] = typer.Option(None, "--modules", help="Modules to fetch (numbers, INEI codes or "
                                      "`consolidated`; repeat or comma-separate). Default: every module of the "
                                      "round's spec with an INEI code, the consolidated file excepted."),
    raw: Path = typer.Option(DEFAULT_RAW, "--raw", help="Raw folder; the round goes to RAW/<source>/<round>/."),
    base_url: str = typer.Option(None, "--base-url", help="The portal or a mirror of it (default INEI's)."),
    then_refresh: bool = typer.Option(False, "--refresh", help="Run `surveys refresh --raw RAW` afterwards."),
    store: Path = StoreOption,
) -> None:
    """Download a round's module zips from INEI's microdata portal, verify them and unpack them into RAW."""
    from pipelines.errors import SurveysError
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
        console.print(f"[green]fetched[/green] {escape(label)}", soft_wrap=True)
    for label in report.unchanged:
        say(f"unchanged {label}: as fetched before, no work done")
    for note in report.notes:
        say(f"  note: {note}")
    say(f"{report.folder}: {'updated' if report.fetched else 'up to date'}")
    if then_refresh:
        refresh(raw=raw, store=store, force=False)


@contextmanager
def _download_bars():
    """A rich progress display with one bar per download; yields the callback `pipelines.fetch` reports to."""
    from rich.progress import BarColumn, DownloadColumn, TransferSpeedColumn

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    bar = Progress(*columns, console=console, transient=False)
    tasks: dict[str, int] = {}

    def progress(label: str, done: int, total: int | None) -> None:
        if not tasks:  # started at the first byte: a fetch with nothing to download draws nothing
            bar.start()
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    try:
        yield progress
    finally:
        if tasks:
            bar.stop()


@app.command()
@guarded
def status(store: Path = StoreOption) -> None:
    """Rounds in the store: rows, input checksums, when refreshed; and the current version's folder, for engines
    that read the hive Parquet directly."""
    from pipelines.api import rounds

    version = current_version(store)
    if version is None:
        if is_store(store):
            raise StoreError("the store has no version yet (its first refresh failed or is running)",
                             where=str(store), hint="Run `surveys refresh`.")
        raise StoreError("no store here", where=str(store), hint="Run `surveys refresh`, or give --store.")
    stored = rounds(version).filter(pl.col("kind") != "published")
    table = Table(title=f"Store {escape(str(store))} ({escape(version.name)})")
    for column in ("round", "kind", "households", "persons", "design (PSU)", "inputs (sha256)", "refreshed"):
        table.add_column(column, no_wrap=column in ("round", "kind"), overflow="fold")
    for row in stored.iter_rows(named=True):
        inputs = "\n".join(f"{i['module']}: {i['sha256'][:12]}" for i in row["inputs"])
        kind = "SYNTHETIC" if row["kind"] == "synthetic" else "microdata"
        table.add_row(escape(f"{row['source']}/{row['round']}"), kind, f"{row['households']:,}",
                      f"{row['persons']:,}", escape(" x ".join(row["psu"]) or "?"), escape(inputs),
                      escape(row["refreshed_at"]))
    out = Console()
    out.print(table)
    out.print(f"current version: {escape(str(version.resolve()))}", soft_wrap=True, highlight=False)


@app.command()
@guarded
def indicators(
    store: Path = StoreOption,
    source: str = typer.Option(None, "--source", help="Only this source."),
    round_: str = typer.Option(None, "--round", help="Only this round."),
    theme: str = typer.Option(None, "--theme", help="Only this theme."),
) -> None:
    """Estimate every catalogue indicator for every stored round and domain; store the long table."""
    from pipelines.jobs import estimate

    estimate(store, source=source, round=round_, theme=theme, echo=say)


@app.command()
@guarded
def compare(
    store: Path = StoreOption,
    indicator: str = typer.Option(None, "--indicator", help="Only this indicator (concept id)."),
    theme: str = typer.Option(None, "--theme", help="Only this theme."),
    adjust: str = typer.Option("holm", "--adjust", help="p-value adjustment across the family: holm or bh."),
) -> None:
    """Compare each indicator across consecutive rounds and across sources of the same period; store the table."""
    from pipelines.jobs import compare as run_compare

    run_compare(store, concept=indicator, theme=theme, adjust=adjust, echo=say)


@app.command()
@guarded
def report(
    store: Path = StoreOption,
    lang: str = typer.Option("es", "--lang", help="Language of labels and numbers: es or en."),
    out: Path = typer.Option(Path("data/exports/report.html"), "--out", help="Where to write the HTML report."),
) -> None:
    """Write the self-contained interactive HTML report (opens offline)."""
    from pipelines.jobs import report as run_report

    run_report(store, lang=lang, out=out, echo=say)


@app.command()
@guarded
def export(
    store: Path = StoreOption,
    out: Path = typer.Option(Path("data/exports"), "--out", help="Folder for the exports."),
    fmt: str = typer.Option("parquet", "--format", help="parquet (harmonised and derived tables, dictionary, "
                            "datapackage.json), xlsx (the derived tables as one workbook), dta or sav (the "
                            "harmonised tables of each round for Stata or SPSS, labelled)."),
    lang: str = typer.Option("es", "--lang", help="Language of the Stata and SPSS labels: es or en."),
) -> None:
    """Write exports for other teams: Parquet with a data dictionary and datapackage.json, an Excel workbook, or
    labelled Stata / SPSS files."""
    from pipelines.jobs import export as run_export

    run_export(store, out=out, format=fmt, lang=lang, echo=say)


def main() -> None:
    app()
