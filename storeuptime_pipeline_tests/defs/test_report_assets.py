"""The report assets from Postgres: one partition, a 24-hour single-run range, re-runs, on demand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from storeuptime_pipeline.core.report import REPORT_COLUMNS, reports_for
from storeuptime_pipeline.db.report_rows import read_report_rows
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_report_csv
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.reporting import csv_name

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
TABLES = (
    "stores, business_hours, store_status, ingested_files, rejected_rows, uptime_report, report_runs, outages"
)


@pytest.fixture(scope="module")
def loaded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A generated data set ingested once through the assets; the report tests share it."""
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    landing = tmp_path_factory.mktemp("incoming")
    reports = tmp_path_factory.mktemp("reports")
    ds = generate_dataset(landing, stores=150, days=9, seed=11)
    res = resources(database_url=database_url, landing=str(landing), reports=str(reports))
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            ALL, selection=[a.key for a in INGEST_ASSETS], instance=instance, resources=res
        ).success
    polls = read_input(ds.status_path, "status").valid
    hours = read_input(ds.hours_path, "hours").valid
    tz = read_input(ds.timezones_path, "timezones").valid
    return {"engine": engine, "res": res, "reports": reports, "inputs": (polls, hours, tz), "ds": ds}


def _db_rows(engine, as_of: pd.Timestamp) -> pd.DataFrame:
    with engine.connect() as conn:
        return read_report_rows(conn, as_of)


def _expected(loaded: dict, as_ofs: list[pd.Timestamp]) -> pd.DataFrame:
    polls, hours, tz = loaded["inputs"]
    return reports_for(polls, hours, tz, as_ofs)


def _run(loaded: dict, **kwargs):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL, selection=["uptime_report"], instance=instance, resources=loaded["res"], **kwargs
        )
    assert result.success
    return result


def test_one_partition_equals_the_engine_on_the_csv_files(loaded: dict) -> None:
    result = _run(loaded, partition_key="2023-01-25-09:00")
    as_of = pd.Timestamp("2023-01-25 10:00", tz="UTC")
    expected = _expected(loaded, [as_of]).drop(columns="as_of")
    got = _db_rows(loaded["engine"], as_of)
    pd.testing.assert_frame_equal(got[REPORT_COLUMNS].reset_index(drop=True), expected, check_dtype=False)
    csv_path = loaded["reports"] / csv_name(as_of)
    assert csv_path.read_text() == format_report_csv(expected)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "uptime_plus_downtime_equals_business_time": True,
        "every_polled_store_has_a_row": True,
        "outages_add_up_to_downtime": True,
    }
    meta = result.asset_materializations_for_node("uptime_report")[0].metadata
    assert meta["dagster/partition_row_count"].value == len(expected)


def test_a_24_hour_range_runs_once_and_equals_the_engine(loaded: dict) -> None:
    tags = {
        "dagster/asset_partition_range_start": "2023-01-24-00:00",
        "dagster/asset_partition_range_end": "2023-01-24-23:00",
    }
    result = _run(loaded, tags=tags)
    assert len(result.asset_materializations_for_node("uptime_report")) == 24  # one run, 24 partitions
    as_ofs = list(pd.date_range("2023-01-24 01:00", "2023-01-25 00:00", freq="h", tz="UTC"))
    expected = _expected(loaded, as_ofs)
    engine = loaded["engine"]
    for as_of in (as_ofs[0], as_ofs[11], as_ofs[-1]):
        want = expected[expected["as_of"] == as_of].drop(columns="as_of").reset_index(drop=True)
        pd.testing.assert_frame_equal(_db_rows(engine, as_of)[REPORT_COLUMNS], want, check_dtype=False)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM published_uptime_report WHERE as_of BETWEEN :a AND :b"),
            {"a": as_ofs[0].to_pydatetime(), "b": as_ofs[-1].to_pydatetime()},
        ).scalar_one()
    assert count == len(expected)


def test_rerunning_a_partition_leaves_identical_rows(loaded: dict) -> None:
    as_of = pd.Timestamp("2023-01-25 06:00", tz="UTC")
    _run(loaded, partition_key="2023-01-25-05:00")
    first = _db_rows(loaded["engine"], as_of)
    _run(loaded, partition_key="2023-01-25-05:00")
    again = _db_rows(loaded["engine"], as_of)
    assert len(first) > 100
    pd.testing.assert_frame_equal(first, again)


def test_on_demand_report_is_as_of_the_latest_poll(loaded: dict) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL,
            selection=["on_demand_report"],
            instance=instance,
            resources=loaded["res"],
            run_config={"ops": {"on_demand_report": {"config": {"report_id": "abc123"}}}},
        )
    assert result.success
    polls, hours, tz = loaded["inputs"]
    latest = polls["timestamp_utc"].max()
    expected = reports_for(polls, hours, tz, [latest]).drop(columns="as_of")
    path = Path(str(result.asset_materializations_for_node("on_demand_report")[0].metadata["csv_path"].value))
    assert path.read_text() == format_report_csv(expected)
    with loaded["engine"].connect() as conn:
        row = conn.execute(text("SELECT status, as_of FROM report_runs WHERE report_id = 'abc123'")).one()
    assert row.status == "complete" and pd.Timestamp(row.as_of) == latest


def test_a_range_in_1_3_or_7_shards_stores_the_same_rows_and_writes_the_same_files(
    loaded: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """STOREUPTIME_REPORT_SHARDS changes the steps (plan, N shard steps, publish), never the result:
    rows, outage lists, CSV bytes and each hour's metadata and check results are the same."""
    tags = {
        "dagster/asset_partition_range_start": "2023-01-25-06:00",
        "dagster/asset_partition_range_end": "2023-01-25-08:00",
    }
    as_ofs = [t.to_pydatetime() for t in pd.date_range("2023-01-25 07:00", periods=3, freq="h", tz="UTC")]
    seen = {}
    for shards in (1, 3, 7):
        monkeypatch.setenv("STOREUPTIME_REPORT_SHARDS", str(shards))
        result = _run(loaded, tags=tags)
        steps = {e.step_key for e in result.all_events if e.step_key}
        assert len([s for s in steps if "uptime_report_shard[" in s]) == shards, steps
        with loaded["engine"].connect() as conn:
            rows = pd.read_sql_query(
                text("SELECT * FROM published_uptime_report WHERE as_of = ANY(:a) ORDER BY as_of, store_id"),
                conn,
                params={"a": as_ofs},
            )
            outages = pd.read_sql_query(
                text(
                    "SELECT * FROM published_outages WHERE as_of = ANY(:a) ORDER BY as_of, store_id, start_utc"
                ),
                conn,
                params={"a": as_ofs},
            )
        files = {t: (loaded["reports"] / csv_name(pd.Timestamp(t))).read_bytes() for t in as_ofs}
        meta = {
            m.partition: {k: v for k, v in m.metadata.items() if not k.startswith("run_")}
            for m in result.asset_materializations_for_node("uptime_report")
        }
        checks = sorted((e.partition, e.check_name, e.passed) for e in result.get_asset_check_evaluations())
        assert len(meta) == 3 and len(checks) == 9 and all(passed for *_, passed in checks)
        seen[shards] = (rows, outages, files, meta, checks)
    rows, outages, files, meta, checks = seen[1]
    assert len(rows) > 300 and len(outages) > 0
    for shards in (3, 7):
        pd.testing.assert_frame_equal(seen[shards][0], rows)
        pd.testing.assert_frame_equal(seen[shards][1], outages)
        assert seen[shards][2] == files
        assert seen[shards][3] == meta
        assert seen[shards][4] == checks
