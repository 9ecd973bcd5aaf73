"""Weekly partitions of ``store_status``: naming, listing, and loading a week that is new to the table.

``store_status`` is range-partitioned on ``timestamp_utc``, one partition per ISO week (Monday 00:00
UTC up to the next Monday), named ``store_status_w<ISO year>_<ISO week>`` and kept in their own
schema :data:`SCHEMA` so that the ``public`` schema (which Dagster's storage shares) lists only the
tables the models declare. There is no DEFAULT partition: every poll's week gets its partition from
the ingest before the poll is written, so a row without one is a bug that should fail loudly.

Why a week new to the table is loaded on its own (:func:`load_new_weeks`): merging rows into a big
table pays index maintenance row by row (one random B-tree descent per index per row), which made
appending a week of older history to a 10M-row table take 26-35 s. A new week instead goes into a
fresh table: COPY without indexes, build its two indexes in bulk (one sort each), add a CHECK
constraint equal to the partition bounds and ATTACH it. Postgres then skips the validation scan (the
CHECK implies the bounds) and adopts the prebuilt indexes as the partitions of the parent's indexes.
ATTACH takes only SHARE UPDATE EXCLUSIVE on the parent, so readers are never blocked; ``CREATE TABLE
... PARTITION OF`` would take ACCESS EXCLUSIVE on the parent until the load commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storeuptime_pipeline.db.copyio import BinaryColumn, BinaryPayload, binary_payload, copy_in

SCHEMA: Final = "poll_weeks"
PARENT: Final = "store_status"
COLUMNS: Final = ("store_id", "timestamp_utc", "is_active")
WEEK_US: Final = 7 * 86_400 * 1_000_000
# 1970-01-05, the first Monday after the Unix epoch (the epoch was a Thursday): week starts are this plus k weeks.
_MONDAY_US: Final = 4 * 86_400 * 1_000_000
_NAME: Final = re.compile(r"^store_status_w(\d{4})_(\d{2})$")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Building a week's indexes sorts in memory instead of spilling to disk (a week is ~1.5-2.5M rows).
_INDEX_BUILD_MEM: Final = "256MB"


@dataclass(frozen=True)
class Week:
    """One ISO week as a partition: its name and its bounds ``[start, end)`` in UTC."""

    name: str
    start: datetime
    end: datetime

    @property
    def qualified(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def start_us(self) -> int:
        return (self.start - _EPOCH) // timedelta(microseconds=1)


def week_starts(micros: np.ndarray) -> np.ndarray:
    """The start (Monday 00:00 UTC, epoch microseconds) of each instant's ISO week; vectorized."""
    return (micros - _MONDAY_US) // WEEK_US * WEEK_US + _MONDAY_US


def week_of(start_us: int) -> Week:
    """The partition of the week that starts at ``start_us`` (a Monday 00:00 UTC)."""
    start = _EPOCH + timedelta(microseconds=int(start_us))
    if start.weekday() != 0 or start.time() != datetime.min.time():
        raise ValueError(f"not the start of an ISO week: {start.isoformat()}")
    year, week, _ = start.isocalendar()
    return Week(f"store_status_w{year:04d}_{week:02d}", start, start + timedelta(weeks=1))


def week_named(name: str) -> Week | None:
    """The week a partition name stands for, or None for a name this module did not make."""
    match = _NAME.match(name)
    if not match:
        return None
    monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
    return week_of(
        (datetime(monday.year, monday.month, monday.day, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
    )


def attached_weeks(conn: Connection) -> list[Week]:
    """The weekly partitions attached to ``store_status`` (one being detached included), oldest first."""
    names = conn.exec_driver_sql(
        f"""
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = '{PARENT}'::regclass
        """
    ).scalars()
    return sorted((w for w in map(week_named, names) if w is not None), key=lambda w: w.start)


def touched_rows_estimate(conn: Connection, micros: np.ndarray) -> float:
    """The planner's row count of the partitions these instants fall in (0 for new or unanalyzed ones).

    The parent of a partitioned table has no row estimate of its own (``reltuples`` is -1).
    """
    names = sorted({week_of(int(w)).name for w in np.unique(week_starts(micros))})
    return float(
        conn.execute(
            text(
                "SELECT coalesce(sum(greatest(c.reltuples, 0)), 0) FROM pg_class c "
                "WHERE c.relnamespace = CAST(:schema AS regnamespace) AND c.relname = ANY(:names)"
            ),
            {"schema": SCHEMA, "names": names},
        ).scalar_one()
    )


def load_new_weeks(
    conn: Connection, store_ids: pd.Categorical, micros: np.ndarray, active: np.ndarray
) -> tuple[int, tuple[pd.Categorical, np.ndarray, np.ndarray]]:
    """Load the polls of weeks that have no stored poll yet; return (rows loaded, the other polls).

    Input: unique polls in primary-key order (as ``poll_load._unique_polls`` makes them), inside the
    caller's transaction and under its SHARE ROW EXCLUSIVE lock on ``store_status`` (so no other load
    creates the same week meanwhile). A week without a partition gets a fresh one (module docstring);
    a week whose partition exists but is empty (after a TRUNCATE) is COPYed straight into it, since
    nothing can conflict there and its indexes are its own small ones. The polls returned, of weeks
    that already hold polls, must be merged by the caller (duplicates against stored rows).
    """
    weeks = week_starts(micros)
    present = np.unique(weeks)
    attached = {w.start_us for w in attached_weeks(conn)}
    loaded_weeks: list[int] = []
    loaded = 0
    for start_us in present.tolist():
        week = week_of(start_us)
        fresh = start_us not in attached
        if not fresh and _has_rows(conn, week):
            continue
        rows = np.flatnonzero(weeks == start_us)  # a slice of the sorted input: still in PK order
        payload = binary_payload(
            [
                BinaryColumn("text", store_ids[rows]),
                BinaryColumn("timestamptz", micros[rows]),
                BinaryColumn("bool", active[rows]),
            ]
        )
        if fresh:
            _create_loaded_partition(conn, week, payload)
        else:
            copy_in(conn, week.qualified, COLUMNS, payload)
        loaded_weeks.append(start_us)
        loaded += len(rows)
    if not loaded_weeks:
        return 0, (store_ids, micros, active)
    rest = ~np.isin(weeks, loaded_weeks)
    return loaded, (store_ids[rest], micros[rest], active[rest])


def _has_rows(conn: Connection, week: Week) -> bool:
    return bool(conn.exec_driver_sql(f"SELECT EXISTS (SELECT FROM {week.qualified})").scalar_one())


def _create_loaded_partition(conn: Connection, week: Week, payload: BinaryPayload) -> None:
    """Fresh table -> COPY -> indexes -> CHECK = bounds -> ATTACH (no scan) -> drop the CHECK.

    Index names follow the models' naming convention for the partition's own table name
    (``pk_<partition>``, ``ix_<partition>_timestamp_utc``), as the migration names them too. The
    CHECK is dropped after ATTACH: the partition bound enforces the same range from then on.
    """
    lo, hi = week.start.isoformat(), week.end.isoformat()
    conn.exec_driver_sql(f"CREATE TABLE {week.qualified} (LIKE {PARENT})")
    copy_in(conn, week.qualified, COLUMNS, payload)
    with _local_setting(conn, "maintenance_work_mem", _INDEX_BUILD_MEM):
        conn.exec_driver_sql(
            f"ALTER TABLE {week.qualified} ADD CONSTRAINT pk_{week.name} PRIMARY KEY (store_id, timestamp_utc)"
        )
        conn.exec_driver_sql(f"CREATE INDEX ix_{week.name}_timestamp_utc ON {week.qualified} (timestamp_utc)")
    conn.exec_driver_sql(
        f"ALTER TABLE {week.qualified} ADD CONSTRAINT {week.name}_bounds "
        f"CHECK (timestamp_utc >= '{lo}' AND timestamp_utc < '{hi}')"
    )
    conn.exec_driver_sql(
        f"ALTER TABLE {PARENT} ATTACH PARTITION {week.qualified} FOR VALUES FROM ('{lo}') TO ('{hi}')"
    )
    conn.exec_driver_sql(f"ALTER TABLE {week.qualified} DROP CONSTRAINT {week.name}_bounds")


@contextmanager
def _local_setting(conn: Connection, name: str, value: str) -> Iterator[None]:
    """Change a setting for the enclosed statements only, then restore the caller's value."""
    previous = conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
    conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    yield
    conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": previous})
