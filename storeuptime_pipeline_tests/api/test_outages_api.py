"""The API's outage answers on a real Postgres: ``?columns=extended`` and ``/get_report/{id}/outages``
byte-identical to ``storeuptime report --extended`` / ``storeuptime outages``; the usual statuses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pytest
from dagster import DagsterInstance
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.cli import main as cli
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.db import migrate, report_rows
from storeuptime_pipeline.db.run_records import record_report
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.assets.report import build_and_store
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.api.test_api import RecordingLauncher

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
AS_OF = pd.Timestamp("2023-01-24 15:30:00", tz="UTC")


@dataclass
class Served:
    client: TestClient
    engine: Engine
    report_id: str
    cli: dict[str, bytes]


@pytest.fixture(scope="module")
def served(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A report stored the way the assets store it, and the CLI's three files for the same data."""
    data = tmp_path_factory.mktemp("outages_api")
    with temporary_database(admin_url, prefix="storeuptime_outages_api_") as url:
        migrate.upgrade(url)
        engine = get_engine(url)
        ds = generate_dataset(data / "in", stores=80, days=8, seed=4)
        for kind, path in (
            ("timezones", ds.timezones_path),
            ("hours", ds.hours_path),
            ("status", ds.status_path),
        ):
            load_files(engine, kind, [path])
        build_and_store(engine, data / "reports", [AS_OF])
        report_id = uuid.uuid4().hex
        record_report(engine, report_id, "no-run", status="complete", as_of=AS_OF)
        files = {}
        for name, args in {
            "plain": ["report"],
            "extended": ["report", "--extended"],
            "outages": ["outages"],
        }.items():
            out = data / f"{name}.csv"
            argv = [*args, "--data", str(ds.directory), "--out", str(out), "--as-of", AS_OF.isoformat()]
            assert cli.main(argv) == 0
            files[name] = out.read_bytes()
        with DagsterInstance.ephemeral() as instance:
            app = create_app(database_url=url, instance=instance, launcher=RecordingLauncher(instance))
            with TestClient(app) as client:
                yield Served(client, engine, report_id, files)


def test_extended_columns_are_the_cli_bytes(served: Served) -> None:
    response = served.client.get(f"/get_report/{served.report_id}", params={"columns": "extended"})
    assert response.status_code == 200
    assert response.headers["X-Report-Status"] == "Complete"
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content == served.cli["extended"]
    as_json = served.client.get(
        f"/get_report/{served.report_id}", params={"columns": "extended", "format": "json"}
    )
    assert as_json.json()["csv"].encode() == served.cli["extended"]
    # The default stays exactly today's report.
    assert served.client.get(f"/get_report/{served.report_id}").content == served.cli["plain"]
    assert (
        served.client.get(f"/get_report/{served.report_id}", params={"columns": "default"}).content
        == served.cli["plain"]
    )


def test_outage_list_is_the_cli_bytes(served: Served) -> None:
    response = served.client.get(f"/get_report/{served.report_id.upper()}/outages")
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="outages_{served.report_id}.csv"'
    assert response.content == served.cli["outages"]
    assert response.content.count(b"\n") > 20
    body = served.client.get(f"/get_report/{served.report_id}/outages", params={"format": "json"}).json()
    assert body["status"] == "Complete" and body["csv"].encode() == served.cli["outages"]
    assert pd.Timestamp(body["as_of"]) == AS_OF


def test_outages_of_running_failed_unknown_and_malformed_reports(served: Served) -> None:
    running, failed = uuid.uuid4().hex, uuid.uuid4().hex
    record_report(served.engine, running, None, status="queued")
    record_report(served.engine, failed, None, status="failed", error="no polls in the database yet")
    assert served.client.get(f"/get_report/{running}/outages").json() == {"status": "Running"}
    answer = served.client.get(f"/get_report/{failed}/outages")
    assert answer.json() == {"status": "Failed", "error": "no polls in the database yet"}
    assert answer.headers["X-Report-Status"] == "Failed"
    assert (
        served.client.get(f"/get_report/{failed}", params={"columns": "extended"}).json()["status"]
        == "Failed"
    )
    assert served.client.get(f"/get_report/{uuid.uuid4().hex}/outages").status_code == 404
    assert served.client.get("/get_report/xyz/outages").status_code == 422
    assert served.client.get(f"/get_report/{running}", params={"columns": "wide"}).status_code == 422


def test_report_stored_before_outages_existed_is_409(served: Served) -> None:
    as_of = pd.Timestamp("2023-01-20 00:00", tz="UTC")
    rows = pd.DataFrame(
        {
            "as_of": pd.DatetimeIndex([as_of]).as_unit("us"),
            "store_id": ["1"],
            **{c: [1.0] for c in REPORT_COLUMNS[1:]},
        }
    )
    with served.engine.begin() as conn:
        report_rows.replace_report_rows(conn, [as_of], rows)  # no summary columns: NULL, as before 0002
    old = uuid.uuid4().hex
    record_report(served.engine, old, "r", status="complete", as_of=as_of)
    for path, params in ((f"/get_report/{old}", {"columns": "extended"}), (f"/get_report/{old}/outages", {})):
        response = served.client.get(path, params=params)
        assert response.status_code == 409
        assert "re-run it" in response.json()["detail"]
    assert served.client.get(f"/get_report/{old}").status_code == 200  # the plain report still serves


def test_openapi_documents_both(served: Served) -> None:
    paths = served.client.get("/openapi.json").json()["paths"]
    report = paths["/get_report/{report_id}"]["get"]
    columns = next(p for p in report["parameters"] if p["name"] == "columns")
    assert columns["schema"]["enum"] == ["default", "extended"] and columns["schema"]["default"] == "default"
    outages = paths["/get_report/{report_id}/outages"]["get"]
    assert set(outages["responses"]) == {"200", "404", "409", "422", "503"}
    assert set(outages["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    assert "X-Report-Status" in outages["responses"]["200"]["headers"]
