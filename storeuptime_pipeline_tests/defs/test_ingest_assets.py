"""The ingest assets, materialized with ``dagster.materialize`` against a real Postgres database."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS

warnings.filterwarnings("ignore", category=DeprecationWarning)

TABLES = ["stores", "business_hours", "store_status", "ingested_files", "rejected_rows"]
ORDER = {
    "stores": "store_id",
    "business_hours": "store_id, day_of_week, start_local, end_local",
    "store_status": "store_id, timestamp_utc",
    "ingested_files": "kind, sha256, id",
    "rejected_rows": "source_file, line_number, id",
}
#: These tests read files with many bad rows on purpose: load them anyway (see test_quarantine.py).
ACCEPT = {"accept_rejects": True}

BAD_STATUS = "\n".join(
    [
        "store_id,status,timestamp_utc",
        "1,active,2023-01-22 12:09:39.388884 UTC",  # line 2 ok
        ",active,2023-01-22 12:10:00 UTC",  # 3 empty store_id
        "2,maybe,2023-01-22 12:10:00 UTC",  # 4 unknown status
        "3,active,2023-13-45 99:00:00 UTC",  # 5 impossible timestamp
        "4,active,2023-01-22 12:10:00 UTC,extra",  # 6 wrong number of fields
        "",  # 7 blank line: skipped, not a reject
        "5, INACTIVE ,2023-01-22T12:11:00Z",  # 8 ok (case, spaces, ISO Z)
        "6,active,2023-01-22 12:12:00+00:00",  # 9 ok (offset)
        "7,active,2023-01-22 12:13:00 UTC",  # 10 ok (no fraction)
        "8,active,2023-01-22",  # 11 a date without a time
    ]
)
EXPECTED_STATUS_REJECTS = [
    (3, "store_id", "empty store_id"),
    (4, "status", "status is not active/inactive"),
    (5, "timestamp_utc", "unreadable timestamp"),
    (6, None, "wrong number of fields (expected 3)"),
    (11, "timestamp_utc", "unreadable timestamp"),
]

BAD_HOURS = "\n".join(
    [
        "store_id,day,start_time_local,end_time_local",
        "1,0,09:00:00,17:00:00",  # 2 ok
        "1,7,09:00:00,17:00:00",  # 3 day outside 0..6
        "1,x,09:00:00,17:00:00",  # 4 day not a number
        "1,1,25:00:00,17:00:00",  # 5 impossible start
        "1,1,09:00,24:00",  # 6 ok: HH:MM and 24:00
        "1,2,09:00:00,9am",  # 7 impossible end
        ",3,09:00:00,17:00:00",  # 8 empty store_id
        "1,4,24:00:00,10:00:00",  # 9 24:00 is no start
    ]
)
EXPECTED_HOURS_REJECTS = [
    (3, "day_of_week", "day of week is not an integer 0..6"),
    (4, "day_of_week", "day of week is not an integer 0..6"),
    (5, "start_time_local", "impossible start time"),
    (7, "end_time_local", "impossible end time"),
    (8, "store_id", "empty store_id"),
    (9, "start_time_local", "impossible start time"),
]


@pytest.fixture
def engine(database_url: str):
    eng = get_engine(database_url)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return eng


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def _materialize(database_url: str, landing: Path, selection: list[str], config: dict | None = None):
    run_config = {"ops": {name: {"config": cfg} for name, cfg in (config or {}).items()}}
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [*INGEST_ASSETS, *INGEST_CHECKS],
            selection=selection,
            instance=instance,
            resources=resources(database_url=database_url, landing=str(landing)),
            run_config=run_config,
            raise_on_error=False,
        )


def _dump(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {ORDER[t]}"))]
            for t in TABLES
        }


def _rejects(engine, source: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT line_number, column_name, reason FROM rejected_rows WHERE source_file = :s ORDER BY line_number"
            ),
            {"s": source},
        )
        return [tuple(r) for r in rows]


def _check_passed(result, name: str) -> bool:
    return next(e.passed for e in result.get_asset_check_evaluations() if e.check_name == name)


def test_every_kind_of_bad_status_row_is_kept_with_line_and_reason(engine, database_url, landing) -> None:
    (landing / "store_status.csv").write_text(BAD_STATUS)
    result = _materialize(database_url, landing, ["store_status"], {"store_status": ACCEPT})
    # The valid rows are loaded and every bad row kept; 5 of 9 rows rejected > 1%, loaded only
    # because accept_rejects says so: the check warns without failing the run.
    assert result.success
    assert _rejects(engine, "store_status.csv") == EXPECTED_STATUS_REJECTS
    with engine.connect() as conn:
        polls = pd.DataFrame(
            conn.execute(
                text("SELECT store_id, timestamp_utc, is_active FROM store_status ORDER BY store_id")
            ).all()
        )
        raw = conn.execute(text("SELECT raw_line FROM rejected_rows WHERE line_number = 4")).scalar_one()
    assert list(polls["store_id"]) == ["1", "5", "6", "7"]
    assert list(polls["is_active"]) == [True, False, True, True]
    assert pd.Timestamp(polls["timestamp_utc"][0]) == pd.Timestamp("2023-01-22 12:09:39.388884", tz="UTC")
    assert raw == "2,maybe,2023-01-22 12:10:00 UTC"
    meta = result.asset_materializations_for_node("store_status")[0].metadata
    assert (
        meta["rows_read"].value == 9 and meta["rows_loaded"].value == 4 and meta["rows_rejected"].value == 5
    )
    assert _check_passed(result, "rejected_rows_at_most_1_percent") is False


def test_every_kind_of_bad_hours_row_is_kept_and_times_are_read(engine, database_url, landing) -> None:
    (landing / "menu_hours.csv").write_text(BAD_HOURS)
    result = _materialize(database_url, landing, ["business_hours"], {"business_hours": ACCEPT})
    assert _check_passed(result, "rejected_rows_at_most_1_percent") is False
    assert _rejects(engine, "menu_hours.csv") == EXPECTED_HOURS_REJECTS
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT day_of_week, start_local::text, end_local::text FROM business_hours ORDER BY day_of_week"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(0, "09:00:00", "17:00:00"), (1, "09:00:00", "24:00:00")]


def test_invalid_and_missing_timezones_default_to_chicago(engine, database_url, landing) -> None:
    (landing / "timezones.csv").write_text(
        "store_id,timezone_str\n1,America/New_York\n2,Mars/Olympus_Mons\n3,\n,Asia/Kolkata\n"
    )
    result = _materialize(database_url, landing, ["store_timezones"], {"store_timezones": ACCEPT})
    with engine.connect() as conn:
        rows = [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT store_id, timezone_str, timezone, timezone_defaulted FROM stores ORDER BY store_id"
                )
            )
        ]
    assert rows == [
        ("1", "America/New_York", "America/New_York", False),
        ("2", "Mars/Olympus_Mons", "America/Chicago", True),
        ("3", None, "America/Chicago", True),
    ]
    assert _rejects(engine, "timezones.csv") == [(5, "store_id", "empty store_id")]
    meta = result.asset_materializations_for_node("store_timezones")[0].metadata
    assert meta["invalid_timezones"].value == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("store_id,timestamp_utc\n1,2023-01-22 12:09:39 UTC\n", "missing required column(s) status"),
        ("", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
    ],
)
def test_a_bad_file_fails_its_asset_and_writes_nothing(
    engine, database_url, landing, content, problem
) -> None:
    (landing / "store_status_good.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-22 12:00:00 UTC\n"
    )
    assert _materialize(database_url, landing, ["store_status"]).success
    before = _dump(engine)
    bad = landing / "store_status_bad.csv"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = _materialize(database_url, landing, ["store_status"], {"store_status": {"files": [bad.name]}})
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "store_status_bad.csv" in message and problem in message
    after = _dump(engine)
    assert {t: after[t] for t in TABLES if t != "ingested_files"} == {
        t: before[t] for t in TABLES if t != "ingested_files"
    }
    if not content:
        # A 0-byte file is skipped by the landing scan before anything reads it: no history row.
        assert after["ingested_files"] == before["ingested_files"]
        return
    # The file is in the history as quarantined, with the problem (it wrote nothing else).
    assert set(before["ingested_files"]) < set(after["ingested_files"])
    assert len(after["ingested_files"]) == len(before["ingested_files"]) + 1
    with engine.connect() as conn:
        record = conn.execute(
            text("SELECT name, quarantined, reason FROM ingested_files ORDER BY id DESC LIMIT 1")
        ).one()
    assert record.name == bad.name and record.quarantined and problem in record.reason


def test_loading_the_same_file_twice_leaves_identical_tables(engine, database_url, landing) -> None:
    (landing / "store_status.csv").write_text(BAD_STATUS)
    (landing / "menu_hours.csv").write_text(BAD_HOURS)
    (landing / "timezones.csv").write_text("store_id,timezone_str\n1,America/New_York\n")
    accept = {"store_status": ACCEPT, "business_hours": ACCEPT, "store_timezones": ACCEPT}
    _materialize(database_url, landing, ["store_status", "business_hours", "store_timezones"], accept)
    first = _dump(engine)
    assert len(first["store_status"]) == 4 and len(first["rejected_rows"]) == 11
    # Forced, and without accept_rejects: the content was accepted before, so it is again.
    forced = {"store_status": {"force": True}}
    again = _materialize(database_url, landing, ["store_status", "business_hours", "store_timezones"], forced)
    assert again.success
    data_tables = ["stores", "business_hours", "store_status"]
    assert {t: _dump(engine)[t] for t in data_tables} == {t: first[t] for t in data_tables}
    # Every load is in the history (with its own copy of the file's rejected rows).
    assert len(_dump(engine)["ingested_files"]) == 2 * len(first["ingested_files"])
    assert again.asset_materializations_for_node("store_status")[0].metadata["rows_changed"].value == 0
    skipped = _materialize(database_url, landing, ["store_status"])  # default: content already loaded
    assert "skipped_already_loaded" in skipped.asset_materializations_for_node("store_status")[0].metadata


def test_a_second_status_file_appends_and_a_new_hours_snapshot_replaces(
    engine, database_url, landing
) -> None:
    (landing / "store_status_1.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-22 12:00:00 UTC\n"
    )
    (landing / "menu_hours.csv").write_text("store_id,day,start_time_local,end_time_local\n1,0,09:00,17:00\n")
    assert _materialize(database_url, landing, ["store_status", "business_hours"]).success
    (landing / "store_status_2.csv").write_text(
        "store_id,status,timestamp_utc\n1,inactive,2023-01-22 13:00:00 UTC\n2,active,2023-01-22 13:00:00 UTC\n"
    )
    config = {"store_status": {"files": ["store_status_2.csv"]}}
    assert _materialize(database_url, landing, ["store_status"], config).success
    (landing / "menu_hours.csv").write_text("store_id,day,start_time_local,end_time_local\n2,5,10:00,12:00\n")
    assert _materialize(database_url, landing, ["business_hours"]).success
    tables = _dump(engine)
    assert [(r[0], r[2]) for r in tables["store_status"]] == [("1", True), ("1", False), ("2", True)]
    with engine.connect() as conn:
        hours = [tuple(r) for r in conn.execute(text("SELECT store_id, day_of_week FROM business_hours"))]
    assert hours == [("2", 5)]


def test_warning_checks_flag_polled_stores_without_timezone_or_hours(engine, database_url, landing) -> None:
    (landing / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-22 12:00:00 UTC\n2,active,2023-01-22 12:00:00 UTC\n"
    )
    (landing / "menu_hours.csv").write_text("store_id,day,start_time_local,end_time_local\n1,0,09:00,17:00\n")
    (landing / "timezones.csv").write_text("store_id,timezone_str\n1,America/New_York\n2,America/Denver\n")
    result = _materialize(database_url, landing, ["store_status", "business_hours", "store_timezones"])
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["polled_stores_have_timezone"].passed is True
    assert evaluations["polled_stores_have_hours"].passed is False
    assert evaluations["polled_stores_have_hours"].metadata["flagged_stores"].value == 1


def test_a_clean_file_passes_the_blocking_check(engine, database_url, landing) -> None:
    rows = [f"{i % 7},active,2023-01-22 12:{i % 60:02d}:00 UTC" for i in range(200)] + ["9,active,garbage"]
    (landing / "store_status.csv").write_text("store_id,status,timestamp_utc\n" + "\n".join(rows) + "\n")
    result = _materialize(database_url, landing, ["store_status"])
    assert result.success  # 1 of 201 rows rejected: under 1%
    assert _check_passed(result, "rejected_rows_at_most_1_percent") is True
    assert _rejects(engine, "store_status.csv") == [(202, "timestamp_utc", "unreadable timestamp")]
