"""Bulk reads and writes of the pipeline's frames: COPY in and out, never row by row.

Every function takes a SQLAlchemy ``Connection`` and runs inside the transaction its caller owns, so a
caller can make a whole file load (file record + rows + rejected rows) one atomic unit. Writes COPY
(binary, see ``copyio``) into a TEMP staging table (no WAL, no indexes) and merge with one
``INSERT ... SELECT ... ON CONFLICT``; reads stream ``COPY (query) TO STDOUT``. The one exception is
polls of a week with no stored polls yet: they are COPYed into that week's own partition of
``store_status``, whose indexes are built after the COPY (see ``poll_partitions``).

Re-loading the same input must leave every table identical (and report 0 changed rows): polls only
ever flip active -> inactive on conflict, snapshot replacements are skipped when the stored snapshot
already equals the new one (so identity ids do not churn). The file history is the exception by
design: every load, a re-load too, adds its own ``ingested_files`` row (see :func:`record_file`).

Frame shapes (shared with ``engine/reading.py``):
- polls: store_id (str), timestamp_utc (datetime64[us, UTC]), is_active (bool)
- hours: store_id (str), day_of_week (int 0=Mon), start_seconds (0..86399), end_seconds (1..86400)
- timezones: store_id, timezone_str (may be missing), timezone, timezone_defaulted (bool)
- rejected: line (int), column (str | None), reason (str), raw (str)
- report rows: as_of (datetime64[us, UTC]), store_id, and the six uptime/downtime float columns
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
from sqlalchemy.types import Text

from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE, KINDS
from storeuptime_pipeline.core.reasons import REJECT_COLUMNS
from storeuptime_pipeline.core.report import VALUE_COLUMNS
from storeuptime_pipeline.db import poll_partitions
from storeuptime_pipeline.db.copyio import (
    BinaryColumn,
    binary_payload,
    copy_in,
    copy_out_frame,
    utc_microseconds,
)

POLL_COLUMNS: Final = ("store_id", "timestamp_utc", "is_active")
HOURS_COLUMNS: Final = ("store_id", "day_of_week", "start_seconds", "end_seconds")
TIMEZONE_COLUMNS: Final = ("store_id", "timezone_str", "timezone", "timezone_defaulted")
REJECTED_COLUMNS: Final = tuple(REJECT_COLUMNS)
REPORT_VALUE_COLUMNS: Final = tuple(VALUE_COLUMNS)
REPORT_COLUMNS: Final = ("as_of", "store_id", *REPORT_VALUE_COLUMNS)
OUTAGE_SUMMARY_COLUMNS: Final = [
    "outages_last_hour",
    "outages_last_day",
    "outages_last_week",
    "longest_outage_last_week",
]
FILE_KINDS: Final = KINDS
_REPORT_WRITE_LOCK: Final = 6_004_353_133_404_372_992  # any constant other than migrate's lock key

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
_STORE_ID: Final = 'text COLLATE "C"'  # as in the models: staging must match for joins and EXCEPT
# psycopg2 parameter style: COPY takes no bind parameters, so values are mogrified in (copyio).
_POLL_TYPES: Final = {"store_id": "str", "timestamp_utc": "utc_text", "is_active": "tf"}
POLLS_WINDOW_SQL: Final = """
    SELECT store_id, timestamp_utc AT TIME ZONE 'UTC', is_active
    FROM store_status
    WHERE timestamp_utc >= %(start)s AND timestamp_utc <= %(end)s
"""
LAST_EARLIER_POLL_SQL: Final = """
    SELECT s.store_id, p.timestamp_utc AT TIME ZONE 'UTC', p.is_active
    FROM stores s
    CROSS JOIN LATERAL (
        SELECT timestamp_utc, is_active FROM store_status
        WHERE store_status.store_id = s.store_id AND store_status.timestamp_utc < %(start)s
        ORDER BY timestamp_utc DESC
        LIMIT 1
    ) p
"""


# ---------------------------------------------------------------------------------------------- writes


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
    _require_columns(polls, POLL_COLUMNS, "polls")
    if polls.empty:
        return 0
    store_ids, micros, active = _dedupe_polls(polls)
    conn.exec_driver_sql("LOCK TABLE store_status IN SHARE ROW EXCLUSIVE MODE")
    _ensure_stores(conn, store_ids.categories)
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
    _create_stage(conn, "_stage_polls", f"store_id {_STORE_ID}, timestamp_utc timestamptz, is_active boolean")
    copy_in(conn, "_stage_polls", POLL_COLUMNS, payload)
    # The stage is unique and in PK order already (see _dedupe_polls), so no GROUP BY / ORDER BY.
    source = _PREFILTERED_STAGE if _is_large_batch(conn, micros) else "_stage_polls"
    changed = conn.exec_driver_sql(
        f"""
        INSERT INTO store_status AS cur (store_id, timestamp_utc, is_active)
        SELECT store_id, timestamp_utc, is_active FROM {source} AS candidates
        ON CONFLICT (store_id, timestamp_utc) DO UPDATE SET is_active = false
        WHERE cur.is_active AND NOT excluded.is_active
        """
    ).rowcount
    _drop_stage(conn, "_stage_polls")
    return loaded + int(changed)


def _is_large_batch(conn: Connection, micros: np.ndarray) -> bool:
    """Whether a batch is big relative to the partitions it falls in (planner's row estimate).

    Every row that goes through ON CONFLICT pays a speculative insertion (~5 us). For a large batch
    that mostly repeats stored rows (a cumulative export, a re-load) one hash join that drops the
    unchanged rows first is ~3x cheaper; for a small hourly batch that join would read the whole week.
    """
    estimate = poll_partitions.touched_rows_estimate(conn, micros)
    return estimate > 0 and len(micros) >= _PREFILTER_SHARE * estimate


def _dedupe_polls(polls: pd.DataFrame) -> tuple[pd.Categorical, np.ndarray, np.ndarray]:
    """Unique (store_id, timestamp) polls, inactive winning among duplicates, in primary-key order.

    Done in numpy rather than with ``bool_and ... GROUP BY`` in the staging table: a hash aggregate
    plus sort of 1.7M text-keyed rows costs Postgres seconds, one integer sort here a fraction of that.
    Store ids are factorized in code-point order, which is the byte order of the ``COLLATE "C"`` key.
    """
    codes, uniques = pd.factorize(_store_id_series(polls["store_id"]), sort=True)
    codes = np.asarray(codes, dtype=np.int64)
    micros = utc_microseconds(polls["timestamp_utc"])
    active = _bool_array(polls["is_active"], "is_active").astype(np.int64)
    # Sort by (store, time, active) with False first so an inactive duplicate leads its group. When the
    # three fit in one int64 (always for realistic spans: 14 bits of stores + 40 bits for a week),
    # sorting that packed key is several times faster than a three-key lexsort.
    offset = int(micros.min())
    time_bits = int(micros.max() - offset).bit_length()
    if len(uniques).bit_length() + time_bits + 1 <= 62:
        key = np.sort((codes << (time_bits + 1)) | ((micros - offset) << 1) | active)
        codes, micros, active = (
            key >> (time_bits + 1),
            ((key >> 1) & ((1 << time_bits) - 1)) + offset,
            key & 1,
        )
    else:
        order = np.lexsort((active, micros, codes))
        codes, micros, active = codes[order], micros[order], active[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = (codes[1:] != codes[:-1]) | (micros[1:] != micros[:-1])
    store_ids = pd.Categorical.from_codes(codes[first], categories=pd.Index(uniques, dtype=object))
    return store_ids, micros[first], active[first].astype(bool)


def replace_business_hours(conn: Connection, hours: pd.DataFrame) -> int:
    """Make ``business_hours`` exactly the given snapshot; return how many rows differ from before.

    The count is the size of the multiset difference in both directions (rows removed + rows added);
    when it is 0 the table is left untouched, so a re-load keeps row ids. New store ids are added to
    ``stores`` with the default timezone.
    """
    _require_columns(hours, HOURS_COLUMNS, "business hours")
    store_ids = _store_id_series(hours["store_id"])
    payload = binary_payload(
        [
            BinaryColumn("text", store_ids),
            BinaryColumn("int2", _int_array(hours["day_of_week"], "day_of_week")),
            BinaryColumn("int4", _int_array(hours["start_seconds"], "start_seconds")),
            BinaryColumn("int4", _int_array(hours["end_seconds"], "end_seconds")),
        ]
    )
    _create_stage(conn, "_stage_hours", f"store_id {_STORE_ID}, day_of_week smallint, start_s int, end_s int")
    copy_in(conn, "_stage_hours", ("store_id", "day_of_week", "start_s", "end_s"), payload)
    # make_time accepts 24:00:00, which Postgres time stores as "until midnight".
    conn.execute(
        text(
            """
        CREATE TEMP TABLE _new_hours ON COMMIT DROP AS
        SELECT store_id, day_of_week,
               make_time(start_s / 3600, start_s % 3600 / 60, start_s % 60) AS start_local,
               make_time(end_s / 3600, end_s % 3600 / 60, end_s % 60) AS end_local
        FROM _stage_hours
        """
        )
    )
    changed = _multiset_difference(
        conn, "business_hours", "_new_hours", "store_id, day_of_week, start_local, end_local"
    )
    if changed:
        _ensure_stores(conn, store_ids.unique())
        conn.exec_driver_sql("DELETE FROM business_hours")
        conn.exec_driver_sql(
            """
            INSERT INTO business_hours (store_id, day_of_week, start_local, end_local)
            SELECT store_id, day_of_week, start_local, end_local FROM _new_hours
            ORDER BY store_id, day_of_week, start_local, end_local
            """
        )
    _drop_stage(conn, "_new_hours", "_stage_hours")
    return changed


def replace_timezones(conn: Connection, tz: pd.DataFrame) -> int:
    """Apply a full timezone snapshot to ``stores``; return the number of store rows changed.

    Stores in the frame get its values (new ones are inserted); stores absent from it fall back to
    ``America/Chicago`` with ``timezone_defaulted`` true and ``timezone_str`` NULL. If a store id
    appears more than once, its last row wins.
    """
    _require_columns(tz, TIMEZONE_COLUMNS, "timezones")
    store_ids = _store_id_series(tz["store_id"])
    payload = binary_payload(
        [
            BinaryColumn("int4", np.arange(len(tz), dtype=np.int64)),
            BinaryColumn("text", store_ids),
            BinaryColumn("text", _nullable_text(tz["timezone_str"])),
            BinaryColumn("text", _text_series(tz["timezone"], "timezone")),
            BinaryColumn("bool", _bool_array(tz["timezone_defaulted"], "timezone_defaulted")),
        ]
    )
    _create_stage(
        conn, "_stage_tz", f"ord int, store_id {_STORE_ID}, timezone_str text, timezone text, dflt boolean"
    )
    copy_in(conn, "_stage_tz", ("ord", "store_id", "timezone_str", "timezone", "dflt"), payload)
    upserted = conn.exec_driver_sql(
        """
        INSERT INTO stores AS cur (store_id, timezone_str, timezone, timezone_defaulted)
        SELECT DISTINCT ON (store_id) store_id, timezone_str, timezone, dflt
        FROM _stage_tz ORDER BY store_id, ord DESC
        ON CONFLICT (store_id) DO UPDATE
        SET timezone_str = excluded.timezone_str,
            timezone = excluded.timezone,
            timezone_defaulted = excluded.timezone_defaulted
        WHERE (cur.timezone_str, cur.timezone, cur.timezone_defaulted)
              IS DISTINCT FROM (excluded.timezone_str, excluded.timezone, excluded.timezone_defaulted)
        """
    ).rowcount
    reset = conn.execute(
        text(
            """
            UPDATE stores SET timezone_str = NULL, timezone = :tz, timezone_defaulted = true
            WHERE NOT EXISTS (SELECT 1 FROM _stage_tz s WHERE s.store_id = stores.store_id)
              AND (timezone_str IS NOT NULL OR timezone <> :tz OR NOT timezone_defaulted)
            """
        ),
        {"tz": DEFAULT_TIMEZONE},
    ).rowcount
    _drop_stage(conn, "_stage_tz")
    return int(upserted) + int(reset)


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
        "name": _storable(name),
        "size": size,
        "sha256": sha256,
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_rejected": rows_rejected,
        "rows_changed": rows_changed,
        "quarantined": quarantined,
        "reject_share": reject_share,
        "reason": None if reason is None else _storable(reason),
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
    _require_columns(rejected_frame, REJECTED_COLUMNS, "rejected rows")
    n = len(rejected_frame)
    payload = binary_payload(
        [
            BinaryColumn("int8", np.full(n, file_id, dtype=np.int64)),
            BinaryColumn("text", np.full(n, _storable(source_file), dtype=object)),
            BinaryColumn("int4", _int_array(rejected_frame["line"], "line")),
            BinaryColumn("text", _nullable_text(rejected_frame["column"], sanitize=True)),
            BinaryColumn("text", _nullable_text(rejected_frame["reason"], sanitize=True).fillna("")),
            BinaryColumn("text", _nullable_text(rejected_frame["raw"], sanitize=True).fillna("")),
        ]
    )
    columns = ("file_id", "source_file", "line_number", "column_name", "reason", "raw_line")
    _create_stage(
        conn,
        "_stage_rejected",
        "file_id bigint, source_file text, line_number int, column_name text, reason text, raw_line text",
    )
    copy_in(conn, "_stage_rejected", columns, payload)
    changed = _multiset_difference(
        conn, "rejected_rows", "_stage_rejected", ", ".join(columns), where=f"file_id = {int(file_id)}"
    )
    if changed:
        conn.execute(text("DELETE FROM rejected_rows WHERE file_id = :id"), {"id": file_id})
        conn.exec_driver_sql(
            f"INSERT INTO rejected_rows ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM _stage_rejected ORDER BY line_number, column_name"
        )
    _drop_stage(conn, "_stage_rejected")
    return changed


def replace_report_rows(
    conn: Connection, as_ofs: Iterable[datetime | pd.Timestamp], frame: pd.DataFrame
) -> int:
    """Replace the report rows of the given ``as_ofs`` with ``frame``; return the rows written.

    Every ``as_of`` in the frame must be one of ``as_ofs`` (an as_of listed but absent from the frame
    simply ends up with no rows). Rows are COPYed straight into ``uptime_report``.
    """
    _require_columns(frame, REPORT_COLUMNS, "report rows")
    wanted = sorted({_utc_timestamp(a) for a in as_ofs})
    frame_us = utc_microseconds(frame["as_of"]) if len(frame) else np.empty(0, dtype=np.int64)
    allowed_us = np.array([t.value // 1000 for t in wanted], dtype=np.int64)
    if not np.isin(frame_us, allowed_us).all():
        raise ValueError("frame contains as_of values that are not in as_ofs")
    # Two runs writing the same as-of (two triggers of "now", a re-run during a backfill) would both
    # delete nothing and then collide on the primary key: serialize report writes per transaction.
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REPORT_WRITE_LOCK})
    if wanted:
        conn.execute(
            text("DELETE FROM uptime_report WHERE as_of = ANY(:as_ofs)").bindparams(
                bindparam("as_ofs", type_=ARRAY(TIMESTAMP(timezone=True)))
            ),
            {"as_ofs": [t.to_pydatetime() for t in wanted]},
        )
    if frame.empty:
        return 0
    columns: list[BinaryColumn] = [
        BinaryColumn("timestamptz", frame_us),
        BinaryColumn("text", _store_id_series(frame["store_id"])),
    ]
    for name in REPORT_VALUE_COLUMNS:
        columns.append(BinaryColumn("float8", pd.to_numeric(frame[name]).to_numpy(dtype=np.float64)))
    names = list(REPORT_COLUMNS)
    if all(c in frame.columns for c in OUTAGE_SUMMARY_COLUMNS):  # the outage summary, when computed
        for name in OUTAGE_SUMMARY_COLUMNS[:3]:
            columns.append(BinaryColumn("int4", frame[name].to_numpy(dtype=np.int32)))
        columns.append(BinaryColumn("float8", frame[OUTAGE_SUMMARY_COLUMNS[3]].to_numpy(dtype=np.float64)))
        names += OUTAGE_SUMMARY_COLUMNS
    copy_in(conn, "uptime_report", names, binary_payload(columns))
    return len(frame)


# ----------------------------------------------------------------------------------------------- reads


def read_polls_window(
    conn: Connection, start: datetime | pd.Timestamp, end: datetime | pd.Timestamp
) -> pd.DataFrame:
    """Polls with ``start <= timestamp_utc <= end`` plus, per store, its last poll before ``start``.

    The earlier poll tells the engine each store's state when the window opens. It is found with one
    backward PK-index probe per store (LATERAL ... ORDER BY timestamp_utc DESC LIMIT 1), so the cost
    depends on the number of stores, not on how much older history is stored. Unordered: the engine
    sorts anyway, and sorting 1.5M rows here would cost a second.
    """
    params = {"start": _utc_timestamp(start).to_pydatetime(), "end": _utc_timestamp(end).to_pydatetime()}
    # The window is read through a bitmap scan: a plain index scan visits the heap in time order, and
    # once history was loaded out of order (a backfill of older files) that is 3x slower than reading
    # the window's pages in physical order. The per-store probes below still use the PK index.
    conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
    try:
        window = copy_out_frame(conn, POLLS_WINDOW_SQL, params, _POLL_TYPES)
    finally:
        conn.exec_driver_sql("RESET enable_indexscan")
    earlier = copy_out_frame(conn, LAST_EARLIER_POLL_SQL, params, _POLL_TYPES)
    return pd.concat([window, earlier], ignore_index=True)


def read_business_hours(conn: Connection) -> pd.DataFrame:
    """All business hours as seconds since local midnight (24:00 -> 86400), sorted."""
    query = """
        SELECT store_id, day_of_week, extract(epoch FROM start_local)::int, extract(epoch FROM end_local)::int
        FROM business_hours
        ORDER BY store_id COLLATE "C", day_of_week, start_local, end_local, id
    """
    dtypes = {"store_id": "str", "day_of_week": "int64", "start_seconds": "int64", "end_seconds": "int64"}
    return copy_out_frame(conn, query, None, dtypes)


def read_timezones(conn: Connection) -> pd.DataFrame:
    """Every known store with its timezone (defaulted ones included), sorted by store_id."""
    query = """
        SELECT store_id, timezone_str, timezone, timezone_defaulted::int
        FROM stores ORDER BY store_id COLLATE "C"
    """
    dtypes = {"store_id": "str", "timezone_str": "str", "timezone": "str", "timezone_defaulted": "bool"}
    return copy_out_frame(conn, query, None, dtypes)


def latest_poll_time(conn: Connection) -> pd.Timestamp | None:
    """The newest poll timestamp (UTC), or None when no polls are stored; an index-only lookup."""
    value = conn.exec_driver_sql("SELECT max(timestamp_utc) FROM store_status").scalar_one()
    return None if value is None else _utc_timestamp(value)


def read_report_rows(conn: Connection, as_of: datetime | pd.Timestamp) -> pd.DataFrame:
    """The stored report rows of one ``as_of``, in the ``replace_report_rows`` shape, sorted by store_id."""
    values = ", ".join(REPORT_VALUE_COLUMNS)
    query = f"""
        SELECT (extract(epoch FROM as_of) * 1000000)::bigint, store_id, {values}
        FROM uptime_report WHERE as_of = %(as_of)s
        ORDER BY store_id COLLATE "C"
    """
    dtypes = {"as_of": "us_utc", "store_id": "str", **dict.fromkeys(REPORT_VALUE_COLUMNS, "float64")}
    return copy_out_frame(conn, query, {"as_of": _utc_timestamp(as_of).to_pydatetime()}, dtypes)


# --------------------------------------------------------------------------------------------- helpers


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame is missing columns {missing}")


def _store_id_series(values: pd.Series) -> pd.Series:
    """Store ids must be non-missing strings: a numeric id would lose digits or formatting."""
    return _text_series(values, "store_id")


def _text_series(values: pd.Series, name: str) -> pd.Series:
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    if values.dtype == object:
        is_text = pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")
    else:
        is_text = isinstance(values.dtype, pd.StringDtype)
    if not is_text:
        raise TypeError(f"{name} must hold strings, got {values.dtype}")
    return values


def _nullable_text(values: pd.Series, *, sanitize: bool = False) -> pd.Series:
    """Strings with missing values as None (NULL); optionally made storable by Postgres."""
    as_object = values.astype(object).where(values.notna(), None)
    if sanitize:
        as_object = as_object.map(lambda v: None if v is None else _storable(str(v)))
    return as_object


def _storable(value: str) -> str:
    """Replace what Postgres text cannot hold: NUL and characters that are not valid UTF-8."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _bool_array(values: pd.Series, name: str) -> np.ndarray:
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    return values.to_numpy(dtype=bool)


def _int_array(values: pd.Series, name: str) -> np.ndarray:
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    return values.to_numpy(dtype=np.int64)


def _utc_timestamp(value: datetime | pd.Timestamp) -> pd.Timestamp:
    """A UTC ``pd.Timestamp`` at microsecond precision (naive input is taken to be UTC)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("us").as_unit("us")


def _create_stage(conn: Connection, name: str, columns_sql: str) -> None:
    """A TEMP (unlogged, session-private) staging table without indexes, dropped at commit at latest."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns_sql}) ON COMMIT DROP")


def _drop_stage(conn: Connection, *names: str) -> None:
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")


def _ensure_stores(
    conn: Connection, store_ids: Sequence[str] | np.ndarray | pd.api.extensions.ExtensionArray
) -> None:
    """Insert unseen store ids into ``stores`` with the column defaults (America/Chicago, defaulted)."""
    ids = sorted({str(s) for s in store_ids})
    if not ids:
        return
    conn.execute(
        text(
            "INSERT INTO stores (store_id) SELECT unnest(:ids) ORDER BY 1 ON CONFLICT (store_id) DO NOTHING"
        ).bindparams(bindparam("ids", type_=ARRAY(Text()))),
        {"ids": ids},
    )


def _multiset_difference(conn: Connection, table: str, stage: str, columns: str, where: str = "true") -> int:
    """Rows in ``table`` (filtered) not in ``stage`` plus rows in ``stage`` not in ``table``,
    counting duplicates (EXCEPT ALL): 0 means the stored snapshot already equals the new one."""
    return int(
        conn.exec_driver_sql(
            f"""
            SELECT
              (SELECT count(*) FROM (SELECT {columns} FROM {table} WHERE {where}
                                     EXCEPT ALL SELECT {columns} FROM {stage}) removed)
            + (SELECT count(*) FROM (SELECT {columns} FROM {stage}
                                     EXCEPT ALL SELECT {columns} FROM {table} WHERE {where}) added)
            """
        ).scalar_one()
    )
