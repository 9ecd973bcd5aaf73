"""The reading rules: what a value of each input column means, and the reason a row is rejected.

Each parser takes a string Series and returns the parsed values plus a mask of bad rows, so the
same rule serves a whole file (vectorized) and a single value (in a one-element Series). ``RULES``
lists, per kind of file, the parser of each column with its reason and the further checks on the
parsed values; the pandera models (``schemas``) are built from it, so a rule added here is
validated without a second edit. Frames in, frames out: no file is opened here.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE, SECONDS_PER_DAY, Kind
from storeuptime_pipeline.core.limits import STORE_ID_MAX_CHARS, TimeLimits, time_limits
from storeuptime_pipeline.core.reasons import RejectReason

_STATUS_VALUES = {"active": True, "inactive": False}
_MIN_TIMESTAMP_CHARS = len("YYYY-MM-DD HH:MM")
#: C0 controls (NUL, tab, newline inside a quoted field ...), DEL and C1 controls: never part of an id.
_CONTROL_CHARS = r"[\x{00}-\x{1f}\x{7f}-\x{9f}]"


def _per_distinct(values: pd.Series, fn, dtype: str | type = object) -> np.ndarray:
    """Apply a per-value rule to the distinct values only (ids, statuses and times repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [fn(None)], dtype=dtype)
    return mapped[codes]


def _normalized(values: pd.Series, fn) -> pd.Series:
    return pd.Series(_per_distinct(values, fn), index=values.index)


def clean_text(value: object) -> str:
    """A value as the rules compare it: missing is "", surrounding space is not part of it."""
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def arrow_text(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    """The values as an Arrow string array (zero-copy for the Arrow-backed strings the reader makes)."""
    if isinstance(values.array, pd.arrays.ArrowStringArray):
        return pa.array(values.array)
    return pa.array(values.astype("str").fillna("").array)


def _text_series(values: pa.ChunkedArray | pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(values), index=index)


def parse_store_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Store ids are opaque strings (19-digit integers or UUIDs): only surrounding space is cut."""
    ids = pc.utf8_trim_whitespace(pc.fill_null(arrow_text(values), ""))
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


def filled_text(values: pd.Series) -> pa.ChunkedArray | pa.Array:
    text = arrow_text(values)
    return pc.fill_null(text, "") if text.null_count else text


def has_control_characters(values: pd.Series) -> np.ndarray:
    """True where a value holds a control character (NUL, a tab, DEL, ...); missing values: False."""
    text = filled_text(values)
    if not _may_hold_control(text):
        return np.zeros(len(values), dtype=bool)
    return pc.match_substring_regex(text, _CONTROL_CHARS).to_numpy(zero_copy_only=False)


def store_id_too_long(values: pd.Series) -> np.ndarray:
    """True where a store id has more than STORE_ID_MAX_CHARS characters (a btree entry must fit)."""
    text = filled_text(values)
    longest = pc.max(pc.binary_length(text)).as_py() if len(text) else None
    if longest is None or longest <= STORE_ID_MAX_CHARS:  # bytes >= characters: nothing can be too long
        return np.zeros(len(values), dtype=bool)
    return pc.greater(pc.utf8_length(text), STORE_ID_MAX_CHARS).to_numpy(zero_copy_only=False)


def parse_free_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text kept as given (a timezone name): only a control character makes it unusable."""
    text = _text_series(pc.utf8_trim_whitespace(filled_text(values)), values.index)
    return text, pd.Series(has_control_characters(text), index=values.index)


def _status_code(value: object) -> int:
    flag = _STATUS_VALUES.get(clean_text(value).lower())
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
    raw = pc.fill_null(arrow_text(values), "")
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
    text = clean_text(value)
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
    match = _TIME_OF_DAY.fullmatch(clean_text(value))
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
    text = _normalized(values, clean_text)
    valid = _normalized(text, _is_valid_timezone).astype(bool)
    used = text.where(valid, DEFAULT_TIMEZONE).astype(object)
    return used, ~valid, ~valid & text.ne("")


@dataclass(frozen=True)
class Check:
    """A further condition on a column's read values: ``bad`` marks the rows to reject (NA: never).

    ``detail`` fills a reason whose text names a setting (the configured time range).
    """

    reason: RejectReason
    bad: Callable[[pd.Series], np.ndarray]
    detail: dict[str, object] = field(default_factory=dict, hash=False)

    @property
    def text(self) -> str:
        """The reason as stored and printed."""
        return self.reason.text(**self.detail)


@dataclass(frozen=True)
class Rule:
    """How one column is read: a parser returning (values, bad-row mask) and the reason for rejects.

    ``checks`` are limits on the values the parser accepted (an id too long to index, an instant
    outside the time limits), each with its own reason, applied in order after the parser.
    """

    column: str
    reason: RejectReason
    parse: Callable[[pd.Series], tuple[pd.Series, pd.Series]]
    checks: tuple[Check, ...] = ()

    @property
    def text(self) -> str:
        """The parser's reason as stored and printed."""
        return self.reason.text()

    def texts(self) -> tuple[str, ...]:
        """Every reason this column can reject a row for, in the order they are checked."""
        return (self.text, *(check.text for check in self.checks))


def parse_start_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A start time is a time of day; 24:00 is an end only."""
    seconds, bad = parse_times_of_day(values)
    return seconds, bad | seconds.eq(SECONDS_PER_DAY)


def _time_range() -> str:
    """The range the reason names, as configured when the rules are built (the rows are checked
    against the limits read at each call)."""
    try:
        return TimeLimits.from_env().describe()
    except ValueError:  # a bad setting is reported when the limits are used, with its name
        return "the accepted range"


STORE_ID_RULE = Rule(
    "store_id",
    RejectReason.EMPTY_STORE_ID,
    parse_store_ids,
    checks=(
        Check(RejectReason.STORE_ID_CONTROL_CHARACTER, has_control_characters),
        Check(RejectReason.STORE_ID_TOO_LONG, store_id_too_long),
    ),
)

#: Every per-row rule of every input, in the order a row is checked (the first failure is its reason).
RULES: dict[Kind, tuple[Rule, ...]] = {
    "status": (
        STORE_ID_RULE,
        Rule(
            "timestamp_utc",
            RejectReason.UNREADABLE_TIMESTAMP,
            parse_timestamps,
            checks=(
                Check(RejectReason.TIMESTAMP_OUT_OF_RANGE, timestamp_out_of_range, {"range": _time_range()}),
            ),
        ),
        Rule("status", RejectReason.STATUS_NOT_ACTIVE_INACTIVE, parse_statuses),
    ),
    "hours": (
        STORE_ID_RULE,
        Rule("day_of_week", RejectReason.DAY_NOT_0_TO_6, parse_days),
        Rule("start_time_local", RejectReason.IMPOSSIBLE_START_TIME, parse_start_times),
        Rule("end_time_local", RejectReason.IMPOSSIBLE_END_TIME, parse_times_of_day),
    ),
    "timezones": (
        STORE_ID_RULE,
        Rule("timezone_str", RejectReason.TIMEZONE_CONTROL_CHARACTER, parse_free_text),
    ),
}
