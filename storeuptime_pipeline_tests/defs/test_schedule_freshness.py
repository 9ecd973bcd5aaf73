"""The hourly schedule and the freshness signals follow the data, not the clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    SkipReason,
    build_schedule_context,
    materialize,
)
from dagster._core.definitions.freshness import FreshnessState, TimeWindowFreshnessPolicy
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time
from sqlalchemy import Engine, text

from storeuptime_pipeline.db import poll_load
from storeuptime_pipeline.definitions import defs, resources
from storeuptime_pipeline.defs import freshness
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.checks import FEED_CHECK, INGEST_CHECKS
from storeuptime_pipeline.defs.resources import DatabaseResource
from storeuptime_pipeline.defs.schedules import hourly_report_schedule
from storeuptime_pipeline.generator.data import generate_dataset

TICK = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # reports partition 2026-12-01-20:00, as of 21:00


def _polls(engine: Engine, *stamps: str) -> None:
    """Active polls of store s1, through the poll load (which creates their weekly partitions)."""
    frame = pd.DataFrame(
        {
            "store_id": ["s1"] * len(stamps),
            "timestamp_utc": pd.to_datetime(list(stamps), utc=True).as_unit("us"),
            "is_active": [True] * len(stamps),
        }
    )
    with engine.begin() as conn:
        poll_load.upsert_polls(conn, frame)


def _report_row(engine: Engine, as_of: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO uptime_report VALUES (:a, 's1', 60, 24, 168, 0, 0, 0)"),
            {"a": pd.Timestamp(as_of).to_pydatetime()},
        )


def _tick(database_url: str, when: datetime = TICK) -> RunRequest | SkipReason:
    context = build_schedule_context(
        scheduled_execution_time=when, resources={"database": DatabaseResource(url=database_url)}
    )
    result = hourly_report_schedule(context)
    assert isinstance(result, RunRequest | SkipReason)
    return result


def test_a_tick_whose_hour_holds_no_new_poll_skips_and_names_the_newest_poll(
    clean_db: Engine, database_url: str
) -> None:
    _polls(clean_db, "2023-01-25 18:13:22+00:00")
    result = _tick(database_url)
    assert isinstance(result, SkipReason)
    assert "newest poll is 2023-01-25 18:13:22 UTC" in result.skip_message
    assert "(2026-12-01 20:00, 21:00]" in result.skip_message


def test_a_tick_whose_hour_brought_polls_runs_that_partition(clean_db: Engine, database_url: str) -> None:
    _polls(clean_db, "2023-01-25 18:13:22+00:00", "2026-12-01 20:30:00+00:00")
    result = _tick(database_url)
    assert isinstance(result, RunRequest)
    assert result.partition_key == "2026-12-01-20:00"
    # the same at 10:00 for the January 2023 data: partition 09:00, as of 10:00
    _polls(clean_db, "2023-01-20 09:40:00+00:00")
    assert _tick(database_url, datetime(2023, 1, 20, 10, 0, tzinfo=UTC)).partition_key == "2023-01-20-09:00"


def test_a_tick_already_reported_skips_but_an_on_demand_report_does_not_count(
    clean_db: Engine, database_url: str
) -> None:
    _polls(clean_db, "2026-12-01 20:30:00+00:00")
    _report_row(clean_db, "2026-12-01 20:45:00+00:00")  # an on-demand report is not the hour's report
    assert isinstance(_tick(database_url), RunRequest)
    _report_row(clean_db, "2026-12-01 21:00:00+00:00")  # the report_after_ingest sensor already ran it
    result = _tick(database_url)
    assert isinstance(result, SkipReason)
    assert "newer than the last report (as of 2026-12-01 21:00:00 UTC)" in result.skip_message


def test_a_tick_on_an_empty_database_skips_saying_so(clean_db: Engine, database_url: str) -> None:
    result = _tick(database_url)
    assert isinstance(result, SkipReason) and "no polls in the database yet" in result.skip_message


def test_store_status_has_a_freshness_policy_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = defs.resolve_asset_graph().get(AssetKey("store_status")).freshness_policy
    assert isinstance(policy, TimeWindowFreshnessPolicy)
    assert policy.fail_window.to_timedelta() == timedelta(hours=2)
    monkeypatch.setenv("STOREUPTIME_FEED_FAIL_HOURS", "6")
    monkeypatch.setenv("STOREUPTIME_FEED_WARN_HOURS", "1.5")
    configured = freshness.feed_freshness_policy()
    assert configured.fail_window.to_timedelta() == timedelta(hours=6)
    assert configured.warn_window.to_timedelta() == timedelta(minutes=90)


def _ingest(instance: DagsterInstance, database_url: str, landing: Path) -> ExecuteInProcessResult:
    res = resources(database_url=database_url, landing=str(landing), reports=str(landing / "reports"))
    result = materialize([*INGEST_ASSETS, *INGEST_CHECKS], instance=instance, resources=res)
    assert result.success
    return result


def test_old_polls_are_stale_though_just_loaded_and_the_policy_fails_once_loads_stop(
    clean_db: Engine, database_url: str, tmp_path: Path
) -> None:
    generate_dataset(tmp_path / "old", stores=30, days=1, seed=3)  # newest poll 2023-01-25 18:13:22
    node = defs.resolve_asset_graph().get(AssetKey("store_status"))
    with DagsterInstance.ephemeral() as instance:
        result = _ingest(instance, database_url, tmp_path / "old")
        check = next(e for e in result.get_asset_check_evaluations() if e.check_name == FEED_CHECK)
        assert not check.passed  # just loaded, but the newest poll is years old
        assert "newest poll 2023-01-25 18:13:22 UTC" in check.description
        meta = result.asset_materializations_for_node("store_status")[0].metadata
        assert (
            meta["dagster/last_updated_timestamp"].value
            == pd.Timestamp("2023-01-25 18:13:22.479220Z").timestamp()
        )

        # The FreshnessPolicy (what the daemon shows in the catalog) goes by the last load ...
        loaded_at = instance.get_latest_materialization_event(AssetKey("store_status")).timestamp
        evaluate = TimeWindowFreshnessPolicyEvaluator().evaluate_freshness
        with freeze_time(loaded_at + 3600):
            assert asyncio.run(evaluate(LoadingContextForTest(instance), node)) == FreshnessState.PASS
        with freeze_time(loaded_at + 2 * 3600 + 1):
            assert asyncio.run(evaluate(LoadingContextForTest(instance), node)) == FreshnessState.FAIL

    # ... and current polls pass the poll-time check.
    with clean_db.begin() as conn:
        conn.execute(
            text("TRUNCATE store_status, ingested_files, rejected_rows, stores, business_hours CASCADE")
        )
    recent = pd.Timestamp.now(tz="UTC") - pd.Timedelta(minutes=20)
    generate_dataset(tmp_path / "new", stores=30, days=1, seed=3, end=recent)
    with DagsterInstance.ephemeral() as instance:
        result = _ingest(instance, database_url, tmp_path / "new")
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == FEED_CHECK)
    assert check.passed, check.description
