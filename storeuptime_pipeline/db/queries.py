"""Small read-only queries behind the asset checks, the sensors and the reports' time limits (one statement each)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Connection, select, text

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.db.models import IngestedFile

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


_LOADED_CONTENTS = text(
    """
    SELECT kind, sha256 FROM ingested_files
    WHERE kind = 'status' AND sha256 = ANY(:status_shas) AND NOT quarantined
    UNION
    SELECT kind, sha256 FROM (
        SELECT DISTINCT ON (kind) kind, sha256 FROM ingested_files
        WHERE kind IN ('hours', 'timezones') AND NOT quarantined
        ORDER BY kind, loaded_at DESC, id DESC
    ) latest_snapshot
    """
)


def loaded_contents(conn: Connection, contents: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (kind, sha256) pairs whose loading would change nothing: polls whose exact file was loaded
    before, or the snapshot that is the latest loaded of its kind (an earlier snapshot dropped again
    is a change back, so it is not "loaded"). A quarantined file never counts: fixed or accepted,
    the same name dropped again must be judged again.
    """
    wanted = set(contents)
    if not wanted:
        return set()
    status_shas = sorted(sha for kind, sha in wanted if kind == "status")
    rows = conn.execute(_LOADED_CONTENTS, {"status_shas": status_shas}).all()
    return {(kind, sha) for kind, sha in rows} & wanted


#: Tables whose row count the assets report as ``dagster/row_count``.
COUNTED_TABLES = ("store_status", "business_hours", "stores", "uptime_report")


def table_row_count(conn: Connection, table: str) -> int:
    """Exact row count of one of the project's tables (the catalog's ``dagster/row_count``)."""
    if table not in COUNTED_TABLES:
        raise ValueError(f"not a counted table: {table!r}")
    source = "published_uptime_report" if table == "uptime_report" else table  # not a run's unpublished rows
    return int(conn.execute(text(f"SELECT count(*) FROM {source}")).scalar_one())


def has_poll_between(conn: Connection, after: pd.Timestamp, up_to: pd.Timestamp) -> bool:
    """Whether some poll has after < timestamp <= up_to (an index range probe on timestamp_utc)."""
    query = text(
        "SELECT EXISTS (SELECT 1 FROM store_status WHERE timestamp_utc > :after AND timestamp_utc <= :up_to)"
    )
    params = {"after": after.to_pydatetime(), "up_to": up_to.to_pydatetime()}
    return bool(conn.execute(query, params).scalar_one())


def last_report_at_or_before(conn: Connection, instant: pd.Timestamp) -> pd.Timestamp | None:
    """The latest stored hourly report instant <= ``instant``, or None.

    Only hour boundaries count (the partitions' as-ofs): an on-demand report as of 20:45 does not stand
    in for the hourly report as of 21:00.
    """
    # Newest first along the key, stopping at the first row an as-of shows (a sharded run still
    # computing has rows no as-of shows yet: db/report_stage.py); max() over the view would read them all.
    query = text(
        "SELECT t.as_of FROM uptime_report t WHERE t.as_of <= :instant AND t.as_of = date_trunc('hour', t.as_of)"
        " AND t.generation = coalesce((SELECT p.generation FROM report_published p WHERE p.as_of = t.as_of), 0)"
        " ORDER BY t.as_of DESC LIMIT 1"
    )
    value = conn.execute(query, {"instant": instant.to_pydatetime()}).scalar_one_or_none()
    return None if value is None else to_utc(value)


def latest_poll_time(conn: Connection) -> pd.Timestamp | None:
    """The newest stored poll's timestamp (UTC), inside the time limits or not, or None.

    An index-only lookup. It tells whether new polls arrived; the default as-of of a report is
    :func:`latest_poll_within` the limits instead.
    """
    value = conn.exec_driver_sql("SELECT max(timestamp_utc) FROM store_status").scalar_one()
    return None if value is None else to_utc(value)


def latest_poll_within(conn: Connection, earliest: pd.Timestamp, latest: pd.Timestamp) -> pd.Timestamp | None:
    """The newest poll inside [earliest, latest] (UTC), or None: the default as-of of a report."""
    value = conn.execute(
        _LATEST_POLL_WITHIN, {"earliest": earliest.to_pydatetime(), "latest": latest.to_pydatetime()}
    ).scalar_one()
    return None if value is None else to_utc(value)


def polls_outside(conn: Connection, earliest: pd.Timestamp, latest: pd.Timestamp) -> int:
    """How many stored polls lie outside [earliest, latest]: loaded before the time limits existed."""
    params = {"earliest": earliest.to_pydatetime(), "latest": latest.to_pydatetime()}
    return int(conn.execute(_POLLS_OUTSIDE, params).scalar_one())


def loaded_digests(conn: Connection, kind: str, digests: Sequence[str]) -> set[str]:
    """Which of these sha256 contents have a record of ``kind`` that is not quarantined.

    A quarantined record does not count: the same bytes dropped again are judged again.
    """
    if not digests:
        return set()
    rows = conn.execute(
        select(IngestedFile.sha256).where(
            IngestedFile.kind == kind,
            IngestedFile.sha256.in_(list(digests)),
            IngestedFile.quarantined.is_(False),
        )
    )
    return {sha for (sha,) in rows}


def live_file(conn: Connection, kind: str) -> dict[str, object] | None:
    """The record of the load that is live for ``kind``: its newest one that was not quarantined."""
    table = IngestedFile.__table__
    row = conn.execute(
        select(table)
        .where(table.c.kind == kind, table.c.quarantined.is_(False))
        .order_by(table.c.loaded_at.desc(), table.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


_STORES_WITHOUT_POLLS = text(
    """
    SELECT count(*) AS known,
           count(*) FILTER (WHERE NOT EXISTS (
               SELECT 1 FROM store_status p WHERE p.store_id = s.store_id AND p.timestamp_utc <= :as_of
           )) AS without_polls
    FROM stores s
    """
)


def stores_without_polls(conn: Connection, as_of: pd.Timestamp) -> tuple[int, int]:
    """(stores in any input file, of them with no poll at or before ``as_of``): one index probe per store.

    A report has a row only for a store with a poll at or before its instant, so this is why a report
    lists fewer stores than the files name (the demo data, like the real files, has stores that are
    in the hours and timezones files but were never polled).
    """
    row = conn.execute(_STORES_WITHOUT_POLLS, {"as_of": as_of.to_pydatetime()}).one()
    return int(row.known), int(row.without_polls)


def ping(conn: Connection) -> None:
    """One round trip to the server (the API's health check): raises if it does not answer."""
    conn.execute(text("SELECT 1"))


def estimated_polls_between(conn: Connection, start: pd.Timestamp, end: pd.Timestamp) -> int:
    """The planner's estimate of the polls in [start, end] (statistics only: no rows are read).

    What decides a report's number of shards: a count would read the window once more just to
    decide how to read it. The estimate comes from each weekly partition's histogram, good to a few
    percent, which is all a shard count needs. Autovacuum analyzes a partition some time after a load;
    one never analyzed yet (just loaded: its index build counts its rows but
    keeps no histogram) has none and would be guessed at, so it is analyzed
    here first (a sample of 30k rows: well under a second, once per new week).
    """
    fresh = conn.exec_driver_sql(
        """
        SELECT c.oid::regclass::text
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.inhparent = 'store_status'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname
                          AND s.attname = 'timestamp_utc')
        """
    ).scalars()
    for name in list(fresh):
        conn.exec_driver_sql(f"ANALYZE {name}")
    plan = conn.execute(
        text("EXPLAIN (FORMAT JSON) SELECT 1 FROM store_status WHERE timestamp_utc BETWEEN :start AND :end"),
        {"start": start.to_pydatetime(), "end": end.to_pydatetime()},
    ).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])
