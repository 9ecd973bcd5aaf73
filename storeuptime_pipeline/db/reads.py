"""The engine's inputs read back from Postgres: a window of polls, the hours and timezone snapshots.

Each read streams ``COPY (query) TO STDOUT`` (``copyio``) and returns the frame shape the reading
rules produce from the files, so the engine cannot tell a report from Postgres from one on files.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import pandas as pd
from pandas.api.types import union_categoricals
from sqlalchemy.engine import Connection, Engine

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.db.copyio import copy_out_frame


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the stores whose ``stores.shard_hash % count = index``.

    ``shard_hash`` is ``core.shards.store_hash``, so ``shard_of(ids, count) == index`` in the engine
    names the same stores (tests split frames with it and compare).
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}: expected 0 <= index < count, count >= 1")


def shard_filter(column: str, shard: Shard | None) -> tuple[str, dict[str, int]]:
    """SQL that keeps the rows of ``column`` (a store id) in ``shard``, and its parameters.

    The one shard predicate every read shares (empty without a shard, so an unsharded read is the
    same query without it). A semi-join against ``stores``: every stored poll, hours row and timezone
    row has its store there (loads insert missing ids, ``staging.ensure_stores``).
    """
    if shard is None or shard.count == 1:
        return "", {}
    sql = (
        f" AND {column} IN (SELECT store_id FROM stores"
        " WHERE mod(shard_hash, %(shard_count)s) = %(shard_index)s)"
    )
    return sql, {"shard_count": shard.count, "shard_index": shard.index}


# psycopg2 parameter style: COPY takes no bind parameters, so values are mogrified in (copyio).
# {shard} is the shard predicate (shard_filter) or empty: one template for sharded and unsharded reads;
# {upper} closes the window (<=) or leaves its end out (<) for a part that another part continues.
# store_id as a categorical: one Python string per store, not per poll (the engine uses its codes).
_POLL_TYPES: Final = {"store_id": "category", "timestamp_utc": "utc_text", "is_active": "tf"}
_POLLS_WINDOW: Final = """
    SELECT store_id, timestamp_utc AT TIME ZONE 'UTC', is_active
    FROM store_status
    WHERE timestamp_utc >= %(start)s AND timestamp_utc {upper} %(end)s{shard}
"""
_LAST_EARLIER_POLL: Final = """
    SELECT s.store_id, p.timestamp_utc AT TIME ZONE 'UTC', p.is_active
    FROM stores s
    CROSS JOIN LATERAL (
        SELECT timestamp_utc, is_active FROM store_status
        WHERE store_status.store_id = s.store_id AND store_status.timestamp_utc < %(start)s
        ORDER BY timestamp_utc DESC
        LIMIT 1
    ) p
    WHERE true{shard}
"""
#: The unsharded queries as they run (the benchmarks EXPLAIN them).
POLLS_WINDOW_SQL: Final = _POLLS_WINDOW.format(shard="", upper="<=")
LAST_EARLIER_POLL_SQL: Final = _LAST_EARLIER_POLL.format(shard="")


def read_polls_window(
    conn: Connection,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    shard: Shard | None = None,
) -> pd.DataFrame:
    """Polls with ``start <= timestamp_utc <= end`` plus, per store, its last poll before ``start``.

    The earlier poll tells the engine each store's state when the window opens. Unordered: the
    engine sorts anyway, and sorting here would only repeat that work. With ``shard``, only its
    stores' polls. On one connection; :func:`read_inputs_parallel` reads the same rows on several.
    """
    return combine_polls(
        [read_window_part(conn, start, end, shard, closed=True), read_earlier_polls(conn, start, shard)]
    )


def read_window_part(
    conn: Connection,
    start: datetime | pd.Timestamp,
    end: datetime | pd.Timestamp,
    shard: Shard | None = None,
    *,
    closed: bool,
) -> pd.DataFrame:
    """Polls with ``start <= timestamp_utc < end`` (``<= end`` when ``closed``), of ``shard``'s stores."""
    params: dict[str, object] = {"start": to_utc(start).to_pydatetime(), "end": to_utc(end).to_pydatetime()}
    # The window is read through a bitmap scan: a plain index scan visits the heap in time order, and
    # once history was loaded out of order (a backfill of older files) that is much slower than reading
    # the window's pages in physical order. The per-store probes of the earlier polls use the PK index.
    conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
    try:
        where, shard_params = shard_filter("store_id", shard)
        query = _POLLS_WINDOW.format(shard=where, upper="<=" if closed else "<")
        return copy_out_frame(conn, query, {**params, **shard_params}, _POLL_TYPES)
    finally:
        conn.exec_driver_sql("RESET enable_indexscan")


def read_earlier_polls(
    conn: Connection, start: datetime | pd.Timestamp, shard: Shard | None = None
) -> pd.DataFrame:
    """Each store's (of ``shard``) last poll before ``start``.

    One backward PK-index probe per store (LATERAL ... ORDER BY timestamp_utc DESC LIMIT 1), so the
    cost depends on the number of stores, not on how much older history is stored.
    """
    where, shard_params = shard_filter("s.store_id", shard)
    params = {"start": to_utc(start).to_pydatetime(), **shard_params}
    return copy_out_frame(conn, _LAST_EARLIER_POLL.format(shard=where), params, _POLL_TYPES)


def combine_polls(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One poll frame from parts read apart, the store ids kept categorical.

    ``pd.concat`` of categoricals with different categories falls back to one string per poll.
    """
    store_id = union_categoricals([part["store_id"] for part in parts])
    both = pd.concat([part.drop(columns="store_id") for part in parts], ignore_index=True)
    both.insert(0, "store_id", store_id)
    return both


def read_business_hours(conn: Connection, shard: Shard | None = None) -> pd.DataFrame:
    """All business hours (of ``shard``'s stores) as seconds since local midnight (24:00 -> 86400), sorted."""
    where, params = shard_filter("store_id", shard)
    query = f"""
        SELECT store_id, day_of_week, extract(epoch FROM start_local)::int, extract(epoch FROM end_local)::int
        FROM business_hours
        WHERE true{where}
        ORDER BY store_id COLLATE "C", day_of_week, start_local, end_local, id
    """
    dtypes = {"store_id": "str", "day_of_week": "int64", "start_seconds": "int64", "end_seconds": "int64"}
    return copy_out_frame(conn, query, params or None, dtypes)


def read_timezones(conn: Connection, shard: Shard | None = None) -> pd.DataFrame:
    """Every known store (of ``shard``) with its timezone (defaulted ones included), sorted by store_id."""
    where, params = shard_filter("store_id", shard)
    query = f"""
        SELECT store_id, timezone_str, timezone, timezone_defaulted::int
        FROM stores WHERE true{where} ORDER BY store_id COLLATE "C"
    """
    dtypes = {"store_id": "str", "timezone_str": "str", "timezone": "str", "timezone_defaulted": "bool"}
    return copy_out_frame(conn, query, params or None, dtypes)


def warm_backends(engine: Engine, count: int) -> None:
    """Open ``count`` pooled connections at once and have each plan the poll reads.

    Why: a new Postgres backend loads the catalog entries of each partition and index a query
    touches when it first plans it; on fresh connections a report's first read took 0.1-0.2 s longer
    (seed fleet). A process that is about to report (a warm run worker) pays that ahead of time. The
    window spans every partition, so whatever instant the report asks for is planned already.
    """
    params = {"start": datetime(1970, 1, 1, tzinfo=UTC), "end": datetime(9999, 1, 1, tzinfo=UTC)}
    with ExitStack() as stack:
        conns = [stack.enter_context(engine.connect()) for _ in range(count)]
        for conn in conns:
            for sql in (POLLS_WINDOW_SQL, LAST_EARLIER_POLL_SQL):
                conn.exec_driver_sql(f"EXPLAIN {sql}", params)
            conn.rollback()
