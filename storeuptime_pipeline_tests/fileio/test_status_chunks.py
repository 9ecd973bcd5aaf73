"""Status files read in chunks (fileio/status_chunks.py): exactly what read_input reads, as codes.

The chunks here are a few dozen bytes so that every kind of bad row lands in some chunk, at a
chunk's first or last line too; the real size is 16 MiB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.core.report import epoch_us
from storeuptime_pipeline.core.sharded import CodedPolls
from storeuptime_pipeline.fileio import status_chunks
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.shard_spill import ShardSpill
from storeuptime_pipeline.fileio.status_chunks import StoreCodes, read_status_lean

HEADER = b"store_id,status,timestamp_utc\n"
ROWS = [
    b"1,active,2023-01-22 12:00:00 UTC",
    b"2,inactive,2023-01-22 12:00:00.123456 UTC",
    b"",  # layout: skipped silently
    b"3,maybe,2023-01-22 12:00:00 UTC",  # unknown status
    b",active,2023-01-22 12:00:00 UTC",  # empty store id
    b"4,active,yesterday",  # unreadable timestamp
    b"5,active",  # wrong number of fields
    b",,",  # every field empty
    b"6,active,2023-01-22 12:00:00 UTC,extra",
    b"\xff\xfe7,active,2023-01-22 12:00:00 UTC",  # not UTF-8
    b"8\x01,active,2023-01-22 12:00:00 UTC",  # control character in the id
    b"1,active,2023-01-22 12:00:00 UTC",  # a duplicate poll
    b"9,ACTIVE , 2023-01-22T13:00:00+01:00",  # lenient spellings
    b"10,active,9999-01-01 00:00:00 UTC",  # outside the time limits
    b"  11  ,inactive,2023-01-22 12:30:00 UTC",
    b"2,active,2023-01-22 13:00:00 UTC",
]


def _read_lean(path: Path, chunk_bytes: int) -> tuple[object, pd.DataFrame]:
    codes = StoreCodes()
    parts: list[CodedPolls] = []
    result = read_status_lean(path, codes, parts.append, chunk_bytes=chunk_bytes)
    polls = pd.DataFrame(
        {
            "store_id": codes.categories.take(np.concatenate([p.codes for p in parts])),
            "us": np.concatenate([p.micros for p in parts]),
            "is_active": np.concatenate([p.active for p in parts]),
        }
    )
    return result, polls


def _expected(path: Path) -> tuple[object, pd.DataFrame]:
    whole = read_input(path, "status")
    polls = pd.DataFrame(
        {
            "store_id": whole.valid["store_id"].astype("str").to_numpy(),
            "us": epoch_us(whole.valid["timestamp_utc"]),
            "is_active": whole.valid["is_active"].to_numpy(dtype=bool),
        }
    )
    return whole, polls


@pytest.mark.parametrize("chunk_bytes", [1, 40, 97, 1 << 20])
@pytest.mark.parametrize("final_newline", [True, False])
def test_chunks_give_read_inputs_rows_rejects_lines_and_reasons(
    tmp_path: Path, chunk_bytes: int, final_newline: bool
) -> None:
    path = tmp_path / "store_status.csv"
    path.write_bytes(HEADER + b"\n".join(ROWS) + (b"\n" if final_newline else b""))
    whole, want = _expected(path)
    got, polls = _read_lean(path, chunk_bytes)
    assert len(whole.rejected) >= 9
    pd.testing.assert_frame_equal(got.rejected, whole.rejected)
    assert (got.rows_read, got.used, got.reject_summary()) == (
        whole.rows_read,
        len(whole.valid),
        whole.reject_summary(),
    )
    pd.testing.assert_frame_equal(polls, want, check_dtype=False)


def test_a_file_with_quotes_is_read_whole_with_the_same_result(tmp_path: Path) -> None:
    """A quoted field may span lines: such a file is not cut (its row lines would move)."""
    path = tmp_path / "store_status.csv"
    path.write_bytes(HEADER + b'"a\nb",active,2023-01-22 12:00:00 UTC\n' + b"\n".join(ROWS[:6]) + b"\n")
    whole, want = _expected(path)
    got, polls = _read_lean(path, 16)
    pd.testing.assert_frame_equal(got.rejected, whole.rejected)
    assert got.rows_read == whole.rows_read
    pd.testing.assert_frame_equal(polls, want, check_dtype=False)


def test_a_file_of_blank_lines_is_refused_as_a_whole_like_read_input(tmp_path: Path) -> None:
    path = tmp_path / "store_status.csv"
    path.write_bytes(HEADER + b"\n\n\n\n")
    with pytest.raises(InputFileError, match="the file has a header but no data rows"):
        read_input(path, "status")
    with pytest.raises(InputFileError, match="the file has a header but no data rows"):
        _read_lean(path, 2)


def test_the_spill_folder_is_removed_also_when_the_computation_fails(tmp_path: Path) -> None:
    polls = CodedPolls(
        np.array([0, 1, 2], dtype=np.int32), np.arange(3, dtype=np.int64), np.ones(3, dtype=bool)
    )
    with pytest.raises(RuntimeError, match="boom"), ShardSpill(3, parent=tmp_path) as spill:
        spill.add(polls, np.array([0, 1, 2]))
        assert len(list(spill.path.iterdir())) == 9
        assert spill.shard(1).codes.tolist() == [1]
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("body", "whole"),
    [
        (b"1,active,2023-01-22 12:00:00 UTC\r\n2,active,2023-01-22 12:00:00 UTC\r\n", False),
        (b"1,active,2023-01-22 12:00:00 UTC\r2,active,2023-01-22 12:00:00 UTC\r", True),
        (b'"1",active,2023-01-22 12:00:00 UTC\n', True),
        (b"1,active,2023-01-22 12:00:00 UTC\n", False),
    ],
    ids=["CRLF", "CR only", "quoted", "LF"],
)
def test_only_quotes_and_lone_carriage_returns_make_a_whole_read(
    tmp_path: Path, body: bytes, whole: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_chunks, "_SCAN_BLOCK", 7)  # a CRLF cut between two blocks too
    path = tmp_path / "store_status.csv"
    path.write_bytes(HEADER + body)
    assert status_chunks._needs_whole_read(path) is whole
    got, polls = _read_lean(path, 20)
    want, want_polls = _expected(path)
    assert got.rows_read == want.rows_read
    pd.testing.assert_frame_equal(polls, want_polls, check_dtype=False)
