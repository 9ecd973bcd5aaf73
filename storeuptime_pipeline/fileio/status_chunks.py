"""Status files read in chunks into lean polls: store ids as integer codes, instants as int64 µs.

Why: read whole, a 100 MB status file is ~600 MB of Arrow text, pandas frames and pandera's
copies at once; a 1 GB one is past 4 GB. Here the file is cut into chunks of whole lines (the
header line put in front of each), and each chunk goes through the one validation path
(``csv_input.read_csv_strings`` and ``core.validation.validate_input``) with the file's line
numbers, so the rows kept, the rejects, their lines and reasons are those of ``read_input``. The
chunk's text is dropped once validated; what is kept of a poll is 13 bytes: a store code into a
dictionary of the distinct ids (``StoreCodes``), its instant and its status.

A file with a quote character is read whole (``read_input``), then made lean: a quoted field may
hold a line break, and only a reader of the whole file knows where its rows start. So does a file
with a carriage return that ends no line (the CSV reader counts it as a line break). Neither is
seen in real status files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.core.reasons import empty_rejects
from storeuptime_pipeline.core.report import epoch_us
from storeuptime_pipeline.core.rules import arrow_text
from storeuptime_pipeline.core.sharded import CodedPolls
from storeuptime_pipeline.core.shards import shard_of
from storeuptime_pipeline.core.validation import ReadResult, validate_input
from storeuptime_pipeline.fileio.csv_input import (
    _read_header,
    canonical_columns,
    read_csv_strings,
    read_input,
)
from storeuptime_pipeline.fileio.lines import raw_lines
from storeuptime_pipeline.fileio.memory import release_freed_memory

#: Bytes of CSV text validated at once, at least: ~280k polls, ~190 MB while validated (8 MiB:
#: ~120 MB, and slower by the fixed cost of each validation and id lookup).
CHUNK_BYTES = 16 << 20
#: Larger files take larger chunks (1/32 of the file, up to 64 MiB): each chunk pays a fixed cost
#: (pandera's setup, a hash of the known store ids), which would otherwise grow with the file
#: times the fleet; a 1 GB file's 32 MiB chunks peak at ~400 MB, far below its shards' budget.
MAX_CHUNK_BYTES = 64 << 20


def chunk_size(file_bytes: int) -> int:
    """The chunk size for a file of this size."""
    return min(MAX_CHUNK_BYTES, max(CHUNK_BYTES, file_bytes // 32))


_SCAN_BLOCK = 8 << 20


class StoreCodes:
    """A growing dictionary of store ids: the code of each, and the shard of each code.

    Kept as one Arrow string array and matched with Arrow's hash lookup (``index_in``), so the ids
    of a chunk never become Python strings; only ids seen for the first time do, once, for their
    shard hash. (A pandas Index here cost ~1 s a chunk on the 10x file: every lookup turned the
    140k known ids into Python objects again.)
    """

    def __init__(self, shards: int = 1) -> None:
        self.shards = shards
        self._ids = pa.array([], pa.string())
        self._index: pd.Index | None = None
        self.shard = np.zeros(0, dtype=np.int64)

    @property
    def categories(self) -> pd.Index:
        """The ids by code (a text Index over the Arrow array, no copy)."""
        if self._index is None:
            self._index = pd.Index(pd.arrays.ArrowStringArray(self._ids))
        return self._index

    def encode(self, store_ids: pd.Series) -> np.ndarray:
        """The int32 code of each id, adding the ids not seen before.

        One hash lookup of the chunk's values in the known ids; a second only for a chunk that
        brought new ids (the first chunks). The values are one contiguous array first: a
        dictionary encoding of the reader's 16 pieces, unified after, cost ~0.4 s a chunk.
        """
        text = arrow_text(store_ids)
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        found = pc.index_in(text, value_set=self._ids)
        if found.null_count:
            added = pc.unique(text.filter(found.is_null())).cast(pa.string())
            self._ids = pa.concat_arrays([self._ids, added])
            self._index = None
            self.shard = np.concatenate([self.shard, shard_of(added.to_pylist(), self.shards)])
            found = pc.index_in(text, value_set=self._ids)
        return found.to_numpy(zero_copy_only=False).astype(np.int32)


def _lean(valid: pd.DataFrame, codes: StoreCodes) -> CodedPolls:
    return CodedPolls(
        codes.encode(valid["store_id"]),
        epoch_us(valid["timestamp_utc"]),
        valid["is_active"].to_numpy(dtype=bool),
    )


def _needs_whole_read(path: Path) -> bool:
    """A quote, or a carriage return that ends no line: cut into chunks, rows could move.

    One ``in`` test per block (memchr speed) for quotes; in a block with carriage returns (every
    block of a CRLF file), the byte after each one is looked at with numpy.
    """
    with path.open("rb") as fh:
        after_cr = False  # the previous block ended with a carriage return
        for block in iter(lambda: fh.read(_SCAN_BLOCK), b""):
            if b'"' in block or (after_cr and not block.startswith(b"\n")):
                return True
            after_cr = False
            if b"\r" in block:
                data = np.frombuffer(block, dtype=np.uint8)
                cr = np.flatnonzero(data == 0x0D)
                after_cr = bool(cr[-1] == len(data) - 1)
                inner = cr[:-1] if after_cr else cr
                if not (data[inner + 1] == 0x0A).all():
                    return True
    return after_cr


def _chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """(header line + whole lines, physical line number of the first of them), in file order."""
    with path.open("rb") as fh:
        header = fh.readline()
        line = 2
        carry = b""
        while True:
            block = fh.read(chunk_bytes)
            if not block:
                if carry:
                    yield header + carry, line
                return
            data = carry + block
            end = data.rfind(b"\n") + 1
            if end == 0:
                carry = data
                continue
            body, carry = data[:end], data[end:]
            yield header + body, line
            line += body.count(b"\n")


def read_status_lean(
    path: str | Path,
    codes: StoreCodes,
    sink: Callable[[CodedPolls], None],
    chunk_bytes: int | None = None,
) -> ReadResult:
    """Read one status file chunk by chunk, handing each chunk's valid polls to ``sink`` as codes.

    Returns the file's ReadResult as ``read_input`` would (rows read, rejects with their lines,
    reasons and text), except that ``valid`` is empty: the polls went to ``sink``, and their count
    is ``rows_used``.
    """
    path = Path(path)
    canonical_columns(_read_header(path), path, "status")  # a file-level error first, as read_input
    if _needs_whole_read(path):
        result = read_input(path, "status")
        sink(_lean(result.valid, codes))
        return _counted(result, len(result.valid))
    rows_read, used, rejected = 0, 0, []
    for chunk, first_line in _chunks(path, chunk_bytes or chunk_size(path.stat().st_size)):
        rows, structural = read_csv_strings(path, "status", chunk=chunk, first_line=first_line)
        del chunk
        part = validate_input("status", rows, structural, str(path))
        del rows, structural
        rows_read += part.rows_read
        used += len(part.valid)
        if len(part.rejected):
            rejected.append(part.rejected)
        sink(_lean(part.valid, codes))
        del part
        release_freed_memory()
    if rows_read == 0:
        raise InputFileError(path, "the file has a header but no data rows")
    rejects = pd.concat(rejected, ignore_index=True) if rejected else empty_rejects()
    missing_raw = rejects["raw"].eq("")
    if missing_raw.any():
        rejects.loc[missing_raw, "raw"] = raw_lines(path, rejects.loc[missing_raw, "line"].to_numpy())
    return ReadResult(
        kind="status", path=str(path), valid=_no_rows(), rejected=rejects, rows_read=rows_read, rows_used=used
    )


def _no_rows() -> pd.DataFrame:
    return pd.DataFrame({"store_id": pd.Series(dtype="str")})


def _counted(result: ReadResult, used: int) -> ReadResult:
    result.valid = _no_rows()
    result.rows_used = used
    return result
