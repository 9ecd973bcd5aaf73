"""Store shards (issue 12): one partition from Postgres, sharded and not, and a backfill on Celery workers.

Prints figures, asserts nothing. On a throw-away database (local server at 127.0.0.1:5432, or an
embedded one) it loads a generated data set (``--stores``/``--days``: the seed size by default;
``--stores 140000 --days 8`` is the 10x one), then:

* one partition (the report as of the last whole hour) computed by ``report_in_process`` with each
  shard count of ``--shards`` (default ``1,4,auto``): wall time and peak RSS, each in a fresh child
  process (``ru_maxrss`` of that child: the process that reads, computes and publishes);
* with ``--backfill-hours`` (default 168) and a Redis answering on 127.0.0.1:6379: a single-run
  backfill of that many hours with STOREUPTIME_EXECUTOR=celery and ``--backfill-shards`` shards
  (default 4), on 1 and then 2 ``storeuptime worker`` processes (concurrency 1 each), timed from
  the coordinator's start to its end, and which worker ran each shard step.

Usage::

    .venv/bin/python benchmarks/bench_shards.py                       # seed size
    nice -n 10 .venv/bin/python benchmarks/bench_shards.py --stores 140000 --days 8
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux keeps that across fork + exec, so a
    child of a big parent would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the best there is


def _child_partition(url: str, as_of: str, shards: str, reports: str) -> None:
    """Run in a fresh process: one partition's report, all shards in turn; print time and peak RSS."""
    from storeuptime_pipeline.db.session import get_engine
    from storeuptime_pipeline.services.report_shards import plan_shards, report_in_process

    engine = get_engine(url)
    instant = pd.Timestamp(as_of)
    count = plan_shards(engine, [instant], None if shards == "auto" else int(shards))
    rss_before = _peak_rss_mb()
    started = time.perf_counter()
    published = report_in_process(engine, Path(reports), [instant], count)
    seconds = time.perf_counter() - started
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "shards": count,
                "seconds": seconds,
                "peak_mb": peak,
                "import_mb": rss_before,
                "rows": published.rows,
            }
        )
    )


def _partition(url: str, as_of: pd.Timestamp, shards: str, reports: Path) -> dict:
    command = [sys.executable, __file__, "--child-partition", url, as_of.isoformat(), shards, str(reports)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load(uptime: str) -> str:
    return uptime.split("load average:")[-1].strip()


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _backfill(admin_url: str, url: str, ds, hours: int, shards: int, workers: int, work: Path) -> dict | None:
    sys.path.insert(0, str(ROOT))
    from storeuptime_pipeline_tests.celery_workers import (
        celery_workers,
        claimed_redis_db,
        coordinate,
        environment,
        redis_answers,
    )

    if not redis_answers():
        return None
    last = ds.end.floor("h") - pd.Timedelta(hours=1)  # the partition of the last whole hour
    first = last - pd.Timedelta(hours=hours - 1)
    keys = (first.strftime("%Y-%m-%d-%H:00"), last.strftime("%Y-%m-%d-%H:00"))
    from sqlalchemy.engine import make_url

    from storeuptime_pipeline.db.scratch import temporary_database

    # Each worker count on its own copy of the loaded database: the same work for both (a run over
    # hours another run published would also delete that run's rows).
    with (
        claimed_redis_db() as number,
        temporary_database(
            admin_url, prefix="storeuptime_bench_backfill_", template=make_url(url).database
        ) as copy,
    ):
        env = environment(copy, work, ds.directory, number)
        env["STOREUPTIME_REPORT_SHARDS"] = str(shards)
        names = tuple(f"bench-w{i + 1}" for i in range(workers))
        with celery_workers(env, names, work / "workers.log"):
            run = coordinate(env, "backfill", *keys, timeout=3600)
    if not run["success"]:
        raise RuntimeError(run["error"])
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=14_000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--shards", default="1,4,auto", help="shard counts of the one-partition runs")
    parser.add_argument("--backfill-hours", type=int, default=168, help="0: no Celery backfill")
    parser.add_argument("--backfill-shards", type=int, default=4)
    parser.add_argument("--child-partition", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_partition:
        _child_partition(*args.child_partition)
        return

    from storeuptime_pipeline.db import migrate
    from storeuptime_pipeline.db.config import normalize_url
    from storeuptime_pipeline.db.scratch import admin_server, temporary_database
    from storeuptime_pipeline.db.session import get_engine
    from storeuptime_pipeline.services.loading import load_files

    ds = dataset(stores=args.stores, days=args.days, seed=args.seed)
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls, {ds.start} .. {ds.end}")
    print(f"machine at start: {_uptime()}")
    admin = normalize_url(os.environ.get("STOREUPTIME_TEST_ADMIN_URL") or "")
    with (
        admin_server(admin or None) as admin_url,
        temporary_database(admin_url, prefix="storeuptime_bench_shards_") as url,
        tempfile.TemporaryDirectory(prefix="bench_shards_") as tmp,
    ):
        work = Path(tmp)
        migrate.upgrade(url)
        engine = get_engine(url)
        started = time.perf_counter()
        for kind, path in (
            ("timezones", ds.timezones_path),
            ("hours", ds.hours_path),
            ("status", ds.status_path),
        ):
            load_files(engine, kind, [path])
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        print(f"loaded in {time.perf_counter() - started:.1f} s")
        as_of = ds.end.floor("h")
        print(f"\none partition as of {as_of} (report_in_process, each in a fresh process):")
        for shards in args.shards.split(","):
            result = _partition(url, as_of, shards.strip(), work / f"reports_{shards.strip()}")
            print(
                f"  shards={shards.strip():>4} ({result['shards']}): {result['seconds']:6.2f} s,"
                f" peak RSS {result['peak_mb']:6.0f} MB (after imports {result['import_mb']:.0f} MB),"
                f" {result['rows']:,} rows; load {_load(_uptime())}"
            )
        if args.backfill_hours:
            print(f"\n{args.backfill_hours}-hour single-run backfill, {args.backfill_shards} shards, Celery:")
            times = {}
            for workers in (1, 2):
                run = _backfill(
                    admin_url,
                    url,
                    ds,
                    args.backfill_hours,
                    args.backfill_shards,
                    workers,
                    work / f"celery_{workers}",
                )
                if run is None:
                    print("  skipped: no Redis answers on 127.0.0.1:6379")
                    break
                times[workers] = run["seconds"]
                shard_workers = sorted({v for k, v in run["step_workers"].items() if "_shard[" in k})
                print(
                    f"  {workers} worker(s): {run['seconds']:6.1f} s (coordinator start to end),"
                    f" shard steps on {shard_workers}; load {_load(_uptime())}"
                )
                spans = ", ".join(
                    f"{k} {a:.1f}-{b:.1f}"
                    for k, (a, b) in sorted(run["step_spans"].items(), key=lambda kv: kv[1][0])
                )
                print(f"    steps (s from the run's first event): {spans}")
            if len(times) == 2:
                print(f"  2 workers / 1 worker: {times[2] / times[1]:.2f}x (issue target: at most 0.7x)")
    print(f"\nmachine at end: {_uptime()}")


if __name__ == "__main__":
    main()
