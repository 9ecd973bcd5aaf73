"""Weekly partitions: ``store_status`` becomes range-partitioned on timestamp_utc, every poll kept.

One partition per ISO week (Monday 00:00 UTC to the next Monday), named
``poll_weeks.store_status_w<ISO year>_<ISO week>`` (see ``db/poll_partitions.py``, which creates
the partitions of later weeks as the ingest meets them). The partitions live in their own schema so
the ``public`` schema keeps listing only the tables the models declare.

Upgrade, in one transaction (the caller's, under the project's migration lock): rename the plain
table aside, create the partitioned one without indexes, one partition per week that holds polls
(found with an index skip-scan: one probe per week, not a scan of the table), copy every poll in
one pass (routed to its partition, no index maintained), drop the plain table, then build the
primary key and the time index on the parent, which builds them per partition (then renamed to
the names the ingest gives a new week's indexes).
Downgrade is the same in reverse: one plain table with every poll and the 0001 indexes.

Both directions first check what the table is, so running one on a database already in that state
changes nothing. The SQL is written out here rather than imported: a migration must keep doing what
it did when later code changes.

Revision ID: 0004_poll_weeks
Revises: 0003_outages
Create Date: 2026-12-08
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import op

revision = "0004_poll_weeks"
down_revision = "0003_outages"
branch_labels = None
depends_on = None

SCHEMA = "poll_weeks"
_COLUMNS = (
    'store_id text COLLATE "C" NOT NULL, timestamp_utc timestamptz NOT NULL, is_active boolean NOT NULL'
)
_INDEX_BUILD_MEM = "256MB"
# Week starts of the stored polls: from the oldest poll's week, jump to the first poll at least a week
# later (one probe of the timestamp index per step). 168 hours, not '7 days': adding
# days to a timestamptz follows the session's time zone across DST changes.
_WEEKS_SQL = """
WITH RECURSIVE w(start) AS (
    SELECT date_trunc('week', min(timestamp_utc) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM store_status_plain
  UNION ALL
    SELECT (SELECT date_trunc('week', min(p.timestamp_utc) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
            FROM store_status_plain p WHERE p.timestamp_utc >= w.start + interval '168 hours')
    FROM w WHERE w.start IS NOT NULL
)
SELECT start FROM w WHERE start IS NOT NULL ORDER BY start
"""


def _relkind() -> str:
    """'p' for a partitioned ``store_status``, 'r' for a plain one."""
    return str(
        op.get_bind()
        .exec_driver_sql("SELECT relkind FROM pg_class WHERE oid = 'store_status'::regclass")
        .scalar_one()
    )


def _partition(start: datetime) -> tuple[str, str, str]:
    """(name, lower bound, upper bound) of the week starting at ``start``."""
    start = start.astimezone(UTC)
    year, week, _ = start.isocalendar()
    return f"store_status_w{year:04d}_{week:02d}", start.isoformat(), (start + timedelta(weeks=1)).isoformat()


def upgrade() -> None:
    """Plain table -> weekly partitions, every poll kept."""
    if _relkind() == "p":
        return
    bind = op.get_bind()
    op.execute("ALTER TABLE store_status RENAME TO store_status_plain")
    op.execute("ALTER TABLE store_status_plain RENAME CONSTRAINT pk_store_status TO pk_store_status_plain")
    op.execute("ALTER INDEX ix_store_status_timestamp_utc RENAME TO ix_store_status_plain_timestamp_utc")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    op.execute(f"CREATE TABLE store_status ({_COLUMNS}) PARTITION BY RANGE (timestamp_utc)")
    names = []
    for (start,) in bind.exec_driver_sql(_WEEKS_SQL).all():
        name, lo, hi = _partition(start)
        op.execute(
            f"CREATE TABLE {SCHEMA}.{name} PARTITION OF store_status FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
        names.append(name)
    op.execute("INSERT INTO store_status SELECT store_id, timestamp_utc, is_active FROM store_status_plain")
    op.execute("DROP TABLE store_status_plain")
    _build_indexes()
    # Postgres names a partition's indexes <table>_pkey / <table>_timestamp_utc_idx; the ingest names
    # them by the models' convention for the partition's own name, so rename them alike.
    for name in names:
        op.execute(f"ALTER INDEX {SCHEMA}.{name}_pkey RENAME TO pk_{name}")
        op.execute(f"ALTER INDEX {SCHEMA}.{name}_timestamp_utc_idx RENAME TO ix_{name}_timestamp_utc")


def downgrade() -> None:
    """Weekly partitions -> one plain table, every poll kept (and the schema of partitions dropped)."""
    if _relkind() == "r":
        return
    op.execute(f"CREATE TABLE store_status_plain ({_COLUMNS})")
    op.execute("INSERT INTO store_status_plain SELECT store_id, timestamp_utc, is_active FROM store_status")
    op.execute("DROP TABLE store_status")  # and its partitions
    # Only partitions live there; a leftover table a retention run detached but did not drop goes too.
    op.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    op.execute("ALTER TABLE store_status_plain RENAME TO store_status")
    _build_indexes()


def _build_indexes() -> None:
    """The 0001 primary key and time index, built in bulk after the rows are in (memory: until commit)."""
    op.execute(f"SET LOCAL maintenance_work_mem = '{_INDEX_BUILD_MEM}'")
    op.execute(
        "ALTER TABLE store_status ADD CONSTRAINT pk_store_status PRIMARY KEY (store_id, timestamp_utc)"
    )
    op.execute("CREATE INDEX ix_store_status_timestamp_utc ON store_status (timestamp_utc)")
