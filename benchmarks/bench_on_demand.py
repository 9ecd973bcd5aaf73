"""On-demand report latency: ``POST /trigger_report`` to ``GET /get_report`` Complete, p50/p95, each way.

Starts the stack as ``storeuptime dev`` does (``dagster dev``: webserver, daemon and code server, plus
``storeuptime api``, on free 127.0.0.1 ports) on a throw-away database holding the seed-sized data
set (14k stores, 8 days), then, for each launch path, triggers reports one after another and polls
``/get_report`` every 20 ms until Complete. The phases come from each run's events:

    trigger -> queued (API + GraphQL launchRun) -> starting (the daemon dequeued it)
    -> process (the run worker announced its pid) -> started (definitions loaded, RUN_START)
    -> step (the report's step began) -> complete (the asset recorded the report Complete, the
    ``report_runs.finished_at`` instant; its checks and materialization event follow, while the next
    trigger already runs). The client polls ``/get_report`` every 100 ms and reports when it saw it.

Ways: ``normal`` (STOREUPTIME_WARM_RUNS=0: the code server starts a fresh run worker), ``warm``
(a warm run worker, defs/warm_runs.py) and ``celery`` (STOREUPTIME_EXECUTOR=celery with one
``storeuptime worker``; skipped when no Redis answers). The first trigger of each way is reported
apart (it starts the first spare) and is not in the figures.

Every trigger reports as of the same latest poll, so each replaces the rows of the one before: a
week's outage list (~69k rows) and the report rows become dead tuples that the next write's unique
checks step over. Autovacuum clears them on a normal server; on one with ``autovacuum = off`` (this
development machine's CI configuration) they pile up, 20 triggers per way, and later triggers and
ways get slower for that alone. ``--vacuum auto`` (the default) therefore VACUUMs the report tables
before each trigger when the server's autovacuum is off, and says so; ``always``/``never`` force it.

    nice -n 10 .venv/bin/python benchmarks/bench_on_demand.py [--triggers 20] [--ways normal warm celery] [--pause 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests
from common import dataset
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test helpers that start the stack
from dagster import DagsterEventType, DagsterInstance, RunsFilter

from storeuptime_pipeline import settings
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.scratch import admin_server, temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.celery_workers import REDIS_HOST, REDIS_PORT, redis_answers
from storeuptime_pipeline_tests.dagster_server import dagster_stack, free_port

TARGET_P50_S = 2.5
#: The client's poll interval. Not faster: 50 GETs a second, each two queries while the run is going,
#: would take CPU from the run it measures on 2 cores. The figure is the server's Complete instant.
POLL_S = 0.1
PHASES = ("queued", "starting", "process", "started", "step", "complete")


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[q - 1]


def start_api(env: Mapping[str, str], dagster_url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("storeuptime")), "api", "--port", str(port)]
    api_env = {**env, settings.DAGSTER_GRAPHQL_URL_ENV: dagster_url}
    process = subprocess.Popen(command, env=api_env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/openapi.json", timeout=2).ok:
                return process, url
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("storeuptime api did not start")


@contextmanager
def api_process(env: Mapping[str, str], dagster_url: str) -> Iterator[str]:
    process, url = start_api(env, dagster_url)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def trigger_and_wait(session: requests.Session, api: str) -> tuple[str, float, float]:
    """One report: its id, the trigger's wall-clock time, and seconds until the client saw Complete."""
    began_wall, began = time.time(), time.perf_counter()
    answer = session.post(f"{api}/trigger_report", timeout=60)
    answer.raise_for_status()
    report_id = answer.json()["report_id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = session.get(f"{api}/get_report/{report_id}", timeout=60).headers.get("X-Report-Status")
        if status == "Complete":
            return report_id, began_wall, time.perf_counter() - began
        if status == "Failed":
            raise RuntimeError(f"report {report_id} failed")
        time.sleep(POLL_S)
    raise TimeoutError(f"report {report_id} not complete after 180 s")


def phases(
    instance: DagsterInstance, engine: Engine, report_id: str, began: float, total: float
) -> dict[str, float]:
    """Seconds from the trigger to each phase (see the module note), from the run's events."""
    (run,) = instance.get_runs(RunsFilter(tags={REPORT_ID_TAG: report_id}))
    marks: dict[str, float] = {}
    for entry in instance.all_logs(run.run_id):
        event = entry.dagster_event
        kind = event.event_type if event is not None else None
        if kind == DagsterEventType.RUN_ENQUEUED:
            marks.setdefault("queued", entry.timestamp - began)
        elif kind == DagsterEventType.RUN_STARTING:
            marks.setdefault("starting", entry.timestamp - began)
        elif kind == DagsterEventType.ENGINE_EVENT and "Started process for run" in (entry.message or ""):
            marks.setdefault("process", entry.timestamp - began)
        elif kind == DagsterEventType.RUN_START:
            marks.setdefault("started", entry.timestamp - began)
        elif kind == DagsterEventType.STEP_START:
            marks.setdefault("step", entry.timestamp - began)
    with engine.connect() as conn:
        finished = conn.execute(
            text("SELECT extract(epoch FROM finished_at) FROM report_runs WHERE report_id = :r"),
            {"r": report_id},
        ).scalar_one()
    marks["complete"] = float(finished) - began
    marks["seen"] = total
    return marks


#: What an on-demand report rewrites (see the module note).
VACUUMED = ("uptime_report", "outages", "report_runs", "report_published")


def vacuum_report_tables(engine: Engine) -> None:
    """Stand in for autovacuum: VACUUM (outside a transaction) the tables each trigger rewrites."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM {', '.join(VACUUMED)}")


def measure(
    way: str, url: str, workdir: Path, triggers: int, vacuum: bool, pause: float
) -> dict[str, object]:
    """Start the stack for one way, trigger ``triggers`` + 1 reports in turn; latencies and phases."""
    extra = {settings.WARM_RUNS_ENV: "0" if way == "normal" else "1"}
    with ExitStack() as stack:
        if way == "celery":
            from storeuptime_pipeline_tests.celery_workers import celery_workers, claimed_redis_db

            number = stack.enter_context(claimed_redis_db())
            broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
            extra.update(
                {
                    settings.EXECUTOR_ENV: "celery",
                    settings.CELERY_BROKER_ENV: broker,
                    settings.CELERY_BACKEND_ENV: broker,
                    settings.WARM_RUNS_ENV: "0",
                }
            )
        deployment = stack.enter_context(dagster_stack(url, workdir / way, extra_env=extra))
        if way == "celery":
            stack.enter_context(celery_workers(deployment.env, ("bench-w1",), workdir / "celery.log"))
        instance = stack.enter_context(deployment.instance())
        api = stack.enter_context(api_process(deployment.env, deployment.url))
        session = stack.enter_context(requests.Session())
        _, _, first = trigger_and_wait(session, api)
        engine = get_engine(url)
        samples: list[tuple[float, dict[str, float]]] = []
        for _ in range(triggers):
            time.sleep(pause)
            if vacuum:
                vacuum_report_tables(engine)
            report_id, began, total = trigger_and_wait(session, api)
            marks = phases(instance, engine, report_id, began, total)
            samples.append((marks["complete"], marks))
        return {"first": first, "samples": samples, "pause": pause}


def summary(way: str, result: dict[str, object]) -> str:
    samples = result["samples"]
    assert isinstance(samples, list)
    totals = [t for t, _ in samples]
    seen = [marks["seen"] for _, marks in samples]
    pause = result["pause"]
    spacing = f"{pause:g} s between reports" if pause else "back to back"
    lines = [
        f"{way:7s} trigger->Complete  n={len(totals)}  p50={pct(totals, 50):.2f} s  p95={pct(totals, 95):.2f} s"
        f"  min={min(totals):.2f} s  max={max(totals):.2f} s  (first trigger {result['first']:.2f} s"
        f"; {spacing})"
        f"  target p50 <= {TARGET_P50_S} s: {'met' if pct(totals, 50) <= TARGET_P50_S else 'NOT met'}"
        f"; the client (polling every {POLL_S * 1000:.0f} ms) saw it at p50 {pct(seen, 50):.2f} s"
    ]
    previous = "trigger"
    parts = []
    for name in PHASES:
        deltas = []
        for _, marks in samples:
            before = 0.0 if previous == "trigger" else marks.get(previous)
            if name in marks and before is not None:
                deltas.append(marks[name] - before)
        if deltas:
            parts.append(f"{previous}->{name} {statistics.median(deltas):.2f}")
        previous = name
    lines.append("        median phases (s): " + ", ".join(parts))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=14_000)
    parser.add_argument("--triggers", type=int, default=20)
    parser.add_argument("--ways", nargs="+", default=["normal", "warm", "celery"])
    parser.add_argument(
        "--vacuum",
        choices=("auto", "always", "never"),
        default="auto",
        help="VACUUM the report tables before each trigger (auto: when the server's autovacuum is off)",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="seconds between one report's Complete and the next trigger (0: back to back, where each "
        "report shares the CPU with the tail of the one before: its checks and events)",
    )
    args = parser.parse_args()

    ds = dataset(stores=args.stores, days=8)
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls; load: {os.getloadavg()}", flush=True)
    admin = normalize_url(os.environ.get("STOREUPTIME_TEST_ADMIN_URL") or "")
    work = Path(tempfile.mkdtemp(prefix="storeuptime-on-demand-"))
    with (
        admin_server(admin or None) as admin_url,
        temporary_database(admin_url, prefix="storeuptime_ondemand_") as url,
    ):
        from storeuptime_pipeline.db import migrate

        migrate.upgrade(url)
        engine = get_engine(url)
        for kind, path in (
            ("timezones", ds.timezones_path),
            ("hours", ds.hours_path),
            ("status", ds.status_path),
        ):
            load_files(engine, kind, [path])
        with engine.connect() as conn:
            autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar_one()
        vacuum = args.vacuum == "always" or (args.vacuum == "auto" and autovacuum != "on")
        print(
            f"server autovacuum: {autovacuum}; report tables VACUUMed before each trigger: "
            f"{'yes' if vacuum else 'no'} (--vacuum {args.vacuum})",
            flush=True,
        )
        for way in args.ways:
            if way == "celery" and not redis_answers():
                print(f"celery  skipped: no Redis answers at {REDIS_HOST}:{REDIS_PORT}")
                continue
            result = measure(way, url, work, args.triggers, vacuum, args.pause)
            print(summary(way, result), flush=True)
            print(f"        load average after: {os.getloadavg()}", flush=True)
        engine.dispose()


if __name__ == "__main__":
    main()
