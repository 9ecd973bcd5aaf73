"""Alembic environment, configured programmatically by :mod:`storeuptime_pipeline.db.migrate`.

There is no alembic.ini: ``migrate.alembic_config`` points ``script_location`` at this folder and hands
over either an open ``connection`` (normal path, so the caller's advisory lock and transaction cover the
whole upgrade) or a ``url`` in ``config.attributes``. Without either, the project database is used.

Dagster keeps its own Alembic history (table ``alembic_version``) in the same database, so ours lives in
``storeuptime_alembic_version`` and autogenerate only looks at tables our models declare.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db.migrate import VERSION_TABLE, include_object
from storeuptime_pipeline.db.models import metadata

config = context.config


def _configure_kwargs() -> dict[str, object]:
    return {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "include_object": include_object,
        "compare_type": True,
        "compare_server_default": True,
    }


def _run_with_connection(connection: Connection) -> None:
    context.configure(connection=connection, **_configure_kwargs())
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from storeuptime_pipeline.db.config import database_url

    return database_url()


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) without connecting."""
    context.configure(url=_url(), literal_binds=True, **_configure_kwargs())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection given by the caller, or a short-lived one to the configured URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            _run_with_connection(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
