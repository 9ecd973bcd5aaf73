"""Shared fixtures: a real, throw-away Postgres database for every test session.

``database_url`` creates ``storeuptime_test_<random>`` on the server named by
``STOREUPTIME_TEST_ADMIN_URL`` (default: local Postgres on 127.0.0.1:5432), migrates it to head and
drops it at the end. When that server does not answer within ~2 s, an embedded server is started in a
temporary folder instead, so ``make test`` passes on a machine without Postgres. Tests never mock the
database: COPY, locks, collations and Alembic must be exercised for real.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import embedded, migrate
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.models import metadata
from storeuptime_pipeline.db.session import dispose_engines, get_engine

ADMIN_URL_ENV = "STOREUPTIME_TEST_ADMIN_URL"
DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def server_answers(url: str, timeout_s: int = 2) -> bool:
    """True if a connection to ``url`` succeeds within ``timeout_s`` (libpq's minimum is 2 s)."""
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": timeout_s})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


@contextmanager
def temporary_database(admin_url: str, prefix: str = "storeuptime_test_") -> Iterator[str]:
    """Create an empty database on the admin URL's server; drop it (kicking out sessions) afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()  # pooled connections of get_engine() would otherwise keep the database busy
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def embedded_project() -> Iterator[Path]:
    """A throw-away project root for an embedded server, stopped and deleted afterwards.

    Not under pytest's tmp_path: as root, pgserver runs Postgres as the ``pgserver`` user, which must
    traverse every parent folder, and pytest resets /tmp/pytest-of-<user> to mode 0700 whenever
    another pytest session starts.
    """
    root = Path(tempfile.mkdtemp(prefix="storeuptime-pg-"))
    try:
        yield root
    finally:
        dispose_engines()
        embedded.stop(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """URL of a maintenance database (``postgres``) on the server the tests may create databases on."""
    url = normalize_url(os.environ.get(ADMIN_URL_ENV) or DEFAULT_ADMIN_URL)
    if server_answers(url):
        yield url
        return
    with embedded_project() as root:
        server_url = embedded.ensure_running(root)
        yield make_url(server_url).set(database="postgres").render_as_string(hide_password=False)


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
