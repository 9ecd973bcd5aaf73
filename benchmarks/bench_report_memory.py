"""Peak memory and wall time of ``storeuptime report``, sharded and not, each run its own child process.

Usage::

    .venv/bin/python benchmarks/bench_report_memory.py                 # the seed-sized set (cached)
    .venv/bin/python benchmarks/bench_report_memory.py --x10 DIR       # and a 10x folder
    .venv/bin/python benchmarks/bench_report_memory.py --seed DIR --shards 1 4

A 10x folder is ``storeuptime generate --out DIR --stores 140000 --days 8`` (~1 GB, ~40 s); it is
not generated here. Each figure is one child's own ``ru_maxrss`` (from ``os.wait4``, so earlier
runs do not count) and its wall and CPU time; the load average is printed beside them because on a
shared machine wall time follows the load. The report files of every shard count are compared
byte for byte with the first run's.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STOREUPTIME = Path(sys.executable).with_name("storeuptime")


def run_report(data: Path, out: Path, shards: int | None, extended: bool = False) -> dict[str, float]:
    """One ``storeuptime report`` child: wall s, CPU s, peak RSS MB."""
    command = [str(STOREUPTIME), "report", "--data", str(data), "--out", str(out)]
    command += ["--shards", str(shards)] if shards is not None else []
    command += ["--extended"] if extended else []
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    stderr = child.stderr.read().decode() if child.stderr else ""
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}): {stderr.strip()}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024}


def bench(label: str, data: Path, shard_counts: list[int | None], extended: bool) -> None:
    size = sum(p.stat().st_size for p in data.glob("*status*.csv"))
    print(f"{label}: {data} (status {size / 2**20:,.0f} MiB)")
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        first: Path | None = None
        for shards in shard_counts:
            out = Path(tmp) / f"report_{shards}.csv"
            load = os.getloadavg()[0]
            figures = run_report(data, out, shards, extended)
            same = (
                ""
                if first is None
                else ("  same bytes" if filecmp.cmp(first, out, shallow=False) else "  DIFFERENT")
            )
            first = first or out
            name = "default" if shards is None else str(shards)
            print(
                f"  shards {name:>7}: {figures['wall']:6.2f} s wall, {figures['cpu']:6.2f} s CPU, "
                f"peak {figures['peak_mb']:7,.0f} MB  (load {load:.2f}){same}",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed", type=Path, help="seed-sized folder (default: the cached benchmark data set)"
    )
    parser.add_argument(
        "--x10", type=Path, help="a 10x folder (storeuptime generate --stores 140000 --days 8)"
    )
    parser.add_argument(
        "--shards", type=int, nargs="*", default=[1, 4], help="shard counts besides the default"
    )
    parser.add_argument("--extended", action="store_true", help="report --extended (the outage pass too)")
    parser.add_argument(
        "--storeuptime",
        type=Path,
        help="the storeuptime command to measure (default: this venv's); an older checkout's "
        "gives the before figures (it has no --shards: pass --shards with no value)",
    )
    args = parser.parse_args()
    global STOREUPTIME
    if args.storeuptime is not None:
        STOREUPTIME = args.storeuptime
    seed = args.seed
    if seed is None:
        sys.path.insert(0, str(HERE))
        from common import dataset

        seed = dataset().directory
    counts: list[int | None] = [None, *args.shards]
    bench("seed-sized", seed, counts, args.extended)
    if args.x10 is not None:
        bench("10x", args.x10, counts, args.extended)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
