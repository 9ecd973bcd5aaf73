"""Small read-only queries behind the asset checks and the sensors (set-based: one statement each)."""

from __future__ import annotations

from collections.abc import Iterable

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
        WHERE p.store_id = s.store_id ORDER BY p.timestamp_utc LIMIT 1
    ) f
    """
)


def polled_stores_inputs(conn: Connection) -> pd.DataFrame:
    """Every store with polls, flagged when it has no usable timezone or no business hours."""
    rows = conn.execute(_POLLED_STORES_INPUTS).all()
    return pd.DataFrame(rows, columns=["store_id", "no_timezone", "no_hours"])


def first_polls(conn: Connection) -> pd.DataFrame:
    """Each store's first poll, one index probe per store (does not grow with history)."""
    rows = conn.execute(_FIRST_POLLS).all()
    frame = pd.DataFrame(rows, columns=["store_id", "first_poll"])
    frame["first_poll"] = pd.to_datetime(frame["first_poll"], utc=True)
    return frame


_LOADED_CONTENTS = text(
    """
    SELECT kind, sha256 FROM ingested_files
    WHERE kind = 'status' AND sha256 = ANY(:status_shas)
    UNION
    SELECT kind, sha256 FROM (
        SELECT DISTINCT ON (kind) kind, sha256 FROM ingested_files
        WHERE kind IN ('hours', 'timezones')
        ORDER BY kind, loaded_at DESC, id DESC
    ) latest_snapshot
    """
)


def loaded_contents(conn: Connection, contents: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (kind, sha256) pairs whose loading would change nothing: polls whose exact file was loaded
    before, or the snapshot that is the latest loaded of its kind (an earlier snapshot dropped again
    is a change back, so it is not "loaded").

    A quarantined file must not count as loaded: when ``ingested_files`` records quarantined files,
    both halves need ``AND NOT quarantined``.
    """
    wanted = set(contents)
    if not wanted:
        return set()
    status_shas = sorted(sha for kind, sha in wanted if kind == "status")
    rows = conn.execute(_LOADED_CONTENTS, {"status_shas": status_shas}).all()
    return {(kind, sha) for kind, sha in rows} & wanted
