"""Benchmark the whole job a user runs: `surveys refresh`, `indicators`, `compare`, `report`.

Three cases, side by side in one run:

- the real rounds under `../shared/data` (ENPOVE 2018 and II ENPOVE 2022) as shipped (target: under 5 s in all,
  report included);
- the same rounds through the README's first command, `surveys refresh` then `surveys report` (which estimates and
  compares in its own process, the derived tables being stale): reported, no target;
- synthetic ENPOVE 2018 and II ENPOVE 2022 rounds of ~1.2 M persons each, in INEI's layout of each year, refreshed
  together (target: under 90 s in all, peak under 2 GB).

Each stage is the command line a user types (`surveys refresh --raw RAW --store STORE --force`, then `surveys
indicators`, `surveys compare`, `surveys report --out ...`), each in a fresh process, timed from outside, so a
stage's time includes starting Python and importing the package, as the user waits for it. The commands run as an
installed package runs after its first use: with its bytecode cached (`__pycache__`, written by an untimed warm-up
import), whatever PYTHONDONTWRITEBYTECODE says in the benchmark's own environment (without the cache each process
compiles the package's ~60 modules again, about 0.1 s a stage). Its peak memory is that
process's own high-water mark (VmHWM, printed by a wrapper when the command ends). Each stage's share of starting
Python and importing is the time of a process that only imports what the stage imports. Runs of the cases are
interleaved (run 1 of every case, then run 2...) so that a slow spell of a shared machine does not fall on one
case. The script prints every run, then per case and stage the median wall time, its share of the case's total
and the peak memory, and whether each target is met or MISSED. Generating the synthetic rounds is not timed.

    python benchmarks/pipeline.py [--repeat 3] [--synthetic-repeat 1] [--persons 1200000]
                                  [--synthetic-raw DIR] [--skip-real] [--skip-synthetic]

`--synthetic-raw DIR` reuses synthetic rounds written before (DIR/enpove/2018, DIR/enpove/2022) instead of
generating them (about five minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REAL_RAW = REPO.parent / "shared" / "data"
STAGES = ("refresh", "indicators", "compare", "report")
# The README's first command, `surveys refresh && surveys report`: the report estimates and compares in its own
# process when the store's derived tables are missing or stale (`jobs.update_estimates`). Timed beside the four
# commands on the real rounds, for information: the target is the four commands'.
README_STAGES = ("refresh", "report")
MARK = "PIPELINE-BENCHMARK "
# What each stage's process imports before it works: timed alone, it is the part of the stage's time spent starting
# Python and importing (the rest is the work on the data).
IMPORTS = {"refresh": "pipelines.refresh", "indicators": "pipelines.indicators.estimate", "compare": "pipelines.compare",
           "report": "reports.report"}
README_IMPORTS = {**IMPORTS, "report": "reports.report, pipelines.indicators.estimate, pipelines.compare"}

# Runs the `surveys` command line in this process, then prints the process's own peak resident set (VmHWM;
# ru_maxrss would carry over the parent's peak at fork).
CHILD = f"""
import json, sys
from pipelines.cli import main
code = main(sys.argv[1:])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print({MARK!r} + json.dumps({{"code": code, "peak_mb": hwm / 1024}}))
"""


def child_env() -> dict[str, str]:
    """The benchmark's environment, with bytecode caching as Python's default has it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_up() -> None:
    """Import everything the stages import once, untimed, so that their bytecode is cached as after a first use."""
    modules = ", ".join(["pipelines.cli", "pipelines.jobs", *IMPORTS.values()])
    subprocess.run([sys.executable, "-c", f"import {modules}"], cwd=REPO, env=child_env(), check=True)


def stage_args(stage: str, raw: Path, store: Path, out: Path) -> list[str]:
    common = ["--store", str(store)]
    if stage == "refresh":
        return ["refresh", "--raw", str(raw), *common, "--force"]
    if stage == "report":
        return ["report", *common, "--out", str(out)]
    return [stage, *common]


def run_stage(stage: str, raw: Path, store: Path, out: Path) -> dict:
    start, cpu_start = time.perf_counter(), _children_cpu()
    proc = subprocess.run([sys.executable, "-c", CHILD, *stage_args(stage, raw, store, out)], cwd=REPO,
                          env=child_env(), capture_output=True, text=True, check=False)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
    line = next((x for x in reversed(proc.stdout.splitlines()) if x.startswith(MARK)), None)
    result = json.loads(line[len(MARK):]) if line else {"code": proc.returncode, "peak_mb": float("nan")}
    if result["code"] != 0:
        raise RuntimeError(f"surveys {stage} failed (exit {result['code']}):\n{proc.stdout[-2000:]}\n{proc.stderr}")
    return {"seconds": seconds, "cpu": cpu, "peak_mb": result["peak_mb"]}


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes: on a shared machine the wall time grows with the
    load, the CPU time much less."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_job(raw: Path, work: Path, stages: tuple[str, ...] = STAGES,
            imports: dict[str, str] = IMPORTS) -> dict[str, dict]:
    """The stages on a new store; per stage its wall time, peak memory, and the time of starting Python and
    importing what the stage imports, alone."""
    store, out = work / "store", work / "report.html"
    job = {stage: run_stage(stage, raw, store, out) for stage in stages}
    for stage in stages:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import pipelines.cli, pipelines.jobs, {imports[stage]}"], cwd=REPO,
                       env=child_env(), check=True)
        job[stage]["imports"] = time.perf_counter() - start
    return job


def synthetic_raw(tmp: Path, persons: int) -> Path:
    """One raw folder holding a synthetic round of ~`persons` persons for every round spec with a synthetic/
    folder (ENPOVE 2018 and II ENPOVE 2022), sized by each round's mean household size."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from pipelines.synthetic import synthetic_specs, write_synthetic_round
    from pipelines.synthetic.settings import load_settings

    raw = tmp / "synthetic-raw"
    for spec in synthetic_specs():
        sizes = np.asarray(load_settings(spec.folder).population["household_size"], dtype=float)
        households = round(persons / float((np.arange(1, sizes.size + 1) * sizes).sum() / sizes.sum()))
        start = time.perf_counter()
        write_synthetic_round(raw / spec.source / spec.round, spec, households=households, seed=spec.year)
        print(f"(generated synthetic {spec.name}: {households:,} households in {time.perf_counter() - start:.0f} s;"
              " not timed)", flush=True)
    return raw


def summarise(name: str, runs: list[dict[str, dict]], limit_s: float | None, limit_mb: float | None) -> bool:
    """Print a case's medians per stage and whether its targets are met (a case without a time limit is only
    reported)."""
    stages = tuple(runs[0])
    medians = {stage: statistics.median(r[stage]["seconds"] for r in runs) for stage in stages}
    cpu = {stage: statistics.median(r[stage]["cpu"] for r in runs) for stage in stages}
    imports = {stage: statistics.median(r[stage]["imports"] for r in runs) for stage in stages}
    peaks = {stage: max(r[stage]["peak_mb"] for r in runs) for stage in stages}
    totals = [sum(r[stage]["seconds"] for stage in stages) for r in runs]
    total, peak = statistics.median(totals), max(peaks.values())
    print(f"\n{name} ({len(runs)} run{'s' if len(runs) > 1 else ''}; medians)")
    print(f"  {'stage':<11} {'seconds':>8} {'share':>6} {'CPU s':>6} {'peak MB':>8} "
          f"{'of which starting and importing (s)':>36}")
    for stage in stages:
        print(f"  {stage:<11} {medians[stage]:>8.2f} {medians[stage] / sum(medians.values()):>6.0%} "
              f"{cpu[stage]:>6.2f} {peaks[stage]:>8.0f} {imports[stage]:>36.2f}")
    ok_time, ok_mb = limit_s is None or total < limit_s, limit_mb is None or peak < limit_mb
    print(f"  {'total':<11} {total:>8.2f} {'':>6} {sum(cpu.values()):>6.2f} {peak:>8.0f} "
          f"{sum(imports.values()):>36.2f}   (median of the runs' totals; peak of any stage)")
    if limit_s is not None:
        print(f"  target < {limit_s:.0f} s: {total:.1f} s {'met' if ok_time else 'MISSED'}"
              + (f"; peak < {limit_mb:.0f} MB: {peak:.0f} MB {'met' if ok_mb else 'MISSED'}" if limit_mb else ""))
    return ok_time and ok_mb


@dataclass(frozen=True)
class Case:
    """One job timed: its raw folder, runs, targets (None: reported only) and the commands it runs."""

    name: str
    raw: Path
    repeat: int
    limit_s: float | None
    limit_mb: float | None = None
    stages: tuple[str, ...] = STAGES
    imports: dict[str, str] = field(default_factory=lambda: IMPORTS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the real-data job")
    parser.add_argument("--synthetic-repeat", type=int, default=1, help="runs of the synthetic job (minutes each)")
    parser.add_argument("--persons", type=int, default=1_200_000, help="persons per synthetic round")
    parser.add_argument("--synthetic-raw", type=Path, help="synthetic rounds written before, to reuse")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--skip-synthetic", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    warm_up()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp_name:
        tmp = Path(tmp_name)
        cases = [] if args.skip_real else [
            Case("real ENPOVE 2018 + 2022", REAL_RAW, args.repeat, 5.0),
            Case("real, the README's `surveys refresh && surveys report` (for information)", REAL_RAW, args.repeat,
                 None, stages=README_STAGES, imports=README_IMPORTS),
        ]
        if not args.skip_synthetic:
            raw = args.synthetic_raw or synthetic_raw(tmp, args.persons)
            cases.append(Case(f"synthetic ENPOVE 2018 + 2022, ~{args.persons / 1e6:.1f}M persons each", raw,
                              args.synthetic_repeat, 90.0, 2048.0))
        runs: dict[str, list] = {case.name: [] for case in cases}
        for i in range(max(case.repeat for case in cases)):
            for n, case in enumerate(cases):
                if i >= case.repeat:
                    continue
                work = tmp / f"run-{i}-case-{n}"
                work.mkdir()
                job = run_job(case.raw, work, case.stages, case.imports)
                runs[case.name].append(job)
                times = ", ".join(f"{s} {job[s]['seconds']:.2f} s" for s in case.stages)
                print(f"  {case.name} run {i + 1}: {times}; total {sum(j['seconds'] for j in job.values()):.2f} s",
                      flush=True)
        met = [summarise(case.name, runs[case.name], case.limit_s, case.limit_mb) for case in cases]
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 0 if all(met) else 1


if __name__ == "__main__":
    raise SystemExit(main())
