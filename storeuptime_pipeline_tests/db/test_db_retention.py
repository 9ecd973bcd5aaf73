"""Retention: only whole weeks older than the limit go, kept weeks are untouched, the default keeps all."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.db import poll_load, poll_partitions, retention
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.db.test_db_poll_partitions import drop_all_weeks, hourly

FIRST = pd.Timestamp("2022-12-19 00:00", tz="UTC")  # Monday of 2022-W51
SIX_WEEKS = ["w2022_51", "w2022_52", "w2023_01", "w2023_02", "w2023_03", "w2023_04"]


def names(*weeks: str) -> list[str]:
    return [f"store_status_{w}" for w in weeks]


@pytest.fixture
def engine(clean_db: Engine) -> Engine:
    drop_all_weeks(clean_db)
    return clean_db


@pytest.fixture
def six_weeks(engine: Engine) -> Engine:
    """8 stores polled hourly from Monday 2022-12-19 to Sunday 2023-01-29 23:17 (W51 .. 2023-W04)."""
    with engine.begin() as conn:
        poll_load.upsert_polls(conn, hourly(8, FIRST, 24 * 7 * 6))
    return engine


def weeks(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [w.name for w in poll_partitions.attached_weeks(conn)]


def polls_from(conn: Connection, since: pd.Timestamp) -> list[tuple]:
    return conn.execute(
        text("SELECT * FROM store_status WHERE timestamp_utc >= :t ORDER BY 1, 2"),
        {"t": since.to_pydatetime()},
    ).all()


def ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


# ------------------------------------------------------------------------------------------------ rule


def test_the_rule_counts_weeks_back_from_the_newest_polls_week() -> None:
    wednesday = ts("2023-01-25 10:00")  # in 2023-W04
    assert retention.cutoff(wednesday, 3) == ts("2023-01-09")  # W04, W03, W02 kept
    assert retention.cutoff(wednesday, 2) == ts("2023-01-16")
    assert retention.cutoff(wednesday, 1) == ts("2023-01-16")  # never fewer than the newest 2 weeks
    # Newest poll early on a Monday: the report's window starts in the week before, and the last poll
    # before it may be in the week before that, so a third week is kept.
    monday = ts("2023-01-23 00:30")
    assert retention.cutoff(monday, 2) == ts("2023-01-09")
    assert retention.cutoff(monday, 5) == ts("2022-12-26")
    with pytest.raises(ValueError):
        retention.cutoff(wednesday, 0)
    all_weeks = [poll_partitions.week_of(FIRST.value // 1000 + k * poll_partitions.WEEK_US) for k in range(6)]
    assert [w.name for w in retention.expired(all_weeks, wednesday, 3)] == names(*SIX_WEEKS[:3])


def test_the_setting_is_unset_or_a_positive_number_of_weeks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.RETENTION_WEEKS_ENV, raising=False)
    assert settings.retention_weeks() is None
    monkeypatch.setenv(settings.RETENTION_WEEKS_ENV, " 12 ")
    assert settings.retention_weeks() == 12
    for bad in ("0", "-3", "1.5", "two"):
        monkeypatch.setenv(settings.RETENTION_WEEKS_ENV, bad)
        with pytest.raises(ValueError, match=settings.RETENTION_WEEKS_ENV):
            settings.retention_weeks()


# -------------------------------------------------------------------------------------------- database


def test_retention_drops_only_whole_weeks_older_than_the_limit(
    six_weeks: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    kept_since = ts("2023-01-09")
    with six_weeks.connect() as conn:
        kept_before = polls_from(conn, kept_since)
        total = conn.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one()
    assert len(kept_before) == 8 * 24 * 7 * 3

    with caplog.at_level(logging.WARNING, logger=retention.__name__):
        dropped = retention.drop_expired_weeks(six_weeks, 3)
    assert dropped == names(*SIX_WEEKS[:3])
    assert weeks(six_weeks) == names(*SIX_WEEKS[3:])
    for name in dropped:
        assert f"dropped poll_weeks.{name}" in caplog.text
    with six_weeks.connect() as conn:
        assert polls_from(conn, kept_since) == kept_before  # kept weeks: every row as it was
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one() == len(kept_before) < total
        )
        left = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'poll_weeks'::regnamespace AND relkind = 'r'"
        ).scalar_one()
    assert left == 3  # the dropped tables are gone, not just detached

    assert retention.drop_expired_weeks(six_weeks, 3) == []  # nothing more to drop
    assert retention.drop_expired_weeks(six_weeks, 1) == names("w2023_02")  # the newest 2 weeks stay
    assert weeks(six_weeks) == names("w2023_03", "w2023_04")


def test_the_default_keeps_everything(six_weeks: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.RETENTION_WEEKS_ENV, raising=False)
    with six_weeks.connect() as conn:
        before = polls_from(conn, FIRST)
    assert retention.drop_expired_weeks(six_weeks, settings.retention_weeks()) == []
    assert weeks(six_weeks) == names(*SIX_WEEKS)
    with six_weeks.connect() as conn:
        assert polls_from(conn, FIRST) == before


def test_a_poll_beyond_the_time_limits_does_not_age_the_real_weeks(six_weeks: Engine) -> None:
    with six_weeks.begin() as conn:  # stored before the reading rule existed: ignored by the reports
        poll_load.upsert_polls(conn, hourly(1, ts("2999-01-06"), 1))
    assert retention.drop_expired_weeks(six_weeks, 3) == names(*SIX_WEEKS[:3])
    assert weeks(six_weeks) == [*names(*SIX_WEEKS[3:]), "store_status_w2999_01"]


def test_a_week_left_detached_by_an_interrupted_run_is_dropped(six_weeks: Engine) -> None:
    with six_weeks.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE store_status DETACH PARTITION poll_weeks.store_status_w2022_51")
    assert retention.drop_expired_weeks(six_weeks, 3) == names(*SIX_WEEKS[1:3], "w2022_51")
    assert weeks(six_weeks) == names(*SIX_WEEKS[3:])


def test_a_lock_wait_stops_retention_without_failing_and_the_next_run_finishes(
    six_weeks: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(retention, "_LOCK_TIMEOUT", "300ms")
    with six_weeks.connect() as loading:
        loading.begin()
        loading.exec_driver_sql("LOCK TABLE store_status IN SHARE ROW EXCLUSIVE MODE")  # as a load holds
        with caplog.at_level(logging.WARNING, logger=retention.__name__):
            assert retention.drop_expired_weeks(six_weeks, 3) == []
        assert "next load retries" in caplog.text
        loading.rollback()
    assert weeks(six_weeks) == names(*SIX_WEEKS)
    assert retention.drop_expired_weeks(six_weeks, 3) == names(*SIX_WEEKS[:3])


def test_a_detach_left_pending_is_finalized_and_dropped(
    six_weeks: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that read store_status makes the detach's second step wait; it times out."""
    monkeypatch.setattr(retention, "_LOCK_TIMEOUT", "300ms")
    with six_weeks.connect() as reading:
        reading.begin()  # a read still in its transaction (its ACCESS SHARE lock held)
        reading.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one()
        assert retention.drop_expired_weeks(six_weeks, 3) == []
        reading.rollback()
    with six_weeks.connect() as conn:
        pending = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'store_status'::regclass AND inhdetachpending"
        ).scalar_one()
    assert pending == 1
    assert retention.drop_expired_weeks(six_weeks, 3) == names(*SIX_WEEKS[1:3], "w2022_51")
    assert weeks(six_weeks) == names(*SIX_WEEKS[3:])


def test_status_loads_apply_the_setting(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        f"s{i % 3},active,{ts('2023-01-02 10:00') + pd.Timedelta(hours=7 * i):%Y-%m-%d %H:%M:%S} UTC"
        for i in range(90)
    ]
    path = tmp_path / "store_status.csv"
    path.write_text("store_id,status,timestamp_utc\n" + "\n".join(lines) + "\n")
    monkeypatch.setenv(settings.RETENTION_WEEKS_ENV, "none")
    with pytest.raises(ValueError, match=settings.RETENTION_WEEKS_ENV):
        load_files(engine, "status", [path])
    with engine.connect() as conn:  # refused before anything was written
        assert conn.exec_driver_sql("SELECT count(*) FROM ingested_files").scalar_one() == 0
    monkeypatch.setenv(settings.RETENTION_WEEKS_ENV, "2")
    (load,) = load_files(engine, "status", [path])
    assert load.rows_loaded == 90
    newest = ts("2023-01-02 10:00") + pd.Timedelta(hours=7 * 89)
    assert newest == ts("2023-01-28 09:00")  # a Saturday of 2023-W04
    assert weeks(engine) == names("w2023_03", "w2023_04")
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT min(timestamp_utc), max(timestamp_utc) FROM store_status").one()
    assert stored[0] >= ts("2023-01-16") and stored[1] == newest
