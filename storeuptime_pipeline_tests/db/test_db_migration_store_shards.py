"""Migration 0005_store_shards: existing stores get their shard hash; down and up again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.core.shards import store_hash
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline_tests.db.test_db_migration_poll_weeks import _to

BEFORE, REVISION = "0004_poll_weeks", "0005_store_shards"
IDS = ["8419537941919820732", "00017c6a-7a77-4a95-bb2d-40647868aff8", "é-store", "a"]


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_mig5_") as url:
        yield url


def test_upgrade_backfills_every_stores_hash_and_downgrade_removes_column_and_stage(empty_url: str) -> None:
    _to(empty_url, BEFORE)
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO stores (store_id) SELECT unnest(CAST(:ids AS text[]))"), {"ids": IDS}
            )
        _to(empty_url, REVISION)
        with engine.connect() as conn:
            got = dict(conn.execute(text("SELECT store_id, shard_hash FROM stores")).all())
            nullable = conn.execute(
                text(
                    "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'stores'"
                    " AND column_name = 'shard_hash'"
                )
            ).scalar_one()
            persistence = dict(
                conn.execute(
                    text(
                        "SELECT relname, relpersistence FROM pg_class WHERE relname IN ('report_stage', 'outage_stage')"
                    )
                ).all()
            )
        assert got == dict(zip(IDS, store_hash(IDS).tolist(), strict=True))
        assert nullable == "NO"
        assert persistence == {"report_stage": "u", "outage_stage": "u"}  # UNLOGGED

        _to(empty_url, BEFORE, down=True)
        tables = set(inspect(engine).get_table_names())
        assert not {"report_stage", "outage_stage"} & tables
        assert "shard_hash" not in {c["name"] for c in inspect(engine).get_columns("stores")}
        migrate.upgrade(empty_url)
        assert migrate.current_revision(empty_url) == migrate.head_revision()
    finally:
        engine.dispose()
