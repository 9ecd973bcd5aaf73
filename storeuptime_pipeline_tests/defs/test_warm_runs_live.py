"""Warm run workers on a real deployment (``dagster dev`` + the API, STOREUPTIME_WARM_RUNS=1).

One module-scoped stack: its first report has no spare yet and starts the normal way (the fallback),
which also starts the first spare; later reports go to warm workers. The CSVs of both paths are
compared byte for byte; a warm run is cancelled from the webserver (GraphQL ``terminateRun``, as the
UI does), and a warm worker killed with -9 inside its run gets that run failed by run monitoring.
To hold a run inside its step, a test locks ``store_status`` (the report waits for that lock).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import psutil
import pytest
import requests
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG
from storeuptime_pipeline.api.server import serving
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.run_launcher import WORKER_PID_TAG
from storeuptime_pipeline.defs.warm_runs import WARM_WORKER_TAG
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.dagster_server import DagsterStack, dagster_stack
from storeuptime_pipeline_tests.defs.test_run_monitoring_live import monitored_instance_yaml, worker_pid

_TERMINATE = """
mutation StoreuptimeTerminate($runId: String!) {
  terminateRun(runId: $runId) { __typename ... on TerminateRunFailure { message } ... on PythonError { message } }
}
"""


class Live:
    def __init__(self, stack: DagsterStack, instance: DagsterInstance, api: str, engine: Engine) -> None:
        self.stack, self.instance, self.api, self.engine = stack, instance, api, engine

    def trigger(self) -> str:
        answer = requests.post(f"{self.api}/trigger_report", timeout=60)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["report_id"])

    def run_of(self, report_id: str) -> DagsterRun:
        runs = self.stack.wait_for(
            lambda: self.instance.get_runs(RunsFilter(tags={REPORT_ID_TAG: report_id})), "the report's run"
        )
        return runs[0]

    def finished(self, report_id: str, timeout: float = 90) -> requests.Response:
        def answer() -> requests.Response | None:
            got = requests.get(f"{self.api}/get_report/{report_id}", timeout=30)
            return got if got.headers.get("X-Report-Status") != "Running" else None

        return self.stack.wait_for(answer, f"report {report_id} to finish", timeout=timeout, every=0.2)

    def status(self, run_id: str) -> DagsterRunStatus:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run.status

    def zygotes(self) -> list[psutil.Process]:
        """This stack's warm-worker zygotes (children of its daemon, by DAGSTER_HOME)."""
        found = []
        for process in psutil.process_iter(["cmdline"]):
            try:
                if "storeuptime_pipeline.defs.warm_runs" not in " ".join(process.info["cmdline"] or []):
                    continue
                if process.environ().get("DAGSTER_HOME") != str(self.stack.dagster_home):
                    continue
                if "storeuptime_pipeline.defs.warm_runs" in " ".join(process.parent().cmdline()):
                    continue  # a fork of a zygote: a spare
            except psutil.Error:
                continue
            found.append(process)
        return found

    def idle_spares(self) -> list[psutil.Process]:
        """This stack's warm workers that have no run yet (forks of its zygotes)."""
        spares = []
        for zygote in self.zygotes():
            try:
                children = zygote.children()
            except psutil.Error:
                continue
            for process in children:
                if not self.instance.get_runs(RunsFilter(tags={WARM_WORKER_TAG: str(process.pid)})):
                    spares.append(process)
        return spares

    def warm_run_held_in_step(self) -> tuple[DagsterRun, int]:
        """Trigger while the caller holds the store_status lock: the warm run, inside its step (which
        waits for that lock: its first query reads store_status), and its worker's pid."""
        self.stack.wait_for(self.idle_spares, "a warm spare", timeout=90)
        run_id = self.run_of(self.trigger()).run_id

        def in_step() -> DagsterRun | None:
            run = self.instance.get_run_by_id(run_id)
            steps = self.instance.all_logs(run_id, of_type=DagsterEventType.STEP_START)
            return run if run is not None and run.tags.get(WARM_WORKER_TAG) and steps else None

        run = self.stack.wait_for(in_step, "the warm run to enter its step", timeout=90)
        return run, int(run.tags[WORKER_PID_TAG])


@pytest.fixture(scope="module")
def live(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("warm")
    data = generate_dataset(tmp / "data", stores=30, days=8, seed=5)
    with (
        temporary_database(admin_url, prefix="storeuptime_warm_") as url,
        dagster_stack(
            url,
            tmp / "stack",
            instance_config=monitored_instance_yaml(tmp),
            extra_env={settings.WARM_RUNS_ENV: "1"},
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
        app = create_app(database_url=url, instance=instance, dagster_url=stack.url)
        with serving(app) as api:
            yield Live(stack, instance, api, engine)
        engine.dispose()


def test_without_a_spare_the_run_starts_the_normal_way_and_a_warm_run_gives_the_same_csv(live: Live) -> None:
    assert not live.idle_spares()  # nothing launched yet: no spare
    first = live.trigger()
    normal = live.finished(first)
    assert normal.headers["X-Report-Status"] == "Complete", normal.text
    assert WARM_WORKER_TAG not in live.run_of(first).tags

    live.stack.wait_for(live.idle_spares, "the spare started after the first launch", timeout=90)
    second = live.trigger()
    warm = live.finished(second)
    assert warm.headers["X-Report-Status"] == "Complete", warm.text
    assert warm.content == normal.content
    run = live.run_of(second)
    pid = int(run.tags[WARM_WORKER_TAG])
    assert run.tags[WORKER_PID_TAG] == str(pid)
    assert worker_pid(live.instance, run.run_id) == pid  # Dagster's own "Started process" event
    # GET answers Complete once the asset recorded the report; the run ends just after.
    live.stack.wait_for(
        lambda: live.status(run.run_id) == DagsterRunStatus.SUCCESS, "the warm run to succeed"
    )
    kinds = {e.dagster_event.event_type for e in live.instance.all_logs(run.run_id) if e.dagster_event}
    assert {
        DagsterEventType.RUN_START,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.RUN_SUCCESS,
    } <= kinds
    live.stack.wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        "the warm worker to exit after its one run",
        timeout=30,
    )


def test_a_dead_spare_makes_the_launch_fall_back(live: Live) -> None:
    (spare,) = live.stack.wait_for(live.idle_spares, "a warm spare", timeout=90)
    os.kill(spare.pid, signal.SIGKILL)
    report_id = live.trigger()
    answer = live.finished(report_id)
    assert answer.headers["X-Report-Status"] == "Complete", answer.text
    run = live.run_of(report_id)
    assert WARM_WORKER_TAG not in run.tags
    messages = [e.message or "" for e in live.instance.all_logs(run.run_id)]
    assert any(
        re.search(rf"No warm run worker ready \(spare {spare.pid} exited with -9\)", m) for m in messages
    ), messages


def test_a_warm_run_is_cancelled_from_the_webserver(live: Live) -> None:
    with live.engine.connect() as blocker:
        blocker.begin()
        blocker.exec_driver_sql("LOCK TABLE store_status IN ACCESS EXCLUSIVE MODE")
        run, pid = live.warm_run_held_in_step()
        answer = live.stack.graphql(_TERMINATE, {"runId": run.run_id})["terminateRun"]
        assert answer["__typename"] == "TerminateRunSuccess", answer
        blocker.rollback()
    live.stack.wait_for(
        lambda: live.status(run.run_id) == DagsterRunStatus.CANCELED, "the run to be CANCELED"
    )
    live.stack.wait_for(
        lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
        "the cancelled warm worker to exit",
        timeout=30,
    )


def test_a_warm_worker_killed_with_sigkill_gets_its_run_failed(live: Live) -> None:
    with live.engine.connect() as blocker:
        blocker.begin()
        blocker.exec_driver_sql("LOCK TABLE store_status IN ACCESS EXCLUSIVE MODE")
        run, pid = live.warm_run_held_in_step()
        assert worker_pid(live.instance, run.run_id) == pid
        os.kill(pid, signal.SIGKILL)
        blocker.rollback()
    live.stack.wait_for(
        lambda: live.status(run.run_id) == DagsterRunStatus.FAILURE, "the monitor to fail the run"
    )
    report_id = run.tags[REPORT_ID_TAG]
    assert live.finished(report_id, timeout=30).headers["X-Report-Status"] == "Failed"
