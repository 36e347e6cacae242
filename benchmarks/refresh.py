"""Benchmark: `surveys refresh` on the real ENPOVE rounds and on synthetic rounds of ~1.2 M persons in each layout.

Four cases, side by side in one run:

- the real rounds under `../shared/data` (ENPOVE 2018 and II ENPOVE 2022) as shipped, refreshed together in one
  run (target < 3 s);
- one synthetic round of ~1.2 M persons per round spec that has a `synthetic/` folder (II ENPOVE 2022 in INEI's
  2022 layout, ENPOVE 2018 in its SPSS chapters), each alone (target < 30 s and < 2 GB).

Each run is a fresh subprocess (peak memory is that process's own high-water mark, VmHWM), writing a new store with
`force=True`; runs of the cases are interleaved (run 1 of every case, then run 2...) so that a slow spell of a shared
machine does not fall on one case. The script prints every run (its CPU seconds, all threads, and the machine's
1-minute load average when it started: on a shared machine the load is printed, not hidden), then per case the
median wall time, rows per second, median CPU seconds and peak memory against its target, and the ratios of the
medians.

    python benchmarks/refresh.py [--repeat 3] [--persons 1200000] [--data DIR] [--only TEXT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REAL_RAW = REPO.parent / "shared" / "data"

CHILD = """
import json, sys, time
from pathlib import Path
from pipelines.refresh import refresh
raw, store = Path(sys.argv[1]), Path(sys.argv[2])
start, cpu = time.perf_counter(), time.process_time()
report = refresh(raw, store, force=True)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
assert report.ok, report.failed
from pipelines.store import read_manifest
manifest = read_manifest(store)
rows = sum(r.rows["households"] + r.rows["persons"] for r in manifest.values())
persons = sum(r.rows["persons"] for r in manifest.values())
# VmHWM is this process's own peak resident set; ru_maxrss would carry over the parent's peak at fork.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "persons": persons, "peak_mb": hwm / 1024,
                  "rounds": sorted(manifest)}))
"""


def run_once(raw: Path, store: Path) -> dict:
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(store)], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load": load}


def summarise(name: str, runs: list[dict], limit_s: float, limit_mb: float | None) -> dict:
    median, cpu = statistics.median(r["seconds"] for r in runs), statistics.median(r["cpu"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    ok = median < limit_s and (limit_mb is None or peak < limit_mb)
    print(f"{name}: median {median:.2f} s, {runs[0]['rows'] / median:,.0f} rows/s "
          f"({runs[0]['persons']:,} persons, rounds {', '.join(runs[0]['rounds'])}), CPU {cpu:.1f} s, peak {peak:.0f} MB, "
          f"load {statistics.median(r['load'] for r in runs):.1f} on {os.cpu_count()} cores "
          f"-> {'meets' if ok else 'MISSES'} target (< {limit_s:.0f} s{f', < {limit_mb:.0f} MB' if limit_mb else ''})")
    return {"name": name, "median_s": median, "peak_mb": peak, "ok": ok}


def synthetic_cases(tmp: Path, persons: int) -> list[tuple[str, Path, float, float | None]]:
    """One raw folder per round spec with a synthetic/ folder, sized to ~`persons` by its mean household size
    (kept and reused when `tmp` is the --data folder and the round is there already)."""
    import numpy as np

    from pipelines.synthetic import synthetic_specs, write_synthetic_round
    from pipelines.synthetic.settings import load_settings

    cases = []
    for spec in synthetic_specs():
        sizes = np.asarray(load_settings(spec.folder).population["household_size"], dtype=float)
        households = round(persons / float((np.arange(1, sizes.size + 1) * sizes).sum() / sizes.sum()))
        raw = tmp / f"synthetic-{spec.source}-{spec.round}-{households}"
        start = time.perf_counter()
        if not (raw / spec.source / spec.round / "SYNTHETIC.txt").exists():
            write_synthetic_round(raw / spec.source / spec.round, spec, households=households, seed=spec.year)
        print(f"(synthetic {spec.name}, {households:,} households, ready in {time.perf_counter() - start:.1f} s;"
              " not part of the timing)", flush=True)
        cases.append((f"synthetic {spec.name} ~{persons / 1e6:.1f}M persons", raw, 30.0, 2048.0))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--persons", type=int, default=1_200_000)
    parser.add_argument("--data", type=Path, help="keep the synthetic rounds here and reuse them on the next run "
                        "(~9 GB at 1.2M persons; default: a temporary folder)")
    parser.add_argument("--only", help="run only the cases whose name holds this text (e.g. 2018)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp_name:
        tmp = Path(tmp_name)
        cases = [("real ENPOVE 2018 + 2022 together", REAL_RAW, 3.0, None),
                 *synthetic_cases(args.data or tmp, args.persons)]
        cases = [c for c in cases if not args.only or args.only in c[0]]
        runs: dict[str, list[dict]] = {name: [] for name, *_ in cases}
        for i in range(args.repeat):
            for name, raw, *_ in cases:
                r = run_once(raw, tmp / "stores" / f"{name}-{i}".replace(" ", "_"))
                runs[name].append(r)
                print(f"  {name} run {i + 1}: {r['seconds']:.2f} s (CPU {r['cpu']:.1f} s), {r['rows']:,} rows, "
                      f"peak {r['peak_mb']:.0f} MB, "
                      f"load {r['load']:.1f}", flush=True)
    results = [summarise(name, runs[name], limit_s, limit_mb) for name, _, limit_s, limit_mb in cases]
    synthetic = [r for r in results if r["name"].startswith("synthetic")]
    for base in (r for r in results if r["name"].startswith("real")):
        for r in synthetic:
            print(f"ratio {r['name']} / {base['name']} (median wall time): {r['median_s'] / base['median_s']:.1f}x")
    for a, b in itertools.pairwise(synthetic):
        print(f"ratio {b['name']} / {a['name']} (median wall time): {b['median_s'] / a['median_s']:.2f}x, "
              f"peak {b['peak_mb'] / a['peak_mb']:.2f}x")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
