"""Appending polls to a 10M-row ``store_status`` (issue 12): a week of older history, and hourly batches.

Builds a throw-away database (local server at 127.0.0.1:5432, or an embedded one) with ~10M polls
(14k stores over 46 days starting on a Monday, from the generator, cached under benchmarks/.data)
as revision 0003 stored it (one plain table, filled by COPY), then times:

- the migration to weekly partitions (0004_poll_weeks) of that table, when this revision has it: the
  database is built at 0003_outages first, so the same script runs on code before and after 0004;
- appending the ISO week before the data (a week of older history, ~1.5M polls): reading the file,
  then the database part (upsert + commit), and re-loading it (must change 0 rows);
- hourly batches for every store: two in the newest (stored) week, one that starts a new week;
- EXPLAIN ANALYZE of the report's window read at the newest poll (which weeks it touches).

Prints figures only (the issue's target for the older week is <= 8 s); no asserts.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
from alembic import command
from alembic.script import ScriptDirectory
from common import dataset, store_ids_of
from sqlalchemy import Engine

from storeuptime_pipeline.db import migrate, poll_load, reads
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in, utc_microseconds
from storeuptime_pipeline.db.scratch import admin_server, temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.services.loading import load_files

PARTITIONED_REVISION = "0004_poll_weeks"
PLAIN_REVISION = "0003_outages"
START = pd.Timestamp("2023-01-09 00:00", tz="UTC")  # a Monday: the data's weeks are whole ISO weeks
TARGET_OLDER_WEEK_S = 8.0


def _load() -> str:
    """The 1-minute load average: on a shared machine every figure needs it beside it."""
    return f"[load {os.getloadavg()[0]:.1f}]"


def _has_revision(revision: str) -> bool:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return revision in {script.revision for script in scripts.walk_revisions()}


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


CPU_SPENT: dict[str, float] = {}


def _upsert(engine: Engine, frame: pd.DataFrame) -> int:
    """``upsert_polls`` + commit; the CPU seconds of this process and of its Postgres backend are kept
    in ``CPU_SPENT`` (a figure the other jobs on a shared machine do not inflate)."""
    with engine.begin() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        backend, client = _backend_cpu(pid), _client_cpu()
        changed = poll_load.upsert_polls(conn, frame)
    CPU_SPENT["client"] = _client_cpu() - client
    after = _backend_cpu(pid)
    CPU_SPENT["backend"] = after - backend if after is not None and backend is not None else float("nan")
    return changed


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _backend_cpu(pid: int) -> float | None:
    """user + system CPU seconds of a local Postgres backend (None when the server is elsewhere).

    Parallel workers of an index build are separate processes: not counted, so this is a lower bound.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu() -> str:
    return f"cpu: backend {CPU_SPENT['backend']:.2f} s + client {CPU_SPENT['client']:.2f} s"


def _hourly_batch(ids: list[str], hour: pd.Timestamp, seed: int) -> pd.DataFrame:
    """One poll per store within ``hour`` (what an hourly export of the live feed brings)."""
    rng = np.random.default_rng(seed)
    offsets = rng.integers(0, 3600 * 1_000_000, len(ids))
    stamps = (hour.value // 1000 + offsets).astype("datetime64[us]")
    return pd.DataFrame(
        {
            "store_id": pd.Series(ids, dtype="str"),
            "timestamp_utc": pd.Series(stamps).dt.tz_localize("UTC"),
            "is_active": rng.random(len(ids)) < 0.9,
        }
    )


def _build_plain_table(engine: Engine, path: Path) -> None:
    """``store_status`` as revision 0003 had it, filled by COPY with its indexes built afterwards.

    Set-up, not a figure under test: it must not use this revision's ``upsert_polls``, which may
    expect the partitioned table. Duplicates are dropped first, inactive winning (the load's rule).
    """
    polls = read_input(path, "status").valid
    polls = polls.sort_values(["store_id", "timestamp_utc", "is_active"], kind="stable")
    polls = polls.drop_duplicates(["store_id", "timestamp_utc"], keep="first")
    payload = binary_payload(
        [
            BinaryColumn("text", polls["store_id"]),
            BinaryColumn("timestamptz", utc_microseconds(polls["timestamp_utc"])),
            BinaryColumn("bool", polls["is_active"].to_numpy()),
        ]
    )
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE store_status DROP CONSTRAINT pk_store_status")
        conn.exec_driver_sql("DROP INDEX ix_store_status_timestamp_utc")
        copy_in(conn, "store_status", ("store_id", "timestamp_utc", "is_active"), payload)
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        conn.exec_driver_sql(
            "ALTER TABLE store_status ADD CONSTRAINT pk_store_status PRIMARY KEY (store_id, timestamp_utc)"
        )
        conn.exec_driver_sql("CREATE INDEX ix_store_status_timestamp_utc ON store_status (timestamp_utc)")
        conn.exec_driver_sql(
            "INSERT INTO stores (store_id) SELECT DISTINCT store_id FROM store_status ON CONFLICT DO NOTHING"
        )


def _table_facts(engine: Engine) -> tuple[int, float, int]:
    """(rows, total size in MB, number of partitions) of store_status, plain or partitioned."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM store_status").scalar_one()
        size, parts = conn.exec_driver_sql(  # pg_partition_tree is empty for a plain table
            """
            SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('store_status')),
                            pg_total_relation_size('store_status')),
                   (SELECT count(*) FROM pg_partition_tree('store_status') WHERE isleaf AND level > 0)
            """
        ).one()
    return int(rows), float(size) / 2**20, int(parts)


def _explain(engine: Engine, sql: str, params: dict, *, bitmap: bool) -> str:
    """The plan as ``read_polls_window`` runs the query (the window through a bitmap scan)."""
    with engine.connect() as conn, conn.connection.dbapi_connection.cursor() as cur:
        cur.execute(f"SET enable_indexscan = {'off' if bitmap else 'on'}")
        cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        return "\n".join(r[0] for r in cur.fetchall())


def _plan_summary(plan: str) -> str:
    """Which tables the plan reads (weekly partitions, or the plain table) and how long it took."""
    weeks = sorted(set(re.findall(r" on (store_status\w*)", plan)))
    total = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return f"reads {', '.join(weeks)}; {total[1] if total else '?'} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stores", type=int, default=14_000)
    parser.add_argument("--days", type=int, default=46)
    parser.add_argument("--plans", action="store_true", help="print the full EXPLAIN ANALYZE plans")
    args = parser.parse_args()
    end = (START + pd.Timedelta(days=args.days)).strftime("%Y-%m-%d %H:%M:%S")
    ds = dataset(stores=args.stores, days=args.days, end=end)
    ids = store_ids_of(ds)
    older_end = (START - pd.Timedelta(microseconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    older = dataset(stores=len(ids), days=7, seed=101, end=older_end, store_ids=ids)
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls, {ds.start} .. {ds.end}")
    print(f"older week: {older.polls:,} polls, {older.start} .. {older.end}")

    admin = normalize_url(os.environ.get("STOREUPTIME_TEST_ADMIN_URL") or "")
    partitioned = _has_revision(PARTITIONED_REVISION)
    with (
        admin_server(admin or None) as admin_url,
        temporary_database(admin_url, prefix="storeuptime_bench_") as url,
    ):
        if partitioned:  # build the 10M-row table as it was before 0004, then time the migration
            command.upgrade(migrate.alembic_config(url), PLAIN_REVISION)
        else:
            migrate.upgrade(url)
        engine = get_engine(url)
        load_s, _ = _timed(lambda: _build_plain_table(engine, ds.status_path))
        rows, size_mb, _ = _table_facts(engine)
        print(f"built the plain 0003 table: {rows:,} polls in {load_s:.1f} s; {size_mb:,.0f} MB {_load()}")

        if partitioned:
            migrate_s, _ = _timed(lambda: migrate.upgrade(url))
            rows_after, size_mb, parts = _table_facts(engine)
            print(
                f"migration to weekly partitions ({PARTITIONED_REVISION}): {migrate_s:.1f} s for {rows_after:,} "
                f"polls ({'all kept' if rows_after == rows else 'ROWS DIFFER'}), {parts} partitions, {size_mb:,.0f} MB "
                f"{_load()}"
            )
        else:
            print(f"migration: none ({PARTITIONED_REVISION} not in this revision; plain table)")
        # The reference files after the migration: this revision's load expects its own schema (0005
        # added stores.shard_hash), and the 0003 table of polls does not need them.
        for kind, path in (("timezones", ds.timezones_path), ("hours", ds.hours_path)):
            load_files(engine, kind, [path])
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE store_status")

        read_s, result = _timed(lambda: read_input(older.status_path, "status"))
        frame = result.valid
        db_s, changed = _timed(lambda: _upsert(engine, frame))
        verdict = "ok" if db_s <= TARGET_OLDER_WEEK_S else "OVER TARGET"
        print(
            f"older week appended: {len(frame):,} polls, {changed:,} rows changed; read+validate {read_s:.1f} s, "
            f"database {db_s:.2f} s (target <= {TARGET_OLDER_WEEK_S:.0f} s) {verdict}; total {read_s + db_s:.1f} s "
            f"{_load()}; {_cpu()}"
        )
        again_s, again = _timed(lambda: _upsert(engine, frame))
        print(
            f"older week re-loaded: {again:,} rows changed (must be 0), database {again_s:.2f} s {_load()}; {_cpu()}"
        )

        newest = ds.end.floor("h")
        for k, hour in enumerate([newest + pd.Timedelta(hours=1), newest + pd.Timedelta(hours=2)]):
            batch_s, n = _timed(lambda hour=hour, k=k: _upsert(engine, _hourly_batch(ids, hour, k)))
            print(
                f"hourly batch in the newest week ({hour:%Y-%m-%d %H:00}): {n:,} polls, {batch_s:.2f} s {_load()}; {_cpu()}"
            )
        monday = (ds.end + pd.Timedelta(days=7 - ds.end.day_of_week)).floor("D")
        batch_s, n = _timed(lambda: _upsert(engine, _hourly_batch(ids, monday, 9)))
        print(
            f"hourly batch starting a new week ({monday:%Y-%m-%d %H:00}): {n:,} polls, {batch_s:.2f} s {_load()}; {_cpu()}"
        )

        rows, size_mb, parts = _table_facts(engine)
        print(f"store_status now: {rows:,} polls, {parts} partitions, {size_mb:,.0f} MB")
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE store_status")
        as_of = ds.end
        params = {
            "start": (as_of - pd.Timedelta(days=7)).to_pydatetime(),
            "end": as_of.to_pydatetime(),
        }
        for label, sql, bitmap in (
            ("window read", reads.POLLS_WINDOW_SQL, True),
            ("last poll before", reads.LAST_EARLIER_POLL_SQL, False),
        ):
            plan = _explain(engine, sql, params, bitmap=bitmap)
            print(f"EXPLAIN ANALYZE {label} as of {as_of}: {_plan_summary(plan)}")
            if args.plans:
                print(plan)


if __name__ == "__main__":
    main()
