"""Engines, one per database URL per process.

An engine owns a connection pool, so creating one per call would leak pools and pay a connection
set-up each time; ``pool_pre_ping`` lets long-lived processes (Dagster daemon, API) survive a server
restart such as ``storeuptime db stop`` followed by a new start.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Final

from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from storeuptime_pipeline.db.errors import ReadBlocked

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """Return the process-wide engine for ``url``, creating it on first use."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close all pooled connections (e.g. before dropping a test database or after a fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


#: Postgres' SQLSTATE for a lock wait that reached ``lock_timeout``.
LOCK_NOT_AVAILABLE: Final = "55P03"
#: How long a parallel read waits for a table lock before it gives up (see ``ReadBlocked``). None of
#: the project's own writes takes a lock a read waits for, so only a schema change or VACUUM FULL does.
READ_LOCK_TIMEOUT_S: Final = 30.0


@contextmanager
def snapshot_connections(
    engine: Engine, count: int, lock_timeout_s: float = READ_LOCK_TIMEOUT_S
) -> Iterator[list[Connection]]:
    """``count`` connections, each in a read-only REPEATABLE READ transaction, all on one snapshot.

    Why: the reads of one report run in parallel on several connections (each a Postgres backend,
    so a core each), yet must see the database as of one instant, as a single transaction would: a
    load that commits meanwhile is seen by none of them or, once they are done, by the next report.
    The first connection exports its snapshot (``pg_export_snapshot``) and the others import it.
    A lock wait past ``lock_timeout_s`` raises :class:`ReadBlocked` (one line) instead of a hang.
    """
    with ExitStack() as stack:
        conns: list[Connection] = []
        for _ in range(count):
            conn = stack.enter_context(engine.connect())
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            stack.enter_context(conn.begin())
            conns.append(conn)
        snapshot = ""
        for i, conn in enumerate(conns):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            if i == 0:
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
            else:
                conn.exec_driver_sql("SET TRANSACTION SNAPSHOT %s", (snapshot,))
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_s * 1000)}")
        try:
            yield conns
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            raise ReadBlocked(
                f"a report's read waited {lock_timeout_s:g} s for a table lock (a schema change, DROP or "
                "VACUUM FULL of store_status, business_hours or stores is waiting behind it): "
                "run the report again once that is done"
            ) from None
