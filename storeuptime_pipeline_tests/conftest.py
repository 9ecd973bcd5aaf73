"""Shared fixtures: a real, throw-away Postgres database for every test session.

``database_url`` creates ``storeuptime_test_<random>`` on the server named by
``STOREUPTIME_TEST_ADMIN_URL`` (default: local Postgres on 127.0.0.1:5432), migrates it to head and
drops it at the end. When that server does not answer within ~2 s, an embedded server is started in a
temporary folder instead, so ``make test`` passes on a machine without Postgres. Tests never mock the
database: COPY, locks, collations and Alembic must be exercised for real.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Connection, Engine

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.models import metadata
from storeuptime_pipeline.db.scratch import admin_server, temporary_database
from storeuptime_pipeline.db.session import get_engine

ADMIN_URL_ENV = "STOREUPTIME_TEST_ADMIN_URL"

#: The files that take longest (``pytest --durations``, 2 cores, 2026-12-03: 362, 258, 97, 87, 81,
#: 74 and 66 s), longest first. ``make test`` hands whole files to 3 processes in collection order;
#: collected alphabetically, the Celery and e2e files started last and ran alone at the end (a 10-11
#: minute suite). Started first, the short files fill in around them.
LONG_RUNNING_FILES = (
    "api/test_api_live.py",
    "defs/test_celery_workers.py",
    "cli/test_cli_errors.py",
    "e2e/test_e2e_pipeline.py",
    "e2e/test_operating.py",
    "defs/test_run_monitoring_live.py",
    "db/test_db_embedded_errors.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long-running files first, each file's tests in their own order (a stable sort by file)."""

    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        for i, name in enumerate(LONG_RUNNING_FILES):
            if path.endswith(f"storeuptime_pipeline_tests/{name}"):
                return i
        return len(LONG_RUNNING_FILES)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """URL of a maintenance database (``postgres``) on the server the tests may create databases on."""
    with admin_server(os.environ.get(ADMIN_URL_ENV)) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A migrated throw-away database shared by the whole session."""
    with temporary_database(admin_url) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def clean_db(database_url: str) -> Engine:
    """The session database with every project table emptied (and identities reset) before the test."""
    engine = get_engine(database_url)
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return engine


@pytest.fixture
def db_conn(clean_db: Engine) -> Iterator[Connection]:
    """A connection to the cleaned database; the test commits or rolls back, leftovers are rolled back."""
    with clean_db.connect() as conn:
        yield conn
        if conn.in_transaction():
            conn.rollback()
