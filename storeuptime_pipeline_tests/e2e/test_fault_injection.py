"""Fault injection: an ingest killed with -9, or its database session terminated, at 8 points.

Each time every table equals either the state before the load or the state after it (here always
the one before: the load is one transaction that did not commit), and loading the same file again
gives exactly what an uninterrupted load gives.

The points are picked deterministically, not by timing: the test database gets triggers that sleep
inside the load's own statements when the session names that point (the custom setting
``storeuptime.fault_point``, passed by the child through ``PGOPTIONS``): at the end of the COPY into
a new week's partition of ``store_status`` (initial load: the first DDL after it, which starts the
index build), at the end of the index build after it, at the end of the merge
``INSERT ... ON CONFLICT``, inside the hours snapshot's ``INSERT``, inside the timezone update, inside
the COPY-fed insert of the rejected rows, and at ``COMMIT`` (a deferred constraint trigger). The
test waits until the child's backend sleeps there (``pg_stat_activity``), then kills the child
process or terminates its backend. ``client_connection_check_interval`` lets the server notice a
killed client within 0.1 s, as it would at its next write, so the test needs not wait 30 s.

The load runs in a child (``load_files``, what every ingest path calls) forked from a forkserver that
has already imported the loader, so it starts in milliseconds and all 8 points take a few seconds. A
plain fork of the pytest process is not safe: by the middle of the suite other tests have left threads
behind (pools, servers' log readers), and a child forked while one of them held a lock hangs before it
ever reaches the database (seen in CI: "waited 60 s for the load to pause at polls_merge").
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.core.inputs import Kind
from storeuptime_pipeline.db import migrate, poll_partitions
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.waiting import wait_until

PAUSE_SECONDS = 30  # a point the test never kills would end its sleep and fail the "old state" check
WAIT_SECONDS = 60

FAULT_SQL = f"""
CREATE FUNCTION fault_pause() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('storeuptime.fault_point', true) = ANY (TG_ARGV) THEN
    PERFORM pg_sleep({PAUSE_SECONDS});
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION fault_pause_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('storeuptime.fault_point', true) = 'index_build' AND tg_tag = 'CREATE INDEX' THEN
    PERFORM pg_sleep({PAUSE_SECONDS});
  END IF;
END $$;
CREATE FUNCTION fault_pause_copied() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('storeuptime.fault_point', true) = 'polls_copy' AND tg_tag = 'ALTER TABLE' THEN
    PERFORM pg_sleep({PAUSE_SECONDS});
  END IF;
END $$;
CREATE TRIGGER fault_polls AFTER INSERT ON store_status
  FOR EACH STATEMENT EXECUTE FUNCTION fault_pause('polls_copy', 'polls_merge');
CREATE TRIGGER fault_hours AFTER INSERT ON business_hours
  FOR EACH STATEMENT EXECUTE FUNCTION fault_pause('hours_replace');
CREATE TRIGGER fault_timezones AFTER UPDATE ON stores
  FOR EACH STATEMENT EXECUTE FUNCTION fault_pause('timezones_update');
CREATE TRIGGER fault_rejects AFTER INSERT ON rejected_rows
  FOR EACH STATEMENT EXECUTE FUNCTION fault_pause('rejects_insert');
CREATE CONSTRAINT TRIGGER fault_commit AFTER INSERT ON ingested_files
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault_pause('commit');
CREATE EVENT TRIGGER fault_index ON ddl_command_end EXECUTE FUNCTION fault_pause_ddl();
CREATE EVENT TRIGGER fault_copied ON ddl_command_start EXECUTE FUNCTION fault_pause_copied();
"""
TABLES = ("stores", "business_hours", "store_status", "ingested_files", "rejected_rows")
#: Table contents without surrogate ids and load times (an aborted load still uses up sequence values).
DUMP_SQL = {
    "stores": "SELECT * FROM stores ORDER BY store_id",
    "business_hours": "SELECT store_id, day_of_week, start_local, end_local FROM business_hours ORDER BY 1, 2, 3, 4",
    "store_status": "SELECT * FROM store_status ORDER BY store_id, timestamp_utc",
    "ingested_files": "SELECT kind, name, size, sha256, rows_read, rows_loaded, rows_rejected, rows_changed, "
    "quarantined, reject_share, reason FROM ingested_files ORDER BY id",
    "rejected_rows": "SELECT f.sha256, r.source_file, r.line_number, r.column_name, r.reason, r.raw_line "
    "FROM rejected_rows r JOIN ingested_files f ON f.id = r.file_id ORDER BY r.file_id, r.line_number",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
    "AND tablename = ANY (ARRAY['stores', 'business_hours', 'store_status', 'ingested_files', 'rejected_rows']) "
    "ORDER BY indexname",
    # The weekly partitions of store_status: an interrupted load must not leave a new week behind.
    "partitions": "SELECT relname FROM pg_class WHERE relnamespace = 'poll_weeks'::regnamespace ORDER BY 1",
}


@dataclass(frozen=True)
class Files:
    status_1: Path
    status_2: Path  # later polls plus one unreadable line (under the limit, so rejected rows are written)
    hours_a: Path
    hours_b: Path
    timezones_a: Path
    timezones_b: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    root = tmp_path_factory.mktemp("faults")
    a = generate_dataset(root / "a", stores=60, days=2, seed=1)
    ids = [line.split(",")[0] for line in a.timezones_path.read_text().splitlines()[1:]]
    b = generate_dataset(
        root / "b", stores=60, days=2, seed=2, end="2023-01-27 18:00:00+00:00", store_ids=ids
    )
    status_2 = root / "store_status_2.csv"
    status_2.write_text(b.status_path.read_text().rstrip("\n") + "\nbroken,line\n")
    return Files(a.status_path, status_2, a.hours_path, b.hours_path, a.timezones_path, b.timezones_path)


@pytest.fixture(scope="module")
def url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_fault_") as db_url:
        migrate.upgrade(db_url)
        engine = create_engine(db_url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql(FAULT_SQL)
        engine.dispose()
        yield db_url


@pytest.fixture(scope="module")
def engine(url: str) -> Iterator[Engine]:
    eng = create_engine(url, poolclass=NullPool)
    yield eng
    eng.dispose()


def _dump(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {name: [tuple(r) for r in conn.exec_driver_sql(sql)] for name, sql in DUMP_SQL.items()}


def _reset(engine: Engine, loads: list[tuple[Kind, Path]]) -> None:
    """Empty tables, and no weekly partitions (TRUNCATE keeps them): polls then load as new weeks."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        for week in poll_partitions.attached_weeks(conn):
            conn.exec_driver_sql(f"DROP TABLE {week.qualified}")
    for kind, path in loads:
        load_files(engine, kind, [path])


def _child_load(url: str, kind: Kind, path: str, point: str) -> None:
    """The ingest's load in a forked child whose session asks to pause at ``point``."""
    os.environ["PGOPTIONS"] = f"-c storeuptime.fault_point={point} -c client_connection_check_interval=100"
    os.environ["PGAPPNAME"] = f"storeuptime-fault-{point}"
    child_engine = create_engine(url, poolclass=NullPool)
    load_files(child_engine, kind, [Path(path)])


def _wait_for(what: str, condition: Callable[[], object]) -> object:
    return wait_until(condition, WAIT_SECONDS, what, every=0.02)


def _backend(engine: Engine, point: str, sleeping: bool) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = :app "
                "AND (NOT :sleeping OR wait_event = 'PgSleep')"
            ),
            {"app": f"storeuptime-fault-{point}", "sleeping": sleeping},
        ).scalar()


@dataclass(frozen=True)
class Scenario:
    point: str
    fault: str  # "kill -9" (the ingest process) or "terminate" (its database session)
    setup: tuple[str, ...]  # Files fields loaded first, in order
    load: str  # the Files field whose load is interrupted


INITIAL = ("timezones_a", "hours_a")  # store_status empty: the initial load (new weeks, indexes built)
LOADED = ("timezones_a", "hours_a", "status_1")
SCENARIOS = [
    Scenario("polls_copy", "kill -9", INITIAL, "status_1"),
    Scenario("polls_merge", "kill -9", LOADED, "status_2"),
    Scenario("hours_replace", "kill -9", LOADED, "hours_b"),
    Scenario("rejects_insert", "kill -9", LOADED, "status_2"),
    Scenario("commit", "kill -9", LOADED, "status_2"),
    Scenario("index_build", "terminate", INITIAL, "status_1"),
    Scenario("timezones_update", "terminate", LOADED, "timezones_b"),
    Scenario("commit", "terminate", LOADED, "hours_b"),
]


def _kind(field: str) -> Kind:
    """``status_1`` -> ``status``, ``hours_b`` -> ``hours``, ``timezones_a`` -> ``timezones``."""
    return cast(Kind, field.split("_")[0])


def _interrupt(url: str, engine: Engine, scenario: Scenario, target: Path) -> None:
    """Run the load in a child, wait until it sleeps at the point, then kill it or its session."""
    fork = multiprocessing.get_context("forkserver")
    fork.set_forkserver_preload(["storeuptime_pipeline.services.loading"])
    point = scenario.point
    child = fork.Process(target=_child_load, args=(url, _kind(scenario.load), str(target), point))
    child.start()
    try:
        pid = _wait_for(
            f"the load to pause at {point}",
            lambda: _backend(engine, point, sleeping=True) or (not child.is_alive() and -1),
        )
        assert pid != -1, f"the load ended (exit {child.exitcode}) before reaching {point}"
        if scenario.fault == "kill -9":
            os.kill(child.pid, signal.SIGKILL)
        else:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        child.join(WAIT_SECONDS)
        _wait_for(
            f"the session of the interrupted load ({point}) to end",
            lambda: _backend(engine, point, sleeping=False) is None,
        )
    finally:
        if child.is_alive():
            child.kill()
            child.join(WAIT_SECONDS)
    assert child.exitcode == (-signal.SIGKILL if scenario.fault == "kill -9" else 1)


@pytest.mark.timeout(300)
def test_an_interrupted_load_leaves_the_old_state_and_a_rerun_equals_an_uninterrupted_load(
    files: Files, url: str, engine: Engine
) -> None:
    expected: dict[tuple[tuple[str, ...], str], dict[str, list[tuple]]] = {}
    seen = []
    for scenario in SCENARIOS:
        setup = [(_kind(f), getattr(files, f)) for f in scenario.setup]
        target: Path = getattr(files, scenario.load)
        key = (scenario.setup, scenario.load)
        if key not in expected:  # the uninterrupted load, once per starting state and file
            _reset(engine, setup)
            load_files(engine, _kind(scenario.load), [target])
            expected[key] = _dump(engine)
        _reset(engine, setup)
        old = _dump(engine)
        assert old != expected[key]

        _interrupt(url, engine, scenario, target)
        assert _dump(engine) == old, f"{scenario.fault} at {scenario.point} left a partial state"
        load_files(engine, _kind(scenario.load), [target])  # the re-run
        assert _dump(engine) == expected[key], f"re-run after {scenario.fault} at {scenario.point}"
        seen.append((scenario.fault, scenario.point))
    assert len(seen) == 8 and sum(fault == "kill -9" for fault, _ in seen) == 5
