"""Migration 0004_poll_weeks: from 0003 with polls, to head, back down, and up again; every poll kept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import migrate, poll_load, poll_partitions
from storeuptime_pipeline.db.models import metadata
from storeuptime_pipeline.db.scratch import temporary_database

BEFORE = "0003_outages"
REVISION = "0004_poll_weeks"
# A session time zone with DST: week bounds and the week skip-scan must not follow it.
SESSION_TZ = "America/Chicago"
# Polls on both sides of week and ISO-year boundaries, a year-long gap, and a week whose only poll lies
# in its first hour right after a DST change of the session zone (2023-11-05 in Chicago).
EDGE_POLLS = [
    ("edge", "2020-12-27 23:59:59.999999+00", True),  # Sunday: 2020-W52
    ("edge", "2020-12-28 00:00:00+00", False),  # Monday: 2020-W53
    ("edge", "2021-01-03 23:59:59.999999+00", True),  # 2020-W53
    ("edge", "2021-01-04 00:00:00+00", True),  # 2021-W01
    ("edge", "2023-10-30 12:00:00+00", True),  # 2023-W44
    ("edge", "2023-11-06 00:30:00+00", False),  # 2023-W45, its only poll
]


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_mig_") as url:
        yield url


def _engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool, connect_args={"options": f"-c timezone={SESSION_TZ}"})


def _to(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade or downgrade in one transaction, as ``migrate.upgrade`` does (and under its lock)."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({migrate._LOCK_KEY})")
            cfg = migrate.alembic_config(url)
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


def _polls(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text("SELECT store_id, timestamp_utc, is_active FROM store_status ORDER BY 1, 2, 3")
            )
        ]


def _relkind(engine: Engine) -> str:
    with engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT relkind FROM pg_class WHERE oid = 'store_status'::regclass"
        ).scalar_one()


def _expected_partitions(polls: list[tuple]) -> set[str]:
    micros = pd.DatetimeIndex(pd.to_datetime([p[1] for p in polls], utc=True)).as_unit("us").asi8
    return {poll_partitions.week_of(int(w)).name for w in set(poll_partitions.week_starts(micros).tolist())}


def _partition_indexes(engine: Engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = :s"),
            {"s": poll_partitions.SCHEMA},
        ).all()
    found: dict[str, set[str]] = {}
    for table, index in rows:
        found.setdefault(table, set()).add(index)
    return found


def _seed(engine: Engine) -> None:
    """Polls at 0003: 40 stores hourly over three weeks of January 2023, plus the edge polls."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            """
            INSERT INTO store_status (store_id, timestamp_utc, is_active)
            SELECT 's' || lpad(s::text, 3, '0'), '2023-01-04 00:17:00+00'::timestamptz + h * interval '1 hour',
                   mod(s + h, 5) <> 0
            FROM generate_series(1, 40) s, generate_series(0, 24 * 21 - 1) h
            """
        )
        for store, stamp, active in EDGE_POLLS:
            conn.execute(
                text("INSERT INTO store_status VALUES (:s, :t, :a)"), {"s": store, "t": stamp, "a": active}
            )


def _added_later(diff: tuple) -> bool:
    """A schema difference that a revision after 0004 accounts for (0005: shard hash; 0006: generations)."""
    if diff[0] == "add_table":
        return diff[1].name in {"report_generations", "report_published"}
    if diff[0] == "add_column":
        return (diff[2], diff[3].name) in {
            ("stores", "shard_hash"),
            ("uptime_report", "generation"),
            ("outages", "generation"),
        }
    return False


def test_upgrade_keeps_every_poll_in_weekly_partitions_and_downgrade_restores_the_plain_table(
    empty_url: str,
) -> None:
    _to(empty_url, BEFORE)
    engine = _engine(empty_url)
    try:
        _seed(engine)
        before = _polls(engine)
        assert len(before) == 40 * 24 * 21 + len(EDGE_POLLS)

        _to(empty_url, REVISION)
        assert migrate.current_revision(empty_url) == REVISION
        assert _relkind(engine) == "p"
        assert _polls(engine) == before
        weeks = {w.name for w in _attached(engine)}
        assert weeks == _expected_partitions(before)
        assert {"store_status_w2020_52", "store_status_w2020_53", "store_status_w2021_01"} <= weeks
        assert {"store_status_w2023_44", "store_status_w2023_45"} <= weeks
        assert len(weeks) == 3 + 4 + 2  # no partition for the empty weeks of the gap
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM ONLY store_status").scalar_one() == 0
            # Every poll sits in the partition of its own UTC week.
            misplaced = conn.exec_driver_sql(
                """
                SELECT count(*) FROM store_status
                WHERE tableoid::regclass::text <> 'poll_weeks.store_status_w'
                      || to_char(timestamp_utc AT TIME ZONE 'UTC', 'IYYY_IW')
                """
            ).scalar_one()
            assert misplaced == 0
            assert _indexes(conn, "store_status") == {"pk_store_status", "ix_store_status_timestamp_utc"}
            context = MigrationContext.configure(
                conn,
                opts={
                    "target_metadata": metadata,
                    "version_table": migrate.VERSION_TABLE,
                    "include_object": migrate.include_object,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            # The models are at head: what later revisions add (0005_store_shards) is not here yet.
            assert [d for d in compare_metadata(context, metadata) if not _added_later(d)] == []
        assert _partition_indexes(engine) == {
            name: {f"pk_{name}", f"ix_{name}_timestamp_utc"} for name in weeks
        }

        _to(empty_url, BEFORE, down=True)
        assert migrate.current_revision(empty_url) == BEFORE
        assert _relkind(engine) == "r"
        assert _polls(engine) == before
        with engine.connect() as conn:
            assert _indexes(conn, "store_status") == {"pk_store_status", "ix_store_status_timestamp_utc"}
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                    {"s": poll_partitions.SCHEMA},
                ).scalar_one()
                == 0
            )

        migrate.upgrade(empty_url)  # and up again, to head
        assert migrate.current_revision(empty_url) == migrate.head_revision()
        assert _relkind(engine) == "p"
        assert _polls(engine) == before
        migrate.upgrade(empty_url)  # at head: nothing to do
        assert _polls(engine) == before
    finally:
        engine.dispose()


def test_loads_after_the_migration_merge_into_migrated_weeks_and_add_new_ones(empty_url: str) -> None:
    _to(empty_url, BEFORE)
    engine = _engine(empty_url)
    try:
        _seed(engine)
        migrate.upgrade(empty_url)
        t0 = datetime(2023, 1, 10, 6, 17, tzinfo=UTC)  # s001's stored poll there is active
        frame = pd.DataFrame(
            {
                "store_id": pd.Series(["s001", "s001", "new"], dtype="str"),
                "timestamp_utc": pd.Series(pd.DatetimeIndex([t0, t0 - timedelta(weeks=3), t0]).as_unit("us")),
                "is_active": [False, True, True],
            }
        )
        before = _polls(engine)
        with engine.begin() as conn:
            assert poll_load.upsert_polls(conn, frame) == 3  # one flip, one older week, one new row
        after = _polls(engine)
        assert len(after) == len(before) + 2
        assert ("s001", t0, False) in after
        assert "store_status_w2022_51" in {w.name for w in _attached(engine)}
        with engine.begin() as conn:
            assert poll_load.upsert_polls(conn, frame) == 0
        assert _polls(engine) == after
    finally:
        engine.dispose()


def _attached(engine: Engine) -> list[poll_partitions.Week]:
    with engine.connect() as conn:
        return poll_partitions.attached_weeks(conn)


def _indexes(conn, table: str) -> set[str]:
    return set(
        conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = :t"),
            {"t": table},
        ).scalars()
    )
