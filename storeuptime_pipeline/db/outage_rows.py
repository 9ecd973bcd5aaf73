"""Bulk reads and writes of the outage list and the report's outage summary (migration 0003_outages).

Same rules as the rest of the bulk layer (``staging``): COPY in and out inside the caller's
transaction, never row by row. The list of a backfill is written chunk by chunk (the engine hands
it over per chunk of instants), so the whole list of 168 reports never sits in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS
from storeuptime_pipeline.core.report import FIGURE_COLUMNS
from storeuptime_pipeline.db.copyio import (
    BinaryColumn,
    binary_payload,
    copy_in,
    copy_out_frame,
    utc_microseconds,
)
from storeuptime_pipeline.db.report_rows import delete_as_ofs_locked
from storeuptime_pipeline.db.staging import store_id_series

OUTAGE_ROW_COLUMNS = ("as_of", "store_id", "start_utc", "end_utc", "timezone", "business_hours", "ongoing")


def delete_outage_rows(conn: Connection, as_ofs: Iterable[datetime | pd.Timestamp]) -> None:
    """Remove the outage lists these instants show, under the report write lock (see replace_report_rows).

    A single-writer path: call :func:`~storeuptime_pipeline.db.report_rows.replace_report_rows` for
    the same instants later in the same transaction (it makes them show the rows written directly).
    """
    delete_as_ofs_locked(conn, "outages", sorted({to_utc(a) for a in as_ofs}))


def copy_outage_rows(conn: Connection, frame: pd.DataFrame) -> int:
    """COPY one chunk of the engine's outage list (``reports_with_outages_for`` shape)."""
    if frame.empty:
        return 0
    copy_in(conn, "outages", OUTAGE_ROW_COLUMNS, binary_payload(outage_row_columns(frame)))
    return len(frame)


def outage_row_columns(frame: pd.DataFrame) -> list[BinaryColumn]:
    """The ``OUTAGE_ROW_COLUMNS`` of an outage list for a binary COPY (into ``outages`` or the stage)."""
    return [
        BinaryColumn("timestamptz", utc_microseconds(frame["as_of"])),
        BinaryColumn("text", store_id_series(frame["store_id"].astype(str))),
        BinaryColumn("timestamptz", utc_microseconds(frame["start_utc"])),
        BinaryColumn("timestamptz", utc_microseconds(frame["end_utc"])),
        BinaryColumn("text", frame["timezone"].astype(str)),
        BinaryColumn("float8", frame["business_hours"].to_numpy(dtype=np.float64)),
        BinaryColumn("bool", frame["ongoing"].to_numpy(dtype=bool)),
    ]


def read_outage_rows(conn: Connection, as_of: datetime | pd.Timestamp) -> pd.DataFrame:
    """The stored outage list of one instant, sorted by store_id then start."""
    query = """
        SELECT store_id, (extract(epoch FROM start_utc) * 1000000)::bigint,
               (extract(epoch FROM end_utc) * 1000000)::bigint, timezone, business_hours, ongoing
        FROM published_outages WHERE as_of = %(as_of)s
        ORDER BY store_id COLLATE "C", start_utc
    """
    dtypes = {
        "store_id": "str",
        "start_utc": "us_utc",
        "end_utc": "us_utc",
        "timezone": "str",
        "business_hours": "float64",
        "ongoing": "tf",
    }
    return copy_out_frame(conn, query, {"as_of": to_utc(as_of).to_pydatetime()}, dtypes)


def read_extended_rows(conn: Connection, as_of: datetime | pd.Timestamp) -> pd.DataFrame | None:
    """Report rows of one instant with the outage summary; None when they were stored without it."""
    values = ", ".join([*FIGURE_COLUMNS, *OUTAGE_SUMMARY_COLUMNS])
    query = f"""
        SELECT store_id, {values} FROM published_uptime_report WHERE as_of = %(as_of)s
        ORDER BY store_id COLLATE "C"
    """
    dtypes = {"store_id": "str", **dict.fromkeys([*FIGURE_COLUMNS, *OUTAGE_SUMMARY_COLUMNS], "float64")}
    frame = copy_out_frame(conn, query, {"as_of": to_utc(as_of).to_pydatetime()}, dtypes)
    if frame[OUTAGE_SUMMARY_COLUMNS].isna().any().any():
        return None
    for name in OUTAGE_SUMMARY_COLUMNS[:3]:
        frame[name] = frame[name].astype(np.int64)
    return frame
