"""Poll retention: drop whole weekly partitions of ``store_status`` older than a number of weeks.

The rule (``STOREUPTIME_RETENTION_WEEKS``, see ``settings.retention_weeks``; unset keeps everything):
weeks are counted back from the ISO week of the newest poll, that week being the first. With a limit
of N, every partition whose week ends before the start of the N-th newest week is dropped, and never
one a report at the newest poll still reads:

- the newest :data:`MIN_KEPT_WEEKS` weeks (2) are kept whatever the setting: a report reads the 7
  days before its instant, which always lie in the instant's week and the one before;
- the week holding the instant 8 days before the newest poll is kept too: a report also reads each
  store's last poll before its window, and for a store polled at least daily that is at most a day
  before the window. Only when the newest poll is on a Monday is that a third week.

"The newest poll" is the newest inside the reports' time limits (``core.limits``): a poll stamped in
year 9999 that was stored before the reading rule existed must not make every real week look old.
Nothing is dropped when there is no poll. Only whole partitions go, so the polls of kept weeks are
untouched, and a poll that arrives later for a dropped week simply creates that week again.

How: ``DETACH PARTITION ... CONCURRENTLY`` then ``DROP TABLE``. A plain DROP of a partition takes
ACCESS EXCLUSIVE on ``store_status`` and would block every report read while it waits for running
ones; the concurrent detach takes SHARE UPDATE EXCLUSIVE (readers go on; it waits for concurrent
loads) and the drop then locks only the detached table. The concurrent detach cannot run inside a
transaction, so this runs on its own autocommit connection after the load has committed. If it is
interrupted between its two steps the partition stays "detach pending"; the next run finalizes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from storeuptime_pipeline.core.limits import time_limits
from storeuptime_pipeline.db import poll_partitions, queries
from storeuptime_pipeline.db.poll_partitions import PARENT, SCHEMA, Week

log = logging.getLogger(__name__)

MIN_KEPT_WEEKS: Final = 2
#: How far before the newest poll a report reads: its 7-day window plus a day for the poll before it.
REPORT_REACH: Final = timedelta(days=8)
# A detach waits for running reads and loads; past this it gives up and the next load tries again.
_LOCK_TIMEOUT: Final = "30s"
_LOCK_NOT_AVAILABLE: Final = "55P03"


def cutoff(newest: pd.Timestamp, keep_weeks: int) -> pd.Timestamp:
    """The start of the oldest week kept: partitions whose week ends at or before it are dropped."""
    if keep_weeks < 1:
        raise ValueError(f"keep_weeks must be >= 1, got {keep_weeks}")
    newest_us = pd.Timestamp(newest).value // 1000
    reach_us = REPORT_REACH // timedelta(microseconds=1)
    newest_week, reach_week = poll_partitions.week_starts(
        np.array([newest_us, newest_us - reach_us])
    ).tolist()
    by_count = newest_week - (max(keep_weeks, MIN_KEPT_WEEKS) - 1) * poll_partitions.WEEK_US
    return pd.Timestamp(min(by_count, reach_week), unit="us", tz="UTC")


def expired(weeks: Sequence[Week], newest: pd.Timestamp, keep_weeks: int) -> list[Week]:
    """The weeks the rule drops (module docstring), oldest first."""
    limit = cutoff(newest, keep_weeks)
    return sorted((w for w in weeks if pd.Timestamp(w.end) <= limit), key=lambda w: w.start)


def drop_expired_weeks(engine: Engine, keep_weeks: int | None) -> list[str]:
    """Drop the partitions older than ``keep_weeks`` (None: keep everything); return their names.

    Called after every successful status load; each drop is logged. A lock wait past
    :data:`_LOCK_TIMEOUT` stops the run with a warning: the load is committed and correct, retention is
    only late, and the next load tries again.
    """
    if keep_weeks is None:
        return []
    dropped: list[str] = []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
        try:
            _drop(conn, keep_weeks, dropped)
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) != _LOCK_NOT_AVAILABLE:
                raise
            log.warning("retention waited %s for a lock and stopped; the next load retries", _LOCK_TIMEOUT)
        finally:
            conn.exec_driver_sql("RESET lock_timeout")
    return dropped


def _drop(conn: Connection, keep_weeks: int, dropped: list[str]) -> None:
    """Finalize, then drop expired partitions and leftovers, appending each name as it goes."""
    _finalize_pending(conn)
    limits = time_limits()
    newest = queries.latest_poll_within(conn, limits.earliest, limits.latest())
    if newest is None:
        return
    limit = cutoff(newest, keep_weeks)
    for week in expired(poll_partitions.attached_weeks(conn), newest, keep_weeks):
        conn.exec_driver_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {week.qualified} CONCURRENTLY")
        conn.exec_driver_sql(f"DROP TABLE {week.qualified}")
        dropped.append(week.name)
        log.warning(
            "retention: dropped %s (polls of the week from %s; kept: weeks from %s, %d weeks back from the "
            "newest poll %s)",
            week.qualified,
            week.start.date().isoformat(),
            limit.date().isoformat(),
            keep_weeks,
            newest.isoformat(),
        )
    for name in _drop_detached_leftovers(conn, limit):
        dropped.append(name)
        log.warning("retention: dropped %s.%s, left detached by an interrupted run", SCHEMA, name)


def _finalize_pending(conn: Connection) -> None:
    """Complete a concurrent detach that an earlier run started but did not finish."""
    pending = conn.exec_driver_sql(
        f"""
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '{PARENT}'::regclass AND i.inhdetachpending
        """
    ).scalars()
    for name in list(pending):
        conn.exec_driver_sql(f"ALTER TABLE {PARENT} DETACH PARTITION {SCHEMA}.{name} FINALIZE")


def _drop_detached_leftovers(conn: Connection, limit: pd.Timestamp) -> list[str]:
    """Expired week tables in the schema but no longer attached (a run stopped between detach and drop)."""
    names = conn.execute(
        text(
            """
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relkind = 'r' AND NOT c.relispartition
            """
        ),
        {"schema": SCHEMA},
    ).scalars()
    dropped = []
    for name in list(names):
        week = poll_partitions.week_named(name)
        if week is not None and pd.Timestamp(week.end) <= limit:
            conn.exec_driver_sql(f"DROP TABLE {week.qualified}")
            dropped.append(week.name)
    return dropped
