"""The report API in process (FastAPI TestClient) on a real Postgres database, without a webserver.

The launcher is a recording double and the Dagster instance an ephemeral one whose runs the tests
create themselves, so every status the API can answer is reached deterministically and fast; the
end-to-end path through a live webserver and daemon is in ``test_api_live.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, materialize
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from storeuptime_pipeline.api.app import create_app, parse_as_of
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG, GraphQLLauncher, run_config
from storeuptime_pipeline.cli import main as cli
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.run_records import get_report, record_report
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS, build_and_store
from storeuptime_pipeline.defs.jobs import on_demand_report_job
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.dagster_server import free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@dataclass
class RecordingLauncher:
    """Stands in for the webserver: records launches and adds a not-yet-started run to the instance."""

    instance: DagsterInstance
    calls: list[tuple[str, str]] = field(default_factory=list)

    def launch(self, report_id: str, as_of: str) -> str:
        self.calls.append((report_id, as_of))
        run = DagsterRun(
            job_name=on_demand_report_job.name,
            run_id=str(uuid.uuid4()),
            run_config=run_config(report_id, as_of),
            tags={REPORT_ID_TAG: report_id},
            status=DagsterRunStatus.NOT_STARTED,  # QUEUED would need a code location origin
        )
        self.instance.add_run(run)
        return run.run_id

    def reachable(self) -> tuple[bool, str]:
        return True, "recording double"


@dataclass
class Api:
    client: TestClient
    engine: Engine
    instance: DagsterInstance
    launcher: RecordingLauncher
    url: str
    data: Path


@pytest.fixture(scope="module")
def api(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An app on its own empty, migrated database (the report tests load data into it)."""
    with temporary_database(admin_url, prefix="storeuptime_api_") as url:
        migrate.upgrade(url)
        with DagsterInstance.ephemeral() as instance:
            launcher = RecordingLauncher(instance)
            app = create_app(database_url=url, instance=instance, launcher=launcher)
            with TestClient(app) as client:
                yield Api(client, get_engine(url), instance, launcher, url, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def complete_report(api: Api) -> tuple[str, str, pd.Timestamp]:
    """A report made the way the asset makes it (rows + report_runs record), and the CLI's CSV for it."""
    ds = generate_dataset(api.data / "in", stores=60, days=8, seed=3)
    for kind, path in (
        ("timezones", ds.timezones_path),
        ("hours", ds.hours_path),
        ("status", ds.status_path),
    ):
        load_files(api.engine, kind, [path])
    as_of = pd.Timestamp("2023-01-24 15:30:00", tz="UTC")
    _, paths = build_and_store(api.engine, api.data / "reports", [as_of])
    report_id = uuid.uuid4().hex
    record_report(api.engine, report_id, "no-run", status="complete", as_of=as_of, csv_path=str(paths[as_of]))
    out = api.data / "cli.csv"
    assert (
        cli.main(["report", "--data", str(ds.directory), "--out", str(out), "--as-of", as_of.isoformat()])
        == 0
    )
    return report_id, out.read_text(), as_of


@pytest.mark.parametrize(
    "bad_id", ["xyz", "0" * 31, "0" * 33, "g" * 32, "3f6c1e0a-9b8d-4c2e-8f7a-6b5c4d3e2f10", "%20" * 11]
)
def test_malformed_report_id_is_422(api: Api, bad_id: str) -> None:
    response = api.client.get(f"/get_report/{bad_id}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "report_id"]


def test_unknown_report_id_is_404(api: Api) -> None:
    response = api.client.get(f"/get_report/{uuid.uuid4().hex}")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown report id"}


def test_trigger_records_queued_report_and_launches_with_its_config(api: Api) -> None:
    response = api.client.post("/trigger_report", params={"as_of": "2023-01-25 12:00:00 UTC"})
    assert response.status_code == 200
    report_id = response.json()["report_id"]
    assert len(report_id) == 32 and int(report_id, 16) >= 0
    assert api.launcher.calls[-1] == (report_id, "2023-01-25T12:00:00+00:00")
    record = get_report(api.engine, report_id)
    assert record is not None and record.status == "queued" and record.run_id is not None
    assert record.as_of == pd.Timestamp("2023-01-25 12:00", tz="UTC")
    run = api.instance.get_run_by_id(record.run_id)
    assert run is not None and run.tags[REPORT_ID_TAG] == report_id
    assert run.run_config["ops"] == {
        "on_demand_report": {"config": {"report_id": report_id, "as_of": "2023-01-25T12:00:00+00:00"}}
    }

    status = api.client.get(f"/get_report/{report_id}")
    assert status.status_code == 200
    assert status.json() == {"status": "Running"}
    assert status.headers["X-Report-Status"] == "Running"


def test_trigger_without_as_of_leaves_it_to_the_run(api: Api) -> None:
    report_id = api.client.post("/trigger_report").json()["report_id"]
    assert api.launcher.calls[-1] == (report_id, "")


@pytest.mark.parametrize(
    "as_of", ["garbage", "2023-13-01", "now", "1700000000", "0001-01-01T00:00:00", "", "  "]
)
def test_trigger_rejects_garbage_as_of_with_422(api: Api, as_of: str) -> None:
    calls = len(api.launcher.calls)
    response = api.client.post("/trigger_report", params={"as_of": as_of})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "as_of"]
    assert len(api.launcher.calls) == calls


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2023-01-25T18:13:22Z", "2023-01-25T18:13:22+00:00"),
        ("2023-01-25 18:13:22.479220 UTC", "2023-01-25T18:13:22.479220+00:00"),
        ("2023-01-25T12:00:00-06:00", "2023-01-25T18:00:00+00:00"),
        ("2023-01-25", "2023-01-25T00:00:00+00:00"),
        (None, None),
    ],
)
def test_as_of_is_normalized_to_utc_iso(given: str | None, expected: str | None) -> None:
    assert parse_as_of(given) == expected


def test_unreachable_webserver_is_503_plain_text_and_the_report_is_failed(api: Api) -> None:
    app = create_app(
        database_url=api.url,
        instance=api.instance,
        launcher=GraphQLLauncher(f"http://127.0.0.1:{free_port()}", timeout_seconds=5),
    )
    with TestClient(app) as client:
        response = client.post("/trigger_report")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("text/plain")
        assert "unreachable" in response.text and "127.0.0.1" not in response.text
        failed = [r for r in _records(api.engine) if r["status"] == "failed" and r["error"]]
        assert any("unreachable" in r["error"] for r in failed)


def test_complete_report_is_the_engine_csv_as_download_and_json(
    api: Api, complete_report: tuple[str, str, pd.Timestamp]
) -> None:
    report_id, expected_csv, as_of = complete_report
    response = api.client.get(f"/get_report/{report_id}")
    assert response.status_code == 200
    assert response.headers["X-Report-Status"] == "Complete"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="uptime_report_{report_id}.csv"'
    assert response.text == expected_csv

    as_json = api.client.get(f"/get_report/{report_id.upper()}", params={"format": "json"})
    assert as_json.status_code == 200
    body = as_json.json()
    assert body["status"] == "Complete" and body["csv"] == expected_csv
    assert pd.Timestamp(body["as_of"]) == as_of
    assert api.client.app.state.statuses.cached(report_id) is not None  # later requests skip the database


def test_failed_record_is_reported_with_its_message(api: Api) -> None:
    report_id = uuid.uuid4().hex
    record_report(api.engine, report_id, None, status="failed", error="no polls in the database yet")
    response = api.client.get(f"/get_report/{report_id}")
    assert response.json() == {"status": "Failed", "error": "no polls in the database yet"}
    assert response.headers["X-Report-Status"] == "Failed"


@pytest.mark.parametrize(
    ("run_status", "expected"),
    [
        (DagsterRunStatus.STARTING, {"status": "Running"}),
        (DagsterRunStatus.STARTED, {"status": "Running"}),
        (DagsterRunStatus.CANCELED, {"status": "Failed", "error": "the report run was canceled"}),
        (
            DagsterRunStatus.SUCCESS,
            {"status": "Failed", "error": "the report run finished without recording a report"},
        ),
    ],
)
def test_unfinished_record_follows_the_dagster_run(
    api: Api, run_status: DagsterRunStatus, expected: dict[str, str]
) -> None:
    report_id = uuid.uuid4().hex
    run = api.instance.add_run(DagsterRun(job_name="on_demand_report_job", status=run_status))
    record_report(api.engine, report_id, run.run_id, status="queued")
    assert api.client.get(f"/get_report/{report_id}").json() == expected


def test_run_that_failed_without_recording_reports_the_failure_description_only(
    api: Api, admin_url: str
) -> None:
    """A run that died before writing report_runs: the API reads the Failure's description from
    the run's events, never an exception text (which could carry SQL or paths)."""
    with temporary_database(admin_url, prefix="storeuptime_api_empty_") as empty_url:
        migrate.upgrade(empty_url)  # empty of polls, not of tables: nothing migrates on first use
        res = resources(database_url=empty_url, reports=str(api.data / "empty_reports"))
        result = materialize(
            [*INGEST_ASSETS, *REPORT_ASSETS],
            selection=["on_demand_report"],
            instance=api.instance,
            resources=res,
            run_config={"ops": {"on_demand_report": {"config": {"report_id": "x" * 32}}}},
            raise_on_error=False,
        )
    assert not result.success
    report_id = uuid.uuid4().hex
    record_report(api.engine, report_id, result.run_id, status="queued")  # as if the record was lost
    response = api.client.get(f"/get_report/{report_id}")
    assert response.json() == {
        "status": "Failed",
        "error": "no polls in the database yet: ingest a status file first",
    }


def test_healthz_reports_database_and_instance(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["dagster_instance"]["ok"]


def test_healthz_is_503_when_the_database_is_unreachable(api: Api) -> None:
    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nowhere?connect_timeout=2"
    app = create_app(database_url=dead, instance=api.instance, launcher=api.launcher)
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and not body["database"]["ok"]
    assert "nowhere" not in json.dumps(body)


def test_openapi_documents_every_response_with_its_content_type(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    trigger = paths["/trigger_report"]["post"]["responses"]
    assert set(trigger) == {"200", "422", "429", "503"}
    assert "text/plain" in trigger["503"]["content"]
    report = paths["/get_report/{report_id}"]["get"]
    responses = report["responses"]
    assert set(responses) == {"200", "404", "409", "422", "503"}
    assert set(responses["200"]["content"]) == {"application/json", "text/csv"}
    assert "X-Report-Status" in responses["200"]["headers"]
    statuses = responses["200"]["content"]["application/json"]["schema"]["discriminator"]["mapping"]
    assert set(statuses) == {"Running", "Failed", "Complete"}
    id_param = next(p for p in report["parameters"] if p["name"] == "report_id")
    assert id_param["schema"]["pattern"] == "^[0-9a-fA-F]{32}$"
    assert set(paths["/healthz"]["get"]["responses"]) == {"200", "503"}


def _records(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.exec_driver_sql("SELECT * FROM report_runs")]
