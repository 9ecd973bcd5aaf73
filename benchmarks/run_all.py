"""``make bench``: every benchmark script in turn, each in its own process (so peak memory is its own)."""

from __future__ import annotations

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
    "bench_report_memory.py",  # seed size; add --x10 DIR by hand (a generated 10x folder)
]


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        path = HERE / script
        if not path.exists():
            continue
        print(f"\n=== {script} ===", flush=True)
        failed += subprocess.run([sys.executable, str(path)], cwd=HERE).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
