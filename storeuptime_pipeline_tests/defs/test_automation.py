"""The schedule, the file-drop sensor and the definitions, evaluated the way the daemon does."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, build_sensor_context

from storeuptime_pipeline.definitions import defs
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.defs.sensors import landing_folder_sensor, latest_report_partition

STATUS_CSV = "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n"


@pytest.fixture
def landing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


@pytest.fixture
def database(clean_db, database_url: str) -> DatabaseResource:
    return DatabaseResource(url=database_url)


def _tick(folder: Path, cursor: str | None, database: DatabaseResource):
    context = build_sensor_context(
        cursor=cursor,
        resources={"landing": LandingFolderResource(path=str(folder)), "database": database},
    )
    result = landing_folder_sensor(context)
    return result.run_requests or [], result.cursor


def _settled(folder: Path, database: DatabaseResource):
    """Two ticks from a fresh cursor: a file is requested once it is unchanged at the second look."""
    first, cursor = _tick(folder, None, database)
    assert first == []
    return _tick(folder, cursor, database)


def test_definitions_load_with_schedule_sensors_jobs_and_checks() -> None:
    repo = defs.get_repository_def()
    assert {j.name for j in repo.get_all_jobs()} >= {
        "ingest_job",
        "uptime_report_job",
        "on_demand_report_job",
    }
    assert {s.name for s in repo.schedule_defs} == {"hourly_report_schedule"}
    assert {s.name for s in repo.sensor_defs} == {"landing_folder_sensor", "report_after_ingest_sensor"}
    graph = defs.resolve_asset_graph()
    check_names = {key.name for key in graph.asset_check_keys}
    assert {
        "rejected_rows_at_most_1_percent",
        "uptime_plus_downtime_equals_business_time",
        "every_polled_store_has_a_row",
        "polled_stores_have_timezone",
        "polled_stores_have_hours",
    } <= check_names
    assert graph.get(AssetKey("uptime_report")).backfill_policy is not None


def test_sensor_one_run_per_new_file_none_for_unchanged_one_for_changed(
    landing: Path, database: DatabaseResource
) -> None:
    (landing / "store_status_a.csv").write_text(STATUS_CSV)
    (landing / "menu_hours.csv").write_text(
        "store_id,day,start_time_local,end_time_local\n1,0,09:00:00,17:00:00\n"
    )
    (landing / "notes.txt").write_text("not an input")
    requests, cursor = _settled(landing, database)
    assert sorted(r.tags["storeuptime/file"] for r in requests) == ["menu_hours.csv", "store_status_a.csv"]
    by_file = {r.tags["storeuptime/file"]: r for r in requests}
    assert by_file["store_status_a.csv"].asset_selection == [AssetKey("store_status")]
    assert by_file["menu_hours.csv"].run_config == {
        "ops": {"business_hours": {"config": {"files": ["menu_hours.csv"]}}}
    }

    again, cursor2 = _tick(landing, cursor, database)
    assert again == []
    assert json.loads(cursor2) == json.loads(cursor)

    path = landing / "store_status_a.csv"
    path.write_text(STATUS_CSV + "2,inactive,2023-01-25 10:05:00 UTC\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - 10_000_000_000))  # a distinct, settled time
    waiting, cursor3 = _tick(landing, cursor2, database)
    assert waiting == []  # changed: looked at again next tick
    changed, _ = _tick(landing, cursor3, database)
    assert [r.tags["storeuptime/file"] for r in changed] == ["store_status_a.csv"]
    assert changed[0].run_key != by_file["store_status_a.csv"].run_key


def test_sensor_ignores_partial_files_links_outside_and_folders(
    landing: Path, tmp_path: Path, database: DatabaseResource
) -> None:
    (landing / "store_status_b.csv.tmp").write_text(STATUS_CSV)
    (landing / "store_status_c.csv.part").write_text(STATUS_CSV)
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(STATUS_CSV)
    (landing / "store_status_link.csv").symlink_to(outside)
    (landing / "store_status_dir.csv").mkdir()
    requests, _ = _settled(landing, database)
    assert requests == []


def test_sensor_waits_for_files_still_being_written(
    landing: Path, monkeypatch: pytest.MonkeyPatch, database: DatabaseResource
) -> None:
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "60")
    (landing / "store_status_new.csv").write_text(STATUS_CSV)
    requests, cursor = _settled(landing, database)
    assert requests == []  # unchanged at the second look, but modified less than 60 s ago
    old = time.time() - 120
    os.utime(landing / "store_status_new.csv", (old, old))
    requests, cursor = _tick(landing, cursor, database)
    assert requests == []  # a new modification time: one more look
    requests, _ = _tick(landing, cursor, database)
    assert len(requests) == 1


def test_latest_report_partition_follows_the_data_but_never_the_unfinished_hour() -> None:
    now = pd.Timestamp("2026-11-27 21:14", tz="UTC")
    assert latest_report_partition(pd.Timestamp("2023-01-25 18:13:22", tz="UTC"), now) == "2023-01-25-18:00"
    assert latest_report_partition(pd.Timestamp("2026-11-27 21:05", tz="UTC"), now) == "2026-11-27-20:00"
    assert latest_report_partition(pd.Timestamp("2020-01-01 00:00", tz="UTC"), now) is None
