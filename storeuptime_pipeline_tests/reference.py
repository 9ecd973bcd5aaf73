"""A slow, obviously-correct reference for the uptime report, written from the spec alone.

Nothing here comes from the engine: it samples every second of the week before the as-of
instant T and applies the plain definitions to each second.

- Second ``s`` (an integer number of seconds since the epoch, standing for [s, s + 1)) is in
  business hours when the store's local wall-clock time at ``s`` (``zoneinfo``) falls in
  [start, end) of one of its rows for that local weekday. A row with end <= start runs from
  start to midnight and from the next day's midnight to end; start == end is 24 hours; an end of
  23:59:59 is read as 24:00. A store with no rows is always open. A missing, empty or unknown
  timezone is America/Chicago.
- The status at ``s`` is that of the nearest poll at or before T (duplicates count once, inactive
  winning); before the first poll the first poll holds, after the last poll the last one. At an
  exact tie between two polls the later one wins (the switch happens at the midpoint).
- The figures are sums of seconds over [T - 1h, T), [T - 24h, T) and [T - 7d, T): minutes for
  the hour, hours for the day and the week, rounded to 2 decimals; downtime is the rounded
  business time minus the rounded uptime.

Every input boundary (row times, timezone offsets, T, poll midpoints) that falls on a whole
second is counted exactly; a poll midpoint on a half second costs at most half a second.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd

DEFAULT_TIMEZONE = "America/Chicago"
SECONDS_PER_DAY = 86_400
WEEK_SECONDS = 7 * SECONDS_PER_DAY
#: (window name, window length in seconds, seconds per reported unit)
WINDOWS = (("hour", 3_600, 60), ("day", SECONDS_PER_DAY, 3_600), ("week", WEEK_SECONDS, 3_600))
REPORT_COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]
BUSINESS_COLUMNS = ["business_last_hour", "business_last_day", "business_last_week"]
FIGURE_COLUMNS = REPORT_COLUMNS[1:] + BUSINESS_COLUMNS


def timezone_for(name: object) -> str:
    """The timezone a store uses: its IANA name if zoneinfo knows it, else America/Chicago."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return DEFAULT_TIMEZONE
    text = str(name)
    if text == "":
        return DEFAULT_TIMEZONE
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return DEFAULT_TIMEZONE
    return text


def whole_seconds(value: object) -> int:
    """An instant (Timestamp, text or datetime; naive = UTC) as whole seconds since the epoch."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    us = ts.value // 1_000
    if us % 1_000_000:
        raise ValueError(f"the reference needs an as-of on a whole second, got {ts}")
    return us // 1_000_000


@lru_cache(maxsize=64)
def local_clock(tz_name: str, as_of_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Local weekday (0 = Monday) and local seconds after midnight of every second of the week."""
    seconds = np.arange(as_of_s - WEEK_SECONDS, as_of_s, dtype=np.int64)
    utc = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")
    local = utc.tz_convert(zoneinfo.ZoneInfo(tz_name)).tz_localize(None)  # the wall clock
    weekday = local.day_of_week.to_numpy().astype(np.int8)
    second_of_day = (local.hour * 3600 + local.minute * 60 + local.second).to_numpy().astype(np.int32)
    weekday.setflags(write=False)
    second_of_day.setflags(write=False)
    return weekday, second_of_day


def open_mask(rows: list[tuple[int, int, int]], tz_name: str, as_of_s: int) -> np.ndarray:
    """For every second of [T - 7d, T): is the store inside business hours?"""
    weekday, sod = local_clock(tz_name, as_of_s)
    if not rows:
        return np.ones(WEEK_SECONDS, dtype=bool)
    is_open = np.zeros(WEEK_SECONDS, dtype=bool)
    for day, start, end in rows:
        if end == SECONDS_PER_DAY - 1:
            end = SECONDS_PER_DAY
        if start < end:
            is_open |= (weekday == day) & (sod >= start) & (sod < end)
        else:  # overnight (or 24 hours when start == end): on `day` from start, then next day until end
            is_open |= (weekday == day) & (sod >= start)
            is_open |= (weekday == (day + 1) % 7) & (sod < end)
    return is_open


def active_mask(poll_us: np.ndarray, poll_active: np.ndarray, as_of_s: int) -> np.ndarray:
    """For every second of [T - 7d, T): the status of the nearest poll at or before T."""
    as_of_us = as_of_s * 1_000_000
    visible = poll_us <= as_of_us
    frame = pd.DataFrame({"t": poll_us[visible], "active": poll_active[visible]})
    merged = frame.groupby("t", sort=True)["active"].all()  # duplicates once; inactive wins
    times = merged.index.to_numpy(dtype=np.int64)
    status = merged.to_numpy(dtype=bool)
    if len(times) == 0:
        raise ValueError("no poll at or before the as-of")
    sample = np.arange(as_of_s - WEEK_SECONDS, as_of_s, dtype=np.int64) * 1_000_000
    before = np.searchsorted(times, sample, side="right") - 1  # last poll at or before the second
    after = before + 1  # first poll after it
    prev_i = np.clip(before, 0, len(times) - 1)
    next_i = np.clip(after, 0, len(times) - 1)
    take_next = (before < 0) | ((after < len(times)) & (times[next_i] - sample <= sample - times[prev_i]))
    return np.where(take_next, status[next_i], status[prev_i])


def store_figures(
    poll_us: np.ndarray,
    poll_active: np.ndarray,
    rows: list[tuple[int, int, int]],
    timezone: object,
    as_of_s: int,
) -> dict[str, float]:
    """The report figures of one store as of T (whole seconds), with the business figures."""
    tz_name = timezone_for(timezone)
    is_open = open_mask(rows, tz_name, as_of_s)
    up = is_open & active_mask(poll_us, poll_active, as_of_s)
    out: dict[str, float] = {}
    for name, length, unit in WINDOWS:
        business_s = int(is_open[WEEK_SECONDS - length :].sum())
        up_s = int(up[WEEK_SECONDS - length :].sum())
        business = round(business_s / unit, 2)
        uptime = round(up_s / unit, 2)
        out[f"uptime_last_{name}"] = uptime
        out[f"downtime_last_{name}"] = round(business - uptime, 2) + 0.0
        out[f"business_last_{name}"] = business
    return out


def reference_report(
    polls: pd.DataFrame, hours: pd.DataFrame, timezones: pd.DataFrame | None, as_of: object
) -> pd.DataFrame:
    """The report as of ``as_of``: one row per store with a poll at or before it, by store_id."""
    as_of_s = whole_seconds(as_of)
    poll_us = (
        pd.DatetimeIndex(polls["timestamp_utc"]).tz_convert("UTC").as_unit("us").asi8.astype(np.int64)
        if len(polls)
        else np.zeros(0, dtype=np.int64)
    )
    poll_store = polls["store_id"].astype(str).to_numpy()
    poll_active = polls["is_active"].to_numpy(dtype=bool)
    tz_of: dict[str, object] = {}
    if timezones is not None:
        for store, name in zip(timezones["store_id"], timezones["timezone_str"], strict=True):
            tz_of[str(store)] = name
    rows_of: dict[str, list[tuple[int, int, int]]] = {}
    for store, day, start, end in zip(
        hours["store_id"], hours["day_of_week"], hours["start_seconds"], hours["end_seconds"], strict=True
    ):
        rows_of.setdefault(str(store), []).append((int(day), int(start), int(end)))
    records = []
    for store in sorted(set(poll_store)):
        mine = poll_store == store
        if not (poll_us[mine] <= as_of_s * 1_000_000).any():
            continue
        figures = store_figures(
            poll_us[mine], poll_active[mine], rows_of.get(store, []), tz_of.get(store), as_of_s
        )
        records.append({"store_id": store, **figures})
    return pd.DataFrame(records, columns=REPORT_COLUMNS + BUSINESS_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Business time alone, for invariant checks that must not trust the engine's own business figures.
# ---------------------------------------------------------------------------------------------

#: One rounding step of the report's figures: the engine rounds its exact business time, this
#: module rounds whole seconds, and the two may round a tie (e.g. 18 s = 0.005 h) differently.
ONE_ROUNDING_STEP = 0.01 + 1e-9


def business_figures(rows: list[tuple[int, int, int]], timezone: object, as_of_s: int) -> dict[str, float]:
    """Business time of one store in each window as of T (whole seconds), in the report's units.

    Computed from the rows and the zone alone (the per-second walk of ``open_mask``), so an
    invariant "uptime + downtime = business time" checked against it is not true by construction.
    """
    is_open = open_mask(rows, timezone_for(timezone), as_of_s)
    return {
        f"business_last_{name}": round(int(is_open[WEEK_SECONDS - length :].sum()) / unit, 2)
        for name, length, unit in WINDOWS
    }


def business_mismatches(
    report: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_of: object | None = None,
    sample: int = 60,
    seed: int = 0,
    always: Iterable[str] = (),
) -> list[str]:
    """Rows of ``report`` where uptime + downtime is not the business time computed here.

    ``report`` has store_id, the six figures and either an ``as_of`` column (several instants) or
    one instant given as ``as_of``. A random sample of ``sample`` rows is checked (the per-second
    walk costs ~0.1 s per store), plus every row of the stores in ``always`` (rare shapes such as
    overnight rows, which a random sample of a realistic data set would seldom meet); rows as of an
    instant that is not a whole second are left out.
    Returns one readable line per mismatch (empty: all agree within one rounding step).
    """
    frame = report.copy()
    if "as_of" not in frame.columns:
        frame["as_of"] = pd.Timestamp(as_of)
    whole = pd.DatetimeIndex(frame["as_of"]).as_unit("us").asi8 % 1_000_000 == 0
    frame = frame[whole]
    if len(frame) == 0:
        raise ValueError("no report row as of a whole second: nothing to check")
    chosen = frame["store_id"].astype(str).isin({str(store) for store in always})
    if (~chosen).sum() > sample:
        frame = pd.concat([frame[chosen], frame[~chosen].sample(sample, random_state=seed)])
    tz_of: dict[str, object] = {}
    if timezones is not None:
        tz_of = dict(zip(timezones["store_id"].astype(str), timezones["timezone_str"], strict=True))
    rows_of: dict[str, list[tuple[int, int, int]]] = {}
    for store, day, start, end in zip(
        hours["store_id"], hours["day_of_week"], hours["start_seconds"], hours["end_seconds"], strict=True
    ):
        rows_of.setdefault(str(store), []).append((int(day), int(start), int(end)))
    problems = []
    for record in frame.to_dict("records"):
        store = str(record["store_id"])
        want = business_figures(rows_of.get(store, []), tz_of.get(store), whole_seconds(record["as_of"]))
        for name, _length, _unit in WINDOWS:
            got = record[f"uptime_last_{name}"] + record[f"downtime_last_{name}"]
            if abs(got - want[f"business_last_{name}"]) > ONE_ROUNDING_STEP:
                problems.append(
                    f"store {store} as of {record['as_of']}: uptime_last_{name} + downtime_last_{name} = "
                    f"{got:.2f}, business time (walked per second) = {want[f'business_last_{name}']:.2f}"
                )
    return problems
