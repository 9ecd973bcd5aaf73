"""Quarantine and file history: ``ingested_files`` gets a row per load, quarantined files included.

Adds ``quarantined`` (the file wrote nothing but this row and its rejected rows), ``reject_share``
(rejected over read rows; NULL for a file without rows) and ``reason`` (why it was quarantined, or
that it was loaded over the limit with accept_rejects). Drops the unique (kind, sha256) constraint:
a re-load of an earlier snapshot (A, B, A) is a row of its own, so the newest row that is not
quarantined is the live snapshot; a plain index on (kind, sha256) still finds content seen before.

The downgrade cannot keep the history that 0001 cannot represent: it deletes quarantined rows
(0001 would read them as "already loaded") and, per (kind, sha256), every row but the first, as
0001's ``record_file`` kept it; their rejected rows go with them (ON DELETE CASCADE).

Revision ID: 0002_quarantine
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_quarantine"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the quarantine columns and let (kind, sha256) repeat."""
    op.add_column(
        "ingested_files",
        sa.Column("quarantined", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("ingested_files", sa.Column("reject_share", sa.Double(), nullable=True))
    op.add_column("ingested_files", sa.Column("reason", sa.Text(), nullable=True))
    op.execute(
        "UPDATE ingested_files SET reject_share = rows_rejected::double precision / rows_read "
        "WHERE rows_read > 0"
    )
    op.drop_constraint(op.f("uq_ingested_files_kind_sha256"), "ingested_files", type_="unique")
    op.create_index(op.f("ix_ingested_files_kind_sha256"), "ingested_files", ["kind", "sha256"])


def downgrade() -> None:
    """Back to one row per (kind, sha256): quarantined and repeated rows are deleted."""
    op.execute("DELETE FROM ingested_files WHERE quarantined")
    op.execute(
        "DELETE FROM ingested_files later USING ingested_files earlier "
        "WHERE later.kind = earlier.kind AND later.sha256 = earlier.sha256 AND later.id > earlier.id"
    )
    op.drop_index(op.f("ix_ingested_files_kind_sha256"), table_name="ingested_files")
    op.create_unique_constraint(op.f("uq_ingested_files_kind_sha256"), "ingested_files", ["kind", "sha256"])
    op.drop_column("ingested_files", "reason")
    op.drop_column("ingested_files", "reject_share")
    op.drop_column("ingested_files", "quarantined")
