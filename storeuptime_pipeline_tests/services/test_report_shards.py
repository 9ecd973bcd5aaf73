"""Store shards from Postgres: shard reads, sharded == unsharded stored rows and CSV bytes, and the
publish step's atomicity (a failed shard changes nothing; a reader during a publish sees old rows).

One throw-away database with a small generated data set, loaded once for the module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from storeuptime_pipeline.core.shards import shard_of, store_hash
from storeuptime_pipeline.db import migrate, reads, report_stage
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services import report_shards
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline.services.report_shards import Shard, plan_shards, report_in_process
from storeuptime_pipeline.services.reporting import csv_name
from storeuptime_pipeline_tests.waiting import wait_until

AS_OFS = [pd.Timestamp("2023-01-25 09:00", tz="UTC"), pd.Timestamp("2023-01-25 10:00", tz="UTC")]


@dataclass
class Loaded:
    engine: Engine
    folder: Path


@pytest.fixture(scope="module")
def loaded(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("report_shards")
    with temporary_database(admin_url, prefix="storeuptime_shards_") as url:
        migrate.upgrade(url)
        engine = get_engine(url)
        ds = generate_dataset(folder / "in", stores=120, days=8, seed=8)
        for kind, path in (
            ("timezones", ds.timezones_path),
            ("hours", ds.hours_path),
            ("status", ds.status_path),
        ):
            load_files(engine, kind, [path])
        yield Loaded(engine, folder)
        engine.dispose()


def _stored(engine: Engine, table: str, order: str) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql_query(
            f"SELECT * FROM {table} WHERE as_of = ANY(%(a)s) ORDER BY {order}",
            conn,
            params={"a": [t.to_pydatetime() for t in AS_OFS]},
        )
    return frame


def _stage_rows(engine: Engine) -> int:
    """Rows written by a run that no as-of shows (a run still computing, or one that failed)."""
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT (SELECT count(*) FROM uptime_report) - (SELECT count(*) FROM published_uptime_report)"
                " + (SELECT count(*) FROM outages) - (SELECT count(*) FROM published_outages)"
            ).scalar_one()
        )


def test_stores_carry_their_shard_hash(loaded: Loaded) -> None:
    with loaded.engine.connect() as conn:
        stores = pd.read_sql_query("SELECT store_id, shard_hash FROM stores", conn)
    assert len(stores) >= 120
    assert stores["shard_hash"].tolist() == store_hash(stores["store_id"]).tolist()


def test_each_shard_reads_only_its_stores_and_the_shards_add_up_to_the_whole(loaded: Loaded) -> None:
    lo, hi = AS_OFS[0] - pd.Timedelta(days=7), AS_OFS[-1]
    with loaded.engine.connect() as conn:
        whole = [
            reads.read_polls_window(conn, lo, hi),
            reads.read_business_hours(conn),
            reads.read_timezones(conn),
        ]
        parts = [
            [
                reads.read_polls_window(conn, lo, hi, Shard(i, 3)),
                reads.read_business_hours(conn, Shard(i, 3)),
                reads.read_timezones(conn, Shard(i, 3)),
            ]
            for i in range(3)
        ]
    for k, frame in enumerate(whole):
        assert len(frame) > 0
        for i in range(3):
            assert (shard_of(parts[i][k]["store_id"], 3) == i).all()
        # Polls come back with a categorical store_id (categories differ per shard): compare the ids.
        union = pd.concat([p[k] for p in parts], ignore_index=True).astype({"store_id": str})
        frame = frame.astype({"store_id": str})
        columns = list(frame.columns)
        pd.testing.assert_frame_equal(
            union.sort_values(columns, ignore_index=True), frame.sort_values(columns, ignore_index=True)
        )


def test_shard_counts_auto_and_explicit(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOREUPTIME_REPORT_SHARDS", raising=False)
    assert plan_shards(loaded.engine, AS_OFS) == 1  # a small data set: one shard
    monkeypatch.setattr("storeuptime_pipeline.settings.POLLS_PER_AUTO_SHARD", 5_000)
    assert plan_shards(loaded.engine, AS_OFS) > 2  # ~20k polls in the window
    monkeypatch.setenv("STOREUPTIME_REPORT_SHARDS", "5")
    assert plan_shards(loaded.engine, AS_OFS) == 5
    monkeypatch.setenv("STOREUPTIME_REPORT_SHARDS", "0")
    with pytest.raises(
        ValueError, match=r"STOREUPTIME_REPORT_SHARDS='0' must be a whole number of shards >= 1, or auto"
    ):
        plan_shards(loaded.engine, AS_OFS)


def test_the_auto_count_analyzes_a_new_week_once_and_keeps_its_statistics(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statistics the estimate needs are committed, not rolled back with a read-only connection
    (which made every on-demand report pay the ANALYZE again, ~0.5 s on the seed set)."""
    monkeypatch.delenv("STOREUPTIME_REPORT_SHARDS", raising=False)
    missing = """
        SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'store_status'::regclass AND NOT EXISTS (
            SELECT 1 FROM pg_stats s WHERE s.tablename = c.relname AND s.attname = 'timestamp_utc')
    """
    with loaded.engine.begin() as conn:
        weeks = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'store_status'::regclass"
        )
        assert weeks.scalar_one() > 0
        for (name,) in conn.exec_driver_sql(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'store_status'::regclass"
        ):
            conn.exec_driver_sql(f"DELETE FROM pg_statistic WHERE starelid = '{name}'::regclass")
        assert conn.exec_driver_sql(missing).scalar_one() > 0
    plan_shards(loaded.engine, AS_OFS)
    with loaded.engine.connect() as conn:
        assert conn.exec_driver_sql(missing).scalar_one() == 0


def test_sharded_runs_store_the_same_rows_and_write_the_same_bytes(loaded: Loaded) -> None:
    results = {}
    for shards in (1, 3, 7):
        folder = loaded.folder / f"reports_{shards}"
        published = report_in_process(loaded.engine, folder, AS_OFS, shards)
        assert published.shards == shards and len(published.hours) == len(AS_OFS)
        assert all(o.passed for h in published.hours for o in h.checks)
        results[shards] = (
            _stored(loaded.engine, "published_uptime_report", "as_of, store_id"),
            _stored(loaded.engine, "published_outages", "as_of, store_id, start_utc"),
            {t: (folder / csv_name(t)).read_bytes() for t in AS_OFS},
            [
                (h.figures, h.summary, h.worst_stores.to_dict(), h.most_outages.to_dict())
                for h in published.hours
            ],
        )
    report, outages, csvs, figures = results[1]
    assert len(report) > 200 and len(outages) > 50
    for shards in (3, 7):
        pd.testing.assert_frame_equal(results[shards][0], report)
        pd.testing.assert_frame_equal(results[shards][1], outages)
        assert results[shards][2] == csvs
        assert results[shards][3] == figures
    assert _stage_rows(loaded.engine) == 0


def _mark_old(engine: Engine) -> int:
    """Publish once, then mark the published rows, so old and new rows can be told apart."""
    report_in_process(engine, Path("/tmp") / "unused", AS_OFS, 1)
    with engine.begin() as conn:
        return conn.execute(
            text("UPDATE uptime_report SET uptime_last_week = -1 WHERE as_of = ANY(:a)"),
            {"a": [t.to_pydatetime() for t in AS_OFS]},
        ).rowcount


def _old_and_new(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(  # type: ignore[return-value]
                text(
                    "SELECT count(*) FILTER (WHERE uptime_last_week = -1), count(*) FILTER (WHERE uptime_last_week <> -1)"
                    " FROM published_uptime_report WHERE as_of = ANY(:a)"
                ),
                {"a": [t.to_pydatetime() for t in AS_OFS]},
            ).one()
        )


def test_a_failed_shard_leaves_the_published_rows_untouched(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = _mark_old(loaded.engine)
    real = report_shards.run_shard

    def failing(engine, as_ofs, shard, token):
        if shard.index == 1:  # shard 0 is staged by then
            assert _stage_rows(engine) > 0
            raise RuntimeError("injected: shard 1 died")
        return real(engine, as_ofs, shard, token)

    monkeypatch.setattr(report_shards, "run_shard", failing)
    with pytest.raises(RuntimeError, match="injected"):
        report_in_process(loaded.engine, tmp_path, AS_OFS, 3)
    assert _old_and_new(loaded.engine) == (old, 0)
    assert _stage_rows(loaded.engine) == 0  # the in-process caller drops its run's stage rows
    assert not list(tmp_path.glob("*.csv"))


def test_a_publish_is_one_transaction_and_a_reader_meanwhile_sees_only_old_rows(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    old = _mark_old(loaded.engine)
    assert old > 200
    inside, release = threading.Event(), threading.Event()
    real_clear = report_stage.clear_run

    def held(conn, token):  # the last statement of publish_staged: every old row deleted, every new one in
        inside.set()
        assert release.wait(30)
        real_clear(conn, token)

    monkeypatch.setattr(report_stage, "clear_run", held)
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            report_in_process(loaded.engine, tmp_path, AS_OFS, 3)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=publish)
    thread.start()
    wait_until(inside.is_set, timeout=60, what="the publish to reach its last statement")
    seen = _old_and_new(loaded.engine)  # another connection, while the publish transaction is open
    release.set()
    thread.join(60)
    assert not errors, errors
    assert seen == (old, 0)
    assert _old_and_new(loaded.engine) == (0, old)

    # And a failure at that same point rolls the whole publish back: the old rows stay.
    _mark_old(loaded.engine)

    def boom(conn, token):
        raise RuntimeError("injected: publish died after moving the rows")

    monkeypatch.setattr(report_stage, "clear_run", boom)
    with pytest.raises(RuntimeError, match="injected"):
        report_shards.publish(
            loaded.engine,
            tmp_path,
            AS_OFS,
            "t-boom",
            [report_shards.run_shard(loaded.engine, AS_OFS, Shard(i, 2), "t-boom") for i in range(2)],
            2,
        )
    assert _old_and_new(loaded.engine) == (old, 0)
    monkeypatch.setattr(report_stage, "clear_run", real_clear)
    with loaded.engine.begin() as conn:
        real_clear(conn, "t-boom")


def test_publish_refuses_a_missing_shard_and_stage_rows_it_did_not_expect(
    loaded: Loaded, tmp_path: Path
) -> None:
    outcomes = [report_shards.run_shard(loaded.engine, AS_OFS, Shard(i, 3), "t-missing") for i in (0, 2)]
    with pytest.raises(ValueError, match=r"publish needs the outcomes of shards 0..2 of 3, got \[0, 2\]"):
        report_shards.publish(loaded.engine, tmp_path, AS_OFS, "t-missing", outcomes, 3)
    with loaded.engine.begin() as conn:
        report_stage.clear_run(conn, "t-missing")


def _shown(engine: Engine) -> pd.DataFrame:
    """What every reader sees for AS_OFS: the rows the API serves (db.report_rows)."""
    from storeuptime_pipeline.db.report_rows import read_report_rows

    with engine.connect() as conn:
        return pd.concat(
            [read_report_rows(conn, t, with_outage_summary=True) for t in AS_OFS], ignore_index=True
        )


def test_shards_written_but_not_published_are_seen_by_no_reader(loaded: Loaded, tmp_path: Path) -> None:
    """The shards write the published tables directly (no stage): until the publish flips the as-ofs
    to the run's generation, readers, the views and the last-report lookup see only the old rows."""
    from storeuptime_pipeline.db import queries

    old = _mark_old(loaded.engine)
    before = _shown(loaded.engine)
    outcomes = [report_shards.run_shard(loaded.engine, AS_OFS, Shard(i, 3), "t-hidden") for i in range(3)]
    assert _stage_rows(loaded.engine) > old  # the new rows are in the tables ...
    pd.testing.assert_frame_equal(_shown(loaded.engine), before)  # ... and nobody sees them
    assert _old_and_new(loaded.engine) == (old, 0)
    with loaded.engine.connect() as conn:
        assert queries.table_row_count(conn, "uptime_report") == len(before) + _other_rows(conn)
        conn.exec_driver_sql("DELETE FROM uptime_report WHERE uptime_last_week = -1")  # not committed
        last = queries.last_report_at_or_before(conn, AS_OFS[-1])
        assert last is None or last < AS_OFS[0]  # only unpublished rows are left at AS_OFS: no report
        conn.rollback()
    report_shards.publish(loaded.engine, tmp_path, AS_OFS, "t-hidden", outcomes, 3)
    assert _old_and_new(loaded.engine) == (0, old)
    assert _stage_rows(loaded.engine) == 0  # the old rows are gone, the new ones are shown
    with loaded.engine.connect() as conn:
        assert queries.last_report_at_or_before(conn, AS_OFS[-1]) == AS_OFS[-1]
        published = conn.exec_driver_sql("SELECT count(*) FROM report_published").scalar_one()
    assert published == len(AS_OFS)

    # A single-shard run afterwards publishes its own generation in its one transaction: the as-ofs
    # point at it, and the sharded run's rows are gone.
    with loaded.engine.connect() as conn:
        (sharded,) = _generations(conn, "report_published")
    report_in_process(loaded.engine, tmp_path, AS_OFS, 1)
    with loaded.engine.connect() as conn:
        shown = _generations(conn, "report_published")
        stored = _generations(conn, "uptime_report") | _generations(conn, "outages")
        pointers = conn.execute(
            text("SELECT count(*) FROM report_published WHERE as_of = ANY(:a)"),
            {"a": [t.to_pydatetime() for t in AS_OFS]},
        ).scalar_one()
    assert len(shown) == 1 and shown != {sharded}
    assert stored == shown
    assert pointers == len(AS_OFS)
    assert _stage_rows(loaded.engine) == 0
    assert len(_shown(loaded.engine)) == old


def _generations(conn, table: str) -> set[int]:
    """The generations ``table`` holds at AS_OFS."""
    return set(
        conn.execute(
            text(f"SELECT DISTINCT generation FROM {table} WHERE as_of = ANY(:a)"),
            {"a": [t.to_pydatetime() for t in AS_OFS]},
        ).scalars()
    )


def _other_rows(conn) -> int:
    """Published report rows outside AS_OFS (earlier tests of the module may have left some)."""
    return int(
        conn.execute(
            text("SELECT count(*) FROM published_uptime_report WHERE NOT as_of = ANY(:a)"),
            {"a": [t.to_pydatetime() for t in AS_OFS]},
        ).scalar_one()
    )


def test_stale_unpublished_runs_are_deleted_and_fresh_ones_kept(loaded: Loaded) -> None:
    old = _mark_old(loaded.engine)
    report_shards.run_shard(loaded.engine, AS_OFS, Shard(0, 2), "t-dead")
    report_shards.run_shard(loaded.engine, AS_OFS, Shard(1, 2), "t-alive")
    hidden = _stage_rows(loaded.engine)
    with loaded.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE report_generations SET created_at = now() - interval '2 days' WHERE run_token = 't-dead'"
        )
        removed = report_stage.clear_stale(conn)
    assert 0 < removed < hidden
    assert _stage_rows(loaded.engine) == hidden - removed
    with loaded.engine.connect() as conn:
        tokens = conn.exec_driver_sql("SELECT run_token FROM report_generations").scalars().all()
    assert tokens == ["t-alive"]
    assert _old_and_new(loaded.engine) == (old, 0)
    with loaded.engine.begin() as conn:
        report_stage.clear_run(conn, "t-alive")
    assert _stage_rows(loaded.engine) == 0
