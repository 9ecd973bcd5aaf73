"""The embedded server: started on demand, outlives its starter, reused, stopped on request."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from storeuptime_pipeline.db import config, embedded, migrate, poll_load, reads, reference_load
from storeuptime_pipeline.db.scratch import embedded_project
from storeuptime_pipeline.db.session import dispose_engines, get_engine
from storeuptime_pipeline_tests.db.test_db_config import DAGSTER_YAML, assert_instance_uses, open_instance
from storeuptime_pipeline_tests.waiting import finishes_within

PRINT_URL = "from storeuptime_pipeline.db import config; print(config.database_url())"


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project root without a configured database; whatever server it starts is stopped after."""
    with embedded_project() as root:
        monkeypatch.setenv(embedded.HOME_ENV, str(root))
        monkeypatch.delenv(config.DATABASE_URL_ENV, raising=False)
        yield root


def child_url(project: Path) -> str:
    """database_url() as computed by a separate, short-lived process."""
    env = {k: v for k, v in os.environ.items() if k != config.DATABASE_URL_ENV}
    env[embedded.HOME_ENV] = str(project)
    out = subprocess.run(
        [sys.executable, "-c", PRINT_URL], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_embedded_server_lifecycle(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not embedded.status().initialized
    assert not embedded.status().running

    # Started by a child process that then exits: the server must stay up for later commands.
    url = child_url(project)
    status = embedded.status()
    assert status.running and status.initialized
    assert status.pgdata == project / ".storeuptime" / "pgdata"
    assert status.url == url
    assert config.database_url() == url  # no STOREUPTIME_DATABASE_URL: the embedded server is used
    assert child_url(project) == url and embedded.status().pid == status.pid  # reused, not restarted

    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.head_revision()
    polls = pd.DataFrame(
        {
            "store_id": pd.Series(["1", "2"], dtype="str"),
            "timestamp_utc": pd.Series(
                pd.DatetimeIndex(["2023-01-24 12:00", "2023-01-24 13:00"], tz="UTC").as_unit("us")
            ),
            "is_active": [True, False],
        }
    )
    with get_engine(url).begin() as conn:
        assert poll_load.upsert_polls(conn, polls) == 2
        reference_load.replace_business_hours(
            conn,
            pd.DataFrame(
                {"store_id": ["1"], "day_of_week": [1], "start_seconds": [0], "end_seconds": [86400]}
            ),
        )
    start, end = pd.Timestamp("2023-01-24", tz="UTC"), pd.Timestamp("2023-01-25", tz="UTC")
    with get_engine(url).connect() as conn:
        pd.testing.assert_frame_equal(
            reads.read_polls_window(conn, start, end).astype({"store_id": str}), polls
        )
        assert reads.read_business_hours(conn)["end_seconds"].tolist() == [86400]

    # Dagster's storage on the same (Unix-socket) server through the project's dagster.yaml.
    home = project / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    monkeypatch.delenv(config.MAX_CONCURRENT_RUNS_ENV, raising=False)
    assert_instance_uses(open_instance(url, home, monkeypatch), url)

    dispose_engines()
    assert embedded.stop() is True
    assert not embedded.status().running
    assert embedded.stop() is False

    # Started again in this process: same data directory, data still there. The wait bounds a hang
    # (a start that never returns); how long the restart took is printed, not asserted.
    began = time.monotonic()
    restarted = finishes_within(
        config.database_url, 120, "the embedded server to start again on its data folder"
    )
    print(f"\nembedded server restarted in {time.monotonic() - began:.1f} s")
    assert restarted == url
    with get_engine(url).connect() as conn:
        pd.testing.assert_frame_equal(
            reads.read_polls_window(conn, start, end).astype({"store_id": str}), polls
        )
