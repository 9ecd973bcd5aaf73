"""Store shards: a stable hash of store_id into N shards, the same on every machine and version.

Why not Python's ``hash()`` (salted per process) or Postgres' ``hashtext()`` (internal, may change
with a major version): a shard must name the same stores in the worker that computes it, in the
database column that selects its polls (``stores.shard_hash``), and in next year's run. FNV-1a over
the id's UTF-8 bytes, finished with murmur3's ``fmix32`` so that ``hash % N`` is even for ids that
differ only in their last characters, is small, documented and vectorizes: the loop runs over byte
positions (an id's length), never over stores.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)


def store_hash(store_ids: pd.Index | pd.Series | np.ndarray | list[str]) -> np.ndarray:
    """The 32-bit shard hash of each store id (as int64, so it fits Postgres' ``bigint``)."""
    ids = pd.Series(np.asarray(store_ids, dtype=object), dtype=object)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.asarray(ids.str.encode("utf-8").to_numpy(), dtype=np.bytes_)  # fixed width, NUL padded
    width = raw.dtype.itemsize
    lengths = np.char.str_len(raw)
    data = raw.view(np.uint8).reshape(len(raw), width)
    h = np.full(len(raw), _FNV_OFFSET, dtype=np.uint32)
    with np.errstate(over="ignore"):
        for i in range(width):
            inside = lengths > i  # NUL padding is not part of the id (ids hold no NUL bytes)
            step = (h ^ data[:, i]) * _FNV_PRIME
            h = np.where(inside, step, h)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
    return h.astype(np.int64)


def shard_of(store_ids: pd.Index | pd.Series | np.ndarray | list[str], shards: int) -> np.ndarray:
    """Shard number in [0, shards) of each store id."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    return store_hash(store_ids) % shards
