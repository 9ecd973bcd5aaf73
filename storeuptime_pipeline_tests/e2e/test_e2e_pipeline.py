"""End to end: a real ``dagster dev`` (webserver + daemon), CSV files dropped into the landing folder,
the sensor's ingest runs, the report partition brought up to date by the after-ingest sensor, and a
backfill launched as ``storeuptime backfill`` does it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterRunStatus, RunsFilter
from sqlalchemy import text

from storeuptime_pipeline.cli.backfill import launch_report_backfill
from storeuptime_pipeline.core.report import REPORT_COLUMNS, reports_for
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline_tests.dagster_server import dagster_stack


def _drop(src: Path, landing: Path) -> None:
    """Write under a partial name, then rename: how an operator is told to drop files."""
    partial = landing / (src.name + ".part")
    partial.write_bytes(src.read_bytes())
    partial.rename(landing / src.name)


def _records(instance, job: str, status: DagsterRunStatus | None = None):
    statuses = [status] if status else None
    return instance.get_run_records(RunsFilter(job_name=job, statuses=statuses))


@pytest.mark.timeout(400)
def test_dropped_files_are_ingested_and_the_latest_partition_is_reported(
    admin_url: str, tmp_path: Path
) -> None:
    ds = generate_dataset(tmp_path / "source", stores=80, days=8, seed=21)
    with (
        temporary_database(admin_url, prefix="storeuptime_e2e_") as url,
        dagster_stack(url, tmp_path / "stack") as stack,
    ):
        instance = stack.instance()
        for path in (ds.timezones_path, ds.hours_path, ds.status_path):
            _drop(path, stack.landing)
        (stack.landing / "store_status_late.csv.tmp").write_text("not yet complete")

        ingested = stack.wait_for(
            lambda: (
                len(_records(instance, "ingest_job", DagsterRunStatus.SUCCESS)) >= 3
                and _records(instance, "ingest_job")
            ),
            "three successful ingest runs",
            timeout=180,
        )
        files = sorted(r.dagster_run.tags.get("storeuptime/file") for r in ingested)
        assert files == ["menu_hours.csv", "store_status.csv", "timezones.csv"]  # the .tmp file was ignored

        partition = ds.end.floor("h").strftime("%Y-%m-%d-%H:%M")
        as_of = ds.end.floor("h") + pd.Timedelta(hours=1)
        engine = get_engine(url)

        def report_rows() -> int:
            with engine.connect() as conn:
                return conn.execute(
                    text("SELECT count(*) FROM published_uptime_report WHERE as_of = :t"),
                    {"t": as_of.to_pydatetime()},
                ).scalar_one()

        def reported_after_last_ingest() -> bool:
            ingests = _records(instance, "ingest_job", DagsterRunStatus.SUCCESS)
            last_ingest = max(r.end_time or 0 for r in ingests)
            reports = [
                r
                for r in _records(instance, "uptime_report_job", DagsterRunStatus.SUCCESS)
                if r.dagster_run.tags.get("dagster/partition") == partition
            ]
            return any((r.start_time or 0) >= last_ingest for r in reports) and report_rows() > 0

        stack.wait_for(
            reported_after_last_ingest, f"report partition {partition} after the last ingest", timeout=180
        )

        polls = read_input(ds.status_path, "status").valid
        hours = read_input(ds.hours_path, "hours").valid
        tz = read_input(ds.timezones_path, "timezones").valid
        expected = reports_for(polls, hours, tz, [as_of]).drop(columns="as_of")
        csv = stack.reports / f"uptime_report_{as_of.strftime('%Y-%m-%dT%H%M%S')}Z.csv"
        got = pd.read_csv(csv, dtype={"store_id": str})
        assert list(got.columns) == REPORT_COLUMNS
        pd.testing.assert_frame_equal(got, expected.reset_index(drop=True), check_dtype=False)
        assert report_rows() == len(expected)

        # A backfill launched the way the README says (an asset backfill through the webserver)
        # honours the single-run policy: three hourly partitions, one run.
        backfill_id = launch_report_backfill(stack.url, "2023-01-24-00:00", "2023-01-24-02:00")

        def backfill_runs():
            runs = instance.get_runs(RunsFilter(tags={"dagster/backfill": backfill_id}))
            return runs if runs and all(r.status == DagsterRunStatus.SUCCESS for r in runs) else None

        runs = stack.wait_for(backfill_runs, "the backfill's run", timeout=120)
        assert len(runs) == 1
        assert runs[0].tags["dagster/asset_partition_range_start"] == "2023-01-24-00:00"
        assert runs[0].tags["dagster/asset_partition_range_end"] == "2023-01-24-02:00"
        with engine.connect() as conn:
            hours = conn.execute(
                text(
                    "SELECT count(DISTINCT as_of) FROM published_uptime_report WHERE as_of BETWEEN :a AND :b"
                ),
                {
                    "a": pd.Timestamp("2023-01-24 01:00", tz="UTC"),
                    "b": pd.Timestamp("2023-01-24 03:00", tz="UTC"),
                },
            ).scalar_one()
        assert hours == 3
