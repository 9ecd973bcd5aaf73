"""What every bulk write shares: frame checks, typed column arrays, TEMP staging tables, snapshot diffs.

The bulk layer (``poll_load``, ``reference_load``, ``file_records``, ``report_rows``, ``outage_rows``)
never writes row by row. Every function takes a SQLAlchemy ``Connection`` and runs inside the
transaction its caller owns, so a caller can make a whole file load (file record + rows + rejected
rows) one atomic unit. Writes COPY (binary, see ``copyio``) into a TEMP staging table (no WAL, no
indexes) and merge with one ``INSERT ... SELECT ... ON CONFLICT``; reads stream ``COPY (query) TO
STDOUT`` (``reads``).

Re-loading the same input must leave every table identical (and report 0 changed rows): polls only
ever flip active -> inactive on conflict, snapshot replacements are skipped when the stored snapshot
already equals the new one (:func:`multiset_difference`, so identity ids do not churn). The file
history is the exception by design: every load, a re-load too, adds its own ``ingested_files`` row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.types import BigInteger, Text

from storeuptime_pipeline.core.shards import store_hash

#: The store id type of staging tables: as in the models, so joins and EXCEPT compare bytewise.
STORE_ID_SQL: Final = 'text COLLATE "C"'


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """A frame missing a column is a caller's bug: say which, before any SQL runs."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame is missing columns {missing}")


def store_id_series(values: pd.Series) -> pd.Series:
    """Store ids must be non-missing strings: a numeric id would lose digits or formatting."""
    return text_series(values, "store_id")


def text_series(values: pd.Series, name: str) -> pd.Series:
    """The values, checked to be non-missing strings (object or string dtype)."""
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    if values.dtype == object:
        is_text = pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")
    else:
        is_text = isinstance(values.dtype, pd.StringDtype)
    if not is_text:
        raise TypeError(f"{name} must hold strings, got {values.dtype}")
    return values


def nullable_text(values: pd.Series, *, sanitize: bool = False) -> pd.Series:
    """Strings with missing values as None (NULL); optionally made storable by Postgres."""
    as_object = values.astype(object).where(values.notna(), None)
    if sanitize:
        as_object = as_object.map(lambda v: None if v is None else storable(str(v)))
    return as_object


def storable(value: str) -> str:
    """Replace what Postgres text cannot hold: NUL and characters that are not valid UTF-8."""
    return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def bool_array(values: pd.Series, name: str) -> np.ndarray:
    """The values as a bool array; a missing one is refused (``astype(bool)`` would make it True)."""
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    return values.to_numpy(dtype=bool)


def int_array(values: pd.Series, name: str) -> np.ndarray:
    """The values as an int64 array; a missing one is refused."""
    if values.isna().any():
        raise ValueError(f"{name} must not be missing")
    return values.to_numpy(dtype=np.int64)


def create_stage(conn: Connection, name: str, columns_sql: str) -> None:
    """A TEMP (unlogged, session-private) staging table without indexes, dropped at commit at latest."""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
    conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({columns_sql}) ON COMMIT DROP")


def drop_stage(conn: Connection, *names: str) -> None:
    """Drop staging tables now rather than at commit: a long transaction may stage several loads."""
    for name in names:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{name}")


def ensure_stores(
    conn: Connection, store_ids: Sequence[str] | np.ndarray | pd.api.extensions.ExtensionArray
) -> None:
    """Insert unseen store ids into ``stores`` with the column defaults (America/Chicago, defaulted)
    and their shard hash (computed for the whole array at once; see ``core.shards``)."""
    ids = sorted({str(s) for s in store_ids})
    if not ids:
        return
    conn.execute(
        text(
            "INSERT INTO stores (store_id, shard_hash) SELECT * FROM unnest(:ids, :hashes) ORDER BY 1"
            " ON CONFLICT (store_id) DO NOTHING"
        ).bindparams(bindparam("ids", type_=ARRAY(Text())), bindparam("hashes", type_=ARRAY(BigInteger()))),
        {"ids": ids, "hashes": store_hash(ids).tolist()},
    )


def multiset_difference(conn: Connection, table: str, stage: str, columns: str, where: str = "true") -> int:
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
