"""Reading an input CSV file: the header, the fields as strings, the rows the CSV itself breaks.

:func:`read_input` is how ``storeuptime report`` and the ingestion into Postgres read a file: this
module finds the header and the canonical column names, reads every field as a string with its
physical line number, and leaves out rows with the wrong number of fields, rows of empty fields
and rows that are not UTF-8; the core (``core.validation``) then applies the reading rules to the
rows as frames. Only a file that cannot be read as a whole raises (``InputFileError``: missing,
empty, binary, not CSV, a required column missing, no data rows, timezones columns swapped).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storeuptime_pipeline.core.inputs import REQUIRED_COLUMNS, InputFileError, Kind
from storeuptime_pipeline.core.reasons import RejectReason, reject_rows
from storeuptime_pipeline.core.rules import arrow_text
from storeuptime_pipeline.core.validation import ReadResult, validate_input
from storeuptime_pipeline.fileio.lines import Source, physical_line_numbers, raw_lines

#: Header spellings seen in the real data sets, lower-cased, mapped to canonical names.
COLUMN_ALIASES: dict[str, str] = {
    "day": "day_of_week",
    "dayofweek": "day_of_week",
    "day_of_week": "day_of_week",
}


def _read_header(path: Path) -> list[str]:
    """The header's field names, from the first 64 KiB: a file that is no CSV text stops here."""
    try:
        with path.open("rb") as fh:
            head = fh.read(65_536)
    except FileNotFoundError:
        raise InputFileError(path, "file not found") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory, not a CSV file") from None
    if not head.strip():
        raise InputFileError(path, "the file is empty")
    # A NUL in the first line is a binary file (UTF-16, a zip, a spreadsheet); a NUL further down is
    # that row's problem, rejected by the store_id / timezone rules while the rest of the file loads.
    if b"\x00" in head.split(b"\n", 1)[0]:
        raise InputFileError(path, "not a CSV text file (binary content)")
    # Only the header line must be UTF-8 here; a row with other bytes is rejected on its own.
    try:
        text = head.split(b"\n", 1)[0].decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(path, "not a CSV text file (not UTF-8)") from None
    first_line = text.splitlines()[0] if text.splitlines() else ""
    header = next(csv.reader([first_line]), [])
    if len(header) < 2:
        raise InputFileError(path, f"not a CSV file with a header row (first line: {first_line[:80]!r})")
    return header


def canonical_columns(header: list[str], path: str | Path, kind: Kind) -> dict[str, str]:
    """Map the file's header names to canonical names, checking every required column is there."""
    mapping: dict[str, str] = {}
    for name in header:
        key = name.strip().lower()
        canonical = COLUMN_ALIASES.get(key, key)
        if canonical in mapping.values():
            raise InputFileError(path, f"column {canonical!r} appears twice in the header")
        mapping[name] = canonical
    missing = [c for c in REQUIRED_COLUMNS[kind] if c not in mapping.values()]
    if missing:
        found = ", ".join(header)
        raise InputFileError(path, f"missing required column(s) {', '.join(missing)} (header has: {found})")
    return mapping


def _as_utf8(table: pa.Table, names: list[str]) -> tuple[pa.Table, np.ndarray | None]:
    """The binary columns as strings; rows holding bytes that are not UTF-8 are marked, not fatal.

    Arrow's cast validates and keeps the buffers (as fast as reading strings directly); only a
    chunk that fails it is decoded value by value. Returns the table and, when some row failed,
    the name of the first failing column of each row ("" for a good row).
    """
    columns, first_bad = [], None
    for name, column in zip(names, table.columns, strict=True):
        chunks = []
        for chunk in column.chunks:
            try:
                chunks.append(chunk.cast(pa.string()))
                continue
            except pa.ArrowInvalid:
                pass
            raw = chunk.to_pylist()
            bad = np.array([not _is_utf8(v) for v in raw], dtype=bool)
            chunks.append(pa.array([b.decode("utf-8", "replace") for b in raw], pa.string()))
            if first_bad is None:
                first_bad = np.full(len(table), "", dtype=object)
            offset = sum(len(c) for c in chunks[:-1])
            where = np.flatnonzero(bad) + offset
            first_bad[where] = np.where(first_bad[where] == "", name, first_bad[where])
        columns.append(pa.chunked_array(chunks, pa.string()))
    return pa.table(columns, names=table.column_names), first_bad


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_csv_strings(
    path: str | Path, kind: Kind, *, chunk: bytes | None = None, first_line: int = 2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a file as strings under canonical column names, with a ``line`` column.

    Rows with the wrong number of fields come back as rejects; blank lines are skipped silently.
    With ``chunk`` (the file's header line followed by whole lines of it, the first of them being
    physical line ``first_line``: see ``fileio.status_chunks``) only that piece is read, by the same
    steps, and line numbers are the file's; a chunk without data rows is not an error (the file
    as a whole decides that).
    """
    path = Path(path)
    source: Source = path if chunk is None else chunk
    header = _read_header(path)
    mapping = canonical_columns(header, path, kind)
    wanted = REQUIRED_COLUMNS[kind]
    bad_rows: list[tuple[int | None, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        if row.text.strip():
            bad_rows.append((row.number, row.text))
        else:
            bad_rows.append((row.number, ""))
        return "skip"

    def read(threads: bool) -> pa.Table:
        bad_rows.clear()
        try:
            return pacsv.read_csv(
                path if chunk is None else pa.BufferReader(chunk),
                read_options=pacsv.ReadOptions(use_threads=threads, encoding="utf8"),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=on_invalid, ignore_empty_lines=False, newlines_in_values=True
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.binary()),  # UTF-8 is checked per row below
                    include_columns=[h for h in header if mapping[h] in wanted],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise InputFileError(path, f"not a readable CSV file ({exc})") from None

    table = read(threads=True)
    if bad_rows and any(n is None for n, _ in bad_rows):
        table = read(threads=False)  # only a single-threaded read knows the line numbers
    table, not_utf8 = _as_utf8(table, [mapping[name] for name in table.column_names])
    frame = table.to_pandas().rename(columns=mapping)[list(wanted)]
    # Known for every row after the single-threaded read; 0 stands for unknown.
    lines, skipped_lines = physical_line_numbers(source, len(frame), [n or 0 for n, _ in bad_rows])
    skipped = list(zip(skipped_lines.tolist(), (text for _, text in bad_rows), strict=True))
    frame.insert(0, "line", lines)
    encoding_rows = reject_rows(np.zeros(0, dtype=np.int64), None, RejectReason.NOT_UTF8)
    if not_utf8 is not None:
        rows = not_utf8 != ""
        encoding_rows = reject_rows(lines[rows], None, RejectReason.NOT_UTF8)
        encoding_rows["column"] = not_utf8[rows]
        frame = frame.loc[~rows].reset_index(drop=True)
    # A blank line reads as a row of empty fields, and so does a line of separators only (`,,`);
    # look at the other columns only where the first is empty, and at the line only for such rows.
    blank = pc.equal(arrow_text(frame[wanted[0]]), "").to_numpy(zero_copy_only=False)
    for col in wanted[1:]:
        if not blank.any():
            break
        blank &= frame[col].eq("").to_numpy(dtype=bool, na_value=False)
    empty_rows = reject_rows(np.zeros(0, dtype=np.int64), None, RejectReason.EMPTY_ROW)
    if blank.any():
        blank_lines = frame["line"].to_numpy()[blank]
        texts = raw_lines(source, blank_lines)
        # A line with separators (or quotes) is a row someone wrote with nothing in it: an operator
        # wants it counted and shown. A line with nothing at all is layout, skipped silently.
        written = np.array([bool(t.strip()) for t in texts], dtype=bool)
        empty_rows = reject_rows(
            blank_lines[written], None, RejectReason.EMPTY_ROW, np.array(texts, dtype=object)[written]
        )
        frame = frame.loc[~blank].reset_index(drop=True)
    field_errors = [(n, t) for n, t in skipped if t]
    rejects = reject_rows(
        np.array([n for n, _ in field_errors], dtype=np.int64),
        None,
        RejectReason.WRONG_FIELD_COUNT.text(expected=len(header)),
        [t for _, t in field_errors],
    )
    parts = [df for df in (rejects, empty_rows, encoding_rows) if len(df)]
    rejects = pd.concat(parts, ignore_index=True) if parts else rejects
    if chunk is not None:
        # Chunk-local numbers (its header is line 1) to the file's; 0 (not known) stays 0.
        shift = first_line - 2
        frame["line"] = frame["line"].to_numpy() + shift
        known = rejects["line"].to_numpy() > 0
        rejects["line"] = np.where(known, rejects["line"].to_numpy() + shift, 0).astype(np.int64)
    elif len(frame) == 0 and len(rejects) == 0:
        raise InputFileError(path, "the file has a header but no data rows")
    return frame, rejects


def read_input(path: str | Path, kind: Kind) -> ReadResult:
    """Read one input file by its kind's rules; raises InputFileError only for unreadable files.

    The one way in for the CLI and for ingestion: the CSV here, the validation in the core
    (``core.validation.validate_input``, the pandera models), and the text of each rejected row
    taken from the file last, for the few rows that need it.
    """
    path = Path(path)
    rows, structural = read_csv_strings(path, kind)
    result = validate_input(kind, rows, structural, str(path))
    rejected = result.rejected
    missing_raw = rejected["raw"].eq("")
    if missing_raw.any():
        rejected.loc[missing_raw, "raw"] = raw_lines(path, rejected.loc[missing_raw, "line"].to_numpy())
    return result
