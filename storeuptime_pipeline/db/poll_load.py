"""The poll load: merge a polls frame into ``store_status`` with one COPY, never row by row.

Polls frame shape (as the reading rules return it): store_id (str), timestamp_utc
(datetime64[us, UTC]), is_active (bool). The general rules of the bulk layer (caller's transaction,
TEMP staging, idempotent re-loads) are in ``staging``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from storeuptime_pipeline.core.polls import dedupe_polls
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in, utc_microseconds
from storeuptime_pipeline.db.models import StoreStatus
from storeuptime_pipeline.db.staging import (
    STORE_ID_SQL,
    bool_array,
    create_stage,
    drop_stage,
    ensure_stores,
    require_columns,
    store_id_series,
)

POLL_COLUMNS: Final = ("store_id", "timestamp_utc", "is_active")

# Building the store_status indexes after an initial load sorts in memory instead of spilling to disk.
_INDEX_BUILD_MEM: Final = "256MB"

# Batches with at least this share of the table's rows are pre-filtered (see _is_large_batch).
_PREFILTER_SHARE: Final = 0.15
# Staged polls that are new or flip a stored active poll to inactive: all others would change nothing.
_PREFILTERED_STAGE: Final = """(
    SELECT s.store_id, s.timestamp_utc, s.is_active
    FROM _stage_polls s
    LEFT JOIN store_status t ON t.store_id = s.store_id AND t.timestamp_utc = s.timestamp_utc
    WHERE t.store_id IS NULL OR (t.is_active AND NOT s.is_active)
)"""


def upsert_polls(conn: Connection, polls: pd.DataFrame) -> int:
    """Merge polls into ``store_status``; return the number of rows inserted or flipped to inactive.

    Duplicate (store_id, timestamp_utc) pairs count once and inactive wins, both within the frame and
    against stored rows, so loading the same frame twice changes 0 rows the second time. Store ids not
    yet in ``stores`` are added with the default timezone.

    Concurrent poll loads are serialized by a SHARE ROW EXCLUSIVE lock (readers are not blocked). A
    load into an empty table (the initial load) drops the table's indexes and rebuilds them after the
    COPY, which is several times faster than maintaining them row by row; readers then wait for the
    caller's commit, but there was nothing to read yet. Otherwise rows are COPYed into a TEMP staging
    table and merged with one ``INSERT ... SELECT ... ON CONFLICT``.
    """
    require_columns(polls, POLL_COLUMNS, "polls")
    if polls.empty:
        return 0
    store_ids, micros, active = _unique_polls(polls)
    payload = binary_payload(
        [
            BinaryColumn("text", store_ids),
            BinaryColumn("timestamptz", micros),
            BinaryColumn("bool", active),
        ]
    )
    conn.exec_driver_sql("LOCK TABLE store_status IN SHARE ROW EXCLUSIVE MODE")
    ensure_stores(conn, store_ids.categories)
    if not conn.exec_driver_sql("SELECT EXISTS (SELECT FROM store_status)").scalar_one():
        with _indexes_rebuilt_after(conn, StoreStatus.__table__):
            copy_in(conn, "store_status", POLL_COLUMNS, payload)
        return len(micros)

    create_stage(
        conn, "_stage_polls", f"store_id {STORE_ID_SQL}, timestamp_utc timestamptz, is_active boolean"
    )
    copy_in(conn, "_stage_polls", POLL_COLUMNS, payload)
    # The stage is unique and in PK order already (see _unique_polls), so no GROUP BY / ORDER BY.
    source = _PREFILTERED_STAGE if _is_large_batch(conn, len(micros)) else "_stage_polls"
    changed = conn.exec_driver_sql(
        f"""
        INSERT INTO store_status AS cur (store_id, timestamp_utc, is_active)
        SELECT store_id, timestamp_utc, is_active FROM {source} AS candidates
        ON CONFLICT (store_id, timestamp_utc) DO UPDATE SET is_active = false
        WHERE cur.is_active AND NOT excluded.is_active
        """
    ).rowcount
    drop_stage(conn, "_stage_polls")
    return int(changed)


def _is_large_batch(conn: Connection, n_rows: int) -> bool:
    """Whether a batch is big relative to ``store_status`` (planner's row estimate; -1 = unknown).

    Every row that goes through ON CONFLICT pays a speculative insertion. For a large batch that
    mostly repeats stored rows (a cumulative export, a re-load) one hash join that drops the
    unchanged rows first is cheaper; for a small hourly batch that join would read the whole table.
    """
    estimate = conn.exec_driver_sql(
        "SELECT reltuples FROM pg_class WHERE oid = 'store_status'::regclass"
    ).scalar_one()
    return estimate > 0 and n_rows >= _PREFILTER_SHARE * estimate


def _unique_polls(polls: pd.DataFrame) -> tuple[pd.Categorical, np.ndarray, np.ndarray]:
    """The polls as ``store_status`` rows: checked, deduplicated (``core.polls``), in primary-key order.

    Deduplicated in numpy rather than with ``bool_and ... GROUP BY`` in the staging table: a hash
    aggregate plus sort of text-keyed rows costs Postgres far more than one integer sort here, and
    the engine's timeline applies the very same rule.
    """
    unique = dedupe_polls(
        store_id_series(polls["store_id"]),
        utc_microseconds(polls["timestamp_utc"]),
        bool_array(polls["is_active"], "is_active"),
    )
    store_ids = pd.Categorical.from_codes(unique.store, categories=pd.Index(unique.store_ids, dtype=object))
    return store_ids, unique.time, unique.active


@contextmanager
def _indexes_rebuilt_after(conn: Connection, table: Table) -> Iterator[None]:
    """Drop the table's primary key and indexes, run the body, then build them again in bulk.

    Definitions come from the models (the migration test guarantees they match the database).
    """
    indexes = sorted(table.indexes, key=lambda ix: str(ix.name))
    conn.execute(DropConstraint(table.primary_key))
    for index in indexes:
        conn.execute(DropIndex(index))
    yield
    with _local_setting(conn, "maintenance_work_mem", _INDEX_BUILD_MEM):
        conn.execute(AddConstraint(table.primary_key))
        for index in indexes:
            conn.execute(CreateIndex(index))


@contextmanager
def _local_setting(conn: Connection, name: str, value: str) -> Iterator[None]:
    """Change a setting for the enclosed statements only, then restore the caller's value."""
    previous = conn.execute(text("SELECT current_setting(:n)"), {"n": name}).scalar_one()
    conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
    yield
    conn.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": previous})
