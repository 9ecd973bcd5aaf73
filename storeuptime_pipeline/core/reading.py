"""The input reading rules: the one place that decides what a row of each input file means.

The CLI, the pandera schemas and the Postgres ingestion all call these functions, so a
timestamp, a status or a business-hours time is read the same way everywhere. A row that
cannot be read is never fatal: it is left out and returned with its physical line number and
a reason, so the caller can count it, print it or keep it in ``rejected_rows``. Only a file
that cannot be read as a whole (missing, empty, not CSV, a required column missing, timezones
columns swapped) raises.
"""

from __future__ import annotations

import csv
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storeuptime_pipeline.core.limits import STORE_ID_MAX_CHARS, TimeLimits, time_limits

Kind = Literal["status", "hours", "timezones"]
KINDS: tuple[Kind, ...] = ("status", "hours", "timezones")

DEFAULT_TIMEZONE = "America/Chicago"
SECONDS_PER_DAY = 86_400

#: Canonical column names of each file, in the order the engine expects them.
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "status": ("store_id", "status", "timestamp_utc"),
    "hours": ("store_id", "day_of_week", "start_time_local", "end_time_local"),
    "timezones": ("store_id", "timezone_str"),
}

#: Header spellings seen in the real data sets, lower-cased, mapped to canonical names.
COLUMN_ALIASES: dict[str, str] = {
    "day": "day_of_week",
    "dayofweek": "day_of_week",
    "day_of_week": "day_of_week",
}

REJECT_COLUMNS = ["line", "column", "reason", "raw"]

_STATUS_VALUES = {"active": True, "inactive": False}
_MIN_TIMESTAMP_CHARS = len("YYYY-MM-DD HH:MM")
#: C0 controls (NUL, tab, newline inside a quoted field ...), DEL and C1 controls: never part of an id.
_CONTROL_CHARS = r"[\x{00}-\x{1f}\x{7f}-\x{9f}]"

#: A timezones row whose store is listed again further down: kept out on purpose, not unreadable.
SUPERSEDED_REASON = "duplicate store_id: a later row wins"
EMPTY_ROW_REASON = "every field is empty"
NOT_UTF8_REASON = "not UTF-8 text"
#: Reasons that keep a row in ``rejected_rows`` for the record without counting it as unreadable:
#: they do not add to a file's reject share (a timezones file met in issue 8 listed 271 stores twice,
#: which would otherwise fail every load of it on the 1% limit).
NOT_COUNTED_REASONS = frozenset({SUPERSEDED_REASON})


class InputFileError(ValueError):
    """A whole file cannot be read: the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{Path(path).name}: {problem}")


@dataclass
class ReadResult:
    """The readable rows of one file, the rows left out, and what was noticed on the way."""

    kind: Kind
    path: str
    valid: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    notes: dict[str, int] = field(default_factory=dict)

    def reject_summary(self) -> dict[str, int]:
        """How many rows were left out for each reason, most frequent first."""
        counts = self.rejected["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    @property
    def rows_rejected(self) -> int:
        """Rows left out because they could not be used: what a file's reject share counts.

        A superseded row (a store listed again later in a snapshot) is in ``rejected`` so the
        operator sees it, but it is the file saying what it means, not a broken row.
        """
        return int((~self.rejected["reason"].isin(NOT_COUNTED_REASONS)).sum())


# ---------------------------------------------------------------------------------------------
# Value rules. Each takes a string Series and returns parsed values plus a mask of bad rows, so
# the same rule serves a whole file (vectorized) and a single value (in a one-element Series).
# ---------------------------------------------------------------------------------------------


def _per_distinct(values: pd.Series, fn, dtype: str | type = object) -> np.ndarray:
    """Apply a per-value rule to the distinct values only (ids, statuses and times repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=dtype)
    return mapped[codes]


def _normalized(values: pd.Series, fn) -> pd.Series:
    return pd.Series(_per_distinct(values, fn), index=values.index)


def _clean_text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def _arrow_text(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    """The values as an Arrow string array (zero-copy for the Arrow-backed strings the reader makes)."""
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        return pa.array(values.array)
    return pa.array(values.astype("str").fillna("").array)


def _text_series(values: pa.ChunkedArray | pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(values), index=index)


def parse_store_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Store ids are opaque strings (19-digit integers or UUIDs): only surrounding space is cut."""
    ids = pc.utf8_trim_whitespace(pc.fill_null(_arrow_text(values), ""))
    bad = pc.equal(ids, "").to_numpy(zero_copy_only=False)
    return _text_series(ids, values.index), pd.Series(bad, index=values.index)


def _chunks(values: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def _may_hold_control(values: pa.ChunkedArray | pa.Array) -> bool:
    """A byte scan of the string data: no byte below 0x20, no 0x7f and no 0xc2 means no control.

    Two reductions (min, max) settle printable ASCII, which real ids are: ~2 ms for the 1.75M
    store ids of a real-size file, against 80 ms for a regular expression over every value. The
    exact per-value match runs only when a byte raises a doubt (0xc2 leads every C1 control, and
    also harmless characters such as U+00B0).
    """
    for chunk in _chunks(values):
        buffers = chunk.buffers()
        if len(buffers) < 3 or buffers[2] is None or buffers[2].size == 0:
            continue
        data = np.frombuffer(buffers[2], dtype=np.uint8)
        if data.min() < 0x20:
            return True
        if data.max() >= 0x7F and (np.count_nonzero(data == 0x7F) or np.count_nonzero(data == 0xC2)):
            return True
    return False


def _filled(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    text = _arrow_text(values)
    return pc.fill_null(text, "") if text.null_count else text


def has_control_characters(values: pd.Series) -> np.ndarray:
    """True where a value holds a control character (NUL, a tab, DEL, ...); missing values: False."""
    text = _filled(values)
    if not _may_hold_control(text):
        return np.zeros(len(values), dtype=bool)
    return pc.match_substring_regex(text, _CONTROL_CHARS).to_numpy(zero_copy_only=False)


def store_id_too_long(values: pd.Series) -> np.ndarray:
    """True where a store id has more than STORE_ID_MAX_CHARS characters (a btree entry must fit)."""
    text = _filled(values)
    longest = pc.max(pc.binary_length(text)).as_py() if len(text) else None
    if longest is None or longest <= STORE_ID_MAX_CHARS:  # bytes >= characters: nothing can be too long
        return np.zeros(len(values), dtype=bool)
    return pc.greater(pc.utf8_length(text), STORE_ID_MAX_CHARS).to_numpy(zero_copy_only=False)


def parse_free_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text kept as given (a timezone name): only a control character makes it unusable."""
    text = _text_series(pc.utf8_trim_whitespace(_filled(values)), values.index)
    return text, pd.Series(has_control_characters(text), index=values.index)


def _status_code(value: object) -> int:
    flag = _STATUS_VALUES.get(_clean_text(value).lower())
    return -1 if flag is None else int(flag)


def parse_statuses(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``active``/``inactive`` in any case with surrounding spaces; returns is_active and bad mask."""
    code = _per_distinct(values, _status_code, np.int8)
    return pd.Series(code == 1, index=values.index), pd.Series(code < 0, index=values.index)


def parse_timestamps(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Real timestamps end in `` UTC`` with 0-6 fraction digits; ISO 8601 with Z or an offset too.

    A timestamp without any zone is taken as UTC (the column is ``timestamp_utc``). A date without
    a time of day is rejected: midnight would be a guess. Precision is kept to the microsecond.
    The common spelling takes one fast pass; only rows it cannot read get the slower, lenient one.
    """
    raw = pc.fill_null(_arrow_text(values), "")
    text = pc.replace_substring(raw, " UTC", "")
    try:
        # Arrow's ISO parser reads a whole file of real-format timestamps in ~0.2 s (pandas: ~1 s),
        # but gives up on the first value it cannot read; then the lenient path reads row by row.
        fast = pc.cast(text, pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        fast = None
    if fast is not None:
        parsed = pd.Series(fast.to_numpy(zero_copy_only=False), index=values.index).dt.tz_localize("UTC")
        too_short = pc.less(pc.utf8_length(text), _MIN_TIMESTAMP_CHARS).to_numpy(zero_copy_only=False)
        return parsed, pd.Series(too_short, index=values.index)
    parsed = pd.to_datetime(_text_series(text, values.index), format="ISO8601", utc=True, errors="coerce")
    missed = parsed.isna().to_numpy()
    if missed.any():
        lenient = (
            values[missed].astype("str").fillna("").str.strip().str.replace(r"(?i)\s*utc$", "", regex=True)
        )
        parsed[missed] = pd.to_datetime(lenient, format="ISO8601", utc=True, errors="coerce")
    too_short = pc.less(pc.utf8_length(pc.utf8_trim_whitespace(text)), _MIN_TIMESTAMP_CHARS)
    bad = parsed.isna().to_numpy() | too_short.to_numpy(zero_copy_only=False)
    return parsed.astype("datetime64[us, UTC]"), pd.Series(bad, index=values.index)


def timestamp_out_of_range(values: pd.Series, limits: TimeLimits | None = None) -> np.ndarray:
    """True where a read (UTC, offset applied) instant lies outside the time limits; NaT: False.

    Checked on the UTC instant, so ``2199-12-31T23:59:59-14:00`` (2200 in UTC) is out, and a poll
    of year 9999, which Postgres would store but no report could compute with, never gets in.
    """
    lo, hi = (limits or time_limits()).bounds_us()
    us = pd.DatetimeIndex(values).as_unit("us").asi8
    known = ~pd.isna(values).to_numpy()
    return known & ((us < lo) | (us > hi))


def _day_number(value: object) -> int:
    text = _clean_text(value)
    try:
        number = float(text)
    except ValueError:
        return -1
    return int(number) if number.is_integer() and 0 <= number <= 6 else -1


def parse_days(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Day of week as an integer 0 (Monday) to 6 (Sunday)."""
    day = _per_distinct(values, _day_number, np.int16)
    bad = day < 0
    return pd.Series(np.where(bad, 0, day), index=values.index), pd.Series(bad, index=values.index)


_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _seconds_of_day(value: object) -> int:
    match = _TIME_OF_DAY.fullmatch(_clean_text(value))
    if match is None:
        return -1
    h, m, s = int(match[1]), int(match[2]), int(match[3] or 0)
    seconds = h * 3600 + m * 60 + s
    if (h <= 23 and m <= 59 and s <= 59) or seconds == SECONDS_PER_DAY:
        return seconds
    return -1


def parse_times_of_day(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``HH:MM:SS`` or ``HH:MM`` to seconds after local midnight; ``24:00`` is the day's end (86400)."""
    seconds = _per_distinct(values, _seconds_of_day, np.int32)
    bad = seconds < 0
    return pd.Series(np.where(bad, 0, seconds), index=values.index), pd.Series(bad, index=values.index)


@cache
def _is_valid_timezone(name: str) -> bool:
    if not name or name != name.strip():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def resolve_timezones(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The timezone actually used: missing, empty or unknown names fall back to America/Chicago.

    Returns (timezone used, defaulted mask, invalid mask); invalid means a non-empty name that is
    not an IANA zone, which the caller reports, as opposed to a merely missing one.
    """
    text = _normalized(values, _clean_text)
    valid = _normalized(text, _is_valid_timezone).astype(bool)
    used = text.where(valid, DEFAULT_TIMEZONE).astype(object)
    return used, ~valid, ~valid & text.ne("")


# ---------------------------------------------------------------------------------------------
# Whole files.
# ---------------------------------------------------------------------------------------------


def _rejects(
    lines: np.ndarray, column: str | None, reason: str, raw: Iterable[str] | None = None
) -> pd.DataFrame:
    lines = np.asarray(lines, dtype=np.int64)
    raw_values = list(raw) if raw is not None else [""] * len(lines)
    return pd.DataFrame(
        {"line": lines, "column": [column] * len(lines), "reason": [reason] * len(lines), "raw": raw_values},
        columns=REJECT_COLUMNS,
    )


def empty_rejects() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else object) for c in REJECT_COLUMNS})


def _read_header(path: Path) -> list[str]:
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


def _count_lines(path: Path) -> int:
    """Physical lines, counted in blocks so a 100 MB file is never held in memory twice."""
    newlines, last = 0, b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            newlines += block.count(b"\n")
            last = block[-1:]
    return newlines + (0 if last == b"\n" else 1)


def _physical_line_numbers(path: Path, data_rows: int, skipped: list[int]) -> np.ndarray:
    """Line number of each table row: every line after the header except the skipped ones.

    A quoted field spanning lines breaks that simple mapping; such rare files take the exact,
    slower path through the csv module.
    """
    n_lines = _count_lines(path)
    keep = np.ones(max(n_lines - 1, 0), dtype=bool)
    skipped_idx = np.asarray(skipped, dtype=np.int64) - 2
    keep[skipped_idx[(skipped_idx >= 0) & (skipped_idx < len(keep))]] = False
    lines = np.arange(2, n_lines + 1, dtype=np.int64)[keep]
    if len(lines) == data_rows:
        return lines
    starts: list[int] = []
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        n_cols = None
        prev = reader.line_num
        for record in reader:
            n_cols = n_cols or len(record)
            if not record or len(record) == n_cols:
                starts.append(prev + 1)
            prev = reader.line_num
    if len(starts) == data_rows:
        return np.asarray(starts, dtype=np.int64)
    return np.arange(2, data_rows + 2, dtype=np.int64)


def _raw_lines(path: Path, line_numbers: np.ndarray) -> list[str]:
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
    with path.open("rb") as fh:
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


def read_csv_strings(path: str | Path, kind: Kind) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a file as strings under canonical column names, with a ``line`` column.

    Rows with the wrong number of fields come back as rejects; blank lines are skipped silently.
    """
    path = Path(path)
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
                path,
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
    lines = _physical_line_numbers(path, len(frame), [n for n, _ in bad_rows if n is not None])
    frame.insert(0, "line", lines)
    encoding_rows = _rejects(np.zeros(0, dtype=np.int64), None, NOT_UTF8_REASON)
    if not_utf8 is not None:
        rows = not_utf8 != ""
        encoding_rows = _rejects(lines[rows], None, NOT_UTF8_REASON)
        encoding_rows["column"] = not_utf8[rows]
        frame = frame.loc[~rows].reset_index(drop=True)
    # A blank line reads as a row of empty fields, and so does a line of separators only (`,,`);
    # look at the other columns only where the first is empty, and at the line only for such rows.
    blank = pc.equal(_arrow_text(frame[wanted[0]]), "").to_numpy(zero_copy_only=False)
    for col in wanted[1:]:
        if not blank.any():
            break
        blank &= frame[col].eq("").to_numpy(dtype=bool, na_value=False)
    empty_rows = _rejects(np.zeros(0, dtype=np.int64), None, EMPTY_ROW_REASON)
    if blank.any():
        blank_lines = frame["line"].to_numpy()[blank]
        texts = _raw_lines(path, blank_lines)
        # A line with separators (or quotes) is a row someone wrote with nothing in it: an operator
        # wants it counted and shown. A line with nothing at all is layout, skipped silently.
        written = np.array([bool(t.strip()) for t in texts], dtype=bool)
        empty_rows = _rejects(
            blank_lines[written], None, EMPTY_ROW_REASON, np.array(texts, dtype=object)[written]
        )
        frame = frame.loc[~blank].reset_index(drop=True)
    field_errors = [(n, t) for n, t in bad_rows if t]
    rejects = _rejects(
        np.array([n or 0 for n, _ in field_errors], dtype=np.int64),
        None,
        f"wrong number of fields (expected {len(header)})",
        [t for _, t in field_errors],
    )
    parts = [df for df in (rejects, empty_rows, encoding_rows) if len(df)]
    rejects = pd.concat(parts, ignore_index=True) if parts else rejects
    if len(frame) == 0 and len(rejects) == 0:
        raise InputFileError(path, "the file has a header but no data rows")
    return frame, rejects


@dataclass(frozen=True)
class Check:
    """A further condition on a column's read values: ``bad`` marks the rows to reject (NA: never)."""

    reason: str
    bad: Callable[[pd.Series], np.ndarray]


@dataclass(frozen=True)
class Rule:
    """How one column is read: a parser returning (values, bad-row mask) and the reason for rejects.

    ``checks`` are limits on the values the parser accepted (an id too long to index, an instant
    outside the time limits), each with its own reason, applied in order after the parser.
    """

    column: str
    reason: str
    parse: Callable[[pd.Series], tuple[pd.Series, pd.Series]]
    checks: tuple[Check, ...] = ()

    def reasons(self) -> tuple[str, ...]:
        return (self.reason, *(check.reason for check in self.checks))


def parse_start_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A start time is a time of day; 24:00 is an end only."""
    seconds, bad = parse_times_of_day(values)
    return seconds, bad | seconds.eq(SECONDS_PER_DAY)


def _time_range_reason() -> str:
    try:
        return f"timestamp outside {TimeLimits.from_env().describe()}"
    except ValueError:  # a bad setting is reported when the limits are used, with its name
        return "timestamp outside the accepted range"


STORE_ID_RULE = Rule(
    "store_id",
    "empty store_id",
    parse_store_ids,
    checks=(
        Check("control character in store_id", has_control_characters),
        Check(f"store_id longer than {STORE_ID_MAX_CHARS} characters", store_id_too_long),
    ),
)

#: Every per-row rule of every input, in the order a row is checked (the first failure is its reason).
RULES: dict[Kind, tuple[Rule, ...]] = {
    "status": (
        STORE_ID_RULE,
        Rule(
            "timestamp_utc",
            "unreadable timestamp",
            parse_timestamps,
            checks=(Check(_time_range_reason(), timestamp_out_of_range),),
        ),
        Rule("status", "status is not active/inactive", parse_statuses),
    ),
    "hours": (
        STORE_ID_RULE,
        Rule("day_of_week", "day of week is not an integer 0..6", parse_days),
        Rule("start_time_local", "impossible start time", parse_start_times),
        Rule("end_time_local", "impossible end time", parse_times_of_day),
    ),
    "timezones": (
        STORE_ID_RULE,
        Rule("timezone_str", "control character in timezone_str", parse_free_text),
    ),
}


def apply_rules(kind: Kind, frame: pd.DataFrame) -> tuple[dict[str, pd.Series], np.ndarray, pd.DataFrame]:
    """Parse every ruled column once; a row is rejected for the first rule it breaks."""
    parsed: dict[str, pd.Series] = {}
    bad_any = np.zeros(len(frame), dtype=bool)
    parts = []
    for rule in RULES[kind]:
        values, bad = rule.parse(frame[rule.column])
        parsed[rule.column] = values
        hit = bad.to_numpy(dtype=bool) & ~bad_any
        if hit.any():
            parts.append(_rejects(frame["line"].to_numpy()[hit], rule.column, rule.reason))
        bad_any |= hit
        for check in rule.checks:
            hit = check.bad(values) & ~bad_any
            if hit.any():
                parts.append(_rejects(frame["line"].to_numpy()[hit], rule.column, check.reason))
            bad_any |= hit
    rejects = pd.concat(parts, ignore_index=True) if parts else empty_rejects()
    return parsed, ~bad_any, rejects


def _kept(values: pd.Series, ok: np.ndarray) -> pd.Series:
    return values[ok].reset_index(drop=True)


#: Parsed columns (by source column name), the mask of rows every rule accepted, and the rejects.
Parsed = tuple[dict[str, pd.Series], np.ndarray, pd.DataFrame]


def assemble(kind: Kind, frame: pd.DataFrame, parsed: dict[str, pd.Series], ok: np.ndarray):
    """The engine's frame of one input from its parsed columns; returns (valid rows, notes)."""
    if kind == "status":
        valid = pd.DataFrame(
            {
                "store_id": _kept(parsed["store_id"], ok),
                "timestamp_utc": _kept(parsed["timestamp_utc"], ok),
                "is_active": _kept(parsed["status"], ok).astype(bool),
            }
        )
        return valid, {}
    if kind == "hours":
        valid = pd.DataFrame(
            {
                "store_id": _kept(parsed["store_id"], ok),
                "day_of_week": _kept(parsed["day_of_week"], ok).astype("int16"),
                "start_seconds": _kept(parsed["start_time_local"], ok).astype("int32"),
                "end_seconds": _kept(parsed["end_time_local"], ok).astype("int32"),
            }
        )
        # An end of 00:00 closes at midnight: the same instant as 24:00, kept as one spelling.
        valid.loc[valid["end_seconds"].eq(0), "end_seconds"] = SECONDS_PER_DAY
        return valid, {}
    given = frame["timezone_str"][ok].map(_clean_text).to_numpy()
    used, defaulted, invalid = resolve_timezones(pd.Series(given, dtype=object))
    valid = pd.DataFrame(
        {
            "store_id": _kept(parsed["store_id"], ok),
            "timezone_str": np.where(given == "", None, given),
            "timezone": used.to_numpy(),
            "timezone_defaulted": defaulted.to_numpy(),
        }
    )
    notes = {
        "invalid_timezones": int(invalid.sum()),
        "empty_timezones": int((defaulted & ~invalid).sum()),
    }
    return valid, notes


def superseded_rows(
    frame: pd.DataFrame, parsed: dict[str, pd.Series], ok: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """A store listed twice in a timezones snapshot keeps its last row: the later line is the newer word.

    The earlier rows are left out with SUPERSEDED_REASON so ``rejected_rows`` shows them, not only
    a count; returns the narrowed mask of rows to use and those rejects.
    """
    kept = np.flatnonzero(ok)
    earlier = parsed["store_id"].iloc[kept].duplicated(keep="last").to_numpy()
    if not earlier.any():
        return ok, empty_rejects()
    ok = ok.copy()
    ok[kept[earlier]] = False
    return ok, _rejects(frame["line"].to_numpy()[kept[earlier]], "store_id", SUPERSEDED_REASON)


@cache
def _zone_names() -> pa.Array:
    return pa.array(sorted(zoneinfo.available_timezones()), pa.string())


def _is_zone_name(values: pd.Series) -> np.ndarray:
    text = pc.utf8_trim_whitespace(_filled(values))
    return pc.is_in(text, value_set=_zone_names()).to_numpy(zero_copy_only=False)


def _check_not_swapped(path: Path, frame: pd.DataFrame) -> None:
    """Refuse a timezones file whose columns hold each other's values (store ids under timezone_str).

    Read as given, such a file would reset every real store to America/Chicago and invent a store
    per zone name; no row is individually wrong, so only the file as a whole can say it.
    """
    n = len(frame)
    if n == 0:
        return
    id_is_zone = _is_zone_name(frame["store_id"])
    if id_is_zone.sum() * 2 <= n or _is_zone_name(frame["timezone_str"]).sum() * 2 >= n:
        return
    ids = frame["store_id"]
    example = _clean_text(ids[id_is_zone].iloc[0])
    raise InputFileError(
        path,
        f"the columns look swapped: {int(id_is_zone.sum()):,} of {n:,} store_id values are timezone names "
        f"(e.g. {example!r}) and most timezone_str values are not; the header must name the columns "
        "in the file's order (store_id,timezone_str)",
    )


#: Another way to apply the rules (the pandera models): same contract as :func:`apply_rules`.
Screen = Callable[[Kind, pd.DataFrame], Parsed]


def read_input(path: str | Path, kind: Kind, screen: Screen | None = None) -> ReadResult:
    """Read one input file by its kind's rules; raises InputFileError only for unreadable files.

    ``screen`` lets ingestion apply the rules through the pandera models instead; they call the
    same parsers, so the rows left out and the values read are the same either way.
    """
    path = Path(path)
    frame, structural = read_csv_strings(path, kind)
    rows_read = len(frame) + len(structural)
    if kind == "timezones":
        _check_not_swapped(path, frame)
    parsed, ok, rejects = (screen or apply_rules)(kind, frame)
    superseded = empty_rejects()
    if kind == "timezones":
        ok, superseded = superseded_rows(frame, parsed, ok)
    valid, notes = assemble(kind, frame, parsed, ok)
    parts = [df for df in (structural, rejects, superseded) if len(df)]
    if not parts:
        rejected = empty_rejects()
    else:
        rejected = (
            pd.concat(parts, ignore_index=True).sort_values("line", kind="stable").reset_index(drop=True)
        )
        missing_raw = rejected["raw"].eq("")
        if missing_raw.any():
            rejected.loc[missing_raw, "raw"] = _raw_lines(path, rejected.loc[missing_raw, "line"].to_numpy())
    return ReadResult(
        kind=kind, path=str(path), valid=valid, rejected=rejected, rows_read=rows_read, notes=notes
    )
