"""``storeuptime api`` as an operator starts it: it migrates the database before serving, listens on
the given port, and stops on SIGTERM. A real server process on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from storeuptime_pipeline import settings
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import DATABASE_URL_ENV
from storeuptime_pipeline.db.embedded import HOME_ENV
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV
from storeuptime_pipeline_tests.dagster_server import free_port

BIN = Path(sys.executable).parent


@pytest.mark.timeout(300)
def test_api_migrates_then_serves_on_its_port_until_sigterm(admin_url: str, tmp_path: Path) -> None:
    port, nobody = free_port(), free_port()
    with temporary_database(admin_url, prefix="storeuptime_apicmd_") as url:
        env = {
            **os.environ,
            DATABASE_URL_ENV: url,
            HOME_ENV: str(tmp_path),
            DAGSTER_HOME_ENV: str(tmp_path / "dagster_home"),
            settings.API_PORT_ENV: str(free_port()),  # the flag wins over the setting
        }
        log = tmp_path / "api.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [
                    str(BIN / "storeuptime"),
                    "api",
                    "--port",
                    str(port),
                    "--dagster-url",
                    f"http://127.0.0.1:{nobody}",
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            health = _wait_for_answer(f"http://127.0.0.1:{port}/healthz", proc, log, timeout_s=180)
            # Nobody migrated the database before: the command did, at its start.
            assert migrate.current_revision(url) == migrate.head_revision()
            assert health.status_code == 503  # no webserver behind --dagster-url ...
            body = health.json()
            assert body["database"] == {"ok": True, "detail": "reachable"}  # ... but the schema is there
            assert body["dagster_webserver"]["ok"] is False
            proc.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why.
            assert proc.wait(timeout=60) == -signal.SIGTERM
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        printed = log.read_text()
    assert f"Report API on http://127.0.0.1:{port} (docs at /docs)" in printed
    assert "Application shutdown complete." in printed


def _wait_for_answer(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> requests.Response:
    """The first HTTP answer at ``url``; fails naming what it waited for if the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return requests.get(url, timeout=10)
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            pytest.fail(
                f"storeuptime api exited ({proc.returncode}) before answering:\n{log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"storeuptime api did not answer at {url} within {timeout_s} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.2)
