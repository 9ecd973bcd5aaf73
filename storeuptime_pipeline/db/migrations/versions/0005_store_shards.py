"""Store shards: ``stores.shard_hash`` and the UNLOGGED staging tables of sharded report runs.

``stores.shard_hash`` is ``core.shards.store_hash(store_id)`` (FNV-1a + fmix32 over the id's UTF-8
bytes, as a bigint): a report shard is the stores with ``shard_hash % N = i``, chosen in SQL so that
a shard reads only its own polls, hours and timezone rows. Existing stores are backfilled here in
one UPDATE from two arrays (ids and their hashes computed vectorized in Python); the column is NOT
NULL afterwards, and every insert into ``stores`` (``db/staging.ensure_stores``,
``db/reference_load.replace_timezones``) supplies it. The hash is imported rather than copied: it is
fixed forever by design (``core/shards.py`` says why), so this migration cannot drift from it.

``report_stage`` / ``outage_stage`` hold what each shard of a report run computed until the run's
publish step moves them into ``uptime_report`` / ``outages`` in one transaction. UNLOGGED (no WAL:
staged rows are recomputed, never recovered).

Downgrade drops the staging tables and the column.

Revision ID: 0005_store_shards
Revises: 0004_poll_weeks
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from storeuptime_pipeline.core.shards import store_hash

revision = "0005_store_shards"
down_revision = "0004_poll_weeks"
branch_labels = None
depends_on = None

_FIGURES = (
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)


def _stage_key() -> list[sa.Column]:
    return [
        sa.Column("run_token", sa.Text(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("staged_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("stores", sa.Column("shard_hash", sa.BigInteger(), nullable=True))
    ids = [row[0] for row in bind.exec_driver_sql("SELECT store_id FROM stores").all()]
    if ids:
        bind.execute(
            sa.text(
                "UPDATE stores s SET shard_hash = v.h FROM unnest(:ids, :hashes) AS v(id, h)"
                " WHERE s.store_id = v.id"
            ).bindparams(
                sa.bindparam("ids", type_=ARRAY(sa.Text())),
                sa.bindparam("hashes", type_=ARRAY(sa.BigInteger())),
            ),
            {"ids": ids, "hashes": store_hash(ids).tolist()},
        )
    op.alter_column("stores", "shard_hash", nullable=False)
    op.create_table(
        "report_stage",
        *_stage_key(),
        *[sa.Column(name, sa.Double(), nullable=False) for name in _FIGURES],
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


def downgrade() -> None:
    op.drop_table("outage_stage")
    op.drop_table("report_stage")
    op.drop_column("stores", "shard_hash")
