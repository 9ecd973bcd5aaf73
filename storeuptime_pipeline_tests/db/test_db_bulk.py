"""Bulk layer against a real Postgres: idempotent loads, snapshot semantics, window reads, rollback."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from storeuptime_pipeline.core.report import FIGURE_COLUMNS, Timeline
from storeuptime_pipeline.core.shards import store_hash
from storeuptime_pipeline.db import file_records, poll_load, queries, reads, reference_load, report_rows
from storeuptime_pipeline.db.errors import ReadBlocked
from storeuptime_pipeline.db.models import DEFAULT_TIMEZONE, metadata
from storeuptime_pipeline.db.session import snapshot_connections
from storeuptime_pipeline.services.reporting import read_inputs, read_window

T0 = pd.Timestamp("2023-01-24 12:00:00", tz="UTC")
UUID_STORE = "8419537941919820732"
ZERO_STORE = "0001"  # leading zeros must survive: ids are opaque strings
HEX_STORE = "c7d8a0f0-3b5e-4a4c-9b1e-6c2f5d3e8a11"


def polls_frame(rows: list[tuple[str, pd.Timestamp, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype="str"),
            "timestamp_utc": pd.Series(pd.DatetimeIndex([r[1] for r in rows]).as_unit("us")),
            "is_active": pd.Series([r[2] for r in rows], dtype=bool),
        }
    )


def hours_frame(rows: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(reference_load.HOURS_COLUMNS))
    frame["store_id"] = frame["store_id"].astype("str")
    return frame


def tz_frame(rows: list[tuple[str, str | None, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype="str"),
            "timezone_str": pd.Series([r[1] for r in rows], dtype=object),
            "timezone": pd.Series([r[2] for r in rows], dtype="str"),
            "timezone_defaulted": pd.Series([r[3] for r in rows], dtype=bool),
        }
    )


def report_frame(as_of: pd.Timestamp, stores: list[str], base: float) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "as_of": pd.Series(pd.DatetimeIndex([as_of] * len(stores)).as_unit("us")),
            "store_id": pd.Series(stores, dtype="str"),
        }
    )
    for k, name in enumerate(FIGURE_COLUMNS):
        frame[name] = [base + k + i / 3 for i in range(len(stores))]
    return frame


def snapshot(conn: Connection) -> dict[str, list[tuple]]:
    """Every project table, fully ordered, for before/after comparisons."""
    result = {}
    for table in metadata.sorted_tables:
        order = ", ".join(c.name for c in table.columns)
        result[table.name] = [
            tuple(r) for r in conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {order}"))
        ]
    return result


def status_rows(conn: Connection) -> list[tuple]:
    return conn.execute(
        text("SELECT store_id, timestamp_utc, is_active FROM store_status ORDER BY 1, 2")
    ).all()


def index_names(conn: Connection, table: str) -> set[str]:
    return set(
        conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table}).scalars()
    )


# ----------------------------------------------------------------------------------------------- polls


def test_first_load_then_reload_is_identical_and_changes_nothing(db_conn: Connection) -> None:
    frame = polls_frame(
        [
            (ZERO_STORE, T0, True),
            (ZERO_STORE, T0 + timedelta(hours=1), False),
            (HEX_STORE, T0, True),
            (UUID_STORE, T0 - timedelta(days=3), True),
        ]
    )
    assert poll_load.upsert_polls(db_conn, frame) == 4
    db_conn.commit()
    first = snapshot(db_conn)
    # The initial load rebuilt the indexes after its COPY: they must all be back and enforcing.
    assert index_names(db_conn, "store_status") == {"pk_store_status", "ix_store_status_timestamp_utc"}
    assert poll_load.upsert_polls(db_conn, frame) == 0
    db_conn.commit()
    assert snapshot(db_conn) == first
    assert {r[0] for r in first["stores"]} == {ZERO_STORE, HEX_STORE, UUID_STORE}
    assert all(r[1:4] == (None, DEFAULT_TIMEZONE, True) for r in first["stores"])
    assert [r[4] for r in first["stores"]] == store_hash([r[0] for r in first["stores"]]).tolist()
    with pytest.raises(IntegrityError):
        db_conn.execute(
            text("INSERT INTO store_status VALUES (:s, :t, true)"), {"s": ZERO_STORE, "t": T0.to_pydatetime()}
        )
    db_conn.rollback()


def test_duplicates_count_once_and_inactive_wins(db_conn: Connection) -> None:
    frame = polls_frame(
        [
            ("1", T0, True),
            ("1", T0, False),
            ("1", T0, True),
            ("2", T0, True),
            ("2", T0, True),
        ]
    )
    assert poll_load.upsert_polls(db_conn, frame) == 2
    db_conn.commit()
    assert status_rows(db_conn) == [("1", T0, False), ("2", T0, True)]

    # Against stored rows: active -> inactive flips, inactive -> active does not.
    changed = poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True), ("2", T0, False)]))
    db_conn.commit()
    assert changed == 1
    assert status_rows(db_conn) == [("1", T0, False), ("2", T0, False)]


def test_second_batch_appends_and_adds_new_stores(db_conn: Connection) -> None:
    poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True), ("2", T0, True)]))
    db_conn.commit()
    later = T0 + timedelta(hours=1)
    changed = poll_load.upsert_polls(
        db_conn, polls_frame([("1", T0, True), ("1", later, False), ("3", later, True)])
    )
    db_conn.commit()
    assert changed == 2
    assert status_rows(db_conn) == [("1", T0, True), ("1", later, False), ("2", T0, True), ("3", later, True)]
    assert db_conn.execute(text("SELECT count(*) FROM stores")).scalar_one() == 3


def test_loading_in_batches_equals_loading_at_once(clean_db: Engine) -> None:
    """The empty-table fast path (COPY + index rebuild) and the merge path must agree."""
    rng = np.random.default_rng(7)
    n = 3000
    stores = np.array([f"{rng.integers(10**18, 9 * 10**18)}" for _ in range(40)] + [HEX_STORE, ZERO_STORE])
    base = T0.value // 1000
    frame = pd.DataFrame(
        {
            "store_id": pd.Series(rng.choice(stores, n), dtype="str"),
            # Few distinct timestamps so duplicates, including conflicting ones, are frequent.
            "timestamp_utc": pd.Series(
                (base + rng.integers(0, 200, n) * 3_600_000_000 + 123).astype("datetime64[us]")
            ).dt.tz_localize("UTC"),
            "is_active": rng.random(n) < 0.7,
        }
    )
    with clean_db.begin() as conn:
        poll_load.upsert_polls(conn, frame)
        at_once = status_rows(conn)
        conn.exec_driver_sql("TRUNCATE store_status, stores")
        for chunk in np.array_split(np.arange(n), 3):
            poll_load.upsert_polls(conn, frame.iloc[chunk])
        assert status_rows(conn) == at_once
    expected = frame.groupby(["store_id", "timestamp_utc"])["is_active"].all()
    assert len(at_once) == len(expected)
    assert [r[2] for r in at_once] == expected.sort_index().tolist()


def test_bad_poll_frames_are_refused(db_conn: Connection) -> None:
    assert poll_load.upsert_polls(db_conn, polls_frame([])) == 0
    numeric_ids = polls_frame([("1", T0, True)]).assign(store_id=[1])
    with pytest.raises(TypeError):
        poll_load.upsert_polls(db_conn, numeric_ids)
    with pytest.raises(ValueError, match="missing columns"):
        poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True)]).drop(columns="is_active"))


def test_rolled_back_transaction_leaves_every_table_unchanged(db_conn: Connection) -> None:
    poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True)]))
    reference_load.replace_business_hours(db_conn, hours_frame([("1", 0, 0, 3600)]))
    reference_load.replace_timezones(db_conn, tz_frame([("1", "Asia/Tokyo", "Asia/Tokyo", False)]))
    report_rows.replace_report_rows(db_conn, [T0], report_frame(T0, ["1"], 1.0))
    db_conn.commit()
    before = snapshot(db_conn)

    poll_load.upsert_polls(db_conn, polls_frame([("1", T0, False), ("2", T0, True)]))
    reference_load.replace_business_hours(db_conn, hours_frame([("2", 1, 60, 120)]))
    reference_load.replace_timezones(db_conn, tz_frame([("2", None, DEFAULT_TIMEZONE, True)]))
    file_id = file_records.record_file(db_conn, "status", "s.csv", 10, "ab" * 32, rows_read=1)
    file_records.replace_rejected_rows(
        db_conn,
        file_id,
        "s.csv",
        pd.DataFrame({"line": [2], "column": [None], "reason": ["x"], "raw": ["y"]}),
    )
    report_rows.replace_report_rows(db_conn, [T0], report_frame(T0, ["2"], 9.0))
    assert snapshot(db_conn) != before
    db_conn.rollback()
    assert snapshot(db_conn) == before


def test_rolled_back_initial_load_keeps_the_indexes(db_conn: Connection) -> None:
    poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True)]))
    db_conn.rollback()
    assert status_rows(db_conn) == []
    assert index_names(db_conn, "store_status") == {"pk_store_status", "ix_store_status_timestamp_utc"}


# ------------------------------------------------------------------------------------------- snapshots


def test_business_hours_snapshot_replaces_and_round_trips(db_conn: Connection) -> None:
    first = hours_frame([("1", 0, 0, 86400), ("1", 0, 3600, 7200), ("2", 6, 34200, 75600)])
    assert reference_load.replace_business_hours(db_conn, first) == 3
    db_conn.commit()
    read = reads.read_business_hours(db_conn)
    pd.testing.assert_frame_equal(
        read, first.sort_values(list(reference_load.HOURS_COLUMNS), ignore_index=True), check_dtype=False
    )
    assert (
        db_conn.execute(
            text("SELECT end_local::text FROM business_hours WHERE start_local = '00:00'")
        ).scalar_one()
        == "24:00:00"
    )
    ids = db_conn.execute(text("SELECT id FROM business_hours ORDER BY id")).scalars().all()

    assert reference_load.replace_business_hours(db_conn, first.iloc[::-1]) == 0  # same snapshot: untouched
    db_conn.commit()
    assert db_conn.execute(text("SELECT id FROM business_hours ORDER BY id")).scalars().all() == ids

    second = hours_frame([("3", 2, 100, 200)])
    assert reference_load.replace_business_hours(db_conn, second) == 4  # 3 removed + 1 added
    db_conn.commit()
    pd.testing.assert_frame_equal(reads.read_business_hours(db_conn), second, check_dtype=False)
    assert set(db_conn.execute(text("SELECT store_id FROM stores")).scalars()) == {"1", "2", "3"}

    with pytest.raises(IntegrityError):
        reference_load.replace_business_hours(db_conn, hours_frame([("3", 7, 0, 1)]))
    db_conn.rollback()


def test_timezone_snapshot_sets_listed_stores_and_resets_the_others(db_conn: Connection) -> None:
    poll_load.upsert_polls(db_conn, polls_frame([("polls-only", T0, True)]))
    changed = reference_load.replace_timezones(
        db_conn,
        tz_frame(
            [
                ("a", "Asia/Tokyo", "Asia/Tokyo", False),
                ("b", "", DEFAULT_TIMEZONE, True),
                ("c", "Mars/Olympus", DEFAULT_TIMEZONE, True),
                ("d", "America/Denver", "America/Denver", False),
                ("d", "America/Boise", "America/Boise", False),  # repeated id: last row wins
            ]
        ),
    )
    db_conn.commit()
    assert changed == 4  # a, b, c, d inserted; polls-only already had the defaults
    read = reads.read_timezones(db_conn)
    assert read["store_id"].tolist() == ["a", "b", "c", "d", "polls-only"]
    assert read["timezone_str"].tolist()[:4] == ["Asia/Tokyo", "", "Mars/Olympus", "America/Boise"]
    assert pd.isna(read["timezone_str"].iloc[4])
    assert read["timezone"].tolist() == [
        "Asia/Tokyo",
        DEFAULT_TIMEZONE,
        DEFAULT_TIMEZONE,
        "America/Boise",
        DEFAULT_TIMEZONE,
    ]
    assert read["timezone_defaulted"].tolist() == [False, True, True, False, True]
    assert read["timezone_defaulted"].dtype == bool

    before = snapshot(db_conn)
    assert (
        reference_load.replace_timezones(db_conn, tz_frame([("a", "Asia/Tokyo", "Asia/Tokyo", False)])) == 3
    )
    db_conn.commit()
    read = reads.read_timezones(db_conn).set_index("store_id")
    assert read.loc["a", "timezone"] == "Asia/Tokyo"
    assert (read.drop(index="a")["timezone"] == DEFAULT_TIMEZONE).all()
    assert read.drop(index="a")["timezone_str"].isna().all()
    assert snapshot(db_conn) != before
    again = snapshot(db_conn)
    assert (
        reference_load.replace_timezones(db_conn, tz_frame([("a", "Asia/Tokyo", "Asia/Tokyo", False)])) == 0
    )
    db_conn.commit()
    assert snapshot(db_conn) == again


TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(TEXT.filter(bool), st.none() | TEXT, TEXT.filter(bool), st.booleans()),
        max_size=8,
        unique_by=lambda r: r[0],
    )
)
def test_any_text_round_trips_through_copy(clean_db: Engine, rows: list[tuple]) -> None:
    """Tabs, newlines, quotes, backslashes, commas, '\\N', empty vs NULL, non-ASCII: all exact."""
    with clean_db.begin() as conn:
        conn.exec_driver_sql("TRUNCATE stores")
        reference_load.replace_timezones(conn, tz_frame(rows))
        read = reads.read_timezones(conn)
    expected = sorted(rows)
    assert read["store_id"].tolist() == [r[0] for r in expected]
    got_str = [None if pd.isna(v) else v for v in read["timezone_str"]]
    # pandas reads an unquoted \N as missing; Postgres quotes a real "\N" value, which pandas cannot
    # tell apart, so that one string is the only accepted ambiguity.
    assert [
        g if g is not None else (e[1] if e[1] == "\\N" else None)
        for g, e in zip(got_str, expected, strict=True)
    ] == [r[1] for r in expected]
    assert read["timezone"].tolist() == [r[2] for r in expected]
    assert read["timezone_defaulted"].tolist() == [r[3] for r in expected]


# ----------------------------------------------------------------------------------- files and rejects


def test_record_file_adds_a_row_per_load(db_conn: Connection) -> None:
    """The history of loads: the same content loaded again is a row of its own, with its own time."""
    sha = "0f" * 32
    first = file_records.record_file(
        db_conn, "status", "a.csv", 100, sha, rows_read=10, rows_loaded=9, rows_rejected=1, rows_changed=9
    )
    db_conn.commit()
    before = snapshot(db_conn)
    again = file_records.record_file(
        db_conn,
        "status",
        "renamed.csv",
        100,
        sha,
        rows_read=10,
        rows_loaded=9,
        rows_rejected=1,
        rows_changed=0,
    )
    db_conn.commit()
    quarantined = file_records.record_file(
        db_conn,
        "hours",
        "h.csv",
        5,
        sha,
        rows_read=7,
        rows_rejected=7,
        quarantined=True,
        reject_share=1.0,
        reason="7 of 7 rows rejected",
    )
    db_conn.commit()
    assert len({first, again, quarantined}) == 3
    after = snapshot(db_conn)
    assert [r for r in after["ingested_files"] if r[0] == first] == before["ingested_files"]
    rows = db_conn.execute(
        text(
            "SELECT id, name, rows_changed, quarantined, reject_share, reason, loaded_at FROM ingested_files ORDER BY id"
        )
    ).all()
    assert [r[:6] for r in rows] == [
        (first, "a.csv", 9, False, None, None),
        (again, "renamed.csv", 0, False, None, None),
        (quarantined, "h.csv", 0, True, 1.0, "7 of 7 rows rejected"),
    ]
    assert rows[0].loaded_at < rows[1].loaded_at  # separate transactions: separate times
    with pytest.raises(ValueError):
        file_records.record_file(db_conn, "polls", "a.csv", 1, sha)


def test_rejected_rows_replace_per_file_and_cascade(db_conn: Connection) -> None:
    rejected = pd.DataFrame(
        {
            "line": [3, 7],
            "column": ["timestamp_utc", None],
            "reason": ["unparseable timestamp", "wrong number of fields"],
            "raw": ['1,"2023-01-2\t5",\\N,\u00e9', "a,b\x00,c"],
        }
    )
    file_id = file_records.record_file(db_conn, "status", "s.csv", 1, "aa" * 32)
    other_id = file_records.record_file(db_conn, "hours", "h.csv", 1, "bb" * 32)
    assert file_records.replace_rejected_rows(db_conn, file_id, "s.csv", rejected) == 2
    file_records.replace_rejected_rows(db_conn, other_id, "h.csv", rejected.iloc[:1])
    db_conn.commit()
    rows = db_conn.execute(
        text(
            "SELECT line_number, column_name, reason, raw_line, source_file FROM rejected_rows WHERE file_id = :f ORDER BY 1"
        ),
        {"f": file_id},
    ).all()
    assert rows == [
        (3, "timestamp_utc", "unparseable timestamp", '1,"2023-01-2\t5",\\N,\u00e9', "s.csv"),
        (7, None, "wrong number of fields", "a,b\ufffd,c", "s.csv"),  # NUL cannot be stored in text
    ]
    before = snapshot(db_conn)
    assert file_records.replace_rejected_rows(db_conn, file_id, "s.csv", rejected) == 0
    db_conn.commit()
    assert snapshot(db_conn) == before
    file_records.replace_rejected_rows(db_conn, file_id, "s.csv", rejected.iloc[1:])
    db_conn.execute(text("DELETE FROM ingested_files WHERE id = :f"), {"f": other_id})
    db_conn.commit()
    assert db_conn.execute(text("SELECT file_id, line_number FROM rejected_rows")).all() == [(file_id, 7)]


# -------------------------------------------------------------------------------------------- reports


def test_report_rows_replace_per_as_of(db_conn: Connection) -> None:
    a, b = T0, T0 + timedelta(hours=1)
    written = report_rows.replace_report_rows(
        db_conn,
        [a, b],
        pd.concat([report_frame(a, ["2", "1", "10"], 0.5), report_frame(b, ["1"], 100.0)]),
    )
    db_conn.commit()
    assert written == 4
    read_a = report_rows.read_report_rows(db_conn, a)
    assert read_a["store_id"].tolist() == ["1", "10", "2"]  # sorted by store_id as text
    expected_a = report_frame(a, ["2", "1", "10"], 0.5).sort_values("store_id", ignore_index=True)
    pd.testing.assert_frame_equal(read_a, expected_a, check_dtype=False)  # floats are exact
    assert read_a["as_of"].dtype == "datetime64[us, UTC]"

    report_rows.replace_report_rows(db_conn, [a.to_pydatetime()], report_frame(a, ["9"], 7.0))
    db_conn.commit()
    assert report_rows.read_report_rows(db_conn, a)["store_id"].tolist() == ["9"]
    pd.testing.assert_frame_equal(
        report_rows.read_report_rows(db_conn, b), report_frame(b, ["1"], 100.0), check_dtype=False
    )

    assert report_rows.replace_report_rows(db_conn, [a], report_frame(a, [], 0.0)) == 0
    db_conn.commit()
    assert report_rows.read_report_rows(db_conn, a).empty
    with pytest.raises(ValueError, match="not in as_ofs"):
        report_rows.replace_report_rows(db_conn, [a], report_frame(b, ["1"], 1.0))


# ---------------------------------------------------------------------------------------------- reads


def _by_store_time(frame: pd.DataFrame) -> pd.DataFrame:
    """read_polls_window promises no order (the engine sorts): compare in (store, time) order, the
    categorical store ids as the strings they stand for."""
    return frame.astype({"store_id": str}).sort_values(["store_id", "timestamp_utc"], ignore_index=True)


def test_read_polls_window_returns_the_window_plus_the_last_earlier_poll(db_conn: Connection) -> None:
    start, end = T0, T0 + timedelta(hours=2)
    rows = [
        ("1", start - timedelta(hours=3), False),
        ("1", start - timedelta(hours=1), True),  # S1's last earlier poll
        ("1", start, False),  # boundaries are inclusive
        ("1", end, True),
        ("1", end + timedelta(microseconds=1), True),  # after the window: excluded
        ("2", start - timedelta(days=30), True),
        ("2", start - timedelta(days=5), False),  # S2 has only earlier polls: its last one
        ("3", start + timedelta(minutes=30), True),  # S3 only inside
        ("4", end + timedelta(hours=1), True),  # S4 only after: nothing
    ]
    poll_load.upsert_polls(db_conn, polls_frame(rows))
    db_conn.commit()
    read = reads.read_polls_window(db_conn, start, end)
    # One Python string per store, not per poll: the ids come back as a categorical of strings.
    assert isinstance(read["store_id"].dtype, pd.CategoricalDtype)
    assert pd.api.types.is_string_dtype(read["store_id"].cat.categories)
    got = _by_store_time(read)
    expected = polls_frame([rows[1], rows[2], rows[3], rows[6], rows[7]])
    pd.testing.assert_frame_equal(got, expected)
    assert got["timestamp_utc"].dtype == "datetime64[us, UTC]"
    assert got["is_active"].dtype == bool

    empty = reads.read_polls_window(db_conn, start - timedelta(days=400), start - timedelta(days=399))
    assert list(empty.columns) == list(poll_load.POLL_COLUMNS) and empty.empty
    naive = _by_store_time(
        reads.read_polls_window(db_conn, start.tz_localize(None).to_pydatetime(), end.to_pydatetime())
    )
    pd.testing.assert_frame_equal(naive, expected)  # naive datetimes are taken as UTC


def test_read_inputs_reads_the_window_once_on_parallel_connections(clean_db: Engine) -> None:
    """The window is read in two halves of time on two connections: a poll on the seam is read once,
    and the whole equals the one-connection read (polls, hours, timezones)."""
    as_of = T0 + timedelta(days=10)
    lo, hi = read_window([pd.Timestamp(as_of)])
    middle = lo + (hi - lo) / 2
    one_us = timedelta(microseconds=1)
    rows = [
        ("1", lo - timedelta(hours=2), True),  # the last earlier poll
        ("1", lo, False),
        ("1", middle - one_us, True),
        ("1", middle, False),  # on the seam: in the second half only
        ("1", middle + one_us, True),
        ("1", hi, True),
        ("1", hi + one_us, False),  # after the window
        ("2", middle, True),
        ("3", lo - timedelta(days=3), False),  # only an earlier poll
    ]
    with clean_db.begin() as conn:
        poll_load.upsert_polls(conn, polls_frame(rows))
    inputs = read_inputs(clean_db, [pd.Timestamp(as_of)])
    expected = polls_frame([rows[i] for i in (0, 1, 2, 3, 4, 5, 7, 8)])
    pd.testing.assert_frame_equal(_by_store_time(inputs.polls), expected)
    assert isinstance(inputs.polls["store_id"].dtype, pd.CategoricalDtype)
    with clean_db.connect() as conn:
        pd.testing.assert_frame_equal(_by_store_time(reads.read_polls_window(conn, lo, hi)), expected)
        pd.testing.assert_frame_equal(inputs.hours, reads.read_business_hours(conn))
        pd.testing.assert_frame_equal(inputs.timezones, reads.read_timezones(conn))


def test_snapshot_connections_see_one_instant_and_no_later_commit(clean_db: Engine) -> None:
    """The parallel reads of one report see the database as one transaction would."""
    with clean_db.begin() as conn:
        poll_load.upsert_polls(conn, polls_frame([("1", T0, True)]))
    count = "SELECT count(*) FROM store_status"
    with snapshot_connections(clean_db, 3) as conns:
        assert [c.exec_driver_sql(count).scalar_one() for c in conns[:1]] == [1]
        with clean_db.begin() as writer:  # commits while the readers are open
            poll_load.upsert_polls(writer, polls_frame([("2", T0, False)]))
        assert [c.exec_driver_sql(count).scalar_one() for c in conns] == [1, 1, 1]
        with pytest.raises(DBAPIError, match="read-only"):
            conns[1].exec_driver_sql("DELETE FROM store_status")
    with clean_db.connect() as conn:
        assert conn.exec_driver_sql(count).scalar_one() == 2


def test_a_lock_queued_between_parallel_reads_fails_the_read_in_one_line(clean_db: Engine) -> None:
    """ACCESS EXCLUSIVE queued after one reader's lock blocks the next reader while the first waits
    for it in this process: a cycle Postgres cannot see. The lock timeout ends it with ReadBlocked."""
    with clean_db.begin() as conn:
        poll_load.upsert_polls(conn, polls_frame([("1", T0, True)]))
    count = "SELECT count(*) FROM store_status"
    locked = threading.Event()

    def exclusive() -> None:
        with clean_db.begin() as other:
            other.exec_driver_sql("SET LOCAL lock_timeout = '20s'")
            locked.set()
            other.exec_driver_sql("LOCK TABLE store_status IN ACCESS EXCLUSIVE MODE")

    with (
        pytest.raises(ReadBlocked, match=r"waited 0.5 s for a table lock.*run the report again"),
        snapshot_connections(clean_db, 2, lock_timeout_s=0.5) as (first, second),
    ):
        assert first.exec_driver_sql(count).scalar_one() == 1  # holds ACCESS SHARE from here
        locker = threading.Thread(target=exclusive)
        locker.start()
        locked.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _lock_waiting(clean_db):
            time.sleep(0.05)
        second.exec_driver_sql(count)  # queued behind the exclusive request: times out
    locker.join(30)  # the readers' transactions ended, so the exclusive lock was granted and released
    assert not locker.is_alive()


def _lock_waiting(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'store_status'::regclass"
            ).scalar_one()
        )


def test_last_earlier_poll_uses_one_pk_probe_per_store(db_conn: Connection) -> None:
    """The lookup must not scan older history: a backward scan of the PK index, LIMIT 1, per store."""
    rng = np.random.default_rng(1)
    stores = [str(10**18 + i) for i in range(200)]
    times = T0.tz_convert(None) - pd.to_timedelta(np.arange(300), unit="h")
    frame = pd.DataFrame(
        {
            "store_id": pd.Series(np.repeat(stores, len(times)), dtype="str"),
            "timestamp_utc": pd.Series(np.tile(times.as_unit("us").to_numpy(), len(stores))).dt.tz_localize(
                "UTC"
            ),
            "is_active": rng.random(len(stores) * len(times)) < 0.9,
        }
    )
    poll_load.upsert_polls(db_conn, frame)
    db_conn.exec_driver_sql("ANALYZE store_status; ANALYZE stores")
    db_conn.commit()
    raw = db_conn.connection.dbapi_connection
    with raw.cursor() as cur:
        params = {"start": T0.to_pydatetime(), "end": (T0 + timedelta(hours=1)).to_pydatetime()}
        cur.execute("EXPLAIN " + reads.LAST_EARLIER_POLL_SQL, params)
        plan = "\n".join(r[0] for r in cur.fetchall())
    lateral = plan[plan.index("Nested Loop") :]
    assert "Limit" in lateral
    assert "Backward using pk_store_status" in lateral, plan
    db_conn.rollback()


def test_latest_poll_time(db_conn: Connection) -> None:
    assert queries.latest_poll_time(db_conn) is None
    poll_load.upsert_polls(db_conn, polls_frame([("1", T0, True), ("2", T0 + timedelta(seconds=1.5), False)]))
    db_conn.commit()
    latest = queries.latest_poll_time(db_conn)
    assert latest == T0 + timedelta(seconds=1.5)
    assert latest is not None and str(latest.tz) == "UTC"
    assert isinstance(latest, pd.Timestamp)
    db_conn.rollback()


def test_microsecond_timestamps_round_trip(db_conn: Connection) -> None:
    moments = [
        datetime(2023, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    frame = polls_frame([("1", pd.Timestamp(m), True) for m in moments])
    poll_load.upsert_polls(db_conn, frame)
    db_conn.commit()
    got = reads.read_polls_window(
        db_conn, pd.Timestamp("1990-01-01", tz="UTC"), pd.Timestamp("2030-01-01", tz="UTC")
    )
    assert sorted(got["timestamp_utc"].tolist()) == sorted(pd.Timestamp(m) for m in moments)
    assert [r[1] for r in status_rows(db_conn)] == sorted(moments)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "10", HEX_STORE]),
            st.one_of(
                st.integers(0, 5),  # a few distinct instants: many duplicates
                st.integers(-(2**61), 2**61),  # spans too wide for the packed sort key: lexsort path
            ),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_dedupe_matches_a_groupby_with_inactive_winning(rows: list[tuple[str, int, bool]]) -> None:
    frame = pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype="str"),
            "timestamp_utc": pd.Series(
                np.array([r[1] for r in rows], dtype="int64").view("datetime64[us]")
            ).dt.tz_localize("UTC"),
            "is_active": [r[2] for r in rows],
        }
    )
    store_ids, micros, active = poll_load._unique_polls(frame)
    expected = frame.groupby(["store_id", "timestamp_utc"])["is_active"].all().sort_index()
    assert list(store_ids.astype(str)) == expected.index.get_level_values(0).tolist()
    assert micros.tolist() == expected.index.get_level_values(1).as_unit("us").asi8.tolist()
    assert active.tolist() == expected.tolist()


def test_the_load_and_the_engine_keep_the_same_polls() -> None:
    """One rule (core.polls): the rows the load writes are the polls the engine's timeline counts."""
    rows = [
        (s, T0 + pd.Timedelta(seconds=k % 4), (k * 7) % 3 != 0)
        for k, s in enumerate(["10", "2", UUID_STORE, ZERO_STORE, HEX_STORE] * 6)
    ]
    frame = polls_frame(rows)
    store_ids, micros, active = poll_load._unique_polls(frame)
    timeline = Timeline.from_polls(frame)
    assert list(store_ids.astype(str)) == timeline.store_ids[timeline.store].tolist()
    assert micros.tolist() == timeline.time.tolist()
    assert active.tolist() == timeline.active.tolist()
    assert len(micros) < len(frame)  # there were duplicates to collapse
