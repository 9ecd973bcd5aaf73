"""Outages: the four summary columns on report rows, and the outage list of every report.

Report rows written before this revision keep NULL summary columns (they were never computed);
re-materializing their partitions fills them. ``outages`` holds one row per outage per report
instant, keyed by (as_of, store_id, start_utc) like the report rows it belongs to.

Revision ID: 0003_outages
Revises: 0002_quarantine
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_outages"
down_revision = "0002_quarantine"
branch_labels = None
depends_on = None

SUMMARY_COUNTS = ("outages_last_hour", "outages_last_day", "outages_last_week")


def upgrade() -> None:
    for name in SUMMARY_COUNTS:
        op.add_column("uptime_report", sa.Column(name, sa.Integer(), nullable=True))
    op.add_column("uptime_report", sa.Column("longest_outage_last_week", sa.Double(), nullable=True))
    op.create_table(
        "outages",
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("store_id", sa.Text(collation="C"), nullable=False),
        sa.Column("start_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("business_hours", sa.Double(), nullable=False),
        sa.Column("ongoing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("as_of", "store_id", "start_utc", name=op.f("pk_outages")),
    )


def downgrade() -> None:
    op.drop_table("outages")
    op.drop_column("uptime_report", "longest_outage_last_week")
    for name in reversed(SUMMARY_COUNTS):
        op.drop_column("uptime_report", name)
