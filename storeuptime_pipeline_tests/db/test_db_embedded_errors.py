"""The embedded server's failures are one line, and a lost data folder is never silently re-created.

Each command runs as a separate ``storeuptime`` process, as an operator would type it, so what is
checked is exactly what reaches the terminal (pgserver logs through ``logging``, which would print
its dump to stderr without a handler).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storeuptime_pipeline.db import config, embedded
from storeuptime_pipeline.db.scratch import embedded_project


@pytest.fixture
def project() -> Iterator[Path]:
    with embedded_project() as root:
        yield root


def storeuptime(root: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != config.DATABASE_URL_ENV}
    env[embedded.HOME_ENV] = str(root)
    if database_url:
        env[config.DATABASE_URL_ENV] = database_url
    return subprocess.run(
        [sys.executable, "-m", "storeuptime_pipeline.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_deleted_data_folder_is_an_error_until_db_init(project: Path) -> None:
    pgdata = embedded.pgdata_dir(project)
    first = storeuptime(project, "db", "url")  # first use ever: created silently, as before
    assert first.returncode == 0, first.stderr
    assert (pgdata / "PG_VERSION").exists()
    assert (project / ".storeuptime" / embedded.CREATED_MARKER).exists()
    assert storeuptime(project, "db", "stop").returncode == 0

    shutil.rmtree(pgdata)
    lost = storeuptime(project, "db", "url")
    assert lost.returncode == 1
    assert lost.stdout == ""
    (line,) = lost.stderr.splitlines()
    assert f"the embedded database folder {pgdata} is missing" in line
    assert "storeuptime db init" in line
    assert not pgdata.exists(), "the lost folder must not be re-created empty"

    init = storeuptime(project, "db", "init")
    assert init.returncode == 0, init.stderr
    assert "schema at revision" in init.stdout
    assert (pgdata / "PG_VERSION").exists()
    assert storeuptime(project, "db", "url").returncode == 0


def test_a_damaged_data_folder_says_why_in_one_line_with_the_log_path(project: Path) -> None:
    pgdata = embedded.pgdata_dir(project)
    assert storeuptime(project, "db", "init").returncode == 0
    assert storeuptime(project, "db", "stop").returncode == 0
    (pgdata / "global" / "pg_control").unlink()  # the reported damage: the server cannot start

    broken = storeuptime(project, "db", "url")
    assert broken.returncode == 1
    assert broken.stdout == ""
    lines = broken.stderr.splitlines()
    assert len(lines) == 1, broken.stderr
    assert f"embedded Postgres in {pgdata} could not start" in lines[0]
    assert "pg_control" in lines[0]  # the server's own reason
    assert lines[0].endswith(f"see the server log {pgdata / 'log'}")
    assert "Traceback" not in broken.stderr


def test_db_url_masks_the_password_unless_asked(project: Path) -> None:
    url = "postgresql+psycopg2://someone:s3cret-pw@127.0.0.1:5432/somewhere"
    masked = storeuptime(project, "db", "url", database_url=url)
    assert masked.returncode == 0, masked.stderr
    assert masked.stdout.strip() == "postgresql+psycopg2://someone:***@127.0.0.1:5432/somewhere"
    shown = storeuptime(project, "db", "url", "--show-password", database_url=url)
    assert shown.stdout.strip() == url
