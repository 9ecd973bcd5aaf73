"""Throw-away databases for tests and benchmarks: on a reachable server, or an embedded one.

The test suite and the benchmark scripts both need "a fresh database, dropped afterwards"; this is
the one implementation. Nothing in the product calls it.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import embedded
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.session import dispose_engines

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
def temporary_database(
    admin_url: str, prefix: str = "storeuptime_test_", template: str | None = None
) -> Iterator[str]:
    """Create an empty database on the admin URL's server (or a copy of database ``template``, which
    must have no session then); drop it (kicking out sessions) afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
            if template:
                dispose_engines()  # this process's pooled sessions on the template
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
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


@contextmanager
def admin_server(url: str | None = None) -> Iterator[str]:
    """A maintenance-database URL on a server we may create databases on; embedded if none answers."""
    url = normalize_url(url or DEFAULT_ADMIN_URL)
    if server_answers(url):
        yield url
        return
    with embedded_project() as root:
        server_url = embedded.ensure_running(root)
        yield make_url(server_url).set(database="postgres").render_as_string(hide_password=False)
