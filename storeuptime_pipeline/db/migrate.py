"""Schema migrations: bring a database to the latest Alembic revision, safely and idempotently.

Called at start-up by every entry point (CLI, Dagster resources, API, tests), possibly by several
processes at once (e.g. Dagster run workers). A transaction-scoped Postgres advisory lock serializes
them: the first one migrates, the others wait, then find the database at head and do nothing.
Alembic is configured in code (no alembic.ini) so an installed package finds its own migrations.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

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
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"No migrations found in {MIGRATIONS_DIR}")
    return head


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
