"""The `surveys` command line: fetch, refresh, status (and, as they land, indicators, compare, report, export).

Every command takes `--store DIR` (default `data/harmonized`). `python -m pipelines` is the same program.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipelines.store import read_manifest

DEFAULT_STORE = Path("data/harmonized")
DEFAULT_RAW = Path("data/raw")

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
StoreOption = typer.Option(DEFAULT_STORE, "--store", help="The harmonised Parquet store.")


@app.command()
def refresh(
    raw: Path = typer.Option(DEFAULT_RAW, "--raw", help="Raw folder: one folder per source and round, RAW/<source>/<round>/."),
    store: Path = StoreOption,
    force: bool = typer.Option(False, "--force", help="Redo every round even if its inputs are unchanged."),
) -> None:
    """Read, harmonise and store every round under RAW; with no raw data, the embedded synthetic default."""
    from pipelines.errors import SurveysError
    from pipelines.refresh import has_raw_rounds, refresh_embedded_default
    from pipelines.refresh import refresh as run_refresh

    columns = (SpinnerColumn(), TextColumn("[bold]{task.fields[wave]}"), TextColumn("{task.description}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(wave: str, step: str) -> None:
            if wave not in tasks:
                tasks[wave] = bar.add_task(step, wave=wave, total=None)
            bar.update(tasks[wave], description=step)

        try:
            if has_raw_rounds(raw):
                report = run_refresh(raw, store, progress=progress, force=force)
            else:
                console.print(f"No rounds under {raw}: refreshing the embedded default: SYNTHETIC ENPOVE 2018 and II ENPOVE 2022 rounds.")
                report = refresh_embedded_default(store, progress=progress)
        except SurveysError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
    for name in report.written:
        console.print(f"[green]stored[/green] {name}")
        for note in report.notes.get(name, ()):
            console.print(f"  note: {note}")
    for name in report.unchanged:
        console.print(f"unchanged {name}: inputs and crosswalk as stored, no work done")
    if not report.written and not report.failed:
        console.print("The store is up to date; nothing was redone.")
    for name, message in report.failed.items():
        console.print(f"[red]failed[/red] {name}: {message}\n  the store keeps what it had for {name}.")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
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
        console.print(f"[red]error:[/red] {exc}\n  {raw} is as it was.")
        raise typer.Exit(1) from exc
    for label in report.fetched:
        console.print(f"[green]fetched[/green] {label}")
    for label in report.unchanged:
        console.print(f"unchanged {label}: as fetched before, no work done")
    for note in report.notes:
        console.print(f"  note: {note}")
    console.print(f"{report.folder}: {'updated' if report.fetched else 'up to date'}")
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
def status(store: Path = StoreOption) -> None:
    """Rounds in the store: rows, input checksums, when refreshed."""
    waves = read_manifest(store)
    if not waves:
        console.print(f"{store}: empty; run `surveys refresh`.")
        return
    table = Table(title=f"Store {store} ({store.resolve().name})")
    for column in ("round", "kind", "households", "persons", "design (PSU)", "inputs (sha256)", "refreshed"):
        table.add_column(column, no_wrap=column in ("round", "kind"), overflow="fold")
    for name, wave in waves.items():
        inputs = "\n".join(f"{i['module']}: {i['sha256'][:12]}" for i in wave.inputs)
        kind = "SYNTHETIC" if wave.synthetic else "microdata"
        psu = " x ".join(wave.design.get("psu", ())) or "?"
        table.add_row(name, kind, f"{wave.rows['households']:,}", f"{wave.rows['persons']:,}", psu, inputs,
                      wave.refreshed_at)
    Console().print(table)


@app.command()
def indicators(
    store: Path = StoreOption,
    source: str = typer.Option(None, "--source", help="Only this source."),
    round_: str = typer.Option(None, "--round", help="Only this round."),
    theme: str = typer.Option(None, "--theme", help="Only this theme."),
) -> None:
    """Estimate every catalogue indicator for every stored round and domain; store the long table."""
    from pipelines.indicators import run_indicators

    _run(lambda: run_indicators(store, source=source, round_=round_, theme=theme))


@app.command()
def compare(
    store: Path = StoreOption,
    indicator: str = typer.Option(None, "--indicator", help="Only this indicator (concept id)."),
    theme: str = typer.Option(None, "--theme", help="Only this theme."),
    adjust: str = typer.Option("holm", "--adjust", help="p-value adjustment across the family: holm or bh."),
) -> None:
    """Compare each indicator across consecutive rounds and across sources of the same period; store the table."""
    from pipelines.compare import run_compare

    _run(lambda: run_compare(store, indicator=indicator, theme=theme, adjust=adjust))


@app.command()
def report(
    store: Path = StoreOption,
    lang: str = typer.Option("es", "--lang", help="Language of labels and numbers: es or en."),
    out: Path = typer.Option(Path("data/exports/report.html"), "--out", help="Where to write the HTML report."),
) -> None:
    """Write the self-contained interactive HTML report (opens offline)."""
    from reports.report import run_report

    _run(lambda: [*_estimates_up_to_date(store), *run_report(store, lang=lang, out=out)])


@app.command()
def export(
    store: Path = StoreOption,
    out: Path = typer.Option(Path("data/exports"), "--out", help="Folder for the Parquet exports."),
) -> None:
    """Write Parquet exports, a data dictionary and datapackage.json for other teams."""
    from pipelines.export import run_export

    _run(lambda: [*_estimates_up_to_date(store), *run_export(store, out=out)])


def _estimates_up_to_date(store: Path) -> list[str]:
    """Re-estimate indicators when the store's rounds changed since they were built, and re-compare when the
    indicators are newer than the comparisons, saying so; the report and the exports never show stale numbers."""
    from pipelines.compare import run_compare
    from pipelines.indicators import run_indicators
    from pipelines.store import derived_built_at, derived_is_current

    lines = []
    if not derived_is_current(store, "indicators"):
        lines += ["indicators are missing or older than the stored rounds: estimating them now"]
        lines += run_indicators(store)
    compared, estimated = derived_built_at(store, "comparisons"), derived_built_at(store, "indicators")
    if compared is None or compared < estimated:
        lines += ["comparisons are missing or older than the indicators: comparing now"]
        lines += run_compare(store)
    return lines


def _run(job) -> None:
    """Run a command's job; the package's own errors become a message and exit code 1."""
    from pipelines.errors import SurveysError

    try:
        for line in job() or ():
            console.print(line)
    except (SurveysError, FileNotFoundError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


def main() -> None:
    app()
