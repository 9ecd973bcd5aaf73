"""The store universe of a generated data set: ids, timezones, poll profiles and the planted edge cases.

Per-store attributes are parallel arrays (:class:`Stores`), drawn from distributions measured on the
real Jan-2023 files, so every later step (hours, polls, writing) stays vectorized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

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

_NO_HOURS_SHARE = 0.22
_NO_TZ_SHARE_WITHOUT_HOURS = 0.20  # almost every store without a timezone also lacks hours
_NO_TZ_SHARE_WITH_HOURS = 0.0025

# Poll profiles.
NORMAL, NO_POLLS, SPARSE, LATE_START = range(4)
_PROFILE_SHARES = np.array([0.97, 0.01, 0.005, 0.015])

_FLAKY_SHARE = 0.20
_OUTAGES_PER_DAY = (0.4, 2.2)  # (regular, flaky) outage runs started per store-day
_GAPPY_SHARE = 0.25
_GAPS_PER_DAY = (0.02, 0.25)  # (regular, gappy) silent periods started per store-day


# --------------------------------------------------------------------------------------------------
# Edge-case stores.
# --------------------------------------------------------------------------------------------------

_ALL_DAYS = tuple(range(7))
_WEEKDAYS = (0, 1, 2, 3, 4)
_HoursSpec = tuple[tuple[tuple[int, ...], str, str], ...]
_PLAIN_HOURS: _HoursSpec = ((_ALL_DAYS, "11:00:00", "22:00:00"),)


class EdgeCase(NamedTuple):
    kind: str
    description: str
    timezone: str | None  # None: no row in the timezones file
    hours: _HoursSpec  # (days, start, end) rows; empty: no rows in the hours file


EDGE_CASES: tuple[EdgeCase, ...] = (
    EdgeCase(
        "overnight",
        "rows with end < start (18:00:00-02:00:00, Fri/Sat 20:00:00-03:30:00)",
        "America/Los_Angeles",
        (((0, 1, 2, 3, 6), "18:00:00", "02:00:00"), ((4, 5), "20:00:00", "03:30:00")),
    ),
    EdgeCase(
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
    EdgeCase(
        "overlapping",
        "overlapping rows on every day (09-17 and 12-20) plus a contained 10-11 row on Monday",
        "America/Chicago",
        (
            (_ALL_DAYS, "09:00:00", "17:00:00"),
            (_ALL_DAYS, "12:00:00", "20:00:00"),
            ((0,), "10:00:00", "11:00:00"),
        ),
    ),
    EdgeCase(
        "all_day",
        "00:00:00-23:59:59 on all 7 days",
        "America/New_York",
        ((_ALL_DAYS, "00:00:00", "23:59:59"),),
    ),
    EdgeCase(
        "end_2400",
        "end written as 24:00:00 (10:00:00-24:00:00, Sunday 00:00:00-24:00:00)",
        "America/Denver",
        (((0, 1, 2, 3, 4, 5), "10:00:00", "24:00:00"), ((6,), "00:00:00", "24:00:00")),
    ),
    EdgeCase(
        "partial_week",
        "hours for Monday-Friday only: the weekend is closed",
        "America/New_York",
        ((_WEEKDAYS, "09:00:00", "17:00:00"),),
    ),
    EdgeCase(
        "hours_no_timezone", "hours rows but no timezone row", None, ((_ALL_DAYS, "08:00:00", "20:00:00"),)
    ),
    EdgeCase(
        "empty_timezone",
        "timezone row with an empty timezone_str",
        "",
        ((_ALL_DAYS, "08:00:00", "20:00:00"),),
    ),
    EdgeCase(
        "invalid_timezone",
        "timezone row with a non-IANA name",
        "Mars/Olympus_Mons",
        ((_ALL_DAYS, "08:00:00", "20:00:00"),),
    ),
    EdgeCase("tz_asia_kolkata", "UTC+05:30 zone", "Asia/Kolkata", ((_ALL_DAYS, "09:30:00", "21:30:00"),)),
    EdgeCase(
        "tz_america_st_johns", "UTC-03:30 zone", "America/St_Johns", ((_ALL_DAYS, "07:00:00", "23:00:00"),)
    ),
    EdgeCase(
        "tz_pacific_chatham",
        "UTC+13:45 zone (summer)",
        "Pacific/Chatham",
        ((_ALL_DAYS, "10:45:00", "22:15:00"),),
    ),
    EdgeCase(
        "tz_australia_lord_howe",
        "UTC+11 zone with a 30-minute DST shift",
        "Australia/Lord_Howe",
        ((_ALL_DAYS, "08:00:00", "18:00:00"),),
    ),
    EdgeCase("tz_europe_london", "UTC+00:00 zone", "Europe/London", ((_ALL_DAYS, "12:00:00", "23:00:00"),)),
    EdgeCase("duplicate_polls", "two polls written twice, same status", "America/New_York", _PLAIN_HOURS),
    EdgeCase(
        "conflicting_duplicate",
        "one poll written twice with disagreeing statuses",
        "America/New_York",
        _PLAIN_HOURS,
    ),
    EdgeCase("single_poll", "exactly one poll in the whole range", "America/New_York", _PLAIN_HOURS),
    EdgeCase("late_start", "no polls in the first half of the range", "America/Los_Angeles", _PLAIN_HOURS),
    EdgeCase("no_polls", "hours and timezone rows but no polls at all", "America/Chicago", _PLAIN_HOURS),
    EdgeCase("always_inactive", "every poll is inactive", "America/New_York", _PLAIN_HOURS),
    EdgeCase("status_only", "polls but neither hours nor timezone rows", None, ()),
)

EDGE_CASE_KINDS: Mapping[str, str] = {case.kind: case.description for case in EDGE_CASES}
"""kind -> what the store planted for it looks like; ``GeneratedDataset.edge_cases`` maps kind -> store_id."""


# --------------------------------------------------------------------------------------------------
# Store universe.
# --------------------------------------------------------------------------------------------------


@dataclass
class Stores:
    """Per-store attributes as parallel arrays, so every later step stays vectorized."""

    ids: np.ndarray  # str
    timezone: np.ndarray  # object: str, or None for no row
    has_hours: np.ndarray  # bool, random hours wanted (edge stores carry their own)
    profile: np.ndarray  # NORMAL/NO_POLLS/SPARSE/LATE_START
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


def make_stores(
    rng: np.random.Generator, count: int, store_ids: Sequence[str] | None, edge_cases: bool
) -> Stores:
    ids = _random_ids(rng, count) if store_ids is None else _given_ids(store_ids, count)
    n = ids.size
    has_hours = rng.random(n) >= _NO_HOURS_SHARE
    no_tz_share = np.where(has_hours, _NO_TZ_SHARE_WITH_HOURS, _NO_TZ_SHARE_WITHOUT_HOURS)
    zones, zone_probs = list(_TIMEZONE_WEIGHTS), np.array(list(_TIMEZONE_WEIGHTS.values()), dtype=float)
    timezone = np.array(zones, dtype=object)[rng.choice(len(zones), size=n, p=zone_probs / zone_probs.sum())]
    timezone[rng.random(n) < no_tz_share] = None
    profile = rng.choice(4, size=n, p=_PROFILE_SHARES)
    # A store that is in no file at all would not exist: silent stores always keep a timezone row.
    timezone[(profile == NO_POLLS) & pd.isna(timezone)] = "America/New_York"
    slow = rng.random(n) < 0.1
    rate = np.where(slow, rng.beta(3.0, 3.0, n), rng.beta(12.0, 5.0, n))
    outage_rate = np.where(rng.random(n) < _FLAKY_SHARE, _OUTAGES_PER_DAY[1], _OUTAGES_PER_DAY[0])
    gap_rate = np.where(rng.random(n) < _GAPPY_SHARE, _GAPS_PER_DAY[1], _GAPS_PER_DAY[0])
    stores = Stores(ids, timezone, has_hours, profile, rate, outage_rate, gap_rate, {})
    if edge_cases:
        _plant_edge_stores(rng, stores)
    return stores


def _plant_edge_stores(rng: np.random.Generator, stores: Stores) -> None:
    """Give each edge kind its own store with a steady poll profile, so the case is not hidden by gaps."""
    kinds = EDGE_CASES[: stores.ids.size]
    chosen = rng.choice(stores.ids.size, size=len(kinds), replace=False)
    for case, index in zip(kinds, chosen, strict=True):
        stores.edge[case.kind] = int(index)
        stores.timezone[index] = case.timezone
        stores.has_hours[index] = False  # their rows come from the case table instead
        stores.profile[index] = NORMAL
        stores.rate[index] = 0.9
        stores.outage_rate[index] = _OUTAGES_PER_DAY[0]
        stores.gap_rate[index] = 0.0
    profile_by_kind = {"single_poll": SPARSE, "late_start": LATE_START, "no_polls": NO_POLLS}
    for kind, profile in profile_by_kind.items():
        if kind in stores.edge:
            stores.profile[stores.edge[kind]] = profile
