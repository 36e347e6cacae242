"""Benchmark: `surveys refresh` on the real II ENPOVE 2022 modules and on a synthetic round of ~1.2 M persons.

Each run is a fresh subprocess (peak memory is that process's own high-water mark, VmHWM), writing a new store with
`force=True`; the script prints every run, then the median wall time, rows per second and peak memory, and
checks them against the targets (real round < 3 s; 1.2 M persons < 30 s and < 2 GB).

    python benchmarks/refresh.py [--repeat 3] [--households 360000]
"""

from __future__ import annotations

import argparse
import json
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
start = time.perf_counter()
report = refresh(raw, store, force=True)
seconds = time.perf_counter() - start
assert report.ok, report.failed
from pipelines.store import read_manifest
rows = sum(w.rows["households"] + w.rows["persons"] for w in read_manifest(store).values())
persons = sum(w.rows["persons"] for w in read_manifest(store).values())
# VmHWM is this process's own peak resident set; ru_maxrss would carry over the parent's peak at fork.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": seconds, "rows": rows, "persons": persons, "peak_mb": hwm / 1024}))
"""


def run_once(raw: Path, store: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(store)], cwd=REPO, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(name: str, raw: Path, repeat: int, tmp: Path, limit_s: float, limit_mb: float | None) -> dict:
    runs = [run_once(raw, tmp / f"{name}-{i}" / "harmonized") for i in range(repeat)]
    for i, r in enumerate(runs):
        print(f"  {name} run {i + 1}: {r['seconds']:.2f} s, {r['rows']:,} rows, peak {r['peak_mb']:.0f} MB")
    median = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    ok = median < limit_s and (limit_mb is None or peak < limit_mb)
    print(f"{name}: median {median:.2f} s, {runs[0]['rows'] / median:,.0f} rows/s "
          f"({runs[0]['persons']:,} persons), peak {peak:.0f} MB -> {'meets' if ok else 'MISSES'} target "
          f"(< {limit_s:.0f} s{f', < {limit_mb:.0f} MB' if limit_mb else ''})")
    return {"name": name, "median_s": median, "peak_mb": peak, "ok": ok}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--households", type=int, default=360_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp_name:
        tmp = Path(tmp_name)
        results = [bench("real ENPOVE 2022", REAL_RAW, args.repeat, tmp, 3.0, None)]
        from pipelines.synthetic import write_synthetic_round

        start = time.perf_counter()
        write_synthetic_round(tmp / "synthetic" / "enpove" / "2022", REPO / "surveys" / "enpove_2022",
                              households=args.households)
        print(f"(generated the synthetic round in {time.perf_counter() - start:.1f} s; not part of the timing)")
        results.append(bench("synthetic 1.2M persons", tmp / "synthetic", args.repeat, tmp, 30.0, 2048.0))
    ratio = results[1]["median_s"] / results[0]["median_s"]
    print(f"ratio synthetic / real (median wall time): {ratio:.1f}x")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
