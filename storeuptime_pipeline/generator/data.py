"""Seeded generator of realistic store-monitoring input files.

The real Jan-2023 status file (about 1.8M polls) is not available anywhere public, only head samples
that are all ``active``, so the pipeline cannot be exercised at full size or on outages without a
synthetic stand-in. This module writes the three inputs in the real formats and with the real
distributions (see ``/work/shared/realdata/SOURCES.md``), and plants a handful of awkward stores so
that tests can check each corner of the business-hours and timezone logic by name.

Everything is vectorized over the (store x hour) grid with numpy: a Python loop runs only over the
handful of edge-case stores and over output chunks, so 14k stores x 8 days (1.75M polls) take about 2.5 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["EDGE_CASE_KINDS", "GeneratedDataset", "generate_dataset"]

STATUS_FILE = "store_status.csv"
HOURS_FILE = "menu_hours.csv"
TIMEZONES_FILE = "timezones.csv"

_US_PER_S = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_S
_DAY_S = 86_400
_CHUNK_ROWS = 1 << 18  # bounds the byte matrices built per chunk of status rows to a few tens of MB


@dataclass(frozen=True)
class GeneratedDataset:
    """Where the files went and what they cover, so callers never re-read them to learn the range."""

    directory: Path
    status_path: Path
    hours_path: Path
    timezones_path: Path
    stores: int
    polls: int
    start: pd.Timestamp  # UTC, first instant covered by polls
    end: pd.Timestamp  # UTC, the latest poll timestamp written (= the natural "as of")
    # kind -> store_id of the store planted for that edge case (empty when edge_cases=False).
    edge_cases: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# Distributions measured on the real Jan-2023 files (counts, used as relative weights).
# --------------------------------------------------------------------------------------------------

_TIMEZONE_WEIGHTS: dict[str, int] = {
    "America/New_York": 8191,
    "America/Los_Angeles": 3224,
    "America/Chicago": 1517,
    "America/Phoenix": 418,
    "America/Denver": 127,
    "America/Detroit": 62,
    "America/Indiana/Indianapolis": 15,
    "America/Edmonton": 2,
    "Asia/Beirut": 1,
    "America/Boise": 1,
    "Pacific/Honolulu": 1,
}

# Stores with hours that list fewer than 7 days, by number of days listed (2,066 of 11,116 stores).
_PARTIAL_WEEK_DAY_COUNTS: dict[int, int] = {6: 1446, 5: 391, 1: 150, 4: 44, 3: 31, 2: 4}
_PARTIAL_WEEK_SHARE = 2066 / 11116
_NO_HOURS_SHARE = 0.22
_NO_TZ_SHARE_WITHOUT_HOURS = 0.20  # almost every store without a timezone also lacks hours
_NO_TZ_SHARE_WITH_HOURS = 0.0025


def _hms(text: str) -> int:
    hours, minutes, seconds = (int(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def _choices(weights: Mapping[str, int]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([_hms(key) for key in weights], dtype=np.int64)
    probs = np.array(list(weights.values()), dtype=float)
    return values, probs / probs.sum()


_OPEN = _choices(
    {
        "11:00:00": 30, "10:00:00": 12, "06:00:00": 11, "07:00:00": 8, "08:00:00": 6, "10:30:00": 4,
        "12:00:00": 4, "11:30:00": 4, "09:00:00": 4, "17:00:00": 2, "16:00:00": 2, "06:30:00": 1,
        "07:30:00": 1, "15:00:00": 1, "09:30:00": 1, "05:00:00": 1,
    }
)  # fmt: skip
_CLOSE = _choices(
    {
        "22:00:00": 13, "21:00:00": 12, "23:00:00": 10, "20:00:00": 7, "21:30:00": 7, "23:59:00": 7,
        "20:30:00": 5, "19:00:00": 4, "22:30:00": 4, "23:30:00": 3, "20:45:00": 3, "21:45:00": 2,
        "23:59:59": 3, "19:30:00": 2, "15:00:00": 1,
    }
)  # fmt: skip
# Late-night stores are written as two rows, 00:00:00-<early close> plus <open>-23:59:59, like the real file.
_EARLY_CLOSE = _choices(
    {
        "01:00:00": 30, "02:00:00": 25, "03:00:00": 12, "04:00:00": 6, "01:30:00": 4, "04:45:00": 3,
        "04:30:00": 3, "05:00:00": 3, "06:00:00": 2, "01:45:00": 2, "05:45:00": 2, "04:59:59": 2,
    }
)  # fmt: skip
_LUNCH_OPEN = _choices({"10:00:00": 2, "10:30:00": 2, "11:00:00": 5, "11:30:00": 2, "12:00:00": 1})
_LUNCH_BREAK = _choices({"14:00:00": 3, "14:30:00": 2, "15:00:00": 5})
_LUNCH_RESUME = _choices({"16:00:00": 2, "17:00:00": 5, "17:30:00": 3})
_LUNCH_CLOSE = _choices({"21:00:00": 3, "21:30:00": 2, "22:00:00": 4, "22:30:00": 2, "23:30:00": 1})

# Hour patterns; the shares reproduce ~4% 00:00:00-23:59:59 rows and ~16% store-days with 2-3 rows.
_ALLDAY_59, _ALLDAY_00, _SINGLE, _LATE_NIGHT, _LUNCH = range(5)
_PATTERN_SHARES = np.array([0.05, 0.095, 0.695, 0.12, 0.04])

# Poll profiles.
_NORMAL, _NO_POLLS, _SPARSE, _LATE_START = range(4)
_PROFILE_SHARES = np.array([0.97, 0.01, 0.005, 0.015])

_FLAKY_SHARE = 0.20
_OUTAGES_PER_DAY = (0.4, 2.2)  # (regular, flaky) outage runs started per store-day
_BLIP_RATE = 0.035  # isolated inactive polls outside outage runs
_GAPPY_SHARE = 0.25
_GAPS_PER_DAY = (0.02, 0.25)  # (regular, gappy) silent periods started per store-day
_NO_FRACTION_SHARE = 0.02


# --------------------------------------------------------------------------------------------------
# Edge-case stores.
# --------------------------------------------------------------------------------------------------

_ALL_DAYS = tuple(range(7))
_WEEKDAYS = (0, 1, 2, 3, 4)
_HoursSpec = tuple[tuple[tuple[int, ...], str, str], ...]
_PLAIN_HOURS: _HoursSpec = ((_ALL_DAYS, "11:00:00", "22:00:00"),)


class _EdgeCase(NamedTuple):
    kind: str
    description: str
    timezone: str | None  # None: no row in the timezones file
    hours: _HoursSpec  # (days, start, end) rows; empty: no rows in the hours file


_EDGE_CASES: tuple[_EdgeCase, ...] = (
    _EdgeCase(
        "overnight",
        "rows with end < start (18:00:00-02:00:00, Fri/Sat 20:00:00-03:30:00)",
        "America/Los_Angeles",
        (((0, 1, 2, 3, 6), "18:00:00", "02:00:00"), ((4, 5), "20:00:00", "03:30:00")),
    ),
    _EdgeCase(
        "split_shift",
        "2 rows on weekdays (11-15, 17-22), 3 rows on Saturday, 1 on Sunday",
        "America/New_York",
        (
            (_WEEKDAYS, "11:00:00", "15:00:00"),
            (_WEEKDAYS, "17:00:00", "22:00:00"),
            ((5,), "00:00:00", "01:00:00"),
            ((5,), "09:00:00", "12:00:00"),
            ((5,), "13:00:00", "23:59:59"),
            ((6,), "10:00:00", "20:00:00"),
        ),
    ),
    _EdgeCase(
        "overlapping",
        "overlapping rows on every day (09-17 and 12-20) plus a contained 10-11 row on Monday",
        "America/Chicago",
        (
            (_ALL_DAYS, "09:00:00", "17:00:00"),
            (_ALL_DAYS, "12:00:00", "20:00:00"),
            ((0,), "10:00:00", "11:00:00"),
        ),
    ),
    _EdgeCase(
        "all_day",
        "00:00:00-23:59:59 on all 7 days",
        "America/New_York",
        ((_ALL_DAYS, "00:00:00", "23:59:59"),),
    ),
    _EdgeCase(
        "end_2400",
        "end written as 24:00:00 (10:00:00-24:00:00, Sunday 00:00:00-24:00:00)",
        "America/Denver",
        (((0, 1, 2, 3, 4, 5), "10:00:00", "24:00:00"), ((6,), "00:00:00", "24:00:00")),
    ),
    _EdgeCase(
        "partial_week",
        "hours for Monday-Friday only: the weekend is closed",
        "America/New_York",
        ((_WEEKDAYS, "09:00:00", "17:00:00"),),
    ),
    _EdgeCase(
        "hours_no_timezone", "hours rows but no timezone row", None, ((_ALL_DAYS, "08:00:00", "20:00:00"),)
    ),
    _EdgeCase(
        "empty_timezone",
        "timezone row with an empty timezone_str",
        "",
        ((_ALL_DAYS, "08:00:00", "20:00:00"),),
    ),
    _EdgeCase(
        "invalid_timezone",
        "timezone row with a non-IANA name",
        "Mars/Olympus_Mons",
        ((_ALL_DAYS, "08:00:00", "20:00:00"),),
    ),
    _EdgeCase("tz_asia_kolkata", "UTC+05:30 zone", "Asia/Kolkata", ((_ALL_DAYS, "09:30:00", "21:30:00"),)),
    _EdgeCase(
        "tz_america_st_johns", "UTC-03:30 zone", "America/St_Johns", ((_ALL_DAYS, "07:00:00", "23:00:00"),)
    ),
    _EdgeCase(
        "tz_pacific_chatham",
        "UTC+13:45 zone (summer)",
        "Pacific/Chatham",
        ((_ALL_DAYS, "10:45:00", "22:15:00"),),
    ),
    _EdgeCase(
        "tz_australia_lord_howe",
        "UTC+11 zone with a 30-minute DST shift",
        "Australia/Lord_Howe",
        ((_ALL_DAYS, "08:00:00", "18:00:00"),),
    ),
    _EdgeCase("tz_europe_london", "UTC+00:00 zone", "Europe/London", ((_ALL_DAYS, "12:00:00", "23:00:00"),)),
    _EdgeCase("duplicate_polls", "two polls written twice, same status", "America/New_York", _PLAIN_HOURS),
    _EdgeCase(
        "conflicting_duplicate",
        "one poll written twice with disagreeing statuses",
        "America/New_York",
        _PLAIN_HOURS,
    ),
    _EdgeCase("single_poll", "exactly one poll in the whole range", "America/New_York", _PLAIN_HOURS),
    _EdgeCase("late_start", "no polls in the first half of the range", "America/Los_Angeles", _PLAIN_HOURS),
    _EdgeCase("no_polls", "hours and timezone rows but no polls at all", "America/Chicago", _PLAIN_HOURS),
    _EdgeCase("always_inactive", "every poll is inactive", "America/New_York", _PLAIN_HOURS),
    _EdgeCase("status_only", "polls but neither hours nor timezone rows", None, ()),
)

EDGE_CASE_KINDS: Mapping[str, str] = {case.kind: case.description for case in _EDGE_CASES}
"""kind -> what the store planted for it looks like; ``GeneratedDataset.edge_cases`` maps kind -> store_id."""


# --------------------------------------------------------------------------------------------------
# Store universe.
# --------------------------------------------------------------------------------------------------


@dataclass
class _Stores:
    """Per-store attributes as parallel arrays, so every later step stays vectorized."""

    ids: np.ndarray  # str
    timezone: np.ndarray  # object: str, or None for no row
    has_hours: np.ndarray  # bool, random hours wanted (edge stores carry their own)
    profile: np.ndarray  # _NORMAL/_NO_POLLS/_SPARSE/_LATE_START
    rate: np.ndarray  # chance of a poll in an hour slot
    outage_rate: np.ndarray  # outage runs per day
    gap_rate: np.ndarray  # silent periods per day
    edge: dict[str, int]  # kind -> store index


def _random_ids(rng: np.random.Generator, count: int) -> np.ndarray:
    """Uniform 63-bit ids like the real ones: ~89% have 19 digits, the rest fewer, all fit a BIGINT."""
    ids = np.empty(0, dtype=np.int64)
    while ids.size < count:
        drawn = rng.integers(1, 2**63, size=count - ids.size, dtype=np.int64)
        merged = np.concatenate([ids, drawn])
        _, first = np.unique(merged, return_index=True)
        ids = merged[np.sort(first)]
    return ids.astype(str)


def _given_ids(store_ids: Sequence[str], count: int) -> np.ndarray:
    unique = list(dict.fromkeys(str(store_id).strip() for store_id in store_ids))[:count]
    bad = [store_id for store_id in unique if not store_id or any(ch in store_id for ch in ',"\r\n')]
    if not unique:
        raise ValueError("store_ids is empty")
    if bad:
        raise ValueError(f"store_ids must be non-empty and CSV-safe, got {bad[:3]!r}")
    return np.array(unique, dtype=str)


def _make_stores(
    rng: np.random.Generator, count: int, store_ids: Sequence[str] | None, edge_cases: bool
) -> _Stores:
    ids = _random_ids(rng, count) if store_ids is None else _given_ids(store_ids, count)
    n = ids.size
    has_hours = rng.random(n) >= _NO_HOURS_SHARE
    no_tz_share = np.where(has_hours, _NO_TZ_SHARE_WITH_HOURS, _NO_TZ_SHARE_WITHOUT_HOURS)
    zones, zone_probs = list(_TIMEZONE_WEIGHTS), np.array(list(_TIMEZONE_WEIGHTS.values()), dtype=float)
    timezone = np.array(zones, dtype=object)[rng.choice(len(zones), size=n, p=zone_probs / zone_probs.sum())]
    timezone[rng.random(n) < no_tz_share] = None
    profile = rng.choice(4, size=n, p=_PROFILE_SHARES)
    # A store that is in no file at all would not exist: silent stores always keep a timezone row.
    timezone[(profile == _NO_POLLS) & pd.isna(timezone)] = "America/New_York"
    slow = rng.random(n) < 0.1
    rate = np.where(slow, rng.beta(3.0, 3.0, n), rng.beta(12.0, 5.0, n))
    outage_rate = np.where(rng.random(n) < _FLAKY_SHARE, _OUTAGES_PER_DAY[1], _OUTAGES_PER_DAY[0])
    gap_rate = np.where(rng.random(n) < _GAPPY_SHARE, _GAPS_PER_DAY[1], _GAPS_PER_DAY[0])
    stores = _Stores(ids, timezone, has_hours, profile, rate, outage_rate, gap_rate, {})
    if edge_cases:
        _plant_edge_stores(rng, stores)
    return stores


def _plant_edge_stores(rng: np.random.Generator, stores: _Stores) -> None:
    """Give each edge kind its own store with a steady poll profile, so the case is not hidden by gaps."""
    kinds = _EDGE_CASES[: stores.ids.size]
    chosen = rng.choice(stores.ids.size, size=len(kinds), replace=False)
    for case, index in zip(kinds, chosen, strict=True):
        stores.edge[case.kind] = int(index)
        stores.timezone[index] = case.timezone
        stores.has_hours[index] = False  # their rows come from the case table instead
        stores.profile[index] = _NORMAL
        stores.rate[index] = 0.9
        stores.outage_rate[index] = _OUTAGES_PER_DAY[0]
        stores.gap_rate[index] = 0.0
    profile_by_kind = {"single_poll": _SPARSE, "late_start": _LATE_START, "no_polls": _NO_POLLS}
    for kind, profile in profile_by_kind.items():
        if kind in stores.edge:
            stores.profile[stores.edge[kind]] = profile


# --------------------------------------------------------------------------------------------------
# Business hours.
# --------------------------------------------------------------------------------------------------


def _pick(
    rng: np.random.Generator, choices: tuple[np.ndarray, np.ndarray], shape: int | tuple[int, ...]
) -> np.ndarray:
    values, probs = choices
    return values[rng.choice(values.size, size=shape, p=probs)]


def _open_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 7) mask of listed days: most stores list the whole week, ~19% only some days."""
    counts = np.full(n, 7)
    partial = rng.random(n) < _PARTIAL_WEEK_SHARE
    sizes, weights = (
        np.array(list(_PARTIAL_WEEK_DAY_COUNTS)),
        np.array(list(_PARTIAL_WEEK_DAY_COUNTS.values())),
    )
    counts[partial] = sizes[rng.choice(sizes.size, size=int(partial.sum()), p=weights / weights.sum())]
    day_rank = np.argsort(rng.random((n, 7)), axis=1).argsort(axis=1)
    return day_rank < counts[:, None]


def _random_hours(rng: np.random.Generator, store_index: np.ndarray) -> pd.DataFrame:
    """Rows for stores on the random scheme, as (store index, day, start s, end s)."""
    n = store_index.size
    pattern = rng.choice(5, size=n, p=_PATTERN_SHARES)
    listed = _open_days(rng, n)
    regular_open, lunch_open = _pick(rng, _OPEN, n), _pick(rng, _LUNCH_OPEN, n)
    early = _pick(rng, _EARLY_CLOSE, n)
    open_s = np.where(pattern == _LUNCH, lunch_open, regular_open)
    # Late-night stores reopen at least an hour after the after-midnight close: no overlapping rows.
    open_s = np.where(pattern == _LATE_NIGHT, np.maximum(open_s, early + 3600), open_s)
    close_s = np.maximum(_pick(rng, _CLOSE, n), open_s + 4 * 3600)
    close_s = np.where(pattern == _LUNCH, _pick(rng, _LUNCH_CLOSE, n), close_s)
    close_s = np.where(
        pattern == _LATE_NIGHT, np.where(rng.random(n) < 0.85, _hms("23:59:59"), _hms("23:59:00")), close_s
    )
    close_s = np.where(
        pattern == _ALLDAY_59, _hms("23:59:59"), np.where(pattern == _ALLDAY_00, _hms("23:59:00"), close_s)
    )
    open_s = np.where((pattern == _ALLDAY_59) | (pattern == _ALLDAY_00), 0, open_s)
    # Some stores change their closing time on some days, like the real file (weekends, Sundays).
    varies = (rng.random((n, 1)) < 0.3) & (rng.random((n, 7)) < 0.35)
    shifted = close_s[:, None] + rng.choice(np.array([-3600, -1800, 1800, 3600]), size=(n, 7))
    shift_ok = varies & (close_s[:, None] <= _hms("23:00:00")) & (shifted >= open_s[:, None] + 3 * 3600)
    shift_ok &= ((pattern == _SINGLE) | (pattern == _LUNCH))[:, None] & (shifted <= _hms("23:30:00"))
    day_close = np.where(shift_ok, shifted, close_s[:, None])
    day_open = np.broadcast_to(open_s[:, None], (n, 7))

    late = (pattern == _LATE_NIGHT)[:, None] & listed
    lunch = (pattern == _LUNCH)[:, None] & listed
    # A few late-night store-days also close for lunch: the real file's 3-row days.
    three = late & (rng.random((n, 7)) < 0.012) & (day_open < _hms("12:00:00"))
    break_s, resume_s = _pick(rng, _LUNCH_BREAK, (n, 7)), _pick(rng, _LUNCH_RESUME, (n, 7))
    early_day = np.broadcast_to(early[:, None], (n, 7))
    zeros = np.zeros((n, 7), dtype=np.int64)
    parts = [
        (late, zeros, early_day),  # 00:00:00-early close
        (listed & ~lunch & ~three, day_open, day_close),  # the main row
        (lunch | three, day_open, break_s),
        (lunch | three, resume_s, day_close),
    ]
    frames = []
    for mask, start, end in parts:
        rows, days = np.nonzero(mask)
        frames.append(
            pd.DataFrame(
                {"store": store_index[rows], "day": days, "start": start[rows, days], "end": end[rows, days]}
            )
        )
    return pd.concat(frames, ignore_index=True)


def _edge_hours(stores: _Stores) -> pd.DataFrame:
    rows = [
        (stores.edge[case.kind], day, _hms(start), _hms(end))
        for case in _EDGE_CASES
        if case.kind in stores.edge
        for days, start, end in case.hours
        for day in days
    ]
    return pd.DataFrame(rows, columns=["store", "day", "start", "end"], dtype=np.int64)


def _format_hms(seconds: np.ndarray) -> np.ndarray:
    """HH:MM:SS without a per-row Python call; 86400 comes out as 24:00:00 on purpose."""
    seconds = np.asarray(seconds, dtype=np.int64)
    hours, minutes, secs = seconds // 3600, seconds // 60 % 60, seconds % 60
    text = np.empty((seconds.size, 8), dtype=np.uint8)
    text[:, [2, 5]] = ord(":")
    for column, value in ((0, hours), (3, minutes), (6, secs)):
        text[:, column : column + 2] = _digits(value, 2)
    return text.view("S8").ravel().astype(str)


def _write_hours(rng: np.random.Generator, stores: _Stores, path: Path) -> None:
    hours = pd.concat(
        [_random_hours(rng, np.flatnonzero(stores.has_hours)), _edge_hours(stores)], ignore_index=True
    )
    # Grouped by store with the days in random order, as in the real file.
    order = np.lexsort((rng.random(len(hours)), hours["store"].to_numpy()))
    hours = hours.iloc[order]
    frame = pd.DataFrame(
        {
            "store_id": stores.ids[hours["store"].to_numpy()],
            "day": hours["day"].to_numpy(),
            "start_time_local": _format_hms(hours["start"].to_numpy()),
            "end_time_local": _format_hms(hours["end"].to_numpy()),
        }
    )
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_timezones(rng: np.random.Generator, stores: _Stores, path: Path) -> None:
    present = np.flatnonzero(~pd.isna(stores.timezone))
    zones = stores.timezone[present].astype(str)
    # The real file is a BigQuery export grouped by timezone, groups in no particular order.
    names, group = np.unique(zones, return_inverse=True)
    group_rank = rng.permutation(names.size)[group]
    order = np.argsort(group_rank, kind="stable")
    frame = pd.DataFrame({"store_id": stores.ids[present[order]], "timezone_str": zones[order]})
    frame.to_csv(path, index=False, lineterminator="\n")


# --------------------------------------------------------------------------------------------------
# Polls.
# --------------------------------------------------------------------------------------------------


@dataclass
class _Polls:
    store: np.ndarray  # int64 store index
    time_us: np.ndarray  # int64 microseconds since the epoch, UTC
    inactive: np.ndarray  # bool


def _runs_mask(
    rng: np.random.Generator, per_store: np.ndarray, hours: int, min_len: int, mean_len: float
) -> np.ndarray:
    """(stores, hours) mask covered by random runs, built with a difference array instead of a loop."""
    n = per_store.size
    owner = np.repeat(np.arange(n), rng.poisson(per_store))
    begin = rng.integers(0, hours, owner.size)
    length = min_len - 1 + rng.geometric(1.0 / (mean_len - min_len + 1), owner.size)
    stop = np.minimum(begin + length, hours)
    width = hours + 1
    diff = np.bincount(owner * width + begin, minlength=n * width) - np.bincount(
        owner * width + stop, minlength=n * width
    )
    return np.cumsum(diff.reshape(n, width), axis=1)[:, :hours] > 0


def _poll_grid(rng: np.random.Generator, stores: _Stores, hours: int) -> tuple[np.ndarray, np.ndarray]:
    """Which clock-hour slots of which stores carry a poll, and which of those polls are inactive."""
    n, days = stores.ids.size, hours / 24
    present = rng.random((n, hours)) < stores.rate[:, None]
    present &= ~_runs_mask(rng, stores.gap_rate * days, hours, min_len=3, mean_len=9.0)
    first_slot = np.where(
        stores.profile == _LATE_START, rng.integers(int(hours * 0.2), int(hours * 0.9) + 1, n), 0
    )
    if "late_start" in stores.edge:
        first_slot[stores.edge["late_start"]] = hours // 2
    present &= np.arange(hours)[None, :] >= first_slot[:, None]
    present[stores.profile == _NO_POLLS] = False
    sparse = np.flatnonzero(stores.profile == _SPARSE)
    counts = rng.integers(1, 4, sparse.size)
    if "single_poll" in stores.edge:
        counts[np.searchsorted(sparse, stores.edge["single_poll"])] = 1
    present[sparse] = False
    # Interior slots only: the first and last slots are cut by the range, a poll there may be dropped.
    present[np.repeat(sparse, counts), rng.integers(1, hours - 1, counts.sum())] = True

    inactive = rng.random((n, hours)) < _BLIP_RATE
    inactive |= _runs_mask(rng, stores.outage_rate * days, hours, min_len=1, mean_len=3.5)
    if "always_inactive" in stores.edge:
        inactive[stores.edge["always_inactive"]] = True
    return present, inactive


def _poll_times(rng: np.random.Generator, slot_start_us: np.ndarray) -> np.ndarray:
    """Jittered instants: real polls bunch in the first ~15 minutes of a UTC hour, with a flat tail."""
    count = slot_start_us.size
    offsets = np.where(
        rng.random(count) < 0.85, rng.gamma(1.5, 280.0, count), rng.uniform(0.0, 3600.0, count)
    )
    time_us = slot_start_us + np.clip((offsets * _US_PER_S).astype(np.int64), 0, _US_PER_HOUR - 1)
    whole = rng.random(count) < _NO_FRACTION_SHARE
    time_us[whole] -= time_us[whole] % _US_PER_S  # these print without a fraction
    return time_us


def _end_poll_store(rng: np.random.Generator, stores: _Stores) -> int:
    """A store that polls normally takes the poll at `end`, so no edge case gets an extra poll."""
    special = {"single_poll", "no_polls", "always_inactive", "duplicate_polls", "conflicting_duplicate"}
    candidates = np.isin(stores.profile, [_NORMAL, _LATE_START])
    candidates[
        np.array([index for kind, index in stores.edge.items() if kind in special], dtype=np.int64)
    ] = False
    pool = np.flatnonzero(candidates)
    if pool.size == 0:
        pool = np.setdiff1d(np.arange(stores.ids.size), [stores.edge.get("no_polls", -1)])
    return int(rng.choice(pool))


def _make_polls(rng: np.random.Generator, stores: _Stores, days: int, end_us: int) -> _Polls:
    start_us = end_us - days * _DAY_S * _US_PER_S
    first_hour_us = start_us - start_us % _US_PER_HOUR
    hours = -(-(end_us - first_hour_us) // _US_PER_HOUR)  # UTC clock hours touching [start, end)
    present, inactive = _poll_grid(rng, stores, hours)
    store, slot = np.nonzero(present)
    time_us = _poll_times(rng, first_hour_us + slot * _US_PER_HOUR)
    inside = (time_us >= start_us) & (time_us < end_us)
    store, slot, time_us = store[inside], slot[inside], time_us[inside]
    last = _end_poll_store(rng, stores)
    polls = _Polls(
        np.append(store, last),
        np.append(time_us, end_us),
        np.append(inactive[store, slot], inactive[last, -1]),
    )
    return _add_duplicates(rng, stores, polls)


def _add_duplicates(rng: np.random.Generator, stores: _Stores, polls: _Polls) -> _Polls:
    extra: list[tuple[np.ndarray, bool]] = []
    for kind, copies, flip in (("duplicate_polls", 2, False), ("conflicting_duplicate", 1, True)):
        if kind not in stores.edge:
            continue
        own = np.flatnonzero(polls.store == stores.edge[kind])
        extra.append((rng.choice(own, size=min(copies, own.size), replace=False), flip))
    if not extra:
        return polls
    picked = np.concatenate([rows for rows, _ in extra])
    flips = np.concatenate([np.full(rows.size, flip) for rows, flip in extra])
    return _Polls(
        np.append(polls.store, polls.store[picked]),
        np.append(polls.time_us, polls.time_us[picked]),
        np.append(polls.inactive, polls.inactive[picked] ^ flips),
    )


def _file_order(rng: np.random.Generator, time_us: np.ndarray) -> np.ndarray:
    """Roughly shuffled by time like the real file: short time-sorted runs, the runs in random order."""
    by_time = np.argsort(time_us, kind="stable")
    run = np.cumsum(rng.random(time_us.size) < 0.45)
    run_rank = rng.permutation(int(run[-1]) + 1)[run] if time_us.size else run
    return by_time[np.argsort(run_rank, kind="stable")]


# --------------------------------------------------------------------------------------------------
# Byte-level CSV writing for the large status file.
# --------------------------------------------------------------------------------------------------


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
    day, micros = np.divmod(time_us, _DAY_S * _US_PER_S)
    unique_days, day_index = np.unique(day, return_inverse=True)
    date_text = np.datetime_as_string(unique_days.astype("datetime64[D]"), unit="D")
    date_matrix, _ = _text_matrix(np.char.add(date_text, " "))
    seconds, fraction = np.divmod(micros, _US_PER_S)
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


def _write_status(stores: _Stores, polls: _Polls, order: np.ndarray, path: Path) -> None:
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


# --------------------------------------------------------------------------------------------------
# Entry point.
# --------------------------------------------------------------------------------------------------


def _as_utc(value: str | pd.Timestamp) -> pd.Timestamp:
    """Naive input is read as UTC; the value is floored to microseconds because files carry no more."""
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("us")


def _epoch_us(stamp: pd.Timestamp) -> int:
    return (stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)


def generate_dataset(
    out_dir: Path | str,
    *,
    stores: int = 1000,
    days: int = 8,
    seed: int = 0,
    end: str | pd.Timestamp = "2023-01-25 18:13:22.479220+00:00",
    store_ids: Sequence[str] | None = None,
    edge_cases: bool = True,
) -> GeneratedDataset:
    """Write store_status.csv, menu_hours.csv and timezones.csv into `out_dir`; same arguments, same bytes.

    `stores` counts every store id in the data set (a few have no polls, ~22% no hours); with `store_ids`
    it caps how many of those ids (first come, deduplicated) are used. Polls cover the `days` days
    ending at `end`, about 0.66 per store-hour, and one poll sits exactly at `end`. With `edge_cases`
    one store per kind of ``EDGE_CASE_KINDS`` is planted (fewer if there are fewer stores than kinds).
    """
    if stores < 1 or days < 1:
        raise ValueError(f"stores and days must be >= 1, got stores={stores}, days={days}")
    end_stamp = _as_utc(end)
    end_us = _epoch_us(end_stamp)
    rng = np.random.default_rng(seed)
    universe = _make_stores(rng, stores, store_ids, edge_cases)  # validates store_ids before any I/O
    polls = _make_polls(rng, universe, days, end_us)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / STATUS_FILE, directory / HOURS_FILE, directory / TIMEZONES_FILE)
    _write_status(universe, polls, _file_order(rng, polls.time_us), paths[0])
    _write_hours(rng, universe, paths[1])
    _write_timezones(rng, universe, paths[2])
    return GeneratedDataset(
        directory=directory,
        status_path=paths[0],
        hours_path=paths[1],
        timezones_path=paths[2],
        stores=int(universe.ids.size),
        polls=int(polls.store.size),
        start=end_stamp - pd.Timedelta(days=days),
        end=end_stamp,
        edge_cases={kind: str(universe.ids[index]) for kind, index in universe.edge.items()},
    )
