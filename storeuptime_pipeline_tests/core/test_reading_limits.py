"""Values the database or the engine cannot hold are rejected rows with a reason, never a failed file.

Issue 8, points 2, 3 and the reading items of 9: timestamps outside the time limits (checked in UTC,
after the offset), store ids too long to index or holding control characters, lines of separators
only, timezones files with swapped columns, superseded timezone rows, and as-of instants that
cannot be read. Ingestion goes through the real assets into the real Postgres.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.core.limits import (
    MAX_POLL_AHEAD_ENV,
    MIN_POLL_TIME_ENV,
    STORE_ID_MAX_CHARS,
    InstantError,
    TimeLimits,
    parse_as_of,
)
from storeuptime_pipeline.core.reasons import RejectReason
from storeuptime_pipeline.core.rules import parse_timestamps, timestamp_out_of_range
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.db.staging import ensure_stores
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.services.loading import FilesQuarantined, load_files

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
TABLES = "stores, business_hours, store_status, ingested_files, rejected_rows, uptime_report, report_runs"
RANGE_REASON = "timestamp outside 2000-01-01 .. now + 1 day"
LONG_REASON = f"store_id longer than {STORE_ID_MAX_CHARS} characters"
CONTROL_REASON = "control character in store_id"
EMPTY_ROW_REASON = RejectReason.EMPTY_ROW
SUPERSEDED_REASON = RejectReason.SUPERSEDED


@pytest.fixture
def engine(database_url: str):
    eng = get_engine(database_url)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    return eng


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def _materialize(
    database_url: str, landing: Path, reports: Path, selection: list[str], run_config=None, **kwargs
):
    """One in-process run against the test database; returns the result and its log messages."""
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL,
            selection=selection,
            instance=instance,
            resources=resources(database_url=database_url, landing=str(landing), reports=str(reports)),
            run_config=run_config or {},
            raise_on_error=False,
            **kwargs,
        )
        logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, logs


def _rejects(engine, source: str) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT line_number, column_name, reason FROM rejected_rows "
                "WHERE source_file = :s ORDER BY line_number"
            ),
            {"s": source},
        )
        return [tuple(r) for r in rows]


def _status_lines(n: int, first_id: int = 1000) -> list[str]:
    """n valid polls of n // 10 stores, ten minutes apart, in the real file's spelling."""
    start = pd.Timestamp("2023-01-25 08:00:00", tz="UTC")
    return [
        f"{first_id + i % max(n // 10, 1)},{'active' if i % 7 else 'inactive'},"
        f"{(start + pd.Timedelta(minutes=10 * (i // max(n // 10, 1)))).strftime('%Y-%m-%d %H:%M:%S.%f')} UTC"
        for i in range(n)
    ]


# ------------------------------------------------------------------------------------- point 2: time


def test_a_year_9999_poll_is_rejected_and_the_default_report_works(
    engine, database_url, landing, tmp_path
) -> None:
    lines = ["store_id,status,timestamp_utc", *_status_lines(200)]
    lines.insert(51, "1005,active,9999-12-31 23:59:59.999999 UTC")  # line 52
    (landing / "store_status.csv").write_text("\n".join(lines) + "\n")
    result, _ = _materialize(database_url, landing, tmp_path / "reports", ["store_status"])
    assert result.success
    assert _rejects(engine, "store_status.csv") == [(52, "timestamp_utc", RANGE_REASON)]
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(timestamp_utc) FROM store_status")).scalar_one()
    assert pd.Timestamp(newest).year == 2023

    report, _ = _materialize(database_url, landing, tmp_path / "reports", ["on_demand_report"])
    assert report.success
    meta = report.asset_materializations_for_node("on_demand_report")[0].metadata
    assert meta["as_of"].value == pd.Timestamp(newest).timestamp()
    # The CSV path (no database) reads the same rule: the default as-of is the latest believable poll.
    hours = tmp_path / "menu_hours.csv"
    hours.write_text("store_id,day,start_time_local,end_time_local\n1000,2,09:00,17:00\n")
    tz = tmp_path / "timezones.csv"
    tz.write_text("store_id,timezone_str\n1000,America/Denver\n")
    out = tmp_path / "cli.csv"
    assert (
        main(
            [
                "report",
                *("--status", str(landing / "store_status.csv")),
                *("--hours", str(hours), "--timezones", str(tz), "--out", str(out)),
            ]
        )
        == 0
    )
    assert len(pd.read_csv(out)) == 20


def test_the_time_limits_are_checked_in_utc_after_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "store_status.csv"
    rows = [
        "1,active,2199-12-31T23:59:59-14:00",  # 2 year 2200 in UTC
        "2,active,2000-01-01T01:00:00+02:00",  # 3 1999-12-31 23:00 UTC: before the limit
        "3,active,1999-12-31T23:00:00-02:00",  # 4 2000-01-01 01:00 UTC: inside
        "4,active,9999-12-31 23:59:59 UTC",  # 5 the fast (Arrow) path: year 9999
        "5,active,1970-01-01 00:00:00 UTC",  # 6 epoch zero, a classic default value
        "6,active,2023-01-25 18:13:22.479220 UTC",  # 7 inside
    ]
    path.write_text("store_id,status,timestamp_utc\n" + "\n".join(rows) + "\n")
    result = read_input(path, "status")
    assert result.rejected[["line", "reason"]].values.tolist() == [
        [2, RANGE_REASON],
        [3, RANGE_REASON],
        [5, RANGE_REASON],
        [6, RANGE_REASON],
    ]
    assert sorted(result.valid["store_id"]) == ["3", "6"]


def test_the_time_limits_are_configurable_and_a_bad_setting_is_named() -> None:
    limits = TimeLimits.from_env({MIN_POLL_TIME_ENV: "2023-01-20", MAX_POLL_AHEAD_ENV: "36h"})
    assert limits.describe() == "2023-01-20 .. now + 36 h"
    values, _ = parse_timestamps(
        pd.Series(["2023-01-19 23:59:59 UTC", "2023-01-20 00:00:00 UTC", "2023-01-25 00:00:00 UTC"])
    )
    assert timestamp_out_of_range(values, limits).tolist() == [True, False, False]
    ahead = pd.Series([pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=h) for h in (35, 37)])
    assert timestamp_out_of_range(ahead, limits).tolist() == [False, True]
    with pytest.raises(InstantError, match=MIN_POLL_TIME_ENV):
        TimeLimits.from_env({MIN_POLL_TIME_ENV: "last tuesday"})
    with pytest.raises(InstantError, match=MAX_POLL_AHEAD_ENV):
        TimeLimits.from_env({MAX_POLL_AHEAD_ENV: "-1 day"})


@pytest.fixture
def legacy_partitions(engine):
    """Drops the legacy partitions again: later tests in the session must not meet their ranges."""
    yield
    with engine.begin() as conn:
        for name in ("legacy_1999", "legacy_9999"):
            conn.execute(text(f"DROP TABLE IF EXISTS poll_weeks.store_status_{name}"))


def _legacy_partitions(conn) -> None:
    """Partitions for polls an earlier version stored outside today's limits (years 1999 and 9999).

    The ingest creates the weekly partitions of every poll it loads; the rows below are written
    straight into the table, as that earlier version did, so they need partitions of their own.
    """
    for name, lo, hi in (
        ("legacy_1999", "1999-01-01", "2000-01-01"),
        ("legacy_9999", "9999-01-01", "infinity"),
    ):
        conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS poll_weeks.store_status_{name} PARTITION OF store_status "
                f"FOR VALUES FROM ('{lo}+00') TO ('{hi}')"
            )
        )


def test_a_poll_loaded_before_the_limits_is_ignored_by_the_reports_which_say_so(
    legacy_partitions, engine, database_url, landing, tmp_path
) -> None:
    lines = ["store_id,status,timestamp_utc", *_status_lines(200)]
    (landing / "store_status.csv").write_text("\n".join(lines) + "\n")
    reports = tmp_path / "reports"
    assert _materialize(database_url, landing, reports, ["store_status"])[0].success
    # As if loaded by an earlier version without the time limits: straight into the table.
    with engine.begin() as conn:
        _legacy_partitions(conn)
        conn.execute(
            text(
                "INSERT INTO store_status (store_id, timestamp_utc, is_active) VALUES "
                "('1003', '9999-12-31 23:59:59+00', true), ('1004', '1999-06-01 00:00:00+00', false), "
                "('77', '1999-06-01 00:00:00+00', true)"
            )
        )
        ensure_stores(conn, ["77"])
        newest = conn.execute(
            text("SELECT max(timestamp_utc) FROM store_status WHERE timestamp_utc < '3000-01-01'")
        ).scalar_one()

    result, logs = _materialize(database_url, landing, reports, ["on_demand_report"])
    assert result.success
    meta = result.asset_materializations_for_node("on_demand_report")[0].metadata
    assert meta["as_of"].value == pd.Timestamp(newest).timestamp()
    assert meta["polls_ignored_outside_time_limits"].value == 3
    assert meta["stores"].value == 20  # store 77, whose only poll is from 1999, has no row
    assert any("3 stored poll(s) lie outside 2000-01-01 .. now + 1 day" in m for m in logs)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert all(checks.values()), checks

    partition, _ = _materialize(
        database_url, landing, reports, ["uptime_report"], partition_key="2023-01-25-09:00"
    )
    assert partition.success
    meta = partition.asset_materializations_for_node("uptime_report")[0].metadata
    assert meta["polls_ignored_outside_time_limits"].value == 3


def test_an_as_of_outside_the_limits_fails_the_on_demand_report_in_one_line(
    engine, database_url, landing, tmp_path
) -> None:
    (landing / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n" + "\n".join(_status_lines(20))
    )
    assert _materialize(database_url, landing, tmp_path / "r", ["store_status"])[0].success
    config = {"ops": {"on_demand_report": {"config": {"report_id": "far", "as_of": "9999-12-31T00:00:00Z"}}}}
    result, _ = _materialize(database_url, landing, tmp_path / "r", ["on_demand_report"], config)
    assert not result.success
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM report_runs WHERE report_id = 'far'")).scalar_one()
    assert error == "9999-12-31T00:00:00+00:00 lies outside the accepted range 2000-01-01 .. now + 1 day"


def test_a_database_holding_only_polls_outside_the_limits_says_so(
    legacy_partitions, engine, database_url, landing, tmp_path
) -> None:
    with engine.begin() as conn:
        ensure_stores(conn, ["1"])
        _legacy_partitions(conn)
        conn.execute(
            text(
                "INSERT INTO store_status (store_id, timestamp_utc, is_active) VALUES ('1', '9999-12-31 23:59:59+00', true)"
            )
        )
    config = {"ops": {"on_demand_report": {"config": {"report_id": "only-far"}}}}
    result, _ = _materialize(database_url, landing, tmp_path / "r", ["on_demand_report"], config)
    assert not result.success
    with engine.connect() as conn:
        error = conn.execute(text("SELECT error FROM report_runs WHERE report_id = 'only-far'")).scalar_one()
    assert error == (
        "every stored poll (1) lies outside 2000-01-01 .. now + 1 day: ingest a status file with current polls"
    )


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["report", "--as-of", "garbage"], "storeuptime report: --as-of: 'garbage' is not a date and time"),
        (
            ["report", "--as-of", "1999-12-31 23:00"],
            "storeuptime report: --as-of: 1999-12-31T23:00:00+00:00 lies outside the accepted range "
            "2000-01-01 .. now + 1 day",
        ),
        (["run", "--as-of", "garbage"], "storeuptime run: --as-of: 'garbage' is not a date and time"),
    ],
)
def test_a_bad_as_of_is_one_line_and_exit_2(tmp_path: Path, command: list[str], message: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n"
    )
    (data / "menu_hours.csv").write_text("store_id,day,start_time_local,end_time_local\n1,0,09:00,17:00\n")
    (data / "timezones.csv").write_text("store_id,timezone_str\n1,America/Denver\n")
    done = subprocess.run(
        [
            *(sys.executable, "-m", "storeuptime_pipeline.cli.main", command[0]),
            *("--data", str(data), "--out", str(tmp_path / "out.csv"), *command[1:]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == message
    assert not (tmp_path / "out.csv").exists()


def test_parse_as_of_reads_offsets_and_refuses_the_far_future() -> None:
    assert parse_as_of("2023-01-25T12:00:00-06:00") == pd.Timestamp("2023-01-25 18:00", tz="UTC")
    assert parse_as_of("2023-01-25 18:13:22.47922 UTC") == pd.Timestamp("2023-01-25 18:13:22.47922", tz="UTC")
    for bad in ("garbage", "10000-01-01", "2199-12-31T23:59:59-14:00", ""):
        with pytest.raises(InstantError):
            parse_as_of(bad)


# --------------------------------------------------------------------------------- point 3: store ids


def test_a_long_and_a_nul_store_id_are_rejected_rows_while_the_file_loads(
    engine, database_url, landing, tmp_path
) -> None:
    body = _status_lines(3000)
    body[5] = "10\x0005,active,2023-01-25 08:00:00.000000 UTC"  # line 7: a NUL within the first 64 KiB
    body[2200] = "1\x0000,active,2023-01-25 10:30:00.000000 UTC"  # line 2202: a NUL past 64 KiB
    body[2000] = "9" * 3000 + ",active,2023-01-25 11:00:00.000000 UTC"  # line 2002
    body[2500] = "12\t34,active,2023-01-25 11:00:00.000000 UTC"  # line 2502: a tab inside the id
    content = ("store_id,status,timestamp_utc\n" + "\n".join(body) + "\n").encode()
    assert content.index(b"1\x0000,") > 65_536
    (landing / "store_status.csv").write_bytes(content)
    result, _ = _materialize(database_url, landing, tmp_path / "r", ["store_status"])
    assert result.success  # 4 of 3,000 rows: under the 1% limit
    assert _rejects(engine, "store_status.csv") == [
        (7, "store_id", CONTROL_REASON),
        (2002, "store_id", LONG_REASON),
        (2202, "store_id", CONTROL_REASON),
        (2502, "store_id", CONTROL_REASON),
    ]
    with engine.connect() as conn:
        loaded = conn.execute(text("SELECT count(*) FROM store_status")).scalar_one()
        longest = conn.execute(text("SELECT max(length(store_id)) FROM stores")).scalar_one()
        raw = conn.execute(text("SELECT raw_line FROM rejected_rows WHERE line_number = 2202")).scalar_one()
    assert loaded == 2996 and longest == 4
    assert raw == "1\ufffd00,active,2023-01-25 10:30:00.000000 UTC"  # kept, NUL made storable


def test_bytes_that_are_not_utf8_in_one_row_are_a_rejected_row_while_the_file_loads(
    engine, database_url, landing, tmp_path
) -> None:
    body = [line.encode() for line in _status_lines(3000)]
    body[10] = b"1010,active,2023-01-25 08:00:00.000000 UTC \xe9t\xe9"  # line 12: Latin-1, early
    body[2500] = b"12\xff34,active,2023-01-25 11:00:00.000000 UTC"  # line 2502: past 64 KiB
    (landing / "store_status.csv").write_bytes(b"store_id,status,timestamp_utc\n" + b"\n".join(body))
    result, _ = _materialize(database_url, landing, tmp_path / "r", ["store_status"])
    assert result.success
    assert _rejects(engine, "store_status.csv") == [
        (12, "timestamp_utc", "not UTF-8 text"),
        (2502, "store_id", "not UTF-8 text"),
    ]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM store_status")).scalar_one() == 2998
    latin_header = tmp_path / "store_status_latin.csv"
    latin_header.write_bytes(b"store_id,status,timestamp_\xe9\n1,active,2023-01-25 08:00:00 UTC\n")
    with pytest.raises(InputFileError, match="not UTF-8"):
        read_input(latin_header, "status")


def test_store_id_limits_apply_to_hours_and_timezones_and_control_characters_in_timezone_names(
    engine, tmp_path: Path
) -> None:
    hours = tmp_path / "menu_hours.csv"
    hours.write_text(
        "store_id,day,start_time_local,end_time_local\n1,0,09:00,17:00\n"
        + "x" * (STORE_ID_MAX_CHARS + 1)
        + ",1,09:00,17:00\n"
        + "y" * STORE_ID_MAX_CHARS
        + ",2,09:00,17:00\n"
    )
    tz = tmp_path / "timezones.csv"
    tz.write_bytes(
        b"store_id,timezone_str\n1,America/Denver\n2,America/New\x00York\n3\x7f,Asia/Kolkata\n4,UTC\n"
    )
    assert read_input(hours, "hours").rejected[["line", "reason"]].values.tolist() == [[3, LONG_REASON]]
    assert read_input(tz, "timezones").rejected[["line", "column", "reason"]].values.tolist() == [
        [3, "timezone_str", "control character in timezone_str"],
        [4, "store_id", CONTROL_REASON],
    ]
    # 1 of 3 rows (2 of 4) rejected is over the 1% limit: the operator accepts the files to load the rest.
    loads = load_files(engine, "hours", [hours], accept_rejects=True) + load_files(
        engine, "timezones", [tz], accept_rejects=True
    )
    assert [load.rows_loaded for load in loads] == [2, 2]
    with engine.connect() as conn:
        stores = conn.execute(text("SELECT store_id, timezone FROM stores ORDER BY 1")).all()
    assert [tuple(s) for s in stores] == [
        ("1", "America/Denver"),
        ("4", "UTC"),
        ("y" * STORE_ID_MAX_CHARS, "America/Chicago"),
    ]


# ------------------------------------------------------------------------------ point 9: reading items


def test_a_line_of_separators_only_is_a_rejected_row_and_a_blank_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "store_status.csv"
    path.write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n,,\n\n"
        '"","",""\n2,active,2023-01-25 10:00:00 UTC\n'
    )
    result = read_input(path, "status")
    assert result.rejected[["line", "reason", "raw"]].values.tolist() == [
        [3, EMPTY_ROW_REASON, ",,"],
        [5, EMPTY_ROW_REASON, '"","",""'],
    ]
    assert result.rows_read == 4 and len(result.valid) == 2


def test_timezones_with_swapped_columns_are_refused_as_a_whole(engine, tmp_path: Path) -> None:
    good = tmp_path / "timezones_good.csv"
    good.write_text("store_id,timezone_str\n1,America/Denver\n2,Asia/Kolkata\n")
    load_files(engine, "timezones", [good])
    swapped = tmp_path / "timezones.csv"
    rows = [f"America/{city},{1000 + i}" for i, city in enumerate(["New_York", "Chicago", "Denver"] * 5)]
    swapped.write_text("store_id,timezone_str\n" + "\n".join(rows) + "\n5,America/Denver\n")
    with pytest.raises(InputFileError) as caught:
        read_input(swapped, "timezones")
    message = str(caught.value)
    assert message.startswith("timezones.csv: the columns look swapped: 15 of 16 store_id values")
    assert "\n" not in message
    with pytest.raises(FilesQuarantined, match="look swapped"):  # recorded as quarantined, nothing written
        load_files(engine, "timezones", [swapped])
    with engine.connect() as conn:
        stores = conn.execute(text("SELECT store_id, timezone FROM stores ORDER BY 1")).all()
    assert [tuple(s) for s in stores] == [("1", "America/Denver"), ("2", "Asia/Kolkata")]
    # A store id that happens to be a zone name, among real ids, is just a (strange) store.
    few = tmp_path / "timezones_few.csv"
    few.write_text("store_id,timezone_str\nUTC,America/Denver\n1,America/Denver\n2,Asia/Kolkata\n")
    assert len(read_input(few, "timezones").valid) == 3


def test_superseded_timezone_rows_are_in_rejected_rows_without_failing_the_reject_check(
    engine, database_url, landing, tmp_path
) -> None:
    rows = [f"{1000 + i},America/New_York" for i in range(100)]
    rows += [f"{1000 + i},America/Denver" for i in range(0, 10, 2)]  # 5 stores listed again: 5%
    (landing / "timezones.csv").write_text("store_id,timezone_str\n" + "\n".join(rows) + "\n")
    result, _ = _materialize(database_url, landing, tmp_path / "r", ["store_timezones"])
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"rejected_rows_at_most_1_percent": True}
    assert _rejects(engine, "timezones.csv") == [
        (line, "store_id", SUPERSEDED_REASON) for line in (2, 4, 6, 8, 10)
    ]
    with engine.connect() as conn:
        denver = conn.execute(
            text("SELECT count(*) FROM stores WHERE timezone = 'America/Denver'")
        ).scalar_one()
    assert denver == 5  # the later row won


@pytest.mark.parametrize("kind", ["status", "hours", "timezones"])
def test_the_one_validation_path_gives_every_new_reason(tmp_path: Path, kind: str) -> None:
    long_id = "z" * (STORE_ID_MAX_CHARS + 1)
    files = {
        "status": "store_id,status,timestamp_utc\n"
        f"{long_id},bad,9999-01-01 00:00:00 UTC\n"  # store_id first, though all three are wrong
        "1,active,9999-01-01 00:00:00 UTC\n"
        "1\x01,active,2023-01-25 10:00:00 UTC\n"
        ",,\n"
        f"{long_id}\x00,active,2023-01-25 10:00:00 UTC\n"  # control characters come before length
        "2,maybe,1999-01-01 00:00:00 UTC\n"  # the timestamp is checked before the status
        "3,active,2023-01-25 10:00:00 UTC\n",
        "hours": "store_id,day,start_time_local,end_time_local\n"
        f"{long_id},9,09:00,17:00\n1\x1b,0,09:00,17:00\n2,0,09:00,17:00\n,,,\n",
        "timezones": "store_id,timezone_str\n"
        f"{long_id},America/Denver\n1,Asia/\x00Kolkata\n2,America/Denver\n2,UTC\n3\x00,\x00\n",
    }
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(files[kind].encode())
    result = read_input(path, kind)  # what the CLI prints and ingestion stores: one function
    assert len(result.valid) == 1
    reasons = result.rejected["reason"].tolist()
    expected = {
        "status": [LONG_REASON, RANGE_REASON, CONTROL_REASON, EMPTY_ROW_REASON, CONTROL_REASON, RANGE_REASON],
        "hours": [LONG_REASON, CONTROL_REASON, EMPTY_ROW_REASON],
        "timezones": [LONG_REASON, "control character in timezone_str", SUPERSEDED_REASON, CONTROL_REASON],
    }
    assert reasons == expected[kind]
