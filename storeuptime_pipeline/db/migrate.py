"""Schema migrations: bring a database to the latest Alembic revision, safely and idempotently.

:func:`upgrade` is called explicitly where an environment is prepared: ``storeuptime db init`` /
``db upgrade``, the CLI commands that run Dagster, the API server start, ``make dev``, the compose
``migrate`` service, the test fixtures. Several may run at once (``make dev`` and a CLI command): a
transaction-scoped Postgres advisory lock serializes them, the first migrates, the others find the
database at head and do nothing. Everything else (Dagster resources, the API app) only calls
:func:`require_head`, a read, and stops with one line saying which command to run.
Alembic is configured in code (no alembic.ini) so an installed package finds its own migrations.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db.errors import SchemaNotReady

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
# Dagster's own storage uses Alembic's default ``alembic_version`` table in the same database.
VERSION_TABLE: Final = "storeuptime_alembic_version"
# Arbitrary constant identifying "storeuptime schema migration" among advisory locks ("STOREUPT").
_LOCK_KEY: Final = 0x53544F5245555054
_thread_lock = threading.Lock()


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Autogenerate filter: ignore tables our models do not declare (Dagster's, Alembic's)."""
    from storeuptime_pipeline.db.models import metadata

    if type_ == "table":
        return name in metadata.tables
    return True


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations (``url`` is used if no connection)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        cfg.attributes["url"] = url
    return cfg


def head_revision() -> str:
    """The newest revision shipped with the package."""
    head = _script().get_current_head()
    if head is None:
        raise RuntimeError(f"No migrations found in {MIGRATIONS_DIR}")
    return head


@functools.cache
def _script() -> ScriptDirectory:
    """The packaged migration scripts, parsed once per process (they do not change while it runs)."""
    return ScriptDirectory.from_config(alembic_config())


def upgrade(url: str) -> None:
    """Upgrade the database at ``url`` to head; a no-op when already there; safe to call concurrently.

    Processes are serialized by the advisory lock; threads additionally by a process-local lock
    because Alembic's ``context``/``op`` proxies are module globals.
    """
    engine = create_engine(url, poolclass=NullPool)
    try:
        with _thread_lock, engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or None for an unmigrated database."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
    finally:
        engine.dispose()


def require_head(engine: Engine) -> None:
    """Raise :class:`SchemaNotReady` unless the database is at the newest revision; only reads.

    One connection and one query of the version table: cheap enough for every Dagster run or sensor
    tick and every API start, so a database nobody migrated is named as such (with the command that
    fixes it) instead of surfacing as a missing table in the middle of a load.
    """
    with engine.connect() as conn:
        current = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
    problem = schema_problem(current)
    if problem is not None:
        raise SchemaNotReady(problem)


def schema_problem(current: str | None) -> str | None:
    """What is wrong with a database at revision ``current`` (None: no schema), in one line; None if nothing."""
    head = head_revision()
    if current == head:
        return None
    if current is None:
        return f"the database has no storeuptime schema yet (this code needs revision {head}): run `storeuptime db init`"
    known = {script.revision for script in _script().walk_revisions()}
    if current in known:
        return (
            f"the database schema is at revision {current}, this code needs {head}: "
            "run `storeuptime db init` (or `storeuptime db upgrade`)"
        )
    return (
        f"the database schema is at revision {current}, which this code does not know (it needs {head}): "
        "a newer version of storeuptime migrated it"
    )
