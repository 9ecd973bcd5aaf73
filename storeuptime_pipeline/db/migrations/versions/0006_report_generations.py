"""Report generations: shards write the published tables directly; a publish flips a pointer.

Why: with 0005's stage, a sharded run wrote every row twice (COPY into the stage, then INSERT ...
SELECT into ``uptime_report`` / ``outages`` and DELETE from the stage, in the publish transaction).
For a 168-hour backfill that is ~9.6M rows moved in one serial step: 80 of its 150 s on 2 cores,
which no number of workers can shorten. Now every row carries a ``generation``:

* ``0``: rows written directly by a single-writer path (one shard, the CLI's ``storeuptime report``);
* ``G > 0``: rows of sharded run ``G`` (``report_generations``: its run token and as-ofs), COPYed
  by its shards straight into the published tables, where nobody reads them yet.

``report_published`` says which generation an as-of shows (no row: generation 0). A publish is one
small transaction: repoint the run's as-ofs, delete the rows they showed before. Readers go through
the views ``published_uptime_report`` / ``published_outages``: the rows each as-of shows, without the
bookkeeping column, so an operator's SQL never sees a half-published run either.

The primary keys gain ``generation`` (after ``as_of``: every read and delete is per as-of). The
stage tables of 0005 are dropped (nothing there survives a crash anyway: they were UNLOGGED).

Downgrade deletes rows no as-of shows (unpublished runs), then restores 0005's keys, stage tables
and columns.

Revision ID: 0006_report_generations
Revises: 0005_store_shards
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0006_report_generations"
down_revision = "0005_store_shards"
branch_labels = None
depends_on = None

#: Frozen here (a migration must not follow later edits of the models): the key after generation.
_KEYS = {"uptime_report": ("store_id",), "outages": ("store_id", "start_utc")}
_REPORT_COLUMNS = (
    "as_of, store_id, uptime_last_hour, uptime_last_day, uptime_last_week, downtime_last_hour,"
    " downtime_last_day, downtime_last_week, outages_last_hour, outages_last_day, outages_last_week,"
    " longest_outage_last_week"
)
_OUTAGE_COLUMNS = "as_of, store_id, start_utc, end_utc, timezone, business_hours, ongoing"
_VIEWS = {
    "published_uptime_report": ("uptime_report", _REPORT_COLUMNS),
    "published_outages": ("outages", _OUTAGE_COLUMNS),
}


def _view_sql(name: str, table: str, columns: str) -> str:
    selected = ", ".join(f"t.{c.strip()}" for c in columns.split(","))
    return (
        f"CREATE VIEW {name} AS SELECT {selected} FROM {table} t"
        " LEFT JOIN report_published p ON p.as_of = t.as_of"
        " WHERE t.generation = coalesce(p.generation, 0)"
    )


def upgrade() -> None:
    op.create_table(
        "report_generations",
        sa.Column("generation", sa.BigInteger(), sa.Identity(always=False, start=1), nullable=False),
        sa.Column("run_token", sa.Text(), nullable=False),
        sa.Column("as_ofs", ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("generation", name=op.f("pk_report_generations")),
        sa.UniqueConstraint("run_token", name=op.f("uq_report_generations_run_token")),
    )
    op.create_table(
        "report_published",
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", name=op.f("pk_report_published")),
    )
    for table, rest in _KEYS.items():
        # A constant default: no table rewrite (PostgreSQL 11+), existing rows are generation 0.
        op.add_column(table, sa.Column("generation", sa.BigInteger(), server_default="0", nullable=False))
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.create_primary_key(f"pk_{table}", table, ["as_of", "generation", *rest])
    for name, (table, columns) in _VIEWS.items():
        op.execute(_view_sql(name, table, columns))
    op.drop_table("outage_stage")
    op.drop_table("report_stage")


def _stage_key() -> list[sa.Column]:
    """0005's stage table key columns (fresh objects: a Column belongs to one table)."""
    return [
        sa.Column("run_token", sa.Text(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
    ]


def downgrade() -> None:
    for name in _VIEWS:
        op.execute(f"DROP VIEW {name}")
    for table, rest in _KEYS.items():
        op.execute(
            f"DELETE FROM {table} t USING (SELECT t2.ctid AS row FROM {table} t2"
            " LEFT JOIN report_published p ON p.as_of = t2.as_of"
            " WHERE t2.generation <> coalesce(p.generation, 0)) hidden WHERE t.ctid = hidden.row"
        )
        op.drop_constraint(f"pk_{table}", table, type_="primary")
        op.drop_column(table, "generation")
        op.create_primary_key(f"pk_{table}", table, ["as_of", *rest])
    op.drop_table("report_published")
    op.drop_table("report_generations")
    figures = [name.strip() for name in _REPORT_COLUMNS.split(",")[2:8]]
    op.create_table(
        "report_stage",
        *_stage_key(),
        *[sa.Column(name, sa.Double(), nullable=False) for name in figures],
        sa.Column("outages_last_hour", sa.Integer(), nullable=False),
        sa.Column("outages_last_day", sa.Integer(), nullable=False),
        sa.Column("outages_last_week", sa.Integer(), nullable=False),
        sa.Column("longest_outage_last_week", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_token", "shard", "as_of", "store_id", name=op.f("pk_report_stage")),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "outage_stage",
        *_stage_key(),
        sa.Column("start_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("business_hours", sa.Double(), nullable=False),
        sa.Column("ongoing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint(
            "run_token", "shard", "as_of", "store_id", "start_utc", name=op.f("pk_outage_stage")
        ),
        prefixes=["UNLOGGED"],
    )
