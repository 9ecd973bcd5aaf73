"""Physical lines of an input file: how many, which line each table row starts on, and their text.

A rejected row is reported by the line an operator sees in an editor, with that line's text; the
CSV reader knows neither when a quoted field spans lines or a row was skipped, so they are found
here, reading the file in blocks.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np

#: A file on disk, or a piece of one held in memory (a chunk of a status file with its header line
#: in front, read by ``fileio.status_chunks``): every helper here reads either the same way.
Source = Path | bytes


def open_binary(source: Source) -> BinaryIO:
    """The source as a binary file object (a chunk is read from memory, never written out)."""
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")


def _open_text(source: Source) -> TextIO:
    if isinstance(source, bytes):
        return io.TextIOWrapper(io.BytesIO(source), encoding="utf-8-sig", errors="replace", newline="")
    return source.open(newline="", encoding="utf-8-sig", errors="replace")


def count_lines(path: Source) -> int:
    """Physical lines, counted in blocks so a 100 MB file is never held in memory twice."""
    newlines, last = 0, b"\n"
    with open_binary(path) as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            newlines += block.count(b"\n")
            last = block[-1:]
    return newlines + (0 if last == b"\n" else 1)


def physical_line_numbers(path: Source, data_rows: int, skipped: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Line number of each table row and of each skipped row (given by the CSV reader's row number).

    Every line after the header is a row, except the skipped ones. A quoted field spanning lines
    breaks that simple mapping, and then the reader's row numbers count rows, not lines: such
    rare files take the exact, slower path through the csv module, which maps both.
    """
    n_lines = count_lines(path)
    keep = np.ones(max(n_lines - 1, 0), dtype=bool)
    skipped_idx = np.asarray(skipped, dtype=np.int64) - 2
    keep[skipped_idx[(skipped_idx >= 0) & (skipped_idx < len(keep))]] = False
    lines = np.arange(2, n_lines + 1, dtype=np.int64)[keep]
    if len(lines) == data_rows:
        return lines, np.asarray(skipped, dtype=np.int64)
    starts: list[int] = []
    first_line = {1: 1}  # row number (the header is row 1) -> the physical line it starts on
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        n_cols = len(next(reader, None) or [])
        prev = reader.line_num
        for number, record in enumerate(reader, start=2):
            first_line[number] = prev + 1
            if not record or len(record) == n_cols:
                starts.append(prev + 1)
            prev = reader.line_num
    if len(starts) == data_rows:
        return np.asarray(starts, dtype=np.int64), np.array(
            [first_line.get(n, n) for n in skipped], dtype=np.int64
        )
    return np.arange(2, data_rows + 2, dtype=np.int64), np.asarray(skipped, dtype=np.int64)


def raw_lines(path: Source, line_numbers: np.ndarray) -> list[str]:
    """The text of a few physical lines (for rejected rows), found block by block.

    Only the blocks holding a wanted line are split into lines: the one bad row of a 100 MB file
    costs a newline count of the file (~0.1 s), not an index of every newline in memory (~1 s).
    """
    if len(line_numbers) == 0:
        return []
    wanted = np.unique(np.asarray(line_numbers, dtype=np.int64))
    found: dict[int, bytes] = {}
    pos = int(np.searchsorted(wanted, 1))  # line numbers start at 1; 0 means unknown
    first, carry = 1, b""  # `carry` is the unfinished line numbered `first`
    with open_binary(path) as fh:
        while pos < len(wanted):
            block = fh.read(8 << 20)
            if not block:
                if wanted[pos] == first:  # the last line, without a final newline
                    found[first] = carry
                break
            data = carry + block
            end = data.rfind(b"\n") + 1
            complete = data.count(b"\n", 0, end)
            if complete and wanted[pos] < first + complete:
                lines = data[:end].split(b"\n")
                while pos < len(wanted) and wanted[pos] < first + complete:
                    found[int(wanted[pos])] = lines[int(wanted[pos]) - first]
                    pos += 1
            first, carry = first + complete, data[end:]
    return [found.get(int(n), b"").decode("utf-8", "replace").rstrip("\r") for n in line_numbers]
