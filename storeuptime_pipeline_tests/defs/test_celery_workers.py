"""Two real Celery workers (``storeuptime worker`` subprocesses) run the steps of real runs.

STOREUPTIME_EXECUTOR=celery, the Redis at 127.0.0.1:6379 as broker and result backend (a database of
its own, emptied at the end), a throw-away Postgres. The run itself executes outside Celery (here: a
coordinator subprocess running the job as the CLI does, cli/local_runs.py), which is the combination
defs/executor.py chooses. Proved from the run's events: every step ran in a Celery worker, the steps
of one run ran on both workers, and the database and the report CSVs equal an in-process run's.
Skipped, with the reason, when no Redis answers.

To add a job (the sharded report, once its shards are steps): add a ``_Job`` to ``JOBS``; the test
runs it both ways and compares.

Run as a module, this file is the coordinator: ``python -m storeuptime_pipeline_tests.defs.
test_celery_workers JOB ARG...`` runs one job in that process with the executor its environment names
and prints, as JSON, the run's id, success, seconds and which worker ran each step.
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
ROOT = Path(__file__).resolve().parents[2]  # the checkout: its dagster.yaml, and where -m finds this file
#: The last 24 hourly partitions of the generated data set (its latest poll is 2023-01-25 18:13 UTC).
BACKFILL = ("2023-01-24-18:00", "2023-01-25-17:00")
WORKER_NAMES = ("hf-w1", "hf-w2")
_TABLES = {  # table: sort columns (row order is not part of the result)
    "stores": ["store_id"],
    "business_hours": ["store_id", "day_of_week", "start_local", "end_local"],
    "store_status": ["store_id", "timestamp_utc"],
    "uptime_report": ["as_of", "store_id"],
    "outages": ["as_of", "store_id", "start_utc"],
}


def _redis_answers() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


needs_redis = pytest.mark.skipif(
    not _redis_answers(),
    reason=f"no Redis answers on {REDIS_HOST}:{REDIS_PORT} (the Celery broker these tests need)",
)


@dataclass(frozen=True)
class _Job:
    name: str
    args: tuple[str, ...]
    min_steps: int  # steps the run has: at least two, so that both workers can get one


JOBS = (
    _Job("ingest", (), min_steps=3),  # store_status, business_hours, store_timezones: independent steps
    _Job("backfill", BACKFILL, min_steps=1),  # one step until the report is split into shards
)


@contextmanager
def _claimed_redis_db() -> Iterator[int]:
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


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    with _claimed_redis_db() as number:
        yield number


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storeuptime_pipeline.generator.data import generate_dataset

    folder = tmp_path_factory.mktemp("landing")
    generate_dataset(folder, stores=400, days=8, seed=12)
    return folder


def _environment(database_url: str, workdir: Path, landing: Path, redis_db: int | None) -> dict[str, str]:
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
class _Workers:
    processes: list[subprocess.Popen]
    names: list[str]  # Celery node names, e.g. hf-w1@host
    start_seconds: float  # from the first Popen to every worker answering a ping
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


@contextmanager
def celery_workers(env: Mapping[str, str], names: tuple[str, ...], log: Path) -> Iterator[_Workers]:
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
                answered |= set(_ping_all(app_args)) & expected
        yield _Workers(processes, sorted(answered), time.perf_counter() - started, log)
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


def _ping_all(app_args: dict[str, Any], timeout: float = 1.0) -> list[str]:
    from dagster_celery.make_app import make_app

    app = make_app(app_args)
    try:
        return [name for reply in app.control.ping(timeout=timeout) for name in reply]
    finally:
        app.close()


def _coordinate(env: Mapping[str, str], job: _Job, timeout: float = 300) -> dict[str, Any]:
    """Run ``job`` in a coordinator subprocess (this file as a module); its JSON summary."""
    command = [
        sys.executable,
        "-m",
        "storeuptime_pipeline_tests.defs.test_celery_workers",
        job.name,
        *job.args,
    ]
    done = subprocess.run(command, env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"coordinator {job.name} failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


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
        env = _environment(url, workdir, landing, redis_db=None)
        runs = {job.name: _coordinate(env, job) for job in JOBS}
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
        env = _environment(url, workdir, landing, redis_db)
        with celery_workers(env, WORKER_NAMES, workdir / "workers.log") as workers:
            runs = {job.name: _coordinate(env, job) for job in JOBS}
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
    ingest_steps = celery_side["runs"]["ingest"]["step_workers"]
    assert set(ingest_steps.values()) == set(workers.names), (
        f"the ingest run's steps did not spread over both workers: {ingest_steps}\n{workers.tail()}"
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
        _claimed_redis_db() as number,
        temporary_database(admin_url, prefix="storeuptime_celery_e2e_") as url,
    ):
        broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
        celery_env = {
            settings.EXECUTOR_ENV: "celery",
            settings.CELERY_BROKER_ENV: broker,
            settings.CELERY_BACKEND_ENV: broker,
        }
        with (
            dagster_stack(url, tmp_path / "stack", extra_env=celery_env) as stack,
            celery_workers(stack.env, WORKER_NAMES, tmp_path / "workers.log") as workers,
            stack.instance() as instance,
        ):
            # The data, loaded by one ingest run (its steps on the workers too), then the backfill.
            ingest = _coordinate({**stack.env, settings.DATA_DIR_ENV: str(landing)}, JOBS[0])
            assert ingest["success"], ingest
            backfill_id = launch_report_backfill(stack.url, *BACKFILL)

            def backfill_run() -> Any:
                runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
                assert all(r.status != DagsterRunStatus.FAILURE for r in runs), stack.log_tail()
                return runs[0] if runs and runs[0].status == DagsterRunStatus.SUCCESS else None

            backfill = stack.wait_for(backfill_run, "the backfill's run", timeout=240)
            steps, checked = _worker_events(instance, backfill.run_id)
            assert checked, "the backfill's run did not check for a worker: not the Celery executor?"
            assert set(steps) >= {"uptime_report"}, steps
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
        _claimed_redis_db() as free,
        temporary_database(admin_url, prefix="storeuptime_celery_none_") as url,
    ):
        migrate.upgrade(url)
        env = _environment(url, tmp_path, landing, redis_db=free)
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
    with _claimed_redis_db() as number:
        env = _environment(database_url, tmp_path, tmp_path, number)
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

    env = _environment(database_url, tmp_path, tmp_path, redis_db=None)
    env[settings.CELERY_BROKER_ENV] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    command = [str(Path(sys.executable).with_name("storeuptime")), "worker", "--name", "nobroker"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "storeuptime worker: the Celery broker redis://127.0.0.1:1/0 does not answer" in done.stderr
    assert "Traceback" not in done.stderr


# --- the coordinator (this file run as a module) ---


def _worker_events(instance: Any, run_id: str) -> tuple[dict[str, str], bool]:
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


def _step_workers(run_id: str) -> tuple[dict[str, str], bool]:
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        return _worker_events(instance, run_id)


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
    steps, checked = _step_workers(run_id) if run_id else ({}, False)
    summary = {
        "run_id": run_id,
        "success": success,
        "seconds": seconds,
        "step_workers": steps,
        "executor_event": checked,
        "error": error,
    }
    print(json.dumps(summary))
    return 0


_STEMS = {"status": "store_status", "hours": "menu_hours", "timezones": "timezones"}


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
