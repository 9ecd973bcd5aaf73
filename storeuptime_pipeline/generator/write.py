"""Writing a generated data set in the real file formats; the large status file byte by byte.

The status file is assembled from per-row byte blocks (ids, status, timestamp pieces) gathered from
small matrices, chunk by chunk, instead of formatting 1.75M rows in Python or pandas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from storeuptime_pipeline.generator.fleet import Stores
from storeuptime_pipeline.generator.polls import DAY_S, US_PER_S, Polls

_CHUNK_ROWS = 1 << 18  # bounds the byte matrices built per chunk of status rows to a few tens of MB


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded ASCII digits as a (n, width) uint8 matrix."""
    values = np.asarray(values, dtype=np.int64).copy()
    out = np.empty((values.size, width), dtype=np.uint8)
    for column in range(width - 1, -1, -1):
        out[:, column] = values % 10 + ord("0")
        values //= 10
    return out


def _text_matrix(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left-aligned bytes of short strings plus their lengths, for gathering by index."""
    encoded = np.char.encode(np.asarray(texts, dtype=str), "ascii")
    width = max(int(encoded.dtype.itemsize), 1)
    matrix = np.frombuffer(encoded.astype(f"S{width}").tobytes(), dtype=np.uint8).reshape(-1, width)
    return matrix, np.char.str_len(encoded).astype(np.int64)


def _timestamp_blocks(time_us: np.ndarray) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """`YYYY-MM-DD HH:MM:SS[.f] UTC`: a fraction with trailing zeros trimmed, none when it is zero."""
    day, micros = np.divmod(time_us, DAY_S * US_PER_S)
    unique_days, day_index = np.unique(day, return_inverse=True)
    date_text = np.datetime_as_string(unique_days.astype("datetime64[D]"), unit="D")
    date_matrix, _ = _text_matrix(np.char.add(date_text, " "))
    seconds, fraction = np.divmod(micros, US_PER_S)
    clock = np.empty((time_us.size, 8), dtype=np.uint8)
    clock[:, [2, 5]] = ord(":")
    for column, value in ((0, seconds // 3600), (3, seconds // 60 % 60), (6, seconds % 60)):
        clock[:, column : column + 2] = _digits(value, 2)
    trailing = sum((fraction % 10**k == 0).astype(np.int64) for k in range(1, 7))
    frac_text = np.empty((time_us.size, 7), dtype=np.uint8)
    frac_text[:, 0] = ord(".")
    frac_text[:, 1:] = _digits(fraction, 6)
    frac_len = np.where(fraction == 0, 0, 7 - trailing)
    return [(date_matrix[day_index], None), (clock, None), (frac_text, frac_len)]


def _join_rows(blocks: list[tuple[np.ndarray, np.ndarray | None]]) -> bytes:
    """Concatenate per-row byte blocks, each cut to its row's length (None: keep whole), row-major."""
    matrix = np.hstack([block for block, _ in blocks])
    keep = np.hstack(
        [
            np.ones(block.shape, dtype=bool)
            if length is None
            else np.arange(block.shape[1]) < length[:, None]
            for block, length in blocks
        ]
    )
    return matrix[keep].tobytes()


def _constant(text: str, rows: int) -> tuple[np.ndarray, None]:
    return np.broadcast_to(np.frombuffer(text.encode(), dtype=np.uint8), (rows, len(text))), None


def write_status(stores: Stores, polls: Polls, order: np.ndarray, path: Path) -> None:
    id_matrix, id_len = _text_matrix(stores.ids)
    status_matrix, status_len = _text_matrix(np.array(["active", "inactive"]))
    with path.open("wb") as handle:
        handle.write(b"store_id,status,timestamp_utc\n")
        for begin in range(0, order.size, _CHUNK_ROWS):
            rows = order[begin : begin + _CHUNK_ROWS]
            store, state = polls.store[rows], polls.inactive[rows].astype(np.int64)
            blocks = [
                (id_matrix[store], id_len[store]),
                _constant(",", rows.size),
                (status_matrix[state], status_len[state]),
                _constant(",", rows.size),
                *_timestamp_blocks(polls.time_us[rows]),
                _constant(" UTC\n", rows.size),
            ]
            handle.write(_join_rows(blocks))


def _format_hms(seconds: np.ndarray) -> np.ndarray:
    """HH:MM:SS without a per-row Python call; 86400 comes out as 24:00:00 on purpose."""
    seconds = np.asarray(seconds, dtype=np.int64)
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    text = np.empty((seconds.size, 8), dtype=np.uint8)
    text[:, [2, 5]] = ord(":")
    for column, value in ((0, hours), (3, minutes), (6, secs)):
        text[:, column : column + 2] = _digits(value, 2)
    return text.view("S8").ravel().astype(str)


def write_hours(stores: Stores, rows: pd.DataFrame, path: Path) -> None:
    """The hours file: ``rows`` (store index, day, start s, end s) in their order, times as HH:MM:SS."""
    frame = pd.DataFrame(
        {
            "store_id": stores.ids[rows["store"].to_numpy()],
            "day": rows["day"].to_numpy(),
            "start_time_local": _format_hms(rows["start"].to_numpy()),
            "end_time_local": _format_hms(rows["end"].to_numpy()),
        }
    )
    frame.to_csv(path, index=False, lineterminator="\n")


def write_timezones(rng: np.random.Generator, stores: Stores, path: Path) -> None:
    """The timezones file: one row per store that has one, grouped by zone in random group order."""
    present = np.flatnonzero(~pd.isna(stores.timezone))
    zones = stores.timezone[present].astype(str)
    # The real file is a BigQuery export grouped by timezone, groups in no particular order.
    names, group = np.unique(zones, return_inverse=True)
    group_rank = rng.permutation(names.size)[group]
    order = np.argsort(group_rank, kind="stable")
    frame = pd.DataFrame({"store_id": stores.ids[present[order]], "timezone_str": zones[order]})
    frame.to_csv(path, index=False, lineterminator="\n")
