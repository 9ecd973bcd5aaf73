"""A file counts only once complete: the landing sensor requests a file when two ticks in a row see
the same size and modification time, so a writer that stalls mid-line never half-loads a file.

The sensor is evaluated directly, tick after tick, each with the cursor of the previous one; the
runs it requests are executed in-process against the real Postgres.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import RunRequest, build_sensor_context, instance_for_test, materialize
from sqlalchemy import text

from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.defs.sensors import LandingState, landing_folder_sensor

HEADER = "store_id,status,timestamp_utc\n"
FULL_LAST_LINE = "2,active,2023-01-25 10:20:39.312000 UTC\n"
#: What a reader sees while the writer is stalled inside the last line: still a valid poll.
CUT_LAST_LINE = "2,active,2023-01-25 10:20:39.3"
FIRST_LINES = "1,active,2023-01-25 10:00:00 UTC\n1,inactive,2023-01-25 10:10:00 UTC\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # No age rule at all: what keeps a stalled file back here is the second look alone.
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    landing = tmp_path / "incoming"
    landing.mkdir()
    return landing


def _write(path: Path, content: str, mtime: float) -> None:
    """Write and give the file a modification time in the past, as a writer stalled that long leaves it."""
    path.write_text(content)
    os.utime(path, (mtime, mtime))


def _tick(instance, folder: Path, cursor: str | None, database_url: str) -> tuple[list[RunRequest], str]:
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


def _run(instance, request: RunRequest, folder: Path, database_url: str) -> None:
    """Execute a requested ingest run the way the daemon would, with the request's config."""
    result = materialize(
        [*INGEST_ASSETS, *INGEST_CHECKS],
        selection=request.asset_selection,
        instance=instance,
        resources=resources(database_url=database_url, landing=str(folder)),
        run_config=request.run_config,
        tags=request.tags,
    )
    assert result.success


def test_a_growing_file_is_not_requested_and_once_unchanged_for_a_tick_it_is_requested_once(
    clean_db, database_url: str, folder: Path
) -> None:
    path = folder / "store_status_0125.csv"
    long_ago = time.time() - 3600  # older than any age limit: the stall lasted longer than it
    with instance_for_test() as instance:
        _write(path, HEADER + FIRST_LINES + CUT_LAST_LINE, long_ago)
        requests, cursor = _tick(instance, folder, None, database_url)
        assert requests == []  # first look: the file may still be written

        _write(path, HEADER + FIRST_LINES + FULL_LAST_LINE, long_ago + 1)  # the writer went on
        requests, cursor = _tick(instance, folder, cursor, database_url)
        assert requests == []  # it grew since the last look

        requests, cursor = _tick(instance, folder, cursor, database_url)
        assert [r.run_key for r in requests] == [
            f"{path.name}:{path.stat().st_size}:{path.stat().st_mtime_ns}"
        ]
        assert requests[0].tags["storeuptime/file"] == path.name

        again, _ = _tick(instance, folder, cursor, database_url)
        assert again == []  # requested once


def test_a_stalled_writer_never_leaves_a_truncated_poll(clean_db, database_url: str, folder: Path) -> None:
    path = folder / "store_status_0125.csv"
    stalled_at = time.time() - 60
    cursor = None
    with instance_for_test() as instance:
        steps = [
            (HEADER + FIRST_LINES + CUT_LAST_LINE, stalled_at),  # stalled mid-line for a minute
            (HEADER + FIRST_LINES + FULL_LAST_LINE, stalled_at + 30),  # completed
            None,  # unchanged
            None,
        ]
        for step in steps:
            if step is not None:
                _write(path, *step)
            requests, cursor = _tick(instance, folder, cursor, database_url)
            for request in requests:
                _run(instance, request, folder, database_url)
    with clean_db.connect() as conn:
        polls = conn.execute(text("SELECT store_id, timestamp_utc FROM store_status ORDER BY 1, 2")).all()
    assert [(store, pd.Timestamp(ts).isoformat()) for store, ts in polls] == [
        ("1", "2023-01-25T10:00:00+00:00"),
        ("1", "2023-01-25T10:10:00+00:00"),
        ("2", "2023-01-25T10:20:39.312000+00:00"),
    ]


def test_the_cursor_of_the_earlier_sensor_still_reads_and_a_garbled_one_starts_afresh() -> None:
    earlier = LandingState.parse('{"store_status.csv": "store_status.csv:10:123"}')
    assert earlier.requested == {"store_status.csv": "store_status.csv:10:123"} and earlier.pending == {}
    state = LandingState(requested={"a.csv": "a"}, pending={"b.csv": "b"}, skipped={"c.csv": "why"})
    assert LandingState.parse(state.dump()) == state
    assert LandingState.parse("not json") == LandingState() == LandingState.parse("[1, 2]")
