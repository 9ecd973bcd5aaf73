"""Engines, one per database URL per process.

An engine owns a connection pool, so creating one per call would leak pools and pay a connection
set-up each time; ``pool_pre_ping`` lets long-lived processes (Dagster daemon, API) survive a server
restart such as ``storeuptime db stop`` followed by a new start.
"""

from __future__ import annotations

import threading

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

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
