"""The file history: one ``ingested_files`` row per load of a file, and the rows it rejected.

Rejected rows frame shape (as the reading rules return it): line (int), column (str | None),
reason (str), raw (str). Like the other writes (see ``staging``), these run in the caller's
transaction, so a file's record, its rows and its rejected rows commit together or not at all.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.inputs import KINDS
from storeuptime_pipeline.core.reasons import REJECT_COLUMNS
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in
from storeuptime_pipeline.db.staging import (
    create_stage,
    drop_stage,
    int_array,
    multiset_difference,
    nullable_text,
    require_columns,
    storable,
)

REJECTED_COLUMNS: Final = tuple(REJECT_COLUMNS)
FILE_KINDS: Final = KINDS


def record_file(
    conn: Connection,
    kind: str,
    name: str,
    size: int,
    sha256: str,
    *,
    rows_read: int = 0,
    rows_loaded: int = 0,
    rows_rejected: int = 0,
    rows_changed: int = 0,
    quarantined: bool = False,
    reject_share: float | None = None,
    reason: str | None = None,
) -> int:
    """Record one load of a file (or its quarantine) and return the new row's id.

    Every call adds a row, also for content recorded before: loading snapshot A, then B, then A
    again must leave A as the newest record, or the history would name B as live while A is.
    """
    if kind not in FILE_KINDS:
        raise ValueError(f"kind must be one of {FILE_KINDS}, got {kind!r}")
    params = {
        "kind": kind,
        "name": storable(name),
        "size": size,
        "sha256": sha256,
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_rejected": rows_rejected,
        "rows_changed": rows_changed,
        "quarantined": quarantined,
        "reject_share": reject_share,
        "reason": None if reason is None else storable(reason),
    }
    return int(
        conn.execute(
            text(
                """
                INSERT INTO ingested_files (kind, name, size, sha256, rows_read, rows_loaded, rows_rejected,
                                            rows_changed, quarantined, reject_share, reason)
                VALUES (:kind, :name, :size, :sha256, :rows_read, :rows_loaded, :rows_rejected,
                        :rows_changed, :quarantined, :reject_share, :reason)
                RETURNING id
                """
            ),
            params,
        ).scalar_one()
    )


def replace_rejected_rows(
    conn: Connection, file_id: int, source_file: str, rejected_frame: pd.DataFrame
) -> int:
    """Make the rejected rows of ``file_id`` exactly ``rejected_frame``; return how many rows differ.

    Like the snapshot replacements, nothing is rewritten when the stored rows already match (0).
    Text that Postgres cannot store (NUL characters, invalid UTF-8 surrogates) is replaced by U+FFFD.
    """
    require_columns(rejected_frame, REJECTED_COLUMNS, "rejected rows")
    n = len(rejected_frame)
    payload = binary_payload(
        [
            BinaryColumn("int8", np.full(n, file_id, dtype=np.int64)),
            BinaryColumn("text", np.full(n, storable(source_file), dtype=object)),
            BinaryColumn("int4", int_array(rejected_frame["line"], "line")),
            BinaryColumn("text", nullable_text(rejected_frame["column"], sanitize=True)),
            BinaryColumn("text", nullable_text(rejected_frame["reason"], sanitize=True).fillna("")),
            BinaryColumn("text", nullable_text(rejected_frame["raw"], sanitize=True).fillna("")),
        ]
    )
    columns = ("file_id", "source_file", "line_number", "column_name", "reason", "raw_line")
    create_stage(
        conn,
        "_stage_rejected",
        "file_id bigint, source_file text, line_number int, column_name text, reason text, raw_line text",
    )
    copy_in(conn, "_stage_rejected", columns, payload)
    changed = multiset_difference(
        conn, "rejected_rows", "_stage_rejected", ", ".join(columns), where=f"file_id = {int(file_id)}"
    )
    if changed:
        conn.execute(text("DELETE FROM rejected_rows WHERE file_id = :id"), {"id": file_id})
        conn.exec_driver_sql(
            f"INSERT INTO rejected_rows ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM _stage_rejected ORDER BY line_number, column_name"
        )
    drop_stage(conn, "_stage_rejected")
    return changed
