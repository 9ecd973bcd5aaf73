"""A single-run backfill records every hour as that hour's own materialization, with its own checks.

Read back from the instance the way the UI's partitions page does: the latest materialization and
the latest check execution of each partition.
"""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance, materialize
from dagster._core.storage.event_log.base import AssetRecordsFilter, PartitionKeyFilter
from sqlalchemy import text

from storeuptime_pipeline.db import report_rows
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import COVERAGE_CHECK, INVARIANT_CHECK, REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.defs.partitions import as_of_of_partition
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.reporting import csv_name

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
TABLES = "stores, business_hours, store_status, ingested_files, rejected_rows, uptime_report, report_runs"
REPORT = AssetKey("uptime_report")
RANGE = {
    "dagster/asset_partition_range_start": "2023-01-24-00:00",
    "dagster/asset_partition_range_end": "2023-01-24-23:00",
}
KEYS = [f"2023-01-24-{hour:02d}:00" for hour in range(24)]


@pytest.fixture(scope="module")
def backfilled(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A data set ingested and a 24-hour range materialized in one run, in one persistent instance."""
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    landing = tmp_path_factory.mktemp("incoming")
    reports = tmp_path_factory.mktemp("reports")
    # Polls start at the range's start, so the hours differ in how many stores they report.
    generate_dataset(landing, stores=120, days=1, seed=5, end="2023-01-25 00:00:00+00:00")
    res = resources(database_url=database_url, landing=str(landing), reports=str(reports))
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            ALL, selection=[a.key for a in INGEST_ASSETS], instance=instance, resources=res
        ).success
        result = materialize(ALL, selection=["uptime_report"], instance=instance, resources=res, tags=RANGE)
        assert result.success
        yield {"instance": instance, "engine": engine, "reports": reports, "run_id": result.run_id}


def _latest(instance: DagsterInstance, key: str):
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=REPORT, asset_partitions=[key]), limit=1
    ).records
    assert records, f"no materialization recorded for partition {key}"
    return records[0]


def test_each_partition_has_its_own_as_of_row_count_figures_and_csv(backfilled) -> None:
    instance, engine = backfilled["instance"], backfilled["engine"]
    seen_counts = set()
    for key in KEYS:
        record = _latest(instance, key)
        assert record.run_id == backfilled["run_id"]  # one run ...
        meta = record.asset_materialization.metadata
        as_of = as_of_of_partition(key)
        assert pd.Timestamp(meta["as_of"].value, unit="s", tz="UTC") == as_of  # ... but each hour its own
        with engine.connect() as conn:
            rows = len(report_rows.read_report_rows(conn, as_of))
        assert meta["dagster/partition_row_count"].value == rows
        assert meta["stores_reported"].value == rows
        assert str(meta["csv_path"].value).endswith(csv_name(as_of))
        assert {
            "stores_with_downtime_last_hour",
            "downtime_last_hour_min",
            "median_uptime_share_last_day",
        } <= set(meta)
        assert meta["worst_stores_last_week"].value.records  # a Dagster table, not Markdown
        seen_counts.add(rows)
    assert len(seen_counts) > 1, "hours of the range should differ in the stores they report"
    with engine.connect() as conn:
        table_rows = conn.execute(text("SELECT count(*) FROM published_uptime_report")).scalar_one()
    assert _latest(instance, KEYS[0]).asset_materialization.metadata["dagster/row_count"].value == table_rows


def test_each_partition_has_its_own_check_results(backfilled) -> None:
    instance = backfilled["instance"]
    storage = instance.event_log_storage
    for name in (INVARIANT_CHECK, COVERAGE_CHECK):
        check_key = AssetCheckKey(REPORT, name)
        for key in (KEYS[0], KEYS[11], KEYS[-1]):
            latest = storage.get_latest_asset_check_execution_by_key(
                [check_key], partition_filter=PartitionKeyFilter(key=key)
            )[check_key]
            evaluation = latest.event.dagster_event.event_specific_data
            assert latest.status.value == "SUCCEEDED", (name, key, latest.status)
            assert evaluation.partition == key
            assert evaluation.target_materialization_data.storage_id == _latest(instance, key).storage_id
        # The run planned one execution per hour and completed each: none is left "in progress".
        history = storage.get_asset_check_execution_history(check_key, limit=100)
        run_rows = [r for r in history if r.run_id == backfilled["run_id"]]
        assert sorted(r.partition for r in run_rows) == KEYS
        assert {r.status.value for r in run_rows} == {"SUCCEEDED"}
    coverage = storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(REPORT, COVERAGE_CHECK)], partition_filter=PartitionKeyFilter(key=KEYS[0])
    )[AssetCheckKey(REPORT, COVERAGE_CHECK)]
    rows = _latest(instance, KEYS[0]).asset_materialization.metadata["dagster/partition_row_count"].value
    assert coverage.event.dagster_event.event_specific_data.metadata["rows"].value == rows
