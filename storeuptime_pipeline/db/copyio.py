"""COPY plumbing for the bulk layer: vectorized binary encoding in, CSV decoding out.

Why binary COPY in: the text format needs every timestamp, integer and float turned into a Python
string (seconds per million rows), while the binary format is fixed-width big-endian numbers that numpy
writes in one pass. The only variable-width fields are text; rows are grouped by the byte lengths of
their text fields so that each group is a plain numpy structured array (store ids repeat ~100 times and
have one or two distinct lengths, so a 1.7M-row poll frame is one or two groups).

Why CSV out: ``COPY (query) TO STDOUT`` streams a result at server speed and pandas' C parser reads
it back in one call; timestamps are sent as integer epoch microseconds to skip date parsing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2.extensions import connection as PgConnection
from sqlalchemy.engine import Connection

BinaryType = Literal["text", "int2", "int4", "int8", "float8", "bool", "timestamptz"]

_FIXED_DTYPES: Final[dict[str, str]] = {
    "int2": ">i2",
    "int4": ">i4",
    "int8": ">i8",
    "float8": ">f8",
    "bool": "?",
    "timestamptz": ">i8",  # microseconds since 2000-01-01 UTC
}
_PG_EPOCH_US: Final = 946_684_800 * 1_000_000  # 2000-01-01 in Unix microseconds
_HEADER: Final = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_TRAILER: Final = (-1).to_bytes(2, "big", signed=True)
NULL_MARK: Final = r"\N"
_COPY_CHUNK: Final = 1 << 20


@dataclass(frozen=True)
class BinaryColumn:
    """One column of a binary COPY: its Postgres type and its values (text may hold None)."""

    pg_type: BinaryType
    values: Any  # pd.Series or np.ndarray


def dbapi(conn: Connection) -> PgConnection:
    """The psycopg2 connection under a SQLAlchemy connection (same session, same transaction)."""
    raw = conn.connection.dbapi_connection
    if raw is None:
        raise RuntimeError("The SQLAlchemy connection is closed")
    return raw  # type: ignore[return-value]


def utc_microseconds(values: pd.Series) -> np.ndarray:
    """Unix epoch microseconds (int64) of a tz-aware datetime series; NaT is rejected."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        raise TypeError(f"Expected a tz-aware datetime column, got {values.dtype}")
    if values.isna().any():
        raise ValueError("Timestamps must not be missing")
    naive = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return naive.to_numpy(dtype="datetime64[us]").view("int64")


def from_utc_microseconds(values: np.ndarray) -> pd.Series:
    """Inverse of :func:`utc_microseconds`: a ``datetime64[us, UTC]`` series."""
    return pd.Series(np.asarray(values, dtype="int64").view("datetime64[us]")).dt.tz_localize("UTC")


class BinaryPayload:
    """A binary COPY stream kept as separate chunks and read sequentially by ``copy_expert``.

    Avoids concatenating (copying) tens of megabytes just to hand them to the driver.
    """

    def __init__(self, chunks: Sequence[bytes | memoryview]) -> None:
        self._chunks = [memoryview(c).cast("B") for c in chunks]
        self._index = 0
        self._offset = 0
        self.nbytes = sum(c.nbytes for c in self._chunks)

    def read(self, size: int = -1) -> bytes:
        """File protocol used by psycopg2: up to ``size`` bytes, b"" at the end."""
        while self._index < len(self._chunks):
            chunk = self._chunks[self._index]
            if self._offset < chunk.nbytes:
                stop = chunk.nbytes if size < 0 else min(chunk.nbytes, self._offset + size)
                data = chunk[self._offset : stop].tobytes()
                self._offset = stop
                return data
            self._index += 1
            self._offset = 0
        return b""

    def getvalue(self) -> bytes:
        """The whole stream as bytes (tests and debugging)."""
        return b"".join(c.tobytes() for c in self._chunks)


def binary_payload(columns: Sequence[BinaryColumn]) -> BinaryPayload:
    """Encode columns (all of one length, fixed-width ones non-null) as a binary COPY stream."""
    n_rows = len(columns[0].values) if columns else 0
    if any(len(col.values) != n_rows for col in columns):
        raise ValueError("All columns must have the same length")

    fixed: dict[int, np.ndarray] = {}
    texts: dict[int, tuple[np.ndarray, list[bytes]]] = {}
    row_lengths: dict[int, np.ndarray] = {}  # byte length of each row's text field, -1 = NULL
    for i, col in enumerate(columns):
        if col.pg_type == "text":
            codes, uniques = pd.factorize(col.values, use_na_sentinel=True)
            encoded = [str(value).encode("utf-8") for value in uniques]
            codes = np.asarray(codes)
            texts[i] = (codes, encoded)
            # The trailing -1 is picked by code -1 (missing value).
            row_lengths[i] = np.array([len(b) for b in encoded] + [-1], dtype=np.int64)[codes]
        else:
            values = np.asarray(col.values)
            if col.pg_type == "timestamptz":
                values = values.astype("int64") - _PG_EPOCH_US
            elif col.pg_type != "float8" and pd.isna(values).any():
                raise ValueError(f"Column {i} ({col.pg_type}) must not contain missing values")
            fixed[i] = values.astype(_FIXED_DTYPES[col.pg_type])

    chunks: list[bytes | memoryview] = [_HEADER]
    if n_rows:
        group_of_row, n_groups = _length_groups(list(row_lengths.values()), n_rows)
        for g in range(n_groups):
            rows = np.flatnonzero(group_of_row == g) if n_groups > 1 else np.arange(n_rows)
            widths = {i: int(lengths[rows[0]]) for i, lengths in row_lengths.items()}
            chunks.append(_encode_group(columns, fixed, texts, widths, rows))
    chunks.append(_TRAILER)
    return BinaryPayload(chunks)


def _length_groups(row_lengths: Sequence[np.ndarray], n_rows: int) -> tuple[np.ndarray, int]:
    """Group id per row such that rows of a group have equal byte lengths in every text column.

    Hash-factorizes one column at a time and re-compresses, so keys stay below n_rows**2.
    """
    group = np.zeros(n_rows, dtype=np.int64)
    n_groups = 1
    for lengths in row_lengths:
        codes, uniques = pd.factorize(lengths)
        group, combos = pd.factorize(group * len(uniques) + codes)
        n_groups = len(combos)
    return np.asarray(group), n_groups


def _encode_group(
    columns: Sequence[BinaryColumn],
    fixed: Mapping[int, np.ndarray],
    texts: Mapping[int, tuple[np.ndarray, list[bytes]]],
    text_widths: Mapping[int, int],
    rows: np.ndarray,
) -> memoryview:
    """Encode rows whose text fields all have the given byte lengths as one structured array."""
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, col in enumerate(columns):
        fields.append((f"l{i}", ">i4"))
        if col.pg_type != "text":
            fields.append((f"v{i}", _FIXED_DTYPES[col.pg_type]))
        elif text_widths[i] > 0:
            fields.append((f"v{i}", f"S{text_widths[i]}"))
    out = np.empty(len(rows), dtype=np.dtype(fields))  # packed: no alignment padding
    out["n"] = len(columns)
    for i, col in enumerate(columns):
        if col.pg_type != "text":
            out[f"l{i}"] = np.dtype(_FIXED_DTYPES[col.pg_type]).itemsize
            out[f"v{i}"] = fixed[i][rows]
            continue
        width = text_widths[i]
        out[f"l{i}"] = width
        if width > 0:
            codes, encoded = texts[i]
            # The distinct values of this width as an S<width> array, reached from codes via a lookup.
            wanted = [k for k, b in enumerate(encoded) if len(b) == width]
            lookup = np.zeros(len(encoded), dtype=np.int64)
            lookup[wanted] = np.arange(len(wanted))
            packed = np.array([encoded[k] for k in wanted], dtype=f"S{width}")
            out[f"v{i}"] = packed[lookup[codes[rows]]]
    return memoryview(out.view(np.uint8))


def copy_in(conn: Connection, table: str, columns: Sequence[str], payload: BinaryPayload) -> None:
    """``COPY table (columns) FROM STDIN`` with a binary payload, inside the caller's transaction."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)"
    with dbapi(conn).cursor() as cur:
        cur.copy_expert(sql, payload, size=_COPY_CHUNK)


def copy_out_frame(
    conn: Connection,
    query: str,
    params: Mapping[str, Any] | Sequence[Any] | None,
    dtypes: Mapping[str, str],
) -> pd.DataFrame:
    """Run ``COPY (query) TO STDOUT`` as CSV and parse it into a frame with ``dtypes``.

    COPY cannot take bind parameters, so they are interpolated client-side by psycopg2's ``mogrify``
    (proper literal quoting). ``dtypes`` values: ``str``, ``int64``, ``float64``, ``bool`` (sent as
    0/1), ``us_utc`` (sent as epoch microseconds), ``utc_text`` (sent as ``ts AT TIME ZONE 'UTC'``:
    cheaper for Postgres than epoch arithmetic on numerics, and parsed natively by Arrow), ``tf``
    (a boolean sent as is: ``t``/``f``) and ``category`` (text that repeats, such as the store id of
    every poll: Arrow's reader dictionary-encodes it while parsing, so the frame gets a
    ``pd.Categorical`` of int32 codes and one Python string per distinct value, not one per row;
    the engine's ``dedupe_polls`` uses the codes as they are). SQL NULL is ``\\N``; an empty
    string stays empty.
    """
    names = list(dtypes)
    with dbapi(conn).cursor() as cur:
        statement = cur.mogrify(query, params).decode("utf-8") if params is not None else query
        buffer = io.BytesIO()
        cur.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv, NULL '\\N')", buffer)
    arrow_types = {
        name: {
            "str": pa.string(),
            "int64": pa.int64(),
            "float64": pa.float64(),
            "bool": pa.int8(),
            "us_utc": pa.int64(),
            "utc_text": pa.timestamp("us"),
            "tf": pa.bool_(),
            "category": pa.dictionary(pa.int32(), pa.string()),
        }[kind]
        for name, kind in dtypes.items()
    }
    if buffer.tell() == 0:
        table = pa.table({name: pa.array([], type=arrow_types[name]) for name in names})
    else:
        buffer.seek(0)
        # Arrow's multithreaded reader: ~10x the pandas C reader for 1.5M polls into Arrow strings.
        table = pacsv.read_csv(
            buffer,
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(
                column_types=arrow_types,
                null_values=[NULL_MARK],
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
                true_values=["t"],
                false_values=["f"],
            ),
        )
    frame = table.to_pandas()
    for name, kind in dtypes.items():
        if kind == "bool":
            frame[name] = frame[name].astype(bool)
        elif kind == "us_utc":
            frame[name] = from_utc_microseconds(frame[name].to_numpy())
        elif kind == "utc_text":
            frame[name] = frame[name].astype("datetime64[us]").dt.tz_localize("UTC")
        elif kind == "category":
            frame[name] = _text_categories(frame[name])
    return frame


def _text_categories(values: pd.Series) -> pd.Series:
    """A categorical whose categories are the pandas text dtype, as a ``str`` column's values are.

    (Arrow's dictionary arrives with object categories from ``to_pandas``; only the distinct values
    are converted, and an empty result keeps the categorical dtype.)
    """
    if not isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("category")
    categories = values.cat.categories
    if categories.dtype != "str":
        values = values.cat.rename_categories(pd.Index(categories, dtype="str"))
    return values
