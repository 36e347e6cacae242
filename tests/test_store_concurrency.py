"""Several `surveys refresh --force` processes at once on one store, many times (issue 10, item 2).

Each run starts WRITERS processes together; the store's lock serialises them. After every run the store must be
whole: the current version holds every table of every round its manifest lists, with the rows it says, no staging
folder is left and at most two versions are kept. Meanwhile a reader in this process resolves the current version
and reads it over and over: it must never see a version without its tables. SURVEYS_CONCURRENCY_RUNS sets the
number of runs (default 6).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl

from pipelines.store import current_version, read_manifest
from tests.helpers import REPO

WRITERS = 4
RUNS = int(os.environ.get("SURVEYS_CONCURRENCY_RUNS", "6"))


def read_whole(store: Path) -> int:
    """Read the current version as a reader would; returns the persons it holds. Raises if it is not whole."""
    version = current_version(store)
    rounds = read_manifest(version)
    assert list(rounds) == ["enpove/2022"], rounds
    for table in ("households", "persons"):
        path = version / table / "source=enpove" / "round=2022" / "part-0.parquet"
        assert pl.read_parquet(path).height == rounds["enpove/2022"].rows[table], (version, table)
    return rounds["enpove/2022"].rows["persons"]


def test_concurrent_refreshes_leave_the_store_whole(tmp_path: Path) -> None:
    from pipelines.synthetic import write_synthetic_round

    raw = tmp_path / "raw"
    write_synthetic_round(raw / "enpove" / "2022", households=200)
    store = tmp_path / "store"
    command = [sys.executable, "-m", "pipelines", "refresh", "--raw", str(raw), "--store", str(store), "--force"]
    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 0
    stop, reads, problems = threading.Event(), [], []

    def reader() -> None:
        while not stop.is_set():
            try:
                reads.append(read_whole(store))
            except Exception as exc:  # anything a reader could meet: a half version, a vanished file
                problems.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for run in range(RUNS):
            writers = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True) for _ in range(WRITERS)]
            outputs = [w.communicate(timeout=600)[0] for w in writers]
            assert all(w.returncode == 0 for w in writers), (run, outputs)
            read_whole(store)
            assert not list(store.rglob("*.partial")), run
            assert len(list((store / "versions").iterdir())) <= 2, run
    finally:
        stop.set()
        thread.join()
    assert not problems, problems[:3]
    assert reads and len(set(reads)) == 1
