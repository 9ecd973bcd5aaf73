"""The single place that decides which Postgres the project talks to.

Every entry point (CLI, Dagster definitions, API, tests) calls :func:`database_url` instead of reading
environment variables itself, so "which database?" has exactly one answer per process:
``STOREUPTIME_DATABASE_URL`` when set, otherwise the embedded server under the project root (started on
demand). :func:`dagster_storage_env` translates that same URL into the environment variables read by
the top-level ``dagster.yaml``, so Dagster's run/event/schedule storage lives on the same server.
"""

from __future__ import annotations

import getpass
import os
from typing import Final

from sqlalchemy.engine import make_url

DATABASE_URL_ENV: Final = "STOREUPTIME_DATABASE_URL"
MAX_CONCURRENT_RUNS_ENV: Final = "STOREUPTIME_MAX_CONCURRENT_RUNS"
DEFAULT_MAX_CONCURRENT_RUNS: Final = "4"

# Names read by dagster.yaml (postgres_db block). Kept here so the file and the code cannot drift apart
# silently: the dagster.yaml test loads the file with exactly these variables.
PG_USERNAME_ENV: Final = "STOREUPTIME_PG_USERNAME"
PG_PASSWORD_ENV: Final = "STOREUPTIME_PG_PASSWORD"
PG_HOSTNAME_ENV: Final = "STOREUPTIME_PG_HOSTNAME"
PG_PORT_ENV: Final = "STOREUPTIME_PG_PORT"
PG_DB_ENV: Final = "STOREUPTIME_PG_DB"

# dagster_postgres builds ``scheme://user:pw@host:port/db?params`` but its ``params`` field is a
# Permissive dict whose values are NOT resolved from ``{env: ...}``. URL query parameters therefore
# travel as the standard libpq environment variables, which psycopg2 reads for anything the URL leaves
# out. The important one is ``host=/socket/dir`` of the embedded (Unix-socket) server -> PGHOST.
_LIBPQ_ENV_FOR_QUERY_PARAM: Final = {
    "host": "PGHOST",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}

_BARE_SCHEMES: Final = ("postgresql://", "postgres://")
DRIVER_SCHEME: Final = "postgresql+psycopg2"


def normalize_url(url: str) -> str:
    """Pin a bare Postgres URL to psycopg2.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg (v3), which is not installed and whose
    COPY API differs from the psycopg2 ``copy_expert`` the bulk loader relies on. URLs that already
    name a driver are left untouched.
    """
    for bare in _BARE_SCHEMES:
        if url.startswith(bare):
            return f"{DRIVER_SCHEME}://{url[len(bare) :]}"
    return url


def database_url() -> str:
    """Return the SQLAlchemy URL of the project database, starting the embedded server if needed."""
    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    if configured:
        return normalize_url(configured)
    from storeuptime_pipeline.db import embedded  # local: pgserver is only needed without a URL

    return embedded.ensure_running()


def dagster_storage_env(url: str) -> dict[str, str]:
    """Environment variables that make ``dagster.yaml`` point Dagster's storage at ``url``.

    A caller merges the result into the environment of the Dagster processes it starts (or into
    ``os.environ`` before creating a ``DagsterInstance``). For a TCP server the host goes to
    ``STOREUPTIME_PG_HOSTNAME``; for a Unix-socket server (``?host=/dir``, as the embedded server uses)
    the hostname is left empty and the socket directory goes to ``PGHOST`` (see module note).
    """
    parsed = make_url(normalize_url(url))
    if not parsed.drivername.startswith("postgresql"):
        raise ValueError(f"Dagster storage needs a Postgres URL, got {parsed.drivername!r}")
    if not parsed.database:
        raise ValueError("The database URL must name a database")

    hostname = parsed.host or ""
    port = str(parsed.port or 5432)
    extra: dict[str, str] = {}
    for key, value in parsed.query.items():
        text = value if isinstance(value, str) else value[-1]
        if key == "port":
            port = text
        elif key == "host" and not text.startswith("/") and not hostname:
            hostname = text
        elif key in _LIBPQ_ENV_FOR_QUERY_PARAM:
            extra[_LIBPQ_ENV_FOR_QUERY_PARAM[key]] = text
        else:
            raise ValueError(f"Cannot pass URL parameter {key!r} to Dagster's storage configuration")
    if "PGHOST" in extra:
        hostname = ""  # an explicit hostname would override PGHOST

    return {
        PG_USERNAME_ENV: parsed.username or getpass.getuser(),
        PG_PASSWORD_ENV: parsed.password or "",
        PG_HOSTNAME_ENV: hostname,
        PG_PORT_ENV: port,
        PG_DB_ENV: parsed.database,
        MAX_CONCURRENT_RUNS_ENV: os.environ.get(MAX_CONCURRENT_RUNS_ENV, DEFAULT_MAX_CONCURRENT_RUNS),
        **extra,
    }
