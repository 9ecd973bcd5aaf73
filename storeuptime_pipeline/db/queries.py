"""Small read-only queries behind the asset checks and the reports' time limits (one statement each)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, text

_POLLED_STORES_INPUTS = text(
    """
    SELECT s.store_id,
           s.timezone_defaulted AS no_timezone,
           NOT EXISTS (SELECT 1 FROM business_hours h WHERE h.store_id = s.store_id) AS no_hours
    FROM stores s
    WHERE EXISTS (SELECT 1 FROM store_status p WHERE p.store_id = s.store_id)
    """
)

_FIRST_POLLS = text(
    """
    SELECT s.store_id, f.timestamp_utc AS first_poll
    FROM stores s
    CROSS JOIN LATERAL (
        SELECT p.timestamp_utc FROM store_status p
        WHERE p.store_id = s.store_id AND p.timestamp_utc >= :earliest ORDER BY p.timestamp_utc LIMIT 1
    ) f
    """
)

# Both use the timestamp_utc index: a backward probe, and two range scans at the ends of the index.
_LATEST_POLL_WITHIN = text(
    "SELECT max(timestamp_utc) FROM store_status WHERE timestamp_utc BETWEEN :earliest AND :latest"
)
_POLLS_OUTSIDE = text(
    "SELECT count(*) FROM store_status WHERE timestamp_utc < :earliest OR timestamp_utc > :latest"
)


def polled_stores_inputs(conn: Connection) -> pd.DataFrame:
    """Every store with polls, flagged when it has no usable timezone or no business hours."""
    rows = conn.execute(_POLLED_STORES_INPUTS).all()
    return pd.DataFrame(rows, columns=["store_id", "no_timezone", "no_hours"])


def first_polls(conn: Connection, earliest: pd.Timestamp | None = None) -> pd.DataFrame:
    """Each store's first poll (at or after ``earliest``), one index probe per store.

    Polls before the time limits are ignored by the reports, so they cannot make a store expected.
    """
    since = datetime.min.replace(tzinfo=UTC) if earliest is None else earliest.to_pydatetime()
    rows = conn.execute(_FIRST_POLLS, {"earliest": since}).all()
    frame = pd.DataFrame(rows, columns=["store_id", "first_poll"])
    frame["first_poll"] = pd.to_datetime(frame["first_poll"], utc=True)
    return frame


def latest_poll_within(conn: Connection, earliest: pd.Timestamp, latest: pd.Timestamp) -> pd.Timestamp | None:
    """The newest poll inside [earliest, latest] (UTC), or None: the default as-of of a report."""
    value = conn.execute(
        _LATEST_POLL_WITHIN, {"earliest": earliest.to_pydatetime(), "latest": latest.to_pydatetime()}
    ).scalar_one()
    return None if value is None else pd.Timestamp(value).tz_convert("UTC")


def polls_outside(conn: Connection, earliest: pd.Timestamp, latest: pd.Timestamp) -> int:
    """How many stored polls lie outside [earliest, latest]: loaded before the time limits existed."""
    params = {"earliest": earliest.to_pydatetime(), "latest": latest.to_pydatetime()}
    return int(conn.execute(_POLLS_OUTSIDE, params).scalar_one())
