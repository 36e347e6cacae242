"""Benchmark the estimation engine against svy, the weighted group-by floor and a numpy bincount.

    python benchmarks/estimation.py                           # 3 shapes x 100k, 1M and 5M rows
    python benchmarks/estimation.py --sizes 1000000 --shapes random inei --repeats 5

The sample: 40 strata, PSUs of 25 persons, 8 binary indicators (Int8 0/1), domains = 6 regions (a PSU
attribute) x 2 sexes (a person attribute). Each task is: declare the design and estimate the 8
proportions (with SEs) in the 12 domains. Three shapes of the same sample:

* ``sorted``: integer labels (Int32 stratum and PSU, Int8 domains), rows sorted by PSU;
* ``random``: the same integer labels, rows in random order;
* ``inei``: shaped like INEI's files: zero-padded string stratum and PSU labels (``"07"``,
  ``"031207"``), string domains (``"Lima Metropolitana"``, ``"Mujer"``), rows in random order.

Alternatives, side by side:

* engine:   ``SurveyDesign(...).proportion(ys, by=["region", "sex"])``, split into declaring the design
            (done once per data set in real use) and the verb;
* svy:      ``svy.Sample(df, svy.Design(...)).estimation.mean(ys, by=["region", "sex"])`` (svy's list
            form; proportions of 0/1 = means). Skipped above 1M rows (minutes per run), with a note.
* floor:    one weighted polars group-by over domain x stratum x PSU,
            ``df.group_by(["region", "sex", "stratum", "psu"]).agg(pl.len(), w.sum(), (w * y).sum()...)``,
            the one-pass reduction any design-based estimator needs, on the labels as they come;
* bincount: ``numpy.bincount`` of the count, ``w`` and every ``w * y`` over a dense key of
            (domain, stratum, PSU) computed beforehand (not timed): the practical limit of the reduction.

Method. Each (shape, size) data set is generated once and written to Parquet. Times: one fresh
subprocess reads the Parquet file, runs every alternative once to warm up (svy only below 1M rows),
then ``--repeats`` rounds in which the alternatives run one after the other, side by side, their order
rotated from round to round, so that a busy spell of a shared machine falls on all of them alike;
medians of the wall times are reported. Memory: each alternative runs once more in its own fresh
subprocess, whose peak resident memory (``VmHWM`` from ``/proc/self/status``) includes the
interpreter, the libraries and the loaded data; a "load only" subprocess gives the baseline of
interpreter + data. The engine's and svy's estimates and SEs are checked to agree (relative 1e-8)
before anything is printed. The targets (1M rows: engine at least 10x faster than svy and at most 1.2x
the floor; 5M rows: engine peak under 1 GB) are checked on the engine's whole time, design
declaration included, and each is printed as met or MISSED.
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
SHAPES = ("sorted", "random", "inei")
REGIONS = ["Lima Metropolitana", "Arequipa", "Cusco", "Trujillo", "Tumbes", "Piura"]
SEXES = ["Hombre", "Mujer"]
SVY_MAX_ROWS = 1_000_000
AGREE_REL = 1e-8
TARGET_SVY, TARGET_FLOOR, TARGET_MB, TARGET_ROWS, MEMORY_ROWS = 10.0, 1.2, 1024.0, 1_000_000, 5_000_000


def make_sample(n: int, shape: str = "sorted", seed: int = 20240601) -> pl.DataFrame:
    """A stratified cluster sample of ``n`` persons in one of `SHAPES` (see module docstring)."""
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
    if shape != "sorted":
        order = rng.permutation(n)
        cols = {name: values[order] for name, values in cols.items()}
    frame = pl.DataFrame(cols)
    if shape == "inei":
        frame = frame.with_columns(
            pl.col("stratum").cast(pl.String).str.zfill(2),
            pl.col("psu").cast(pl.String).str.zfill(6),
            pl.col("region").replace_strict(list(range(6)), REGIONS, return_dtype=pl.String),
            pl.col("sex").replace_strict([0, 1], SEXES, return_dtype=pl.String),
        )
    return frame


# ----------------------------------------------------------------------------- the tasks
PHASES: dict[str, list[float]] = {"design": []}
KEYS = [*BY, "stratum", "psu"]


def task_engine(df: pl.DataFrame, _: object) -> pl.DataFrame:
    sys.path.insert(0, str(REPO))
    from pipelines.estimation import SurveyDesign

    t0 = time.perf_counter()
    design = SurveyDesign(df, weight="w", strata="stratum", psu="psu")
    PHASES["design"].append(time.perf_counter() - t0)
    out = design.proportion(INDICATORS, by=BY)
    return out.select(*BY, "variable", "estimate", "se")


def task_svy(df: pl.DataFrame, _: object) -> pl.DataFrame:
    import svy

    sample = svy.Sample(df, svy.Design(stratum="stratum", psu="psu", wgt="w"))
    results = sample.estimation.mean(INDICATORS, by=BY)
    frames = [
        r.to_polars().select(*BY, pl.lit(y).alias("variable"), pl.col("est").alias("estimate"), "se")
        for y, r in zip(INDICATORS, results)
    ]
    return pl.concat(frames).with_columns(pl.col(b).cast(df.schema[b]) for b in BY)


def task_floor(df: pl.DataFrame, _: object) -> pl.DataFrame:
    w = pl.col("w")
    return df.group_by(KEYS).agg(pl.len(), w.sum(), *[(w * pl.col(y)).sum().alias(y) for y in INDICATORS])


def prepare_bincount(df: pl.DataFrame) -> tuple[np.ndarray, int]:
    """The dense key of (domain, stratum, PSU), 0..groups-1, computed before the timed runs."""
    groups = df.select(KEYS).unique().with_row_index("__key")
    key = df.select(KEYS).join(groups, on=KEYS, how="left", maintain_order="left")["__key"]
    return key.to_numpy().astype(np.intp), groups.height


def task_bincount(df: pl.DataFrame, prepared: tuple[np.ndarray, int]) -> pl.DataFrame:
    key, size = prepared
    w = df["w"].to_numpy()
    sums = {"len": np.bincount(key, minlength=size), "w": np.bincount(key, weights=w, minlength=size)}
    for y in INDICATORS:
        sums[y] = np.bincount(key, weights=w * df[y].to_numpy(), minlength=size)
    return pl.DataFrame(sums)


def task_load(df: pl.DataFrame, _: object) -> pl.DataFrame:
    return df.head(1)


TASKS = {
    "engine": task_engine,
    "svy": task_svy,
    "floor": task_floor,
    "bincount": task_bincount,
    "load": task_load,
}


def _peak_mb() -> float:
    # VmHWM is this process's own peak; ru_maxrss would carry over the parent's peak (the generated sample).
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def child_memory(task: str, path: str) -> None:
    """Run one task once in this (fresh) process and print a JSON line with its peak memory."""
    df = pl.read_parquet(path)
    prepared = prepare_bincount(df) if task == "bincount" else None
    TASKS[task](df, prepared)
    print(json.dumps({"peak_mb": _peak_mb()}))


def child_times(tasks: list[str], path: str, repeats: int, out: str) -> None:
    """Time the tasks side by side in this process: a warm-up run each, then rounds in rotated order."""
    df = pl.read_parquet(path)
    prepared = {"bincount": prepare_bincount(df)}
    times: dict[str, list[float]] = {task: [] for task in tasks}
    results = {}
    for task in tasks:  # warm-up (imports, thread pools); svy is too slow to run twice at 1M rows
        if task != "svy" or df.height < SVY_MAX_ROWS:
            results[task] = TASKS[task](df, prepared.get(task))
    PHASES["design"].clear()
    for r in range(repeats):
        for task in tasks[r % len(tasks) :] + tasks[: r % len(tasks)]:
            t0 = time.perf_counter()
            results[task] = TASKS[task](df, prepared.get(task))
            times[task].append(time.perf_counter() - t0)
    for task in ("engine", "svy"):
        if task in results:
            results[task].write_parquet(f"{out}.{task}.parquet")
    print(json.dumps({"times": times, "design": PHASES["design"]}))


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{proc.stderr}")
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


HEADER = (
    f"{'shape':>6} {'rows':>10} {'engine':>7} {'(design':>7} {'verb)':>6} {'svy':>7} {'floor':>7} "
    f"{'bincount':>8} {'svy/eng':>7} {'eng/floor':>9} {'verb/floor':>10} {'eng/binc':>8} "
    f"{'MB eng':>6} {'MB svy':>6} {'MB floor':>8} {'MB binc':>7} {'MB load':>7}"
)


def measure(shape: str, n: int, tmp: Path, repeats: int) -> tuple[str, list[str]]:
    """Run every alternative on one data set; the table line and the target verdicts."""
    data = tmp / f"sample_{shape}_{n}.parquet"
    make_sample(n, shape).write_parquet(data)
    tasks = ["engine", "floor", "bincount"] + (["svy"] if n <= SVY_MAX_ROWS else [])
    timed = run_child(
        ["--times", *tasks, "--data", str(data), "--repeats", str(repeats), "--out", str(tmp / "r")]
    )
    res = {
        t: {"times": timed["times"][t], "peak_mb": run_child(["--memory", t, "--data", str(data)])["peak_mb"]}
        for t in tasks
    }
    res["engine"]["design"] = timed["design"]
    res["load"] = {"times": [0.0], **run_child(["--memory", "load", "--data", str(data)])}
    notes = []
    if "svy" in tasks:
        ours, theirs = pl.read_parquet(tmp / "r.engine.parquet"), pl.read_parquet(tmp / "r.svy.parquet")
        notes.append(
            f"engine vs svy: max relative difference {check_agreement(ours, theirs):.1e} (estimates and SEs)"
        )
    else:
        notes.append(f"svy skipped above {SVY_MAX_ROWS:,} rows (minutes per run)")
    data.unlink()
    med = {k: statistics.median(v["times"]) for k, v in res.items()}
    design_t = statistics.median(res["engine"]["design"])
    verb_t = statistics.median(t - d for t, d in zip(res["engine"]["times"], res["engine"]["design"]))
    eng, floor, peak = med["engine"], med["floor"], res["engine"]["peak_mb"]
    svy_ratio = med["svy"] / eng if "svy" in med else None
    svy_t = f"{med['svy']:.3f}" if "svy" in med else "-"
    svy_x = f"{svy_ratio:.1f}x" if svy_ratio else "-"
    svy_mb = f"{res['svy']['peak_mb']:.0f}" if "svy" in res else "-"
    line = (
        f"{shape:>6} {n:>10,} {eng:>7.3f} {design_t:>7.3f} {verb_t:>6.3f} {svy_t:>7} {floor:>7.3f} "
        f"{med['bincount']:>8.3f} {svy_x:>7} {eng / floor:>8.2f}x {verb_t / floor:>9.2f}x "
        f"{eng / med['bincount']:>7.2f}x {peak:>6.0f} {svy_mb:>6} {res['floor']['peak_mb']:>8.0f} "
        f"{res['bincount']['peak_mb']:>7.0f} {res['load']['peak_mb']:>7.0f}"
    )
    if n == TARGET_ROWS and shape != "sorted":
        if svy_ratio is not None:
            ok = svy_ratio >= TARGET_SVY
            notes.append(
                f"target >= {TARGET_SVY:.0f}x faster than svy: {svy_ratio:.1f}x {'met' if ok else 'MISSED'}"
            )
        ok = eng / floor <= TARGET_FLOOR
        notes.append(f"target <= {TARGET_FLOOR}x the floor: {eng / floor:.2f}x {'met' if ok else 'MISSED'}")
    if n == MEMORY_ROWS:
        ok = peak < TARGET_MB
        notes.append(f"target peak < {TARGET_MB:.0f} MB: {peak:.0f} MB {'met' if ok else 'MISSED'}")
    return line, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--shapes", nargs="+", choices=SHAPES, default=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--times", nargs="+", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--memory", choices=sorted(TASKS), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.times:
        child_times(args.times, args.data, args.repeats, args.out)
        return
    if args.memory:
        child_memory(args.memory, args.data)
        return

    load = os.getloadavg()
    print(
        f"polars {pl.__version__}, numpy {np.__version__}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, repeats={args.repeats}, times are medians (s)"
    )
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            for shape in args.shapes:
                line, notes = measure(shape, n, Path(tmp), args.repeats)
                print(line)
                for note in notes:
                    print(f"{'':>17} {note}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
