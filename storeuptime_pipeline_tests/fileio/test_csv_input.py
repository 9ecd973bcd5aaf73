"""Reading an input file: the header, physical line numbers and raw text of rejected rows, and the
file-level problems that make a whole file unreadable (each one line naming the file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.fileio.csv_input import read_csv_strings, read_input
from storeuptime_pipeline.fileio.lines import count_lines, physical_line_numbers, raw_lines

HEADER = "store_id,status,timestamp_utc\n"


@pytest.mark.parametrize("short_row_first", [True, False], ids=["short row first", "short row later"])
def test_rows_after_a_quoted_line_break_keep_their_editor_lines(
    tmp_path: Path, short_row_first: bool
) -> None:
    """The reader counts rows, not lines, past a field with a line break; the lines must not shift.

    Before the fix: a row with too few fields as the first data row set the expected field count,
    so every line number fell back to a count of rows; and a short row after the line break was
    reported one line early (line 5, the bad status row's, instead of 6).
    """
    quoted = '"a\nb",active,2023-01-22 12:00:00 UTC\n'  # two lines, one row: an id with a line break
    rows = ["3,active\n", quoted, "1,active,2023-01-22 12:00:00 UTC\n", "2,maybe,2023-01-22 12:00:00 UTC\n"]
    if not short_row_first:
        rows = [rows[1], rows[2], rows[3], rows[0]]
    path = tmp_path / "store_status.csv"
    path.write_text(HEADER + "".join(rows) + "4,active,2023-01-22 12:00:00 UTC")  # no final newline
    short, multi, bad_status = (2, 3, 6) if short_row_first else (6, 2, 5)
    result = read_input(path, "status")
    expected = [
        [short, None, "wrong number of fields (expected 3)", "3,active"],
        [multi, "store_id", "control character in store_id", '"a'],
        [bad_status, "status", "status is not active/inactive", "2,maybe,2023-01-22 12:00:00 UTC"],
    ]
    assert result.rejected[["line", "column", "reason", "raw"]].values.tolist() == sorted(
        expected, key=lambda r: r[0]
    )
    assert result.valid["store_id"].tolist() == ["1", "4"]
    assert result.rows_read == 5


def test_line_helpers_count_find_and_quote_physical_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"h1,h2\r\na,1\r\n\r\nb,2\r\nc,3")
    assert count_lines(path) == 5
    lines, skipped = physical_line_numbers(path, 3, skipped=[3])
    assert lines.tolist() == [2, 4, 5] and skipped.tolist() == [3]
    assert raw_lines(path, np.array([5, 2, 0])) == ["c,3", "a,1", ""]  # 0: a line number not known


def test_header_aliases_map_to_canonical_columns_and_extra_columns_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "menu_hours.csv"
    path.write_text("Store_ID , DayOfWeek,start_time_local,end_time_local,note\n1,0,09:00,17:00,x\n")
    rows, structural = read_csv_strings(path, "hours")
    assert list(rows.columns) == ["line", "store_id", "day_of_week", "start_time_local", "end_time_local"]
    assert rows.iloc[0].tolist() == [2, "1", "0", "09:00", "17:00"] and structural.empty


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "file not found"),
        (b"", "the file is empty"),
        (b"\xff\xfes\x00t\x00", "not a CSV text file (binary content)"),
        (b"just one column\n", "not a CSV file with a header row (first line: 'just one column')"),
        (
            b"store_id,status\n1,active\n",
            "missing required column(s) timestamp_utc (header has: store_id, status)",
        ),
        (b"store_id,status,timestamp_utc,STATUS\n", "column 'status' appears twice in the header"),
        (HEADER.encode() + b"\n", "the file has a header but no data rows"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_is_one_line_naming_it(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "store_status.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputFileError) as caught:
        read_input(path, "status")
    assert str(caught.value) == f"store_status.csv: {problem}"
    assert caught.value.problem == problem


def test_a_directory_is_not_an_input_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="is a directory, not a CSV file"):
        read_input(tmp_path, "status")
