"""The report API end to end: uvicorn -> Dagster webserver (launchRun) -> QueuedRunCoordinator ->
daemon -> run worker -> Postgres, and back through ``GET /get_report``.

One deployment (``dagster dev`` on a throw-away database) and one API server are shared by the
module; each test states the data it needs (truncating or loading the tables), so the order of the
tests does not matter. Expected reports come from ``storeuptime report`` on the same files.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.api.app import create_app, parse_as_of
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG
from storeuptime_pipeline.api.server import serving
from storeuptime_pipeline.cli import main as cli
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.generator.data import GeneratedDataset, generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.dagster_server import DagsterStack, dagster_stack
from storeuptime_pipeline_tests.waiting import wait_until

#: Two cores here: more concurrent run workers only make each one slower.
MAX_CONCURRENT_RUNS = 3
#: Spares for on-demand runs: in a burst some runs take a spare and the rest start the normal way
#: (no spare ready), so the burst goes through both launch paths of ``MonitoredRunLauncher``.
WARM_RUNS = 1
REPORT_WAIT_SECONDS = 180
FIFTY_WAIT_SECONDS = 420
#: Distinct instants (and "latest poll") spread over the 50 triggers, so a mix-up shows.
AS_OFS = ["", "2023-01-25T12:00:00Z", "2023-01-25T09:30:00Z", "2023-01-24T18:00:00Z", "2023-01-22T00:00:00Z"]


@dataclass
class Live:
    stack: DagsterStack
    api: str
    engine: Engine
    data: GeneratedDataset
    workdir: Path
    expected: dict[str, str]

    def expected_csv(self, as_of: str) -> str:
        """``storeuptime report`` on the generated files (cached per as_of)."""
        if as_of not in self.expected:
            out = self.workdir / f"cli_{uuid.uuid4().hex}.csv"
            args = ["report", "--data", str(self.data.directory), "--out", str(out)]
            assert cli.main([*args, "--as-of", as_of] if as_of else args) == 0
            self.expected[as_of] = out.read_text()
        return self.expected[as_of]


@pytest.fixture(scope="module")
def live(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("api_live")
    data = generate_dataset(workdir / "data", stores=200, days=8, seed=1)
    with (
        temporary_database(admin_url, prefix="storeuptime_live_") as url,
        dagster_stack(
            url,
            workdir / "stack",
            max_concurrent_runs=MAX_CONCURRENT_RUNS,
            extra_env={settings.WARM_RUNS_ENV: str(WARM_RUNS)},
        ) as stack,
    ):
        instance = stack.instance()
        # 50 triggers at once must all be accepted here: above the default queue limit (20).
        app = create_app(database_url=url, instance=instance, dagster_url=stack.url, max_queued=60)
        try:
            with serving(app) as api:
                yield Live(stack, api, get_engine(url), data, workdir, {})
        finally:
            instance.dispose()


def _load(live: Live) -> None:
    """Ingest the generated files (idempotent: a second load changes nothing)."""
    for kind, path in (
        ("timezones", live.data.timezones_path),
        ("hours", live.data.hours_path),
        ("status", live.data.status_path),
    ):
        load_files(live.engine, kind, [path])


def _what_happened(live: Live, run: DagsterRun) -> str:
    """A failed run's story for the assertion message: its tags and its engine and failure events."""
    instance = live.stack.instance()
    try:
        lines = [f"run {run.run_id} {run.status.value}, tags {dict(run.tags)}"]
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is not None and (
                event.is_failure or event.event_type_value in ("ENGINE_EVENT", "RUN_FAILURE")
            ):
                lines.append(f"{event.event_type_value}: {(entry.message or '')[:400]}")
        return "\n".join(lines)
    finally:
        instance.dispose()


def _trigger(live: Live, as_of: str = "") -> str:
    response = requests.post(
        f"{live.api}/trigger_report", params={"as_of": as_of} if as_of else None, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()["report_id"]


def _wait_finished(live: Live, report_ids: list[str], timeout: float) -> dict[str, requests.Response]:
    """Poll until no report is Running; returns each report's final answer."""
    finished: dict[str, requests.Response] = {}
    with requests.Session() as session:

        def all_finished() -> bool:
            for report_id in report_ids:
                if report_id in finished:
                    continue
                response = session.get(f"{live.api}/get_report/{report_id}", timeout=30)
                assert response.status_code == 200, response.text
                if response.headers["X-Report-Status"] != "Running":
                    finished[report_id] = response
            return len(finished) == len(report_ids)

        wait_until(
            all_finished,
            timeout,
            f"{len(report_ids)} report(s) to finish (no longer Running)",
            every=1,
            details=lambda: f"{len(report_ids) - len(finished)} still Running\n{live.stack.log_tail()}",
        )
    return finished


def test_run_on_empty_database_is_failed_with_the_readable_reason(live: Live) -> None:
    with live.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE store_status, uptime_report")
    report_id = _trigger(live)
    answer = _wait_finished(live, [report_id], REPORT_WAIT_SECONDS)[report_id]
    assert answer.headers["X-Report-Status"] == "Failed"
    assert answer.json() == {
        "status": "Failed",
        "error": "no polls in the database yet: ingest a status file first",
    }


def _finished_runs(live: Live, runs_filter: RunsFilter) -> list[DagsterRun]:
    """The runs matching ``runs_filter`` once every one has ended.

    A report is recorded Complete once its rows and CSV are stored; the run itself ends a moment
    later (the checks, the run's end event), so a status read right after Complete can be STARTED.
    """

    def finished() -> list[DagsterRun] | None:
        with live.stack.instance() as instance:
            found = list(instance.get_runs(runs_filter))
        return found if found and all(r.is_finished for r in found) else None

    return live.stack.wait_for(finished, "the on-demand runs to finish", timeout=120)


def test_report_through_dagster_equals_the_cli_report(live: Live) -> None:
    _load(live)
    latest_id, as_of_id = _trigger(live), _trigger(live, "2023-01-24T06:00:00+02:00")
    answers = _wait_finished(live, [latest_id, as_of_id], REPORT_WAIT_SECONDS)

    latest = answers[latest_id]
    assert latest.headers["X-Report-Status"] == "Complete", latest.text
    assert latest.headers["content-type"].startswith("text/csv")
    assert f"uptime_report_{latest_id}.csv" in latest.headers["content-disposition"]
    assert latest.text == live.expected_csv("")
    assert answers[as_of_id].text == live.expected_csv("2023-01-24T04:00:00Z")

    as_json = requests.get(f"{live.api}/get_report/{latest_id}", params={"format": "json"}, timeout=30).json()
    assert as_json["status"] == "Complete" and as_json["csv"] == latest.text
    assert as_json["as_of"] == live.data.end.isoformat().replace("+00:00", "Z")

    runs = _finished_runs(live, RunsFilter(tags={REPORT_ID_TAG: latest_id}))
    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS]
    assert runs[0].job_name == "on_demand_report_job"


def test_unknown_and_malformed_ids_on_the_live_server(live: Live) -> None:
    assert requests.get(f"{live.api}/get_report/{uuid.uuid4().hex}", timeout=30).status_code == 404
    assert requests.get(f"{live.api}/get_report/not-a-report-id", timeout=30).status_code == 422
    assert (
        requests.post(f"{live.api}/trigger_report", params={"as_of": "yesterday"}, timeout=30).status_code
        == 422
    )


def test_fifty_concurrent_triggers_all_complete_correct_and_unmixed(live: Live) -> None:
    _load(live)
    wanted = [AS_OFS[i % len(AS_OFS)] for i in range(50)]
    expected = {as_of: live.expected_csv(as_of) for as_of in AS_OFS}
    assert len(set(expected.values())) == len(AS_OFS), "the as-of instants must give distinct reports"

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=50) as pool:
        report_ids = list(pool.map(lambda as_of: _trigger(live, as_of), wanted))
    triggered = time.monotonic() - started
    assert len(set(report_ids)) == 50
    answers = _wait_finished(live, report_ids, FIFTY_WAIT_SECONDS)
    elapsed = time.monotonic() - started
    print(f"\n50 concurrent triggers: all answered in {triggered:.1f} s, all complete after {elapsed:.1f} s")

    statuses = Counter(a.headers["X-Report-Status"] for a in answers.values())
    assert statuses == {"Complete": 50}, {
        rid: a.text[:200] for rid, a in answers.items() if a.status_code != 200
    }
    for report_id, as_of in zip(report_ids, wanted, strict=True):
        assert answers[report_id].text == expected[as_of], f"report {report_id} (as_of {as_of!r}) differs"

    runs = _finished_runs(live, RunsFilter(job_name="on_demand_report_job"))
    by_report = {r.tags.get(REPORT_ID_TAG): r for r in runs}
    for report_id, as_of in zip(report_ids, wanted, strict=True):
        run = by_report[report_id]
        assert run.status == DagsterRunStatus.SUCCESS, _what_happened(live, run)
        config = run.run_config["ops"]["on_demand_report"]["config"]
        assert config == {"report_id": report_id, "as_of": parse_as_of(as_of or None) or ""}
