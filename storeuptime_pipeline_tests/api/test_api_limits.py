"""The API's limits: a bounded trigger queue (429 + Retry-After), a header-read timeout, strict input.

The app runs on a real, migrated Postgres database and a real uvicorn server; the launcher is a
double that queues runs in an ephemeral Dagster instance the way the webserver's QueuedRunCoordinator
would, so the queue's length is exactly what the test makes it.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from fastapi.testclient import TestClient

from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.launcher import REPORT_ID_TAG, run_config
from storeuptime_pipeline.api.server import serving
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.defs.jobs import on_demand_report_job

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_ORIGIN = RemoteJobOrigin(
    repository_origin=RemoteRepositoryOrigin(
        code_location_origin=RegisteredCodeLocationOrigin(location_name="storeuptime"),
        repository_name="__repository__",
    ),
    job_name=on_demand_report_job.name,
)


@dataclass
class QueueingLauncher:
    """Stands in for the webserver: every launch adds a QUEUED run, as the run queue would."""

    instance: DagsterInstance
    run_ids: list[str] = field(default_factory=list)

    def launch(self, report_id: str, as_of: str) -> str:
        run = DagsterRun(
            job_name=on_demand_report_job.name,
            run_id=str(uuid.uuid4()),
            run_config=run_config(report_id, as_of),
            tags={REPORT_ID_TAG: report_id},
            status=DagsterRunStatus.QUEUED,
            remote_job_origin=_ORIGIN,  # required of a queued run; never loaded here
        )
        self.instance.add_run(run)
        self.run_ids.append(run.run_id)
        return run.run_id

    def reachable(self) -> tuple[bool, str]:
        return True, "queueing double"


@pytest.fixture(scope="module")
def database(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_limits_") as url:
        migrate.upgrade(url)
        yield url


def test_trigger_is_refused_with_429_and_retry_after_while_the_queue_is_full(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOREUPTIME_API_MAX_QUEUED", "3")
    with DagsterInstance.ephemeral() as instance:
        launcher = QueueingLauncher(instance)
        with TestClient(create_app(database_url=database, instance=instance, launcher=launcher)) as client:
            accepted = [client.post("/trigger_report") for _ in range(3)]
            assert [r.status_code for r in accepted] == [200, 200, 200]

            refused = client.post("/trigger_report")
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert refused.json() == {"detail": "3 reports are already queued (limit 3); retry later"}
            assert len(launcher.run_ids) == 3  # nothing was launched nor recorded for the refused one

            # One queued run leaves the queue (here: canceled): the next trigger is accepted again.
            run = instance.get_run_by_id(launcher.run_ids[0])
            assert run is not None
            instance.report_run_canceled(run)
            assert client.post("/trigger_report").status_code == 200
            assert client.post("/trigger_report").status_code == 429


def test_empty_as_of_is_422_as_its_pattern_says(database: str) -> None:
    with DagsterInstance.ephemeral() as instance:
        launcher = QueueingLauncher(instance)
        with TestClient(create_app(database_url=database, instance=instance, launcher=launcher)) as client:
            for blank in ("", " "):
                response = client.post("/trigger_report", params={"as_of": blank})
                assert response.status_code == 422, (blank, response.text)
                assert response.json()["detail"][0]["loc"] == ["query", "as_of"]
            assert launcher.run_ids == []
            assert client.post("/trigger_report").status_code == 200  # left out: the latest poll


def _held_open(url: str, first_bytes: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (recv answers EOF)."""
    sock.settimeout(within)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_half_open_connections_are_closed_after_the_header_timeout(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Six clients that never finish their headers (the reported attack) are disconnected."""
    monkeypatch.setenv("STOREUPTIME_API_HEADER_TIMEOUT_SECONDS", "1")
    with DagsterInstance.ephemeral() as instance:
        app = create_app(database_url=database, instance=instance, launcher=QueueingLauncher(instance))
        with serving(app) as url:
            partial = [b"", b"G", b"GET /healthz HTTP/1.1\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]
            socks = [_held_open(url, partial[i % len(partial)]) for i in range(6)]
            began = time.monotonic()
            try:
                # Bounded wait: 1 s timeout; 15 s leaves room for a loaded machine.
                closed = [_closed_by_server(s, within=15) for s in socks]
            finally:
                for s in socks:
                    s.close()
            assert closed == [True] * 6, f"still open after {time.monotonic() - began:.0f} s: {closed}"

            # A slow but complete request within the timeout is served, and keep-alive still works.
            with requests.Session() as session:
                first = session.get(f"{url}/get_report/{uuid.uuid4().hex}", timeout=10)
                second = session.get(f"{url}/get_report/{uuid.uuid4().hex}", timeout=10)
            assert (first.status_code, second.status_code) == (404, 404)


def test_connections_beyond_the_limit_are_answered_503(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOREUPTIME_API_MAX_CONNECTIONS", "2")
    with DagsterInstance.ephemeral() as instance:
        app = create_app(database_url=database, instance=instance, launcher=QueueingLauncher(instance))
        with serving(app) as url:
            idle = [_held_open(url, b"") for _ in range(2)]
            try:
                response = requests.get(f"{url}/get_report/{uuid.uuid4().hex}", timeout=10)
            finally:
                for s in idle:
                    s.close()
            assert response.status_code == 503
