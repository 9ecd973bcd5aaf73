"""Postgres benchmarks: bulk load (issue 3) and reports from the database (issue 4).

Creates a throw-away database (local server at 127.0.0.1:5432, or an embedded one), loads the
14k-store / ~1.7M-poll data set, reloads it, computes one partition and a 168-partition single-run
backfill from Postgres, then adds 7 more weeks of history and times the same partition again.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
from common import dataset, peak_rss_mb, store_ids_of
from sqlalchemy import text

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.scratch import admin_server, temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.partitions import as_ofs_of_window
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline.services.reporting import write_csvs
from storeuptime_pipeline.services.reporting_outages import compute_and_store

TARGETS = {
    "first load polls/s": 200_000,
    "one partition s": 3.0,
    "168 partitions s": 60.0,
    "history ratio": 1.3,
}


def _report(engine, reports_dir, as_ofs: list[pd.Timestamp]) -> tuple[float, int]:
    started = time.perf_counter()
    report = compute_and_store(engine, as_ofs)  # what the report assets do: rows + outage lists
    write_csvs(reports_dir, report)
    return time.perf_counter() - started, len(report)


def _best_of(n: int, fn) -> float:
    return min(fn()[0] for _ in range(n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history-weeks", type=int, default=8)
    args = parser.parse_args()
    ds = dataset()
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls, {ds.start} .. {ds.end}")
    admin = normalize_url(os.environ.get("STOREUPTIME_TEST_ADMIN_URL") or "")
    with (
        admin_server(admin or None) as admin_url,
        temporary_database(admin_url, prefix="storeuptime_bench_") as url,
    ):
        migrate.upgrade(url)
        engine = get_engine(url)
        for kind, path in (("timezones", ds.timezones_path), ("hours", ds.hours_path)):
            load_files(engine, kind, [path])

        started = time.perf_counter()
        (first,) = load_files(engine, "status", [ds.status_path])
        first_s = time.perf_counter() - started
        started = time.perf_counter()
        (again,) = load_files(engine, "status", [ds.status_path])
        again_s = time.perf_counter() - started
        rate = first.rows_read / first_s
        print(
            f"first load : {first.rows_read:,} polls in {first_s:.2f} s = {rate:,.0f} polls/s "
            f"(target >= {TARGETS['first load polls/s']:,}) {'ok' if rate >= TARGETS['first load polls/s'] else 'UNDER TARGET'}"
        )
        print(
            f"re-load    : {again.rows_read:,} polls in {again_s:.2f} s, rows changed: {again.rows_changed}"
        )

        reports_dir = ds.directory / "bench_reports"
        last = ds.end.floor("h")
        one = _best_of(3, lambda: _report(engine, reports_dir, [last]))
        print(f"one partition from Postgres (read + compute + write back): {one:.2f} s (target <= 3 s)")
        window_start = last - pd.Timedelta(hours=168)
        week = as_ofs_of_window(window_start, last)
        backfill_s, rows = _report(engine, reports_dir, week)
        print(
            f"single-run backfill of {len(week)} partitions: {backfill_s:.2f} s, {rows:,} rows (target <= 60 s)"
        )

        if args.history_weeks > 1:
            ids = store_ids_of(ds)
            loaded = 0
            for week_back in range(1, args.history_weeks):
                end = (
                    ds.start - pd.Timedelta(days=7 * (week_back - 1)) - pd.Timedelta(seconds=1)
                ).isoformat()
                older = dataset(stores=len(ids), days=7, seed=100 + week_back, end=end, store_ids=ids)
                load_files(engine, "status", [older.status_path])
                loaded += older.polls
            with engine.connect() as conn:
                total = conn.execute(text("SELECT count(*) FROM store_status")).scalar_one()
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE store_status")
            history = _best_of(3, lambda: _report(engine, reports_dir, [last]))
            ratio = history / one
            print(
                f"one partition with {args.history_weeks} weeks of history ({total:,} polls): {history:.2f} s; "
                f"ratio to 1 week {ratio:.2f} (target <= 1.3) {'ok' if ratio <= 1.3 else 'OVER TARGET'}"
            )
    print(f"peak memory: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
