"""The poll load: merge a polls frame into ``store_status`` with one COPY, never row by row.

Polls frame shape (as the reading rules return it): store_id (str), timestamp_utc
(datetime64[us, UTC]), is_active (bool). The general rules of the bulk layer (caller's transaction,
TEMP staging, idempotent re-loads) are in ``staging``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.polls import dedupe_polls
from storeuptime_pipeline.db import poll_partitions
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in, utc_microseconds
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

# Batches with at least this share of the table's rows are pre-filtered (see _is_large_batch).
_PREFILTER_SHARE: Final = 0.15
# Staged polls that are new or flip a stored active poll to inactive: all others would change nothing.
# The stage's time range lets Postgres skip the weekly partitions outside it (pruned at run time).
_PREFILTERED_STAGE: Final = """(
    SELECT s.store_id, s.timestamp_utc, s.is_active
    FROM _stage_polls s
    LEFT JOIN store_status t ON t.store_id = s.store_id AND t.timestamp_utc = s.timestamp_utc
        AND t.timestamp_utc BETWEEN (SELECT min(timestamp_utc) FROM _stage_polls)
                                AND (SELECT max(timestamp_utc) FROM _stage_polls)
    WHERE t.store_id IS NULL OR (t.is_active AND NOT s.is_active)
)"""


def upsert_polls(conn: Connection, polls: pd.DataFrame) -> int:
    """Merge polls into ``store_status``; return the number of rows inserted or flipped to inactive.

    Duplicate (store_id, timestamp_utc) pairs count once and inactive wins, both within the frame and
    against stored rows, so loading the same frame twice changes 0 rows the second time. Store ids not
    yet in ``stores`` are added with the default timezone.

    Concurrent poll loads are serialized by a SHARE ROW EXCLUSIVE lock (readers are not blocked). The
    polls of a week that has no stored poll yet (the initial load, older history, a new week starting)
    go into that week's own partition with its indexes built after the COPY, several times faster than
    maintaining big indexes row by row (``poll_partitions.load_new_weeks``). The rest are COPYed into
    a TEMP staging table and merged with one ``INSERT ... SELECT ... ON CONFLICT``.
    """
    require_columns(polls, POLL_COLUMNS, "polls")
    if polls.empty:
        return 0
    store_ids, micros, active = _unique_polls(polls)
    conn.exec_driver_sql("LOCK TABLE store_status IN SHARE ROW EXCLUSIVE MODE")
    ensure_stores(conn, store_ids.categories)
    # Weeks without stored polls get their own weekly partition, loaded without touching any big index.
    loaded, (store_ids, micros, active) = poll_partitions.load_new_weeks(conn, store_ids, micros, active)
    if not len(micros):
        return loaded
    payload = binary_payload(
        [
            BinaryColumn("text", store_ids),
            BinaryColumn("timestamptz", micros),
            BinaryColumn("bool", active),
        ]
    )

    create_stage(
        conn, "_stage_polls", f"store_id {STORE_ID_SQL}, timestamp_utc timestamptz, is_active boolean"
    )
    copy_in(conn, "_stage_polls", POLL_COLUMNS, payload)
    # The stage is unique and in PK order already (see _unique_polls), so no GROUP BY / ORDER BY.
    source = _PREFILTERED_STAGE if _is_large_batch(conn, micros) else "_stage_polls"
    changed = conn.exec_driver_sql(
        f"""
        INSERT INTO store_status AS cur (store_id, timestamp_utc, is_active)
        SELECT store_id, timestamp_utc, is_active FROM {source} AS candidates
        ON CONFLICT (store_id, timestamp_utc) DO UPDATE SET is_active = false
        WHERE cur.is_active AND NOT excluded.is_active
        """
    ).rowcount
    drop_stage(conn, "_stage_polls")
    return loaded + int(changed)


def _is_large_batch(conn: Connection, micros: np.ndarray) -> bool:
    """Whether a batch is big relative to the partitions it falls in (planner's row estimate).

    Every row that goes through ON CONFLICT pays a speculative insertion. For a large batch that
    mostly repeats stored rows (a cumulative export, a re-load) one hash join that drops the
    unchanged rows first is cheaper; for a small hourly batch that join would read the whole week.
    """
    estimate = poll_partitions.touched_rows_estimate(conn, micros)
    return estimate > 0 and len(micros) >= _PREFILTER_SHARE * estimate


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
