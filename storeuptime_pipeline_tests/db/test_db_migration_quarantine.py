"""Migration 0002_quarantine: from 0001 with data, to head, back down, and up again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.scratch import temporary_database

REVISION = "0002_quarantine"


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_mig_") as url:
        yield url


def _to(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade or downgrade under the same advisory lock and version table as ``migrate.upgrade``."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            cfg = migrate.alembic_config(url)
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, revision)
    finally:
        engine.dispose()


def _columns(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return {c["name"] for c in inspect(engine).get_columns("ingested_files")}
    finally:
        engine.dispose()


def test_upgrade_keeps_the_records_and_downgrade_restores_one_row_per_content(empty_url: str) -> None:
    _to(empty_url, "0001")
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO ingested_files (kind, name, size, sha256, rows_read, rows_loaded, rows_rejected) "
                "VALUES ('status', 's.csv', 10, 'aa', 200, 198, 2), ('hours', 'h.csv', 5, 'bb', 0, 0, 0)"
            )
            conn.exec_driver_sql(
                "INSERT INTO rejected_rows (file_id, source_file, line_number, reason, raw_line) "
                "VALUES (1, 's.csv', 3, 'x', 'y')"
            )
        _to(empty_url, REVISION)
        assert migrate.current_revision(empty_url) == REVISION
        assert {"quarantined", "reject_share", "reason"} <= _columns(empty_url)
        with engine.begin() as conn:
            rows = conn.execute(
                text("SELECT sha256, quarantined, reject_share, reason FROM ingested_files ORDER BY id")
            ).all()
            assert [tuple(r) for r in rows] == [("aa", False, 0.01, None), ("bb", False, None, None)]
            # History: the same content again (A, B, A), and a quarantined file.
            conn.exec_driver_sql(
                "INSERT INTO ingested_files (kind, name, size, sha256) VALUES ('hours', 'h2.csv', 6, 'cc'), "
                "('hours', 'h.csv', 5, 'bb')"
            )
            conn.exec_driver_sql(
                "INSERT INTO ingested_files (kind, name, size, sha256, quarantined, reason) "
                "VALUES ('status', 'bad.csv', 9, 'dd', true, 'too many rejects')"
            )

        _to(empty_url, "0001", down=True)
        assert migrate.current_revision(empty_url) == "0001"
        assert not {"quarantined", "reject_share", "reason"} & _columns(empty_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, sha256 FROM ingested_files ORDER BY id")).all()
            assert [tuple(r) for r in rows] == [(1, "aa"), (2, "bb"), (3, "cc")]  # first row per content
            assert conn.execute(text("SELECT file_id FROM rejected_rows")).scalars().all() == [1]
        with pytest.raises(Exception, match="uq_ingested_files_kind_sha256"), engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO ingested_files (kind, name, size, sha256) VALUES ('hours', 'x', 1, 'bb')"
            )

        migrate.upgrade(empty_url)  # and up again (to head, past this revision)
        assert migrate.current_revision(empty_url) == migrate.head_revision()
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO ingested_files (kind, name, size, sha256) VALUES ('hours', 'x', 1, 'bb')"
            )
    finally:
        engine.dispose()
