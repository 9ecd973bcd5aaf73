"""Migration 0006_report_generations: stored reports survive both ways; unpublished rows go on the way down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline_tests.db.test_db_migration_poll_weeks import _to

BEFORE, REVISION = "0005_store_shards", "0006_report_generations"
FIGURES = "uptime_last_hour, uptime_last_day, uptime_last_week, downtime_last_hour, downtime_last_day, downtime_last_week"


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_mig6_") as url:
        yield url


def _seed(conn) -> None:
    """Two hours of report rows (one with an outage summary) and their outage lists, as 0005 stored them."""
    conn.exec_driver_sql(
        f"INSERT INTO uptime_report (as_of, store_id, {FIGURES}, outages_last_hour)"
        " SELECT '2023-01-25 10:00+00'::timestamptz + h * interval '1 hour', 's' || s, s, s, s, 0, 0, 0,"
        " CASE WHEN h = 0 THEN NULL ELSE 1 END"
        " FROM generate_series(0, 1) h, generate_series(1, 50) s"
    )
    conn.exec_driver_sql(
        "INSERT INTO outages (as_of, store_id, start_utc, end_utc, timezone, business_hours, ongoing)"
        " SELECT '2023-01-25 10:00+00'::timestamptz + h * interval '1 hour', 's' || s,"
        " '2023-01-25 08:00+00', '2023-01-25 09:00+00', 'UTC', 1.0, false"
        " FROM generate_series(0, 1) h, generate_series(1, 50) s"
    )


def _rows(conn, source: str) -> list[tuple]:
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {source} ORDER BY 1, 2, 3").all()]


def test_upgrade_keeps_every_report_row_and_downgrade_drops_only_unpublished_ones(empty_url: str) -> None:
    _to(empty_url, BEFORE)
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            _seed(conn)
            before = {t: _rows(conn, t) for t in ("uptime_report", "outages")}
        _to(empty_url, REVISION)
        with engine.begin() as conn:
            # Every old row is generation 0 and shown by the views, unchanged.
            assert _rows(conn, "published_uptime_report") == before["uptime_report"]
            assert _rows(conn, "published_outages") == before["outages"]
            assert conn.exec_driver_sql("SELECT DISTINCT generation FROM uptime_report").scalars().all() == [
                0
            ]
            keys = {
                t: inspect(conn).get_pk_constraint(t)["constrained_columns"]
                for t in ("uptime_report", "outages")
            }
            assert keys == {
                "uptime_report": ["as_of", "generation", "store_id"],
                "outages": ["as_of", "generation", "store_id", "start_utc"],
            }
            assert not {"report_stage", "outage_stage"} & set(inspect(conn).get_table_names())
            # A run that never published: its rows (generation 7) are in the tables, no view shows them.
            conn.exec_driver_sql(
                "INSERT INTO report_generations (generation, run_token, as_ofs)"
                " VALUES (7, 'dead', ARRAY['2023-01-25 10:00+00', '2023-01-25 11:00+00']::timestamptz[])"
            )
            conn.exec_driver_sql(
                f"INSERT INTO uptime_report (as_of, store_id, {FIGURES}, generation)"
                " SELECT as_of, store_id, -1, -1, -1, -1, -1, -1, 7 FROM uptime_report"
            )
            assert _rows(conn, "published_uptime_report") == before["uptime_report"]

        _to(empty_url, BEFORE, down=True)
        with engine.connect() as conn:
            assert _rows(conn, "uptime_report") == before["uptime_report"]
            assert _rows(conn, "outages") == before["outages"]
            tables = set(inspect(conn).get_table_names())
            assert {"report_stage", "outage_stage"} <= tables
            assert not {"report_generations", "report_published"} & tables
            assert inspect(conn).get_pk_constraint("uptime_report")["constrained_columns"] == [
                "as_of",
                "store_id",
            ]
        migrate.upgrade(empty_url)
        assert migrate.current_revision(empty_url) == migrate.head_revision()
        with engine.connect() as conn:
            assert _rows(conn, "published_uptime_report") == before["uptime_report"]
    finally:
        engine.dispose()


def test_downgrade_keeps_the_rows_a_sharded_run_published(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO uptime_report (as_of, store_id, {FIGURES}, generation)"
                    " VALUES ('2023-01-25 10:00+00', 'a', 1, 1, 1, 0, 0, 0, 3),"
                    " ('2023-01-25 10:00+00', 'a', 9, 9, 9, 9, 9, 9, 4)"
                )
            )
            conn.exec_driver_sql("INSERT INTO report_published VALUES ('2023-01-25 10:00+00', 3)")
        _to(empty_url, BEFORE, down=True)
        with engine.connect() as conn:
            got = conn.exec_driver_sql("SELECT store_id, uptime_last_hour FROM uptime_report").all()
        assert [tuple(r) for r in got] == [("a", 1.0)]
    finally:
        engine.dispose()
