"""The snapshot loads: business hours and timezones, each file a full replacement of what is stored.

Frame shapes (as the reading rules return them):
- hours: store_id (str), day_of_week (int 0=Mon), start_seconds (0..86399), end_seconds (1..86400)
- timezones: store_id, timezone_str (may be missing), timezone, timezone_defaulted (bool)

A snapshot equal to the stored one changes nothing (0 rows, ids kept); see ``staging``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE
from storeuptime_pipeline.core.shards import store_hash
from storeuptime_pipeline.db.copyio import BinaryColumn, binary_payload, copy_in
from storeuptime_pipeline.db.staging import (
    STORE_ID_SQL,
    bool_array,
    create_stage,
    drop_stage,
    ensure_stores,
    int_array,
    multiset_difference,
    nullable_text,
    require_columns,
    store_id_series,
    text_series,
)

HOURS_COLUMNS: Final = ("store_id", "day_of_week", "start_seconds", "end_seconds")
TIMEZONE_COLUMNS: Final = ("store_id", "timezone_str", "timezone", "timezone_defaulted")


def replace_business_hours(conn: Connection, hours: pd.DataFrame) -> int:
    """Make ``business_hours`` exactly the given snapshot; return how many rows differ from before.

    The count is the size of the multiset difference in both directions (rows removed + rows added);
    when it is 0 the table is left untouched, so a re-load keeps row ids. New store ids are added to
    ``stores`` with the default timezone.
    """
    require_columns(hours, HOURS_COLUMNS, "business hours")
    store_ids = store_id_series(hours["store_id"])
    payload = binary_payload(
        [
            BinaryColumn("text", store_ids),
            BinaryColumn("int2", int_array(hours["day_of_week"], "day_of_week")),
            BinaryColumn("int4", int_array(hours["start_seconds"], "start_seconds")),
            BinaryColumn("int4", int_array(hours["end_seconds"], "end_seconds")),
        ]
    )
    create_stage(
        conn, "_stage_hours", f"store_id {STORE_ID_SQL}, day_of_week smallint, start_s int, end_s int"
    )
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
    changed = multiset_difference(
        conn, "business_hours", "_new_hours", "store_id, day_of_week, start_local, end_local"
    )
    if changed:
        ensure_stores(conn, store_ids.unique())
        conn.exec_driver_sql("DELETE FROM business_hours")
        conn.exec_driver_sql(
            """
            INSERT INTO business_hours (store_id, day_of_week, start_local, end_local)
            SELECT store_id, day_of_week, start_local, end_local FROM _new_hours
            ORDER BY store_id, day_of_week, start_local, end_local
            """
        )
    drop_stage(conn, "_new_hours", "_stage_hours")
    return changed


def replace_timezones(conn: Connection, tz: pd.DataFrame) -> int:
    """Apply a full timezone snapshot to ``stores``; return the number of store rows changed.

    Stores in the frame get its values (new ones are inserted); stores absent from it fall back to
    ``America/Chicago`` with ``timezone_defaulted`` true and ``timezone_str`` NULL. If a store id
    appears more than once, its last row wins.
    """
    require_columns(tz, TIMEZONE_COLUMNS, "timezones")
    store_ids = store_id_series(tz["store_id"])
    payload = binary_payload(
        [
            BinaryColumn("int4", np.arange(len(tz), dtype=np.int64)),
            BinaryColumn("text", store_ids),
            BinaryColumn("text", nullable_text(tz["timezone_str"])),
            BinaryColumn("text", text_series(tz["timezone"], "timezone")),
            BinaryColumn("bool", bool_array(tz["timezone_defaulted"], "timezone_defaulted")),
            BinaryColumn("int8", store_hash(store_ids.to_numpy())),
        ]
    )
    create_stage(
        conn,
        "_stage_tz",
        f"ord int, store_id {STORE_ID_SQL}, timezone_str text, timezone text, dflt boolean, shard_hash bigint",
    )
    copy_in(conn, "_stage_tz", ("ord", "store_id", "timezone_str", "timezone", "dflt", "shard_hash"), payload)
    upserted = conn.exec_driver_sql(
        """
        INSERT INTO stores AS cur (store_id, timezone_str, timezone, timezone_defaulted, shard_hash)
        SELECT DISTINCT ON (store_id) store_id, timezone_str, timezone, dflt, shard_hash
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
    drop_stage(conn, "_stage_tz")
    return int(upserted) + int(reset)
