"""The `surveys` command line: fetch, refresh, status, indicators, compare, report, export.

Every command takes `--store DIR` (default `data/harmonized`). `python -m pipelines` is the same program.
A failure is one line on stderr, never a traceback: exit 1, or 2 for an option that names nothing usable (user
data in a message is printed literally, never as rich markup). `SURVEYS_DEBUG=1` lets tracebacks through.
"""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.errors import StoreError, SurveysError, UsageError
from pipelines.store import current_version, is_store, read_manifest

DEFAULT_STORE = Path("data/harmonized")
DEFAULT_RAW = Path("data/raw")

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
    from pipelines.refresh import refresh as run_refresh
    from pipelines.refresh import refresh_embedded_default, stored_microdata

    embedded = raw is None and not DEFAULT_RAW.is_file() and not (
        DEFAULT_RAW.is_dir() and any(not p.name.startswith(".") for p in DEFAULT_RAW.iterdir()))
    if embedded:
        microdata = stored_microdata(store)
        if microdata:
            raise StoreError(
                f"no --raw given and nothing under {DEFAULT_RAW}; the store holds microdata ({', '.join(microdata)}),"
                " which the embedded SYNTHETIC default never replaces", where=str(store),
                hint="Give --raw DIR (e.g. --raw ../shared/data), or a new --store for the synthetic default.")
    raw = DEFAULT_RAW if raw is None else raw
    columns = (SpinnerColumn(), TextColumn("[bold]{task.fields[wave]}"), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(wave: str, step: str) -> None:
            if wave not in tasks:
                tasks[wave] = bar.add_task(escape(step), wave=escape(wave), total=None)
            bar.update(tasks[wave], description=escape(step))

        if embedded:
            say(f"No rounds under {raw}: refreshing the embedded default: SYNTHETIC ENPOVE 2018 and II ENPOVE 2022 rounds.")
            report = refresh_embedded_default(store, progress=progress)
        else:
            report = run_refresh(raw, store, progress=progress, force=force)
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
    version = current_version(store)
    if version is None:
        if is_store(store):
            raise StoreError("the store has no version yet (its first refresh failed or is running)",
                             where=str(store), hint="Run `surveys refresh`.")
        raise StoreError("no store here", where=str(store), hint="Run `surveys refresh`, or give --store.")
    waves = read_manifest(store)
    table = Table(title=f"Store {escape(str(store))} ({escape(version.name)})")
    for column in ("round", "kind", "households", "persons", "design (PSU)", "inputs (sha256)", "refreshed"):
        table.add_column(column, no_wrap=column in ("round", "kind"), overflow="fold")
    for name, wave in waves.items():
        inputs = "\n".join(f"{i['module']}: {i['sha256'][:12]}" for i in wave.inputs)
        kind = "SYNTHETIC" if wave.synthetic else "microdata"
        psu = " x ".join(wave.design.get("psu", ())) or "?"
        table.add_row(escape(name), kind, f"{wave.rows['households']:,}", f"{wave.rows['persons']:,}", escape(psu),
                      escape(inputs), escape(wave.refreshed_at))
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
    from pipelines.indicators import run_indicators

    _check_theme(theme)
    _check_rounds(store, source, round_)
    _run(lambda: run_indicators(store, source=source, round_=round_, theme=theme))


@app.command()
@guarded
def compare(
    store: Path = StoreOption,
    indicator: str = typer.Option(None, "--indicator", help="Only this indicator (concept id)."),
    theme: str = typer.Option(None, "--theme", help="Only this theme."),
    adjust: str = typer.Option("holm", "--adjust", help="p-value adjustment across the family: holm or bh."),
) -> None:
    """Compare each indicator across consecutive rounds and across sources of the same period; store the table."""
    from pipelines.compare import run_compare

    _check_theme(theme)
    if adjust not in ("holm", "bh"):
        raise UsageError(f"--adjust {adjust!r} is not one of holm, bh")
    _run(lambda: run_compare(store, indicator=indicator, theme=theme, adjust=adjust))


@app.command()
@guarded
def report(
    store: Path = StoreOption,
    lang: str = typer.Option("es", "--lang", help="Language of labels and numbers: es or en."),
    out: Path = typer.Option(Path("data/exports/report.html"), "--out", help="Where to write the HTML report."),
) -> None:
    """Write the self-contained interactive HTML report (opens offline)."""
    from reports.labels import LANGS
    from reports.report import run_report

    if lang not in LANGS:
        raise UsageError(f"--lang {lang!r} is not one of {', '.join(LANGS)}")
    _check_out(out, "--out", folder=False)
    _run(lambda: [*_estimates_up_to_date(store), *run_report(store, lang=lang, out=out)])


@app.command()
@guarded
def export(
    store: Path = StoreOption,
    out: Path = typer.Option(Path("data/exports"), "--out", help="Folder for the Parquet exports."),
) -> None:
    """Write Parquet exports, a data dictionary and datapackage.json for other teams."""
    from pipelines.export import run_export

    _check_out(out, "--out", folder=True)
    _run(lambda: [*_estimates_up_to_date(store), *run_export(store, out=out)])


def _check_theme(theme: str | None) -> None:
    """A theme must be one the catalogue or the published figures have."""
    if theme is None:
        return
    from pipelines.catalogue import load_catalogue

    themes = sorted({i.theme for i in load_catalogue().indicators} | {"context"})
    if theme not in themes:
        raise UsageError(f"--theme {theme!r} is not one of {', '.join(themes)}")


def _check_rounds(store: Path, source: str | None, round_: str | None) -> None:
    """--source/--round must name a stored round or a published figure: a filter matching nothing is said."""
    if source is None and round_ is None:
        return
    from pipelines.published import published_indicators

    stored = [(w.source, w.round) for w in read_manifest(store).values()]
    published = published_indicators().select("source", "round").unique().rows()
    known = sorted({*stored, *published})
    if not any((source is None or s == source) and (round_ is None or r == round_) for s, r in known):
        asked = " ".join(f"{o} {v}" for o, v in (("--source", source), ("--round", round_)) if v)
        raise UsageError(f"{asked} matches no stored round and no published figure "
                         f"(there are: {', '.join(f'{s}/{r}' for s, r in known) or 'none'})")


def _check_out(out: Path, option: str, *, folder: bool) -> None:
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


def _estimates_up_to_date(store: Path) -> list[str]:
    """Re-estimate indicators when the store's rounds changed since they were built, and re-compare when the
    indicators are newer than the comparisons, saying so; the report and the exports never show stale numbers."""
    from pipelines.store import derived_built_at, derived_is_current

    # The estimation and comparison stages are imported only when they must run (scipy is slow to import).
    lines = []
    if not derived_is_current(store, "indicators"):
        from pipelines.indicators import run_indicators

        lines += ["indicators are missing or older than the stored rounds: estimating them now"]
        lines += run_indicators(store)
    compared, estimated = derived_built_at(store, "comparisons"), derived_built_at(store, "indicators")
    if compared is None or compared < estimated:
        from pipelines.compare import run_compare

        lines += ["comparisons are missing or older than the indicators: comparing now"]
        lines += run_compare(store)
    return lines


def _run(job) -> None:
    """Run a command's job and print its lines (literally); failures are left to `guarded`."""
    for line in job() or ():
        say(line)


def main() -> None:
    app()
