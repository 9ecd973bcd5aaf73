"""The engine's inputs read back from Postgres: a window of polls, the hours and timezone snapshots.

Each read streams ``COPY (query) TO STDOUT`` (``copyio``) and returns the frame shape the reading
rules produce from the files, so the engine cannot tell a report from Postgres from one on files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import pandas as pd
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.db.copyio import copy_out_frame

# psycopg2 parameter style: COPY takes no bind parameters, so values are mogrified in (copyio).
_POLL_TYPES: Final = {"store_id": "str", "timestamp_utc": "utc_text", "is_active": "tf"}
POLLS_WINDOW_SQL: Final = """
    SELECT store_id, timestamp_utc AT TIME ZONE 'UTC', is_active
    FROM store_status
    WHERE timestamp_utc >= %(start)s AND timestamp_utc <= %(end)s
"""
LAST_EARLIER_POLL_SQL: Final = """
    SELECT s.store_id, p.timestamp_utc AT TIME ZONE 'UTC', p.is_active
    FROM stores s
    CROSS JOIN LATERAL (
        SELECT timestamp_utc, is_active FROM store_status
        WHERE store_status.store_id = s.store_id AND store_status.timestamp_utc < %(start)s
        ORDER BY timestamp_utc DESC
        LIMIT 1
    ) p
"""


def read_polls_window(
    conn: Connection, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> pd.DataFrame:
    """Polls with ``start <= timestamp_utc <= end`` plus, per store, its last poll before ``start``.

    The earlier poll tells the engine each store's state when the window opens. It is found with one
    backward PK-index probe per store (LATERAL ... ORDER BY timestamp_utc DESC LIMIT 1), so the cost
    depends on the number of stores, not on how much older history is stored. Unordered: the engine
    sorts anyway, and sorting here would only repeat that work.
    """
    params = {"start": to_utc(start).to_pydatetime(), "end": to_utc(end).to_pydatetime()}
    # The window is read through a bitmap scan: a plain index scan visits the heap in time order, and
    # once history was loaded out of order (a backfill of older files) that is much slower than reading
    # the window's pages in physical order. The per-store probes below still use the PK index.
    conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
    try:
        window = copy_out_frame(conn, POLLS_WINDOW_SQL, params, _POLL_TYPES)
    finally:
        conn.exec_driver_sql("RESET enable_indexscan")
    earlier = copy_out_frame(conn, LAST_EARLIER_POLL_SQL, params, _POLL_TYPES)
    return pd.concat([window, earlier], ignore_index=True)


def read_business_hours(conn: Connection) -> pd.DataFrame:
    """All business hours as seconds since local midnight (24:00 -> 86400), sorted."""
    query = """
        SELECT store_id, day_of_week, extract(epoch FROM start_local)::int, extract(epoch FROM end_local)::int
        FROM business_hours
        ORDER BY store_id COLLATE "C", day_of_week, start_local, end_local, id
    """
    dtypes = {"store_id": "str", "day_of_week": "int64", "start_seconds": "int64", "end_seconds": "int64"}
    return copy_out_frame(conn, query, None, dtypes)


def read_timezones(conn: Connection) -> pd.DataFrame:
    """Every known store with its timezone (defaulted ones included), sorted by store_id."""
    query = """
        SELECT store_id, timezone_str, timezone, timezone_defaulted::int
        FROM stores ORDER BY store_id COLLATE "C"
    """
    dtypes = {"store_id": "str", "timezone_str": "str", "timezone": "str", "timezone_defaulted": "bool"}
    return copy_out_frame(conn, query, None, dtypes)
