"""Where the lean polls of each store shard wait while the status files are read.

``storeuptime report --shards N`` reads the files once, chunk by chunk (``status_chunks``), and
appends each chunk's polls to its shards' spill files: three flat binary arrays per shard (store
code int32, instant int64 µs, status as one byte), in a temporary folder that is removed when the
``with`` block ends, also when it ends by an exception. Then shards are loaded one at a time, so
at most one shard's polls are in memory. Plain arrays rather than Arrow IPC or ``.npy``: appending
a chunk is a write, and nothing but this process ever reads them. With one shard nothing is
spilled (``InMemoryPolls``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np

from storeuptime_pipeline.core.sharded import CodedPolls, split_by_shard

_FIELDS = (("codes", np.int32), ("micros", np.int64), ("active", np.bool_))


class InMemoryPolls:
    """One shard: the chunks' polls kept in memory, concatenated when asked for."""

    shards = 1

    def __init__(self) -> None:
        self._parts: list[CodedPolls] = []
        self.newest_us: int | None = None
        self.count = 0

    def add(self, polls: CodedPolls, shard_of_code: np.ndarray) -> None:
        """Keep a chunk's polls (``shard_of_code`` is unused: there is one shard)."""
        _note(self, polls)
        self._parts.append(polls)

    def shard(self, index: int) -> CodedPolls:
        """All polls; the chunks are released (a second call returns nothing)."""
        parts, self._parts = self._parts, []
        if not parts:
            return _empty()
        polls = CodedPolls(*(np.concatenate([getattr(p, name) for p in parts]) for name, _ in _FIELDS))
        return polls

    def __enter__(self) -> InMemoryPolls:
        return self

    def __exit__(self, *exc: object) -> None:
        self._parts = []


class ShardSpill:
    """N shards of polls in spill files under a temporary folder that is always removed."""

    def __init__(self, shards: int, parent: str | Path | None = None) -> None:
        self.shards = shards
        self._parent = parent
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.newest_us: int | None = None
        self.count = 0

    @property
    def path(self) -> Path:
        """The spill folder (only inside the ``with`` block)."""
        if self._dir is None:
            raise RuntimeError("ShardSpill is used outside its with block")
        return Path(self._dir.name)

    def __enter__(self) -> ShardSpill:
        self._dir = tempfile.TemporaryDirectory(prefix="storeuptime-shards-", dir=self._parent)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _file(self, shard: int, name: str) -> Path:
        return self.path / f"shard{shard:04d}.{name}"

    def add(self, polls: CodedPolls, shard_of_code: np.ndarray) -> None:
        """Append a chunk's polls to the files of their shards (``shard_of_code``: shard per code)."""
        _note(self, polls)
        for s, part in enumerate(split_by_shard(polls, shard_of_code, self.shards)):
            if len(part) == 0:
                continue
            for name, dtype in _FIELDS:
                with self._file(s, name).open("ab") as fh:
                    np.asarray(getattr(part, name), dtype=dtype).tofile(fh)

    def shard(self, index: int) -> CodedPolls:
        """The polls of one shard, in file order (empty when the shard has none)."""
        if not self._file(index, "codes").exists():
            return _empty()
        arrays = [np.fromfile(self._file(index, name), dtype=dtype) for name, dtype in _FIELDS]
        return CodedPolls(*arrays)


def _note(store: InMemoryPolls | ShardSpill, polls: CodedPolls) -> None:
    """Count the polls and keep the newest instant: the default as-of is the fleet's newest poll."""
    store.count += len(polls)
    if len(polls):
        newest = int(polls.micros.max())
        store.newest_us = newest if store.newest_us is None else max(store.newest_us, newest)


def _empty() -> CodedPolls:
    return CodedPolls(*(np.zeros(0, dtype=dtype) for _, dtype in _FIELDS))
