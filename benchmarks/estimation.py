"""Benchmark the estimation engine against svy and against a bare polars group-by (the floor).

    python benchmarks/estimation.py                 # 100k, 1M and 5M rows
    python benchmarks/estimation.py --sizes 1000000 --repeats 5

The sample: 40 strata, PSUs of 25 persons, 8 binary indicators (Int8 0/1), domains = 6 regions (a PSU
attribute) x 2 sexes (a person attribute). Each task is: declare the design and estimate the 8
proportions (with SEs) in the 12 domains.

* engine: ``SurveyDesign(...).proportion(ys, by=["region", "sex"])``
* svy:    ``svy.Sample(df, svy.Design(...)).estimation.mean(ys, by=["region", "sex"])`` (svy's list
          form; proportions of 0/1 = means). Skipped above 1M rows (too slow), with a note.
* floor:  ``df.group_by(["region", "sex", "stratum", "psu"]).agg(pl.col(ys).sum())``, the bare
          one-pass reduction any design-based estimator needs.

Method. The data set is generated once per size and written to Parquet. Each alternative then runs in
its own fresh subprocess, which reads the Parquet file, runs the task ``--repeats`` times and reports
the wall time of each run and its peak resident memory (``VmHWM`` from ``/proc/self/status``,
which includes the Python interpreter, the libraries and the loaded data). A "load only" subprocess
gives the memory baseline of interpreter + data. Medians of the wall times are reported; the engine's
time is also split into declaring the design (one pass over the design columns, done once per data
set in real use) and the verb itself. The engine's
and svy's estimates and SEs are checked to agree (relative 1e-8) before anything is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
N_STRATA, PSU_SIZE, N_IND = 40, 25, 8
INDICATORS = [f"y{k}" for k in range(N_IND)]
BY = ["region", "sex"]
SVY_MAX_ROWS = 1_000_000
AGREE_REL = 1e-8


def make_sample(n: int, seed: int = 20240601) -> pl.DataFrame:
    """A stratified cluster sample of ``n`` persons (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_psu = -(-n // PSU_SIZE)
    psu = np.repeat(np.arange(n_psu, dtype=np.int32), PSU_SIZE)[:n]
    stratum = (psu % N_STRATA).astype(np.int32)
    effect = rng.normal(0, 0.7, n_psu)[psu]  # PSU random effect -> intra-cluster correlation
    w_psu = np.exp(rng.uniform(np.log(20), np.log(2000), n_psu))  # weights over two orders of magnitude
    cols: dict[str, np.ndarray] = {
        "stratum": stratum,
        "psu": psu,
        "w": w_psu[psu] * rng.uniform(0.8, 1.25, n),
        "region": rng.integers(0, 6, n_psu).astype(np.int8)[psu],
        "sex": rng.integers(0, 2, n).astype(np.int8),
    }
    for k, name in enumerate(INDICATORS):
        p = 1 / (1 + np.exp(-(effect + 0.3 * k - 1.2)))
        cols[name] = (rng.uniform(size=n) < p).astype(np.int8)
    return pl.DataFrame(cols)


# ----------------------------------------------------------------------------- the three tasks
PHASES: dict[str, list[float]] = {"design": []}


def task_engine(df: pl.DataFrame) -> pl.DataFrame:
    sys.path.insert(0, str(REPO))
    from pipelines.estimation import SurveyDesign

    t0 = time.perf_counter()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    PHASES["design"].append(time.perf_counter() - t0)
    out = design.proportion(INDICATORS, by=BY)
    return out.select(*BY, "variable", "estimate", "se")


def task_svy(df: pl.DataFrame) -> pl.DataFrame:
    import svy

    sample = svy.Sample(df, svy.Design(stratum="stratum", psu="psu", wgt="w"))
    results = sample.estimation.mean(INDICATORS, by=BY)
    frames = [
        r.to_polars().select(*BY, pl.lit(y).alias("variable"), pl.col("est").alias("estimate"), "se")
        for y, r in zip(INDICATORS, results)
    ]
    return pl.concat(frames).with_columns(pl.col(BY).cast(pl.Int8))


def task_floor(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by([*BY, "stratum", "psu"]).agg(pl.col(INDICATORS).sum())


def task_load(df: pl.DataFrame) -> pl.DataFrame:
    return df.head(1)


TASKS = {"engine": task_engine, "svy": task_svy, "floor": task_floor, "load": task_load}


def child(task: str, path: str, repeats: int, out: str | None) -> None:
    """Run one task in this (fresh) process and print a JSON line with timings and peak memory."""

    df = pl.read_parquet(path)
    fn = TASKS[task]
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(df)
        times.append(time.perf_counter() - t0)
    if out and result is not None:
        result.write_parquet(out)
    # VmHWM is this process's own peak; ru_maxrss would carry over the parent's peak (the generated sample).
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    print(json.dumps({"times": times, "design": PHASES["design"], "peak_mb": peak_kb / 1024}))


def run_child(task: str, path: Path, repeats: int, out: Path | None) -> dict:
    cmd = [sys.executable, __file__, "--child", task, "--data", str(path), "--repeats", str(repeats)]
    if out is not None:
        cmd += ["--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_agreement(ours: pl.DataFrame, theirs: pl.DataFrame) -> float:
    joined = ours.join(theirs, on=[*BY, "variable"], suffix="_svy")
    assert joined.height == ours.height == theirs.height, (ours.height, theirs.height, joined.height)
    worst = 0.0
    for col in ("estimate", "se"):
        a, b = joined[col].to_numpy(), joined[f"{col}_svy"].to_numpy()
        rel = float(np.max(np.abs(a - b) / np.abs(b)))
        assert rel < AGREE_REL, f"{col} differs from svy by {rel:.2e} (relative)"
        worst = max(worst, rel)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=sorted(TASKS))
    parser.add_argument("--data")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.repeats, args.out)
        return

    print(f"polars {pl.__version__}, {os.cpu_count()} CPUs, repeats={args.repeats}, times are medians (s)")
    header = (
        f"{'rows':>10} {'engine':>8} {'(design':>8} {'verb)':>7} {'svy':>8} {'floor':>8} {'svy/eng':>8} "
        f"{'eng/floor':>9} {'verb/floor':>10} "
        f"{'MB eng':>7} {'MB svy':>7} {'MB floor':>8} {'MB load':>7}"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"sample_{n}.parquet"
            make_sample(n).write_parquet(data)
            res = {
                "engine": run_child("engine", data, args.repeats, Path(tmp) / "engine.parquet"),
                "floor": run_child("floor", data, args.repeats, None),
                "load": run_child("load", data, 1, None),
            }
            note = ""
            if n <= SVY_MAX_ROWS:
                res["svy"] = run_child("svy", data, args.repeats, Path(tmp) / "svy.parquet")
                worst = check_agreement(
                    pl.read_parquet(Path(tmp) / "engine.parquet"), pl.read_parquet(Path(tmp) / "svy.parquet")
                )
                note = f"engine vs svy: max relative difference {worst:.1e} (estimates and SEs)"
            else:
                note = f"svy skipped above {SVY_MAX_ROWS:,} rows (minutes per run)"
            med = {k: statistics.median(v["times"]) for k, v in res.items()}
            svy_t = f"{med['svy']:.3f}" if "svy" in med else "-"
            speedup = f"{med['svy'] / med['engine']:.1f}x" if "svy" in med else "-"
            svy_mb = f"{res['svy']['peak_mb']:.0f}" if "svy" in res else "-"
            design_t = statistics.median(res["engine"]["design"])
            verb_t = statistics.median(t - d for t, d in zip(res["engine"]["times"], res["engine"]["design"]))
            line = (
                f"{n:>10,} {med['engine']:>8.3f} {design_t:>8.3f} {verb_t:>7.3f} {svy_t:>8} {med['floor']:>8.3f} "
                f"{speedup:>8} {med['engine'] / med['floor']:>8.2f}x {verb_t / med['floor']:>9.2f}x "
                f"{res['engine']['peak_mb']:>7.0f} {svy_mb:>7} "
                f"{res['floor']['peak_mb']:>8.0f} {res['load']['peak_mb']:>7.0f}"
            )
            if not rows:
                print(header)
            rows.append(line)
            print(line)
            print(f"{'':>10} {note}")
            data.unlink()


if __name__ == "__main__":
    main()
