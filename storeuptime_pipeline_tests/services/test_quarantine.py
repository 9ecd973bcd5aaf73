"""Blocking means blocking: a file over the reject limit writes nothing, is quarantined, and can be
fixed or accepted; every load, a re-load of an earlier snapshot too, is a row of the file history.

Through the ingest assets (``dagster.materialize``) against the real Postgres, as the sensor runs them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.services.loading import live_file

warnings.filterwarnings("ignore", category=DeprecationWarning)

DATA = ["stores", "business_hours", "store_status"]
HISTORY = ["ingested_files", "rejected_rows"]
ORDER = {
    "stores": "store_id",
    "business_hours": "store_id, day_of_week, start_local, end_local",
    "store_status": "store_id, timestamp_utc",
}
HOURS_HEADER = "store_id,day,start_time_local,end_time_local\n"
STATUS_HEADER = "store_id,status,timestamp_utc\n"


@pytest.fixture
def engine(database_url: str):
    eng = get_engine(database_url)
    with eng.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA + HISTORY)} RESTART IDENTITY CASCADE"))
    return eng


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    return folder


def _materialize(database_url: str, landing: Path, asset: str, **config: object):
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [*INGEST_ASSETS, *INGEST_CHECKS],
            selection=[asset],
            instance=instance,
            resources=resources(database_url=database_url, landing=str(landing)),
            run_config={"ops": {asset: {"config": config}}} if config else None,
            raise_on_error=False,
        )


def _failure(result) -> str:
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description


def _data(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {ORDER[t]}"))]
            for t in DATA
            if t != "business_hours"
        } | {
            "business_hours": [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT store_id, day_of_week, start_local, end_local FROM business_hours "
                        f"ORDER BY {ORDER['business_hours']}"
                    )
                )
            ]
        }


def _history(engine) -> list[tuple]:
    """(name, quarantined, rows_loaded, rejected rows kept, reason) of every load, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """
                SELECT f.name, f.quarantined, f.rows_loaded,
                       (SELECT count(*) FROM rejected_rows r WHERE r.file_id = f.id), f.reason
                FROM ingested_files f ORDER BY f.loaded_at, f.id
                """
            )
        )
        return [tuple(r) for r in rows]


def _write(path: Path, text_: str, mtime: int | None = None) -> Path:
    path.write_text(text_)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


GOOD_HOURS = HOURS_HEADER + "".join(f"{s},{d},09:00:00,17:00:00\n" for s in "123" for d in range(7))
#: An export that writes day names: every row is rejected ("day of week is not an integer 0..6").
NAMED_DAYS = HOURS_HEADER + "".join(
    f"{s},{d},09:00:00,17:00:00\n" for s in "1234" for d in ("Monday", "Tuesday", "Wednesday")
)


def test_an_hours_file_with_day_names_leaves_business_hours_unchanged(engine, database_url, landing) -> None:
    _write(landing / "menu_hours.csv", GOOD_HOURS, mtime=1_700_000_000)
    assert _materialize(database_url, landing, "business_hours").success
    before = _data(engine)
    assert len(before["business_hours"]) == 21

    _write(landing / "menu_hours_new.csv", NAMED_DAYS)
    result = _materialize(database_url, landing, "business_hours")
    assert not result.success
    assert _data(engine) == before  # not emptied: stores are not suddenly open 24x7
    message = _failure(result)
    assert "menu_hours_new.csv quarantined" in message and "12 of 12 rows rejected (100.00%" in message
    assert _history(engine)[-1] == (
        "menu_hours_new.csv",
        True,
        0,
        12,
        "12 of 12 rows rejected (100.00%, limit 1%)",
    )
    assert live_file(engine, "hours")["name"] == "menu_hours.csv"


def test_a_snapshot_without_usable_rows_never_empties_its_table(engine, database_url, landing) -> None:
    _write(landing / "menu_hours.csv", GOOD_HOURS, mtime=1_700_000_000)
    _write(landing / "timezones.csv", "store_id,timezone_str\n1,Asia/Tokyo\n", mtime=1_700_000_000)
    assert _materialize(database_url, landing, "business_hours").success
    assert _materialize(database_url, landing, "store_timezones").success
    before = _data(engine)
    # A header and nothing else: unreadable as a whole, quarantined even with accept_rejects.
    _write(landing / "menu_hours_empty.csv", HOURS_HEADER)
    result = _materialize(database_url, landing, "business_hours", accept_rejects=True)
    assert not result.success
    assert "menu_hours_empty.csv quarantined" in _failure(result) and "no data rows" in _failure(result)
    # Every row without a store id: all rejected, quarantined (the stores keep their timezones).
    _write(landing / "timezones_bad.csv", "store_id,timezone_str\n,Asia/Tokyo\n,Europe/Paris\n")
    result = _materialize(database_url, landing, "store_timezones")
    assert not result.success
    assert _data(engine) == before
    assert "2 of 2 rows rejected" in _failure(result)
    assert [q for _, q, *_ in _history(engine)] == [False, False, True, True]
    # Deliberately: accept_rejects loads the all-rejected snapshot, and the store falls back as asked.
    assert _materialize(database_url, landing, "store_timezones", accept_rejects=True).success
    assert [r[:4] for r in _data(engine)["stores"]] == [(s, None, "America/Chicago", True) for s in "123"]


def _status_rows(n: int, start_minute: int = 0) -> list[str]:
    return [
        f"s{i % 7},active,2023-01-22 {10 + (start_minute + i) // 60:02d}:{(start_minute + i) % 60:02d}:00 UTC"
        for i in range(n)
    ]


def test_a_status_file_over_the_limit_writes_nothing_until_fixed_or_accepted(
    engine, database_url, landing
) -> None:
    good, bad = _status_rows(200), [f"s9,active,not a time {i}" for i in range(10)]
    path = _write(landing / "store_status.csv", STATUS_HEADER + "\n".join(good + bad) + "\n")

    result = _materialize(database_url, landing, "store_status")
    assert not result.success
    assert _data(engine) == {"stores": [], "store_status": [], "business_hours": []}  # no polls, no stores
    message = _failure(result)
    assert "store_status.csv quarantined" in message and "10 of 210 rows rejected (4.76%" in message
    assert _history(engine) == [
        ("store_status.csv", True, 0, 10, "10 of 210 rows rejected (4.76%, limit 1%)")
    ]

    # The same bytes dropped again are not "already loaded": judged again, quarantined again.
    again = _materialize(database_url, landing, "store_status")
    assert not again.success and "quarantined" in _failure(again)
    assert _data(engine)["store_status"] == []

    # Fixed (the bad lines corrected) and dropped again: it loads.
    fixed = _status_rows(200) + _status_rows(10, start_minute=300)
    _write(path, STATUS_HEADER + "\n".join(fixed) + "\n")
    assert _materialize(database_url, landing, "store_status").success
    assert len(_data(engine)["store_status"]) == 210
    assert _history(engine)[-1] == ("store_status.csv", False, 210, 0, None)


def test_accept_rejects_loads_the_readable_rows_of_a_quarantined_file(engine, database_url, landing) -> None:
    good, bad = _status_rows(200), [f"s9,active,not a time {i}" for i in range(10)]
    _write(landing / "store_status.csv", STATUS_HEADER + "\n".join(good + bad) + "\n")
    assert not _materialize(database_url, landing, "store_status").success

    accepted = _materialize(database_url, landing, "store_status", accept_rejects=True)
    assert accepted.success
    assert len(_data(engine)["store_status"]) == 200
    assert _history(engine)[-1] == (
        "store_status.csv",
        False,
        200,
        10,
        "loaded with accept_rejects: 10 of 210 rows rejected (4.76%, limit 1%)",
    )
    check = next(e for e in accepted.get_asset_check_evaluations())
    assert check.passed is False and check.metadata["accepted_over_limit"].value is True  # a warning
    # Now loaded: the default run skips it; a forced re-load keeps it accepted and changes nothing.
    meta = _materialize(database_url, landing, "store_status").asset_materializations_for_node("store_status")
    assert "skipped_already_loaded" in meta[0].metadata
    forced = _materialize(database_url, landing, "store_status", force=True)
    assert forced.success
    assert forced.asset_materializations_for_node("store_status")[0].metadata["rows_changed"].value == 0
    assert len(_history(engine)) == 3


def test_loading_snapshots_a_b_a_leaves_a_live_and_three_loads_in_the_history(
    engine, database_url, landing
) -> None:
    a = HOURS_HEADER + "1,0,09:00:00,17:00:00\n"
    b = HOURS_HEADER + "1,0,10:00:00,12:00:00\n2,3,08:00:00,09:00:00\n"
    path = landing / "menu_hours.csv"
    for content in (a, b, a):
        _write(path, content)
        assert _materialize(database_url, landing, "business_hours").success
    assert [(name, quarantined, loaded) for name, quarantined, loaded, *_ in _history(engine)] == [
        ("menu_hours.csv", False, 1),
        ("menu_hours.csv", False, 2),
        ("menu_hours.csv", False, 1),
    ]
    with engine.connect() as conn:
        shas = conn.execute(text("SELECT sha256 FROM ingested_files ORDER BY loaded_at, id")).scalars().all()
        loaded_at = conn.execute(text("SELECT loaded_at FROM ingested_files ORDER BY id")).scalars().all()
    assert shas[0] == shas[2] != shas[1]
    assert loaded_at == sorted(loaded_at) and len(set(loaded_at)) == 3
    live = live_file(engine, "hours")
    assert live is not None and live["sha256"] == shas[0]
    assert [r[:2] for r in _data(engine)["business_hours"]] == [
        ("1", 0)
    ]  # the table is A, as the history says
