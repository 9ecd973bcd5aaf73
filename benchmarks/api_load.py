"""Load on ``GET /get_report/{id}`` for a complete 14k-store report: p50/p95/p99, sequential and concurrent.

Creates a throw-away database, loads the 14k-store / 8-day data set, computes the report as of the
latest poll with the same functions the asset uses (rows in ``uptime_report`` + a ``report_runs``
record; no Dagster run needed), then starts the real ``storeuptime api`` in its own process (so the
client's threads do not share the server's GIL) and measures. Target: p99 < 100 ms.

    .venv/bin/python benchmarks/api_load.py [--requests 400] [--concurrency 4 8 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import requests
from common import dataset

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import DATABASE_URL_ENV, normalize_url
from storeuptime_pipeline.db.run_records import record_report
from storeuptime_pipeline.db.scratch import admin_server, temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.assets.report import build_and_store
from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV, instance_yaml
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline.services.reporting import default_as_of, report_csv

TARGET_P99_MS = 100.0


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return f"n={len(ordered)}  p50={q[49]:.1f} ms  p95={q[94]:.1f} ms  p99={q[98]:.1f} ms  max={ordered[-1]:.1f} ms"


def timed_get(session: requests.Session, url: str, status: str = "Complete") -> float:
    started = time.perf_counter()
    response = session.get(url, timeout=30)
    response.raise_for_status()
    assert response.headers["X-Report-Status"] == status
    _ = response.content
    return (time.perf_counter() - started) * 1000


def sequential(url: str, n: int) -> list[float]:
    with requests.Session() as session:
        return [timed_get(session, url) for _ in range(n)]


def _client(url: str, count: int) -> list[float]:
    with requests.Session() as session:
        return [timed_get(session, url) for _ in range(count)]


def concurrent(url: str, n: int, workers: int) -> list[float]:
    """``workers`` client processes, each with one keep-alive connection, ``n`` requests in all.

    Processes rather than threads: 16 client threads would queue on the client's own GIL while
    reading 0.7 MB bodies, and the figures would measure the client instead of the API.
    """
    per_client = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        chunks = pool.map(_client, [url] * workers, per_client)
        return [ms for chunk in chunks for ms in chunk]


def start_api(url: str, port: int, home: Path) -> subprocess.Popen:
    env = {**os.environ, DATABASE_URL_ENV: url, DAGSTER_HOME_ENV: str(home)}
    command = [str(Path(sys.executable).with_name("storeuptime")), "api", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).ok:
                return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("storeuptime api did not start")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=14_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16])
    args = parser.parse_args()

    ds = dataset(stores=args.stores, days=8)
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls")
    admin = normalize_url(os.environ.get("STOREUPTIME_TEST_ADMIN_URL") or "")
    work = Path(tempfile.mkdtemp(prefix="storeuptime-api-load-"))
    with (
        admin_server(admin or None) as admin_url,
        temporary_database(admin_url, prefix="storeuptime_apiload_") as url,
    ):
        migrate.upgrade(url)
        engine = get_engine(url)
        for kind, path in (
            ("timezones", ds.timezones_path),
            ("hours", ds.hours_path),
            ("status", ds.status_path),
        ):
            load_files(engine, kind, [path])
        as_of = default_as_of(engine)
        assert as_of is not None
        report, paths = build_and_store(engine, work / "reports", [as_of])
        report_id = uuid.uuid4().hex
        record_report(engine, report_id, None, status="complete", as_of=as_of, csv_path=str(paths[as_of]))
        running_id = uuid.uuid4().hex  # queued, not yet handed to Dagster: answered from report_runs
        record_report(engine, running_id, None, status="queued")
        print(f"report as of {as_of.isoformat()}: {len(report):,} rows")

        rebuilds = []
        for _ in range(5):
            started = time.perf_counter()
            csv = report_csv(engine, as_of)
            rebuilds.append((time.perf_counter() - started) * 1000)
        print(f"CSV rebuilt from uptime_report ({len(csv) / 1e6:.2f} MB): best {min(rebuilds):.0f} ms")

        home = work / "dagster_home"
        home.mkdir()
        shutil.copyfile(instance_yaml(), home / "dagster.yaml")
        port = free_port()
        api = start_api(url, port, home)
        try:
            base = f"http://127.0.0.1:{port}/get_report/{report_id}"
            with requests.Session() as session:
                print(f"first request (cache miss: status + rebuild): {timed_get(session, base):.0f} ms")
            results = {
                "sequential, CSV": sequential(base, args.requests),
                "sequential, ?format=json": sequential(f"{base}?format=json", args.requests),
            }
            with requests.Session() as session:
                running = f"http://127.0.0.1:{port}/get_report/{running_id}"
                results["sequential, a Running report"] = [
                    timed_get(session, running, "Running") for _ in range(args.requests // 2)
                ]
            for workers in args.concurrency:
                results[f"{workers} concurrent clients, CSV"] = concurrent(base, args.requests, workers)
        finally:
            api.terminate()
            api.wait(timeout=20)
    shutil.rmtree(work, ignore_errors=True)
    worst = 0.0
    for label, samples in results.items():
        print(f"{label:32s} {percentiles(samples)}")
        worst = max(worst, statistics.quantiles(sorted(samples), n=100, method="inclusive")[98])
    verdict = "OK" if worst < TARGET_P99_MS else "ABOVE TARGET"
    print(f"worst p99 {worst:.1f} ms (target < {TARGET_P99_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
