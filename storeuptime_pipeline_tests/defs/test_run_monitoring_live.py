"""Dead runs don't block live ones: runs whose process was killed with -9 are failed by Dagster's run
monitoring, and a report triggered while they held every slot of the run queue completes.

The reported case, reproduced on a real deployment (``dagster dev``: webserver, daemon, code server)
with the project's dagster.yaml, only its monitoring poll interval shortened: ``storeuptime ingest``
processes (in-process runs, STARTED in the instance) are killed with -9 while their run is in
progress, filling ``max_concurrent_runs``; then the run worker of a report run started by the
daemon (a code-server subprocess) is killed the same way. To kill them at a known point, the test
holds a lock on ``store_status`` so that each run waits inside its run for it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG
from storeuptime_pipeline.api.server import serving
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.run_launcher import WORKER_HOST_TAG, host_id
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.instance import instance_yaml
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.dagster_server import dagster_stack

SLOTS = 2  # max_concurrent_runs; as many runs are killed, so the queue is blocked
POLL_SECONDS = 1


def monitored_instance_yaml(folder: Path) -> Path:
    """The project's dagster.yaml with a short monitoring interval (Dagster takes no env var there)."""
    text = instance_yaml().read_text()
    path = folder / "dagster.yaml"
    path.write_text(text.replace("poll_interval_seconds: 30", f"poll_interval_seconds: {POLL_SECONDS}"))
    return path


def waiting_for_store_status(engine: Engine, count: int) -> bool:
    with engine.connect() as conn:
        waiting = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'store_status'::regclass"
        ).scalar_one()
    return waiting >= count


def worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker announced ("Started process for run (pid: N)")."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        found = re.search(r"Started process for run \(pid: (\d+)\)", entry.message or "")
        if found:
            return int(found.group(1))
    return None


@pytest.fixture
def cli_processes() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for process in started:  # only the processes this test started, by pid
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_runs_killed_with_sigkill_are_failed_and_a_trigger_then_completes(
    admin_url: str, tmp_path: Path, cli_processes: list[subprocess.Popen]
) -> None:
    data = generate_dataset(tmp_path / "data", stores=30, days=8, seed=5)
    small = generate_dataset(tmp_path / "small", stores=3, days=1, seed=6)
    cli_data = tmp_path / "cli_data"
    cli_data.mkdir()
    small.status_path.rename(cli_data / "store_status.csv")

    with (
        temporary_database(admin_url, prefix="storeuptime_monitor_") as url,
        dagster_stack(
            url,
            tmp_path / "stack",
            max_concurrent_runs=SLOTS,
            instance_config=monitored_instance_yaml(tmp_path),
            # The normal launch path (a code-server subprocess per run); a killed warm worker is
            # test_warm_runs_live's.
            extra_env={settings.WARM_RUNS_ENV: "0"},
        ) as stack,
        stack.instance() as instance,
    ):
        engine = get_engine(url)
        for kind, path in (
            ("timezones", data.timezones_path),
            ("hours", data.hours_path),
            ("status", data.status_path),
        ):
            load_files(engine, kind, [path])

        cli = str(Path(sys.executable).with_name("storeuptime"))
        with engine.connect() as blocker:
            blocker.begin()
            blocker.exec_driver_sql("LOCK TABLE store_status IN ACCESS EXCLUSIVE MODE")
            for _ in range(SLOTS):
                cli_processes.append(
                    subprocess.Popen(
                        [cli, "ingest", "--data", str(cli_data)],
                        env=dict(stack.env),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )

            stack.wait_for(
                lambda: waiting_for_store_status(engine, SLOTS),
                f"{SLOTS} ingest runs waiting inside their run",
                timeout=90,
            )
            cli_runs = instance.get_runs(RunsFilter(tags={"storeuptime/source": "cli"}))
            assert [r.status for r in cli_runs] == [DagsterRunStatus.STARTED] * SLOTS
            for process in cli_processes:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            blocker.rollback()

        app = create_app(database_url=url, instance=instance, dagster_url=stack.url)
        with serving(app) as api:
            response = requests.post(f"{api}/trigger_report", timeout=60)
            assert response.status_code == 200, response.text
            report_id = response.json()["report_id"]

            def dead_runs_failed() -> bool:
                runs = [instance.get_run_by_id(r.run_id) for r in cli_runs]
                return all(r is not None and r.status == DagsterRunStatus.FAILURE for r in runs)

            began = time.monotonic()
            stack.wait_for(dead_runs_failed, "the monitor to fail the killed runs", timeout=60)
            print(f"\nkilled runs marked FAILURE {time.monotonic() - began:.1f} s after the trigger")

            def report_finished() -> requests.Response | None:
                answer = requests.get(f"{api}/get_report/{report_id}", timeout=30)
                return answer if answer.headers.get("X-Report-Status") != "Running" else None

            answer = stack.wait_for(report_finished, "the report triggered behind the dead runs", timeout=90)
            assert answer.headers["X-Report-Status"] == "Complete", answer.text
            print(f"report complete {time.monotonic() - began:.1f} s after the trigger")
            (report_run,) = instance.get_runs(RunsFilter(tags={REPORT_ID_TAG: report_id}))
            assert report_run.tags[WORKER_HOST_TAG] == host_id()  # judged by the health check, not failed

            # A run started by the daemon: its worker is a code-server subprocess; kill it inside the run.
            with engine.connect() as blocker:
                blocker.begin()
                blocker.exec_driver_sql("LOCK TABLE store_status IN ACCESS EXCLUSIVE MODE")
                report_id = requests.post(f"{api}/trigger_report", timeout=60).json()["report_id"]
                run = stack.wait_for(
                    lambda: instance.get_runs(RunsFilter(tags={REPORT_ID_TAG: report_id})),
                    "the report run",
                    timeout=30,
                )[0]
                stack.wait_for(
                    lambda: waiting_for_store_status(engine, 1), "the report run to wait", timeout=90
                )
                pid = stack.wait_for(lambda: worker_pid(instance, run.run_id), "the worker's pid", timeout=30)
                os.kill(pid, signal.SIGKILL)
                blocker.rollback()
            began = time.monotonic()
            stack.wait_for(
                lambda: instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE,  # type: ignore[union-attr]
                "the run whose worker was killed to be failed",
                timeout=60,
            )
            print(f"killed run worker's run marked FAILURE after {time.monotonic() - began:.1f} s")
            answer = stack.wait_for(report_finished, "the killed report to be answered", timeout=30)
            assert answer.headers["X-Report-Status"] == "Failed", answer.text
