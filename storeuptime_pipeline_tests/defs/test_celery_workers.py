"""Two real Celery workers (``storeuptime worker`` subprocesses) run the steps of real runs.

STOREUPTIME_EXECUTOR=celery, the Redis at 127.0.0.1:6379 as broker and result backend (a database of
its own, emptied at the end), a throw-away Postgres. The run itself executes outside Celery (a
coordinator process running the job as the CLI does, or a run worker the daemon launched), which is
the combination defs/executor.py chooses. Proved from the run's events: every step ran in a Celery
worker, the steps of one run ran on both workers, and the database and the report CSVs equal an
in-process run's. Skipped, with the reason, when no Redis answers. Helpers:
storeuptime_pipeline_tests/celery_workers.py.

To add a job: add a ``_Job`` to ``JOBS`` (and its name to the coordinator there); the tests run it
both ways and compare. The backfill runs in 4 store shards on the Celery side (plan, 4 shard steps,
publish) and unsharded in process: the comparison is also sharded == unsharded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from storeuptime_pipeline_tests.celery_workers import (
    REDIS_HOST,
    REDIS_PORT,
    celery_workers,
    claimed_redis_db,
    coordinate,
    environment,
    redis_answers,
    worker_events,
)

#: The last 24 hourly partitions of the generated data set (its latest poll is 2023-01-25 18:13 UTC).
BACKFILL = ("2023-01-24-18:00", "2023-01-25-17:00")
WORKER_NAMES = ("hf-w1", "hf-w2")
#: The Celery side's report runs in 4 store shards, the in-process reference in 1 (auto, small data).
CELERY_SHARDS = "4"
_TABLES = {  # table: sort columns (row order is not part of the result)
    "stores": ["store_id"],
    "business_hours": ["store_id", "day_of_week", "start_local", "end_local"],
    "store_status": ["store_id", "timestamp_utc"],
    # What the hours show (the views): the tables' generation column says which run wrote a row.
    "published_uptime_report": ["as_of", "store_id"],
    "published_outages": ["as_of", "store_id", "start_utc"],
}


needs_redis = pytest.mark.skipif(
    not redis_answers(),
    reason=f"no Redis answers on {REDIS_HOST}:{REDIS_PORT} (the Celery broker these tests need)",
)


@dataclass(frozen=True)
class _Job:
    name: str
    args: tuple[str, ...]
    min_steps: int  # steps the run has: at least two, so that both workers can get one


JOBS = (
    _Job("ingest", (), min_steps=3),  # store_status, business_hours, store_timezones: independent steps
    # plan, 4 shard steps (the parallel ones), publish
    _Job("backfill", BACKFILL, min_steps=6),
)


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    with claimed_redis_db() as number:
        yield number


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storeuptime_pipeline.generator.data import generate_dataset

    folder = tmp_path_factory.mktemp("landing")
    generate_dataset(folder, stores=400, days=8, seed=12)
    return folder


def _tables(database_url: str) -> dict[str, Any]:
    import pandas as pd

    from storeuptime_pipeline.db.session import get_engine

    engine = get_engine(database_url)
    frames = {}
    with engine.connect() as conn:
        for table, order in _TABLES.items():
            frame = pd.read_sql_query(f"SELECT * FROM {table}", conn)
            frame = frame.drop(columns=[c for c in ("id",) if c in frame])  # identities: load order
            frames[table] = frame.sort_values(order, ignore_index=True)
    return frames


def _csvs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.csv"))}


@pytest.fixture(scope="module")
def in_process_side(
    admin_url: str, landing: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """The reference: the same jobs with the default (in-process) executor, no Redis involved."""
    from storeuptime_pipeline.db import migrate
    from storeuptime_pipeline.db.scratch import temporary_database

    workdir = tmp_path_factory.mktemp("in_process")
    with temporary_database(admin_url, prefix="storeuptime_celery_ref_") as url:
        migrate.upgrade(url)
        env = environment(url, workdir, landing, redis_db=None)
        runs = {job.name: coordinate(env, job.name, *job.args) for job in JOBS}
        yield {"runs": runs, "tables": _tables(url), "csvs": _csvs(workdir / "reports")}


@pytest.fixture(scope="module")
def celery_side(
    admin_url: str, landing: Path, redis_db: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    """The same jobs with STOREUPTIME_EXECUTOR=celery and two workers, each one step at a time."""
    from storeuptime_pipeline.db import migrate
    from storeuptime_pipeline.db.scratch import temporary_database

    workdir = tmp_path_factory.mktemp("celery")
    with temporary_database(admin_url, prefix="storeuptime_celery_") as url:
        migrate.upgrade(url)
        # The planning step (on a worker) reads the shard count: the workers need it in their environment.
        env = {**environment(url, workdir, landing, redis_db), "STOREUPTIME_REPORT_SHARDS": CELERY_SHARDS}
        with celery_workers(env, WORKER_NAMES, workdir / "workers.log") as workers:
            runs = {job.name: coordinate(env, job.name, *job.args) for job in JOBS}
            print(f"\n{len(WORKER_NAMES)} workers answered after {workers.start_seconds:.2f} s")
            for name, run in runs.items():
                print(f"{name}: {run['seconds']:.2f} s, steps {run['step_workers']}")
            yield {
                "runs": runs,
                "workers": workers,
                "tables": _tables(url),
                "csvs": _csvs(workdir / "reports"),
            }


@needs_redis
def test_every_step_ran_in_a_celery_worker_and_the_steps_of_a_run_on_both(celery_side: dict) -> None:
    workers = celery_side["workers"]
    for job in JOBS:
        run = celery_side["runs"][job.name]
        assert run["success"], run
        steps = run["step_workers"]
        assert len(steps) >= job.min_steps, (job.name, steps)
        assert set(steps.values()) <= set(workers.names), (job.name, steps, workers.names)
        assert run["executor_event"], f"{job.name}: no 'worker answers' event from the executor"
    for job in JOBS:
        steps = celery_side["runs"][job.name]["step_workers"]
        assert set(steps.values()) == set(workers.names), (
            f"the {job.name} run's steps did not spread over both workers: {steps}\n{workers.tail()}"
        )
    shard_steps = {k: v for k, v in celery_side["runs"]["backfill"]["step_workers"].items() if "_shard[" in k}
    assert len(shard_steps) == int(CELERY_SHARDS), shard_steps
    assert set(shard_steps.values()) == set(workers.names), (
        f"the shards ran on one worker only: {shard_steps}"
    )


@needs_redis
def test_celery_results_equal_the_in_process_results(celery_side: dict, in_process_side: dict) -> None:
    import pandas as pd

    for job in JOBS:
        assert in_process_side["runs"][job.name]["success"]
        assert in_process_side["runs"][job.name]["step_workers"] == {}, "the reference ran in process"
    for table, frame in in_process_side["tables"].items():
        assert len(frame) > 0, f"the reference wrote no {table} rows"
        pd.testing.assert_frame_equal(celery_side["tables"][table], frame, obj=table)
    assert len(in_process_side["csvs"]) == 24
    assert celery_side["csvs"] == in_process_side["csvs"]


@needs_redis
@pytest.mark.timeout(480)
def test_runs_the_daemon_launches_send_their_steps_to_the_workers(
    admin_url: str, landing: Path, in_process_side: dict, tmp_path: Path
) -> None:
    """The production path: ``dagster dev`` with STOREUPTIME_EXECUTOR=celery and a 24-hour backfill
    launched through the webserver (as ``storeuptime backfill`` does): the daemon launches its run
    with the instance's MonitoredRunLauncher, the run worker (a subprocess of the code server)
    coordinates, the workers execute the steps; the CSVs equal the in-process run's."""
    from dagster import DagsterRunStatus, RunsFilter

    from storeuptime_pipeline import settings
    from storeuptime_pipeline.cli.backfill import launch_report_backfill
    from storeuptime_pipeline.db.scratch import temporary_database
    from storeuptime_pipeline_tests.dagster_server import dagster_stack

    with (
        claimed_redis_db() as number,
        temporary_database(admin_url, prefix="storeuptime_celery_e2e_") as url,
    ):
        broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
        celery_env = {
            settings.EXECUTOR_ENV: "celery",
            settings.CELERY_BROKER_ENV: broker,
            settings.CELERY_BACKEND_ENV: broker,
            settings.REPORT_SHARDS_ENV: CELERY_SHARDS,
        }
        with (
            dagster_stack(url, tmp_path / "stack", extra_env=celery_env) as stack,
            celery_workers(stack.env, WORKER_NAMES, tmp_path / "workers.log") as workers,
            stack.instance() as instance,
        ):
            # The data, loaded by one ingest run (its steps on the workers too), then the backfill.
            ingest = coordinate({**stack.env, settings.DATA_DIR_ENV: str(landing)}, "ingest")
            assert ingest["success"], ingest
            backfill_id = launch_report_backfill(stack.url, *BACKFILL)

            def backfill_run() -> Any:
                runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
                assert all(r.status != DagsterRunStatus.FAILURE for r in runs), stack.log_tail()
                return runs[0] if runs and runs[0].status == DagsterRunStatus.SUCCESS else None

            backfill = stack.wait_for(backfill_run, "the backfill's run", timeout=240)
            steps, checked = worker_events(instance, backfill.run_id)
            assert checked, "the backfill's run did not check for a worker: not the Celery executor?"
            assert {"uptime_report.uptime_report_plan", "uptime_report.uptime_report_publish"} <= set(
                steps
            ), steps
            assert set(steps.values()) <= set(workers.names), steps
            # The run worker, not a Celery task, coordinated: a subprocess of the code server.
            assert backfill.tags.get("storeuptime/worker_host"), backfill.tags
            csvs = _csvs(stack.reports)
        for name, content in in_process_side["csvs"].items():
            assert csvs[name] == content, name


@needs_redis
def test_a_run_fails_at_once_with_the_reason_when_no_worker_answers(
    admin_url: str, landing: Path, tmp_path: Path
) -> None:
    """Steps are never left queued for a worker that does not exist: ``storeuptime ingest`` fails
    within seconds, one line per file naming the fix, no trace."""
    from storeuptime_pipeline.db import migrate
    from storeuptime_pipeline.db.scratch import temporary_database

    with (
        claimed_redis_db() as free,
        temporary_database(admin_url, prefix="storeuptime_celery_none_") as url,
    ):
        migrate.upgrade(url)
        env = environment(url, tmp_path, landing, redis_db=free)
        command = [str(Path(sys.executable).with_name("storeuptime")), "ingest", "--data", str(landing)]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        elapsed = time.perf_counter() - started
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [line for line in done.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 3, done.stderr  # one run per file, each refused
    assert all("no Celery worker answers" in line and "storeuptime worker" in line for line in failed)
    assert "Traceback" not in done.stderr
    assert elapsed < 90


@needs_redis
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_worker_stops_cleanly_on_a_signal(database_url: str, tmp_path: Path, sig: signal.Signals) -> None:
    """Warm shutdown: the worker leaves the broker and exits 0 (a service manager's stop, Ctrl-C)."""
    with claimed_redis_db() as number:
        env = environment(database_url, tmp_path, tmp_path, number)
        with celery_workers(env, ("hf-stop",), tmp_path / "worker.log") as workers:
            (process,) = workers.processes
            started = time.perf_counter()
            os.kill(process.pid, sig)
            code = process.wait(timeout=60)
            seconds = time.perf_counter() - started
    assert code == 0, workers.tail()
    assert "Warm shutdown" in workers.tail()
    assert seconds < 30


def test_a_worker_without_its_broker_stops_with_the_reason(database_url: str, tmp_path: Path) -> None:
    """No retrying forever against a Redis that is not there: one line, exit status 1."""
    from storeuptime_pipeline import settings

    env = environment(database_url, tmp_path, tmp_path, redis_db=None)
    env[settings.CELERY_BROKER_ENV] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    command = [str(Path(sys.executable).with_name("storeuptime")), "worker", "--name", "nobroker"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "storeuptime worker: the Celery broker redis://127.0.0.1:1/0 does not answer" in done.stderr
    assert "Traceback" not in done.stderr


# --- the coordinator (this file run as a module) ---
