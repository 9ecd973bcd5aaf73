"""Initial schema: stores, hours, polls, file provenance, rejected rows, report rows and runs.

Written by hand to match ``storeuptime_pipeline.db.models`` (a test compares the two with Alembic's
``compare_metadata``). Names are the ones the models' naming convention produces, wrapped in ``op.f`` so Alembic
(which applies the target metadata's convention) uses them verbatim. store_id columns are
``text COLLATE "C"`` (bytewise comparison of opaque ids; see models.StoreId).

Revision ID: 0001
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create all tables and indexes."""
    op.create_table(
        "stores",
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
        sa.Column("timezone_str", sa.Text(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default=sa.text("'America/Chicago'"), nullable=False),
        sa.Column("timezone_defaulted", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_stores")),
    )
    op.create_table(
        "business_hours",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
        sa.Column("day_of_week", sa.SmallInteger(), nullable=False),
        sa.Column("start_local", sa.Time(), nullable=False),
        sa.Column("end_local", sa.Time(), nullable=False),
        sa.CheckConstraint("day_of_week BETWEEN 0 AND 6", name=op.f("ck_business_hours_day_of_week_range")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_business_hours")),
    )
    op.create_index(op.f("ix_business_hours_store_id"), "business_hours", ["store_id"])
    op.create_table(
        "store_status",
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
        sa.Column("timestamp_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "timestamp_utc", name=op.f("pk_store_status")),
    )
    op.create_index(op.f("ix_store_status_timestamp_utc"), "store_status", ["timestamp_utc"])
    op.create_table(
        "ingested_files",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_loaded", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_rejected", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("rows_changed", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("kind IN ('status', 'hours', 'timezones')", name=op.f("ck_ingested_files_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingested_files")),
        sa.UniqueConstraint("kind", "sha256", name=op.f("uq_ingested_files_kind_sha256")),
    )
    op.create_table(
        "rejected_rows",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("column_name", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw_line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["ingested_files.id"],
            name=op.f("fk_rejected_rows_file_id_ingested_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_rows")),
    )
    op.create_index(op.f("ix_rejected_rows_file_id"), "rejected_rows", ["file_id"])
    op.create_table(
        "uptime_report",
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
        sa.Column("uptime_last_hour", sa.Double(), nullable=False),
        sa.Column("uptime_last_day", sa.Double(), nullable=False),
        sa.Column("uptime_last_week", sa.Double(), nullable=False),
        sa.Column("downtime_last_hour", sa.Double(), nullable=False),
        sa.Column("downtime_last_day", sa.Double(), nullable=False),
        sa.Column("downtime_last_week", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "store_id", name=op.f("pk_uptime_report")),
    )
    op.create_table(
        "report_runs",
        sa.Column("report_id", sa.Text(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("csv_path", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('partition', 'on_demand')", name=op.f("ck_report_runs_kind")),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_report_runs")),
    )


def downgrade() -> None:
    """Drop everything this revision created (children before parents)."""
    op.drop_table("report_runs")
    op.drop_table("uptime_report")
    op.drop_index(op.f("ix_rejected_rows_file_id"), table_name="rejected_rows")
    op.drop_table("rejected_rows")
    op.drop_table("ingested_files")
    op.drop_index(op.f("ix_store_status_timestamp_utc"), table_name="store_status")
    op.drop_table("store_status")
    op.drop_index(op.f("ix_business_hours_store_id"), table_name="business_hours")
    op.drop_table("business_hours")
    op.drop_table("stores")
