"""Real Celery workers for tests and measurements: ``storeuptime worker`` subprocesses on a Redis
database of their own, and a coordinator process that runs one job the way the CLI does.

Usage::

    from storeuptime_pipeline_tests.celery_workers import celery_workers, claimed_redis_db, coordinate, environment

    with claimed_redis_db() as number:                       # a free Redis database, emptied at the end
        env = environment(database_url, workdir, landing, number)  # STOREUPTIME_EXECUTOR=celery on it
        with celery_workers(env, ("w1", "w2"), workdir / "workers.log") as workers:
            run = coordinate(env, "ingest")                   # or ("backfill", FIRST, LAST)
            run["step_workers"]                               # {step key: Celery node name}

Why a coordinator subprocess: the executor is chosen when the definitions are imported, from the
environment, and the test process imported them long before with the default (in-process) one.
Run as a module (``python -m storeuptime_pipeline_tests.celery_workers JOB ARG...``) this file is that
coordinator: it runs the job in its process with the executor its environment names and prints, as
JSON, the run's id, success, seconds, which worker ran each step and the one-line error if it failed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ROOT = Path(__file__).resolve().parents[1]  # the checkout: its dagster.yaml, and where -m finds this file
COORDINATOR = "storeuptime_pipeline_tests.celery_workers"


def redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def claimed_redis_db() -> Iterator[int]:
    """A Redis database nobody uses (0 and 1 are the project's defaults), emptied at the end."""
    import redis

    candidates = list(range(2, 16))
    random.shuffle(candidates)
    for number in candidates:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        if client.dbsize() == 0 and client.setnx("storeuptime_test_claim", str(os.getpid())):
            try:
                yield number
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.skip("every Redis database 2-15 holds keys: no free one for the test")


def environment(database_url: str, workdir: Path, landing: Path, redis_db: int | None) -> dict[str, str]:
    """What every process of one side gets: its database, DAGSTER_HOME, folders and executor."""
    from storeuptime_pipeline import settings
    from storeuptime_pipeline.db.config import DATABASE_URL_ENV
    from storeuptime_pipeline.db.embedded import HOME_ENV
    from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV

    home = workdir / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **{k: v for k, v in os.environ.items() if k != settings.EXECUTOR_ENV},
        DATABASE_URL_ENV: database_url,
        DAGSTER_HOME_ENV: str(home),
        HOME_ENV: str(ROOT),
        settings.DATA_DIR_ENV: str(landing),
        settings.REPORTS_DIR_ENV: str(workdir / "reports"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
    }
    if redis_db is not None:
        broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}"
        env.update(
            {
                settings.EXECUTOR_ENV: "celery",
                settings.CELERY_BROKER_ENV: broker,
                settings.CELERY_BACKEND_ENV: broker,
            }
        )
    return env


@dataclass
class Workers:
    processes: list[subprocess.Popen]
    names: list[str]  # Celery node names, e.g. hf-w1@host
    start_seconds: float  # from the first Popen to every worker answering a ping
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


@contextmanager
def celery_workers(env: Mapping[str, str], names: tuple[str, ...], log: Path) -> Iterator[Workers]:
    """Start one ``storeuptime worker`` per name and wait until all answer; stop them (SIGTERM, warm
    shutdown) at exit, SIGKILL only the process groups of these workers if they do not exit."""
    from storeuptime_pipeline.defs import executor

    command = [str(Path(sys.executable).with_name("storeuptime")), "worker", "--concurrency", "1"]
    started = time.perf_counter()
    processes: list[subprocess.Popen] = []
    try:
        with log.open("ab") as out:
            for name in names:
                processes.append(
                    subprocess.Popen(
                        [*command, "--name", name],
                        env=dict(env),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        app_args = _app_args(env)
        expected = {f"{name}@{socket.gethostname()}" for name in names}
        deadline = time.monotonic() + 90
        answered: set[str] = set()
        while answered != expected:
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a worker exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"workers {expected - answered} never answered:\n{log.read_text()}")
            with suppress(executor.NoWorkerError):
                answered |= set(ping_all(app_args)) & expected
        yield Workers(processes, sorted(answered), time.perf_counter() - started, log)
    finally:
        for process in processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _app_args(env: Mapping[str, str]) -> dict[str, Any]:
    """The executor's Celery arguments as the workers of ``env`` see them."""
    from dagster._core.execution.retries import RetryMode
    from dagster_celery.executor import CeleryExecutor

    from storeuptime_pipeline import settings
    from storeuptime_pipeline.defs.executor import celery_config_source

    return CeleryExecutor(
        retries=RetryMode(RetryMode.DISABLED),
        broker=env[settings.CELERY_BROKER_ENV],
        backend=env[settings.CELERY_BACKEND_ENV],
        config_source=celery_config_source(),
    ).app_args()


def ping_all(app_args: dict[str, Any], timeout: float = 1.0) -> list[str]:
    from dagster_celery.make_app import make_app

    app = make_app(app_args)
    try:
        return [name for reply in app.control.ping(timeout=timeout) for name in reply]
    finally:
        app.close()


def coordinate(env: Mapping[str, str], job: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``job`` (``ingest``, or ``backfill FIRST LAST``) in a coordinator subprocess; its summary."""
    command = [sys.executable, "-m", COORDINATOR, job, *args]
    done = subprocess.run(command, env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"coordinator {job} failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.strip(), done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_events(instance: Any, run_id: str) -> tuple[dict[str, str], bool]:
    """Which Celery worker ran each step (dagster-celery's "Executing steps ... in celery worker"
    event records the worker's node name), and whether the executor logged its worker check."""
    from dagster import DagsterEventType

    steps: dict[str, str] = {}
    checked = False
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        worker = data.metadata.get("Celery worker") if data is not None else None
        name = getattr(worker, "value", worker)
        message = (event.message if event is not None else None) or entry.user_message or ""
        if event is not None and event.step_key and "in celery worker" in message:
            steps[event.step_key] = str(name)
        elif name and "answers on" in message:
            checked = True
    return steps, checked


def step_spans(instance: Any, run_id: str) -> dict[str, list[float]]:
    """Each step's [start, end] in seconds since the run's first event (STEP_START to its end event)."""
    from dagster import DagsterEventType

    ends = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    spans: dict[str, list[float]] = {}
    origin = None
    for entry in instance.all_logs(run_id):
        origin = entry.timestamp if origin is None else origin
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            spans[event.step_key] = [round(entry.timestamp - origin, 2), float("nan")]
        elif event.event_type in ends and event.step_key in spans:
            spans[event.step_key][1] = round(entry.timestamp - origin, 2)
    return spans


def _step_workers(run_id: str) -> tuple[dict[str, str], bool, dict[str, list[float]]]:
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        return (*worker_events(instance, run_id), step_spans(instance, run_id))


def _main(argv: list[str]) -> int:
    from dagster import AssetKey

    from storeuptime_pipeline.cli.local_runs import QUIET, LocalJobs, RunFailed, backfill_in_process
    from storeuptime_pipeline.defs.assets.ingest import ASSET_OF_KIND
    from storeuptime_pipeline.defs.jobs import ingest_job
    from storeuptime_pipeline.services.instance import prepare_environment
    from storeuptime_pipeline.settings import data_dir

    prepare_environment()
    started = time.perf_counter()
    error = ""
    if argv[0] == "ingest":  # the three ingest assets in one run: three independent steps
        folder = data_dir()
        files = {kind: sorted(folder.glob(f"{stem}*.csv")) for kind, stem in _STEMS.items()}
        ops = {
            ASSET_OF_KIND[kind]: {"config": {"files": [p.name for p in paths]}}
            for kind, paths in files.items()
        }
        run_config = {"ops": ops, "resources": {"landing": {"config": {"path": str(folder)}}}, **QUIET}
        with LocalJobs() as jobs:
            result = jobs.execute(
                ingest_job.name, run_config, tags={}, asset_selection={AssetKey(a) for a in ops}
            )
        run_id, success = result.run_id, result.success
        if not success:
            from storeuptime_pipeline.cli.local_runs import failure_message

            error = failure_message(result)
    else:
        try:
            done = backfill_in_process(*argv[1:3])
            run_id, success = done.run_id, True
        except RunFailed as exc:
            run_id, success, error = "", False, str(exc)
    seconds = time.perf_counter() - started
    steps, checked, spans = _step_workers(run_id) if run_id else ({}, False, {})
    summary = {
        "run_id": run_id,
        "success": success,
        "seconds": seconds,
        "step_workers": steps,
        "executor_event": checked,
        "step_spans": spans,
        "error": error,
    }
    print(json.dumps(summary))
    return 0


_STEMS = {"status": "store_status", "hours": "menu_hours", "timezones": "timezones"}


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
