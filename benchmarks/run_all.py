"""``make bench``: every benchmark script in turn, each in its own process (so peak memory is its own).

``make bench X10=1`` (``--x10``) then repeats the two scale benchmarks on the 10x data set (140,000
stores, 8 days, ~17.5M polls; generated once into the cache, ~1 GB): ``storeuptime report`` sharded
and not, one partition from Postgres, and the 168-hour backfill on 1 and 2 Celery workers. That
part takes ~30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_engine.py",
    "bench_pipeline.py",
    "api_load.py",
    "bench_on_demand.py",
    "bench_polls_append.py",
    "bench_shards.py",
    "bench_report_memory.py",
]
X10 = {"stores": 140_000, "days": 8}


def _run(args: list[str]) -> bool:
    print(f"\n=== {' '.join(args)} ===", flush=True)
    return subprocess.run([sys.executable, *args], cwd=HERE).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x10", action="store_true", help="also the scale benchmarks on the 10x data set")
    args = parser.parse_args()
    failed = sum(not _run([script]) for script in SCRIPTS if (HERE / script).exists())
    if args.x10:
        sys.path.insert(0, str(HERE))
        from common import dataset

        folder = dataset(**X10).directory
        failed += not _run(["bench_report_memory.py", "--x10", str(folder)])
        failed += not _run(["bench_shards.py", "--stores", str(X10["stores"]), "--days", str(X10["days"])])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
