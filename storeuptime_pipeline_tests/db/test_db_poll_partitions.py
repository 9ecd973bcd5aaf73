"""Weekly partitions of store_status: week math, new weeks loaded on their own, reads that prune."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from storeuptime_pipeline.db import poll_load, poll_partitions, reads

MONDAY = pd.Timestamp("2023-01-16 00:00:00", tz="UTC")  # ISO 2023-W03
US = 1_000_000


def _us(ts: pd.Timestamp | str) -> int:
    return int(pd.Timestamp(ts).as_unit("us").asm8.view("i8"))  # also past pandas' ns range (2262)


def hourly(stores: int, start: pd.Timestamp, hours: int, *, offset_s: int = 17 * 60) -> pd.DataFrame:
    """Every store polled once an hour from ``start``; every fifth poll inactive."""
    ids = np.array([f"{5000 + i}" for i in range(stores)])
    base = _us(start) + offset_s * US
    times = np.tile(base + np.arange(hours, dtype=np.int64) * 3600 * US, stores)
    return pd.DataFrame(
        {
            "store_id": pd.Series(np.repeat(ids, hours), dtype="str"),
            "timestamp_utc": pd.Series(times.astype("datetime64[us]")).dt.tz_localize("UTC"),
            "is_active": np.arange(stores * hours) % 5 != 0,
        }
    )


@pytest.fixture(autouse=True)
def no_weeks(clean_db: Engine) -> None:
    """The session database without partitions (TRUNCATE empties them but other tests' weeks stay)."""
    drop_all_weeks(clean_db)


def drop_all_weeks(engine: Engine) -> None:
    with engine.begin() as conn:
        for week in poll_partitions.attached_weeks(conn):
            conn.exec_driver_sql(f"DROP TABLE {week.qualified}")


def rows(conn: Connection) -> list[tuple]:
    return conn.execute(
        text("SELECT store_id, timestamp_utc, is_active FROM store_status ORDER BY 1, 2")
    ).all()


def weeks(conn: Connection) -> list[str]:
    return [w.name for w in poll_partitions.attached_weeks(conn)]


def plan_partitions(conn: Connection, sql: str, params: dict) -> set[str]:
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.execute("EXPLAIN " + sql, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    return set(re.findall(r" on (store_status_w\d{4}_\d{2})", plan))


# ------------------------------------------------------------------------------------------ week math


def test_weeks_start_on_monday_utc_and_are_named_by_iso_week() -> None:
    instants = pd.DatetimeIndex(
        [
            "2021-01-03 23:59:59.999999",  # Sunday of 2020-W53
            "2021-01-04 00:00:00",  # Monday: 2021-W01
            "2024-12-30 12:00:00",  # 2025-W01
            "1969-12-31 23:00:00",  # before the epoch (1970-W01 starts Monday 1969-12-29)
        ],
        tz="UTC",
    ).as_unit("us")
    starts = poll_partitions.week_starts(instants.asi8)
    found = [poll_partitions.week_of(int(s)) for s in starts]
    assert [w.name for w in found] == [
        "store_status_w2020_53",
        "store_status_w2021_01",
        "store_status_w2025_01",
        "store_status_w1970_01",
    ]
    assert [w.start for w in found] == [
        datetime(2020, 12, 28, tzinfo=UTC),
        datetime(2021, 1, 4, tzinfo=UTC),
        datetime(2024, 12, 30, tzinfo=UTC),
        datetime(1969, 12, 29, tzinfo=UTC),
    ]
    assert all(w.end - w.start == timedelta(weeks=1) for w in found)
    assert [poll_partitions.week_named(w.name) for w in found] == found
    assert poll_partitions.week_named("store_status") is None
    with pytest.raises(ValueError, match="not the start of an ISO week"):
        poll_partitions.week_of(_us(MONDAY) + 3600 * US)


# --------------------------------------------------------------------------------------------- loading


def test_polls_on_week_boundaries_land_in_their_own_week(db_conn: Connection) -> None:
    frame = pd.DataFrame(
        {
            "store_id": pd.Series(["a", "a", "b"], dtype="str"),
            "timestamp_utc": pd.Series(
                pd.DatetimeIndex(
                    [MONDAY - pd.Timedelta(microseconds=1), MONDAY, MONDAY + pd.Timedelta(days=7)]
                ).as_unit("us")
            ),
            "is_active": [True, False, True],
        }
    )
    assert poll_load.upsert_polls(db_conn, frame) == 3
    db_conn.commit()
    placed = db_conn.exec_driver_sql(
        "SELECT tableoid::regclass::text, store_id FROM store_status ORDER BY timestamp_utc"
    ).all()
    assert placed == [
        ("poll_weeks.store_status_w2023_02", "a"),
        ("poll_weeks.store_status_w2023_03", "a"),
        ("poll_weeks.store_status_w2023_04", "b"),
    ]
    # Each partition carries the two indexes, attached to the parent's, and no leftover CHECK.
    checks = db_conn.execute(
        text(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND connamespace = CAST(:s AS regnamespace)"
        ),
        {"s": poll_partitions.SCHEMA},
    ).scalar_one()
    assert checks == 0
    attached = dict(
        db_conn.exec_driver_sql(
            """
            SELECT child.relname, parent.relname FROM pg_inherits i
            JOIN pg_class child ON child.oid = i.inhrelid JOIN pg_class parent ON parent.oid = i.inhparent
            WHERE child.relname LIKE '%%store_status_w2023_03%%'
            """
        ).all()
    )
    assert attached == {
        "store_status_w2023_03": "store_status",
        "pk_store_status_w2023_03": "pk_store_status",
        "ix_store_status_w2023_03_timestamp_utc": "ix_store_status_timestamp_utc",
    }


def test_a_new_week_is_loaded_on_its_own_and_the_rest_is_merged(db_conn: Connection) -> None:
    stored = hourly(30, MONDAY, 24 * 14)  # W03 and W04
    assert poll_load.upsert_polls(db_conn, stored) == len(stored)
    db_conn.commit()
    before = rows(db_conn)

    # One batch: a week of older history (W02, new) plus an hour of W04 (stored) flipped to inactive.
    older = hourly(30, MONDAY - pd.Timedelta(days=7), 24 * 7)
    flips = stored[stored["timestamp_utc"] == stored["timestamp_utc"].max()].assign(is_active=False)
    assert flips["is_active"].size == 30
    store_ids, micros, active = poll_load._unique_polls(pd.concat([older, flips], ignore_index=True))
    loaded, (_, rest_micros, _) = poll_partitions.load_new_weeks(db_conn, store_ids, micros, active)
    assert loaded == len(older)  # the older week went into its fresh partition
    assert len(rest_micros) == 30  # the stored week's polls are left to the merge
    assert set(poll_partitions.week_starts(rest_micros).tolist()) == {_us(MONDAY + pd.Timedelta(days=7))}
    db_conn.rollback()

    changed = poll_load.upsert_polls(db_conn, pd.concat([older, flips], ignore_index=True))
    db_conn.commit()
    stored_flips = sum(1 for r in before if r[1] == flips["timestamp_utc"].max() and r[2])
    assert changed == len(older) + stored_flips
    assert weeks(db_conn) == ["store_status_w2023_02", "store_status_w2023_03", "store_status_w2023_04"]
    after = rows(db_conn)
    assert len(after) == len(before) + len(older)
    assert poll_load.upsert_polls(db_conn, pd.concat([older, flips], ignore_index=True)) == 0  # re-load
    db_conn.commit()
    assert rows(db_conn) == after


def test_weeks_emptied_by_truncate_are_copied_into_directly(db_conn: Connection) -> None:
    frame = hourly(10, MONDAY, 24 * 10)
    poll_load.upsert_polls(db_conn, frame)
    db_conn.commit()
    first = rows(db_conn)
    db_conn.exec_driver_sql("TRUNCATE store_status")
    db_conn.commit()
    assert weeks(db_conn) == ["store_status_w2023_03", "store_status_w2023_04"]  # empty, still there
    store_ids, micros, active = poll_load._unique_polls(frame)
    loaded, (_, rest, _) = poll_partitions.load_new_weeks(db_conn, store_ids, micros, active)
    assert (loaded, len(rest)) == (len(frame), 0)
    db_conn.commit()
    assert rows(db_conn) == first


def test_readers_are_not_blocked_while_a_new_week_loads(clean_db: Engine) -> None:
    with clean_db.begin() as conn:
        poll_load.upsert_polls(conn, hourly(5, MONDAY, 24))
    with clean_db.connect() as loader, clean_db.connect() as reader:
        loader.begin()
        poll_load.upsert_polls(loader, hourly(5, MONDAY - pd.Timedelta(days=7), 24))  # new week, uncommitted
        reader.exec_driver_sql("SET lock_timeout = '2s'")
        # Would raise LockNotAvailable if creating the week had taken ACCESS EXCLUSIVE on store_status.
        assert reader.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one() == 5 * 24
        window = reads.read_polls_window(reader, MONDAY, MONDAY + pd.Timedelta(days=1))
        assert len(window) == 5 * 24
        reader.rollback()
        loader.commit()
        assert reader.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one() == 2 * 5 * 24


# ----------------------------------------------------------------------------------------------- reads


def test_window_reads_touch_only_the_weeks_they_overlap(db_conn: Connection) -> None:
    poll_load.upsert_polls(db_conn, hourly(20, MONDAY - pd.Timedelta(days=14), 24 * 35))  # W01 .. W05
    db_conn.exec_driver_sql("ANALYZE store_status")
    db_conn.commit()
    assert len(weeks(db_conn)) == 5
    start = MONDAY + pd.Timedelta(days=3, hours=5)  # Thursday of W03: the window reaches into W04
    params = {"start": start.to_pydatetime(), "end": (start + pd.Timedelta(days=7)).to_pydatetime()}
    assert plan_partitions(db_conn, reads.POLLS_WINDOW_SQL, params) == {
        "store_status_w2023_03",
        "store_status_w2023_04",
    }
    # The last poll before the window: only weeks that start before it, newest first (ordered Append,
    # so a store's probe stops at the first week holding one of its polls).
    assert plan_partitions(db_conn, reads.LAST_EARLIER_POLL_SQL, params) == {
        "store_status_w2023_01",
        "store_status_w2023_02",
        "store_status_w2023_03",
    }
    window = reads.read_polls_window(db_conn, start, start + pd.Timedelta(days=7))
    assert len(window) == 20 * (24 * 7 + 1)
