"""Preparing the environment of every process that touches Dagster: database, DAGSTER_HOME, instance.

The CLI, ``make dev`` and the API call :func:`prepare_environment` once; it decides the database
(``db.config``), exports the variables the top-level ``dagster.yaml`` reads, and points
DAGSTER_HOME at a folder holding that file, so the webserver, the daemon, run workers and
in-process runs all share one instance on the same Postgres.

The commands that start work on the database (ingest, run, demo, an in-process backfill, ``dev``,
the API server) call :func:`prepare_and_migrate` instead: the one explicit place the project's
schema is brought to head in those processes. Nothing migrates on first use: Dagster resources and
the API app only check the revision (``migrate.require_head``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import DATABASE_URL_ENV, dagster_storage_env, database_url
from storeuptime_pipeline.db.embedded import project_root

DAGSTER_HOME_ENV = "DAGSTER_HOME"


def instance_yaml() -> Path:
    """The top-level dagster.yaml: in the project root, or beside the package in a checkout."""
    for candidate in (project_root() / "dagster.yaml", Path(__file__).resolve().parents[2] / "dagster.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("dagster.yaml not found: run from the project folder or set STOREUPTIME_HOME")


def dagster_home() -> Path:
    """DAGSTER_HOME if set (deployments), else .storeuptime/dagster_home; absolute, so that every child
    process (webserver, daemon, run workers, started in other folders) names the same folder.

    The project's own folder (the default, which the Makefile also exports) always gets the current
    dagster.yaml: a stale copy would silently keep an old instance configuration. A folder chosen
    elsewhere gets the project's file only when it has none; its own dagster.yaml is kept.
    """
    default = (project_root() / ".storeuptime" / "dagster_home").resolve()
    configured = os.environ.get(DAGSTER_HOME_ENV)
    home = Path(configured).expanduser().resolve() if configured else default
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(instance_yaml(), target)
    elif home == default:
        source = instance_yaml()
        if target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
    return home


def prepare_environment(url: str | None = None) -> str:
    """Decide the database, export what Dagster and child processes need; returns the database URL."""
    url = url or database_url()
    os.environ[DATABASE_URL_ENV] = url
    os.environ.update(dagster_storage_env(url))
    os.environ[DAGSTER_HOME_ENV] = str(dagster_home())
    return url


def prepare_and_migrate(url: str | None = None) -> str:
    """:func:`prepare_environment`, then the schema to head (a no-op when it is there); returns the URL.

    Before any run starts, so the run workers, the sensors and the API (which only check) find it ready.
    """
    url = prepare_environment(url)
    migrate.upgrade(url)
    return url
