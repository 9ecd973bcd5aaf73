"""``make dev`` after ``make run`` starts no run that changes nothing: the landing sensor knows, by
content hash, what the CLI already loaded, and the after-ingest sensor does not recompute the
latest report after an ingest that changed no rows."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    RunRequest,
    SkipReason,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
    materialize,
)

from storeuptime_pipeline.cli.local_runs import ingest_folder
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.defs.sensors import landing_folder_sensor, report_after_ingest_sensor
from storeuptime_pipeline.generator.data import generate_dataset


def _tick(instance, folder: Path, cursor: str | None, database_url: str):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "landing": LandingFolderResource(path=str(folder)),
            "database": DatabaseResource(url=database_url),
        },
    )
    result = landing_folder_sensor(context)
    return list(result.run_requests or []), result.cursor


@pytest.mark.timeout(300)
def test_a_second_sensor_tick_after_make_runs_ingest_requests_nothing(
    clean_db, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "incoming"
    generate_dataset(folder, stores=30, days=2, seed=3)
    # What `make run` does: the CLI's in-process ingest of every file of the landing folder.
    monkeypatch.setenv("STOREUPTIME_DATABASE_URL", database_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    loaded = [step.file.path.name for step in ingest_folder(folder)]
    assert sorted(loaded) == ["menu_hours.csv", "store_status.csv", "timezones.csv"]

    # Then `make dev`: the sensor starts with a fresh cursor on the same folder.
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    with instance_for_test() as instance:
        first, cursor = _tick(instance, folder, None, database_url)
        second, cursor = _tick(instance, folder, cursor, database_url)
        third, cursor = _tick(instance, folder, cursor, database_url)
        assert (first, second, third) == ([], [], [])

        # Still awake: new content in a file is a run.
        status = folder / "store_status.csv"
        with status.open("a") as fh:
            fh.write("s-new,active,2023-01-25 18:20:00 UTC\n")
        later = time.time() - 10
        os.utime(status, (later, later))
        _, cursor = _tick(instance, folder, cursor, database_url)
        changed, _ = _tick(instance, folder, cursor, database_url)
        assert [r.tags["storeuptime/file"] for r in changed] == ["store_status.csv"]


def test_an_earlier_snapshot_dropped_again_is_a_change_and_is_requested(
    clean_db, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hours A, then B are loaded; A dropped again is a change back to A, so it is not "already loaded"."""
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    folder = tmp_path / "incoming"
    folder.mkdir()
    header = "store_id,day,start_time_local,end_time_local\n"
    hours = folder / "menu_hours.csv"
    with instance_for_test() as instance:
        for content in (header + "1,0,09:00:00,17:00:00\n", header + "1,0,10:00:00,18:00:00\n"):
            hours.write_text(content)
            result = materialize(
                INGEST_ASSETS,
                selection=["business_hours"],
                instance=instance,
                resources=resources(database_url=database_url, landing=str(folder)),
            )
            assert result.success
        _, cursor = _tick(instance, folder, None, database_url)
        assert _tick(instance, folder, cursor, database_url)[0] == []  # B is live: nothing to do
        hours.write_text(header + "1,0,09:00:00,17:00:00\n")  # A again
        old = time.time() - 10
        os.utime(hours, (old, old))
        _, cursor = _tick(instance, folder, None, database_url)
        again, _ = _tick(instance, folder, cursor, database_url)
        assert [r.tags["storeuptime/file"] for r in again] == ["menu_hours.csv"]


def _after_ingest(instance, run_id: str, database_url: str):
    success = instance.all_logs(run_id, of_type=DagsterEventType.RUN_SUCCESS)[0].dagster_event
    context = build_run_status_sensor_context(
        sensor_name="report_after_ingest_sensor",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(run_id),
        resources={"database": DatabaseResource(url=database_url)},
    )
    return report_after_ingest_sensor(context)


def test_the_latest_report_is_not_recomputed_after_an_ingest_that_changed_nothing(
    clean_db, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n1,inactive,2023-01-25 10:30:00 UTC\n"
    )
    with instance_for_test() as instance:

        def ingest(config: dict | None = None) -> str:
            result = materialize(
                [*INGEST_ASSETS, *INGEST_CHECKS],
                selection=["store_status"],
                instance=instance,
                resources=resources(database_url=database_url, landing=str(folder)),
                run_config={"ops": {"store_status": {"config": config or {}}}},
            )
            assert result.success
            return result.run_id

        first = _after_ingest(instance, ingest(), database_url)
        assert isinstance(first, RunRequest) and first.partition_key == "2023-01-25-10:00"

        skipped = _after_ingest(instance, ingest(), database_url)  # same content: skipped, 0 changed
        assert isinstance(skipped, SkipReason) and "changed no rows" in skipped.skip_message

        forced = _after_ingest(instance, ingest({"force": True}), database_url)  # read again: 0 changed
        assert isinstance(forced, SkipReason)


def test_an_unreachable_database_leaves_ready_files_waiting_instead_of_failing_the_tick(
    clean_db, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storeuptime_pipeline_tests.dagster_server import free_port

    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n"
    )
    down = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nothing"
    with instance_for_test() as instance:
        _, cursor = _tick(instance, folder, None, down)  # first look needs no database
        context = build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={
                "landing": LandingFolderResource(path=str(folder)),
                "database": DatabaseResource(url=down),
            },
        )
        result = landing_folder_sensor(context)
        assert not result.run_requests
        assert "cannot tell which files are already loaded" in result.skip_reason.skip_message
        requests, _ = _tick(instance, folder, result.cursor, database_url)  # the database is back
        assert [r.tags["storeuptime/file"] for r in requests] == ["store_status.csv"]
