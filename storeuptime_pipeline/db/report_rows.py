"""The stored reports: ``uptime_report`` rows written per as-of instant and read back for the API.

Report rows frame shape: as_of (datetime64[us, UTC]), store_id, the six uptime/downtime figures
(``STORED_REPORT_COLUMNS``) and, when the outage pass ran, the outage summary columns. The outage
lists of the same instants live in ``outage_rows`` under the same write lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
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
from storeuptime_pipeline.db.staging import require_columns, store_id_series

#: The columns of a stored report row (``uptime_report``) without the outage summary.
STORED_REPORT_COLUMNS: Final = ("as_of", "store_id", *FIGURE_COLUMNS)
#: Serializes report and outage-list writes; any constant other than migrate's lock key.
_REPORT_WRITE_LOCK: Final = 6_004_353_133_404_372_992


def replace_report_rows(
    conn: Connection, as_ofs: Iterable[datetime | pd.Timestamp], frame: pd.DataFrame
) -> int:
    """Replace the report rows of the given ``as_ofs`` with ``frame``; return the rows written.

    Every ``as_of`` in the frame must be one of ``as_ofs`` (an as_of listed but absent from the frame
    simply ends up with no rows). Rows are COPYed straight into ``uptime_report``.
    """
    require_columns(frame, STORED_REPORT_COLUMNS, "report rows")
    wanted = sorted({to_utc(a) for a in as_ofs})
    frame_us = utc_microseconds(frame["as_of"]) if len(frame) else np.empty(0, dtype=np.int64)
    allowed_us = np.array([t.value // 1000 for t in wanted], dtype=np.int64)
    if not np.isin(frame_us, allowed_us).all():
        raise ValueError("frame contains as_of values that are not in as_ofs")
    delete_as_ofs_locked(conn, "uptime_report", wanted)
    show_direct_rows(conn, wanted)
    if frame.empty:
        return 0
    names, columns = report_row_columns(frame, frame_us)
    copy_in(conn, "uptime_report", names, binary_payload(columns))
    return len(frame)


def report_row_columns(frame: pd.DataFrame, frame_us: np.ndarray) -> tuple[list[str], list[BinaryColumn]]:
    """The stored report columns of ``frame`` for a binary COPY (into ``uptime_report`` or the stage).

    The outage summary columns are included when the frame has them (the outage pass ran).
    """
    columns: list[BinaryColumn] = [
        BinaryColumn("timestamptz", frame_us),
        BinaryColumn("text", store_id_series(frame["store_id"])),
    ]
    for name in FIGURE_COLUMNS:
        columns.append(BinaryColumn("float8", pd.to_numeric(frame[name]).to_numpy(dtype=np.float64)))
    names = list(STORED_REPORT_COLUMNS)
    if all(c in frame.columns for c in OUTAGE_SUMMARY_COLUMNS):  # the outage summary, when computed
        for name in OUTAGE_SUMMARY_COLUMNS[:3]:
            columns.append(BinaryColumn("int4", frame[name].to_numpy(dtype=np.int32)))
        columns.append(BinaryColumn("float8", frame[OUTAGE_SUMMARY_COLUMNS[3]].to_numpy(dtype=np.float64)))
        names += OUTAGE_SUMMARY_COLUMNS
    return names, columns


def delete_as_ofs_locked(conn: Connection, table: str, as_ofs: Sequence[pd.Timestamp]) -> None:
    """Take the report write lock, then delete the rows ``table`` shows for these instants (UTC).

    Two runs writing the same as-of (two triggers of "now", a re-run during a backfill) would both
    delete nothing and then collide on the primary key: report writes (rows and outage lists, both
    keyed by as_of) are serialized per transaction. Only the shown generation goes (``report_published``,
    else 0): the unpublished rows of a sharded run still computing stay its own (``db/report_stage``).
    ``table`` is one of ours, never user input.
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REPORT_WRITE_LOCK})
    if as_ofs:
        conn.execute(
            text(
                f"DELETE FROM {table} t USING (SELECT a.as_of, coalesce(p.generation, 0) AS generation"
                " FROM unnest(:as_ofs) AS a(as_of) LEFT JOIN report_published p ON p.as_of = a.as_of) shown"
                " WHERE t.as_of = shown.as_of AND t.generation = shown.generation"
            ).bindparams(bindparam("as_ofs", type_=ARRAY(TIMESTAMP(timezone=True)))),
            {"as_ofs": [t.to_pydatetime() for t in as_ofs]},
        )


def show_direct_rows(conn: Connection, as_ofs: Sequence[pd.Timestamp]) -> None:
    """Let these instants show generation 0 again: the rows a single-writer path writes (this transaction)."""
    if as_ofs:
        conn.execute(
            text("DELETE FROM report_published WHERE as_of = ANY(:as_ofs)").bindparams(
                bindparam("as_ofs", type_=ARRAY(TIMESTAMP(timezone=True)))
            ),
            {"as_ofs": [t.to_pydatetime() for t in as_ofs]},
        )


def read_report_rows(
    conn: Connection, as_of: datetime | pd.Timestamp, *, with_outage_summary: bool = False
) -> pd.DataFrame:
    """The stored report rows of one ``as_of``, in the ``replace_report_rows`` shape, sorted by store_id.

    ``with_outage_summary`` adds the four outage columns (float64: NULL on rows stored before 0003).
    """
    names = [*FIGURE_COLUMNS, *(OUTAGE_SUMMARY_COLUMNS if with_outage_summary else ())]
    query = f"""
        SELECT (extract(epoch FROM as_of) * 1000000)::bigint, store_id, {", ".join(names)}
        FROM published_uptime_report WHERE as_of = %(as_of)s
        ORDER BY store_id COLLATE "C"
    """
    dtypes = {"as_of": "us_utc", "store_id": "str", **dict.fromkeys(names, "float64")}
    return copy_out_frame(conn, query, {"as_of": to_utc(as_of).to_pydatetime()}, dtypes)
