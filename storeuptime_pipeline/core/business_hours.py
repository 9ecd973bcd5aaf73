"""Business hours as merged UTC intervals per store, and the business time before any instant.

The rules (README, "What the report means"): an instant is inside business hours when the
store's local wall-clock time falls in [start, end) of one of its rows for that local weekday.
A row with end <= start runs past midnight into the next day; start == end is 24 hours; an end
of 23:59:59 is the data set's way of writing the end of the day and is read as 24:00. Rows of a
day are a union. A store with no rows is open 24x7; a store with rows for some days only is
closed on the others. Each row is laid on every local date of its weekday and converted to UTC
through the constant-offset segments of the store's timezone, so DST is exact per date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.inputs import SECONDS_PER_DAY
from storeuptime_pipeline.core.keyed import KeySpace
from storeuptime_pipeline.core.timezones import US_PER_DAY, US_PER_SECOND, offset_segments

#: The "open all day" rows of the real data end at 23:59:59; they mean the end of the day.
END_OF_DAY_SPELLING = SECONDS_PER_DAY - 1
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


@dataclass(frozen=True)
class BusinessCalendar:
    """Every store's business time in [space.lo, space.hi] as merged, sorted UTC intervals."""

    space: KeySpace
    store: np.ndarray
    start: np.ndarray
    end: np.ndarray
    keys: np.ndarray
    cum_before: np.ndarray
    store_base: np.ndarray

    def time_until(self, store: np.ndarray, at_us: np.ndarray) -> np.ndarray:
        """Business time of each store in [space.lo, at), in microseconds."""
        if len(self.store) == 0:  # no store has any business time in the range (e.g. a DST gap)
            return np.zeros(np.shape(at_us), dtype=np.int64)
        # The same arithmetic as min(max(at - start, 0), end - start) over a few arrays reused in
        # place: this runs for every poll's segment bounds, and each temporary is 8 bytes a poll.
        safe = np.searchsorted(self.keys, self.space.key(store, at_us), side="right")
        safe -= 1
        own = safe >= 0
        np.maximum(safe, 0, out=safe)
        own &= self.store[safe] == store
        start = self.start[safe]
        partial = np.subtract(at_us, start, dtype=np.int64)
        np.maximum(partial, 0, out=partial)
        length = self.end[safe]
        length -= start
        del start
        np.minimum(partial, length, out=partial)
        del length
        value = self.cum_before[safe]
        value -= self.store_base[store]
        value += partial
        value[~own] = 0
        return value


def _local_intervals(
    codes: np.ndarray, day: np.ndarray, start_s: np.ndarray, end_s: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lay each weekly row on every local date of its weekday near [lo, hi]: naive local µs."""
    end_s = np.where(end_s == END_OF_DAY_SPELLING, SECONDS_PER_DAY, end_s)
    end_s = np.where(end_s <= start_s, end_s + SECONDS_PER_DAY, end_s)
    first_day = lo // US_PER_DAY - 2
    last_day = hi // US_PER_DAY + 2
    first = first_day + (day - (first_day + _EPOCH_WEEKDAY)) % 7
    count = np.maximum((last_day - first) // 7 + 1, 0)
    row = np.repeat(np.arange(len(codes)), count)
    nth = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    midnight = (first[row] + 7 * nth) * US_PER_DAY
    return codes[row], midnight + start_s[row] * US_PER_SECOND, midnight + end_s[row] * US_PER_SECOND


def _to_utc(
    store: np.ndarray, local_a: np.ndarray, local_b: np.ndarray, store_tz: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Preimage of each local interval in UTC: one piece per constant-offset segment it meets."""
    tz_codes, tz_names = pd.factorize(store_tz[store])
    parts_store, parts_a, parts_b = [], [], []
    margin = 3 * US_PER_DAY
    for t, name in enumerate(tz_names):  # a loop over timezones (a dozen), not over stores
        mask = tz_codes == t
        s, a, b = store[mask], local_a[mask], local_b[mask]
        segments = offset_segments(str(name), lo - margin, hi + margin)
        for seg_start, seg_end, offset in zip(segments.start, segments.end, segments.offset, strict=True):
            ua = np.maximum(a - offset, max(seg_start, lo))
            ub = np.minimum(b - offset, min(seg_end, hi))
            keep = ua < ub
            parts_store.append(s[keep])
            parts_a.append(ua[keep])
            parts_b.append(ub[keep])
    if not parts_store:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(parts_store), np.concatenate(parts_a), np.concatenate(parts_b)


def _merge(space: KeySpace, store: np.ndarray, start: np.ndarray, end: np.ndarray) -> BusinessCalendar:
    """Union of overlapping intervals per store, with cumulative durations for fast lookups."""
    order = np.lexsort((start, store))
    store, start, end = store[order], start[order], end[order]
    key_start = space.key(store, start)
    key_end = space.key(store, end)
    running_end = np.maximum.accumulate(key_end) if len(key_end) else key_end
    new = np.ones(len(store), dtype=bool)
    new[1:] = key_start[1:] > running_end[:-1]
    heads = np.flatnonzero(new)
    m_store = store[heads]
    m_start = start[heads]
    m_end = (
        np.maximum.reduceat(key_end, heads) - m_store * space.stride + (space.lo - 1)
        if len(heads)
        else start[:0]
    )
    lengths = m_end - m_start
    cum_before = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else lengths
    first_of_store = np.searchsorted(m_store, np.arange(space.n_stores), side="left")
    store_base = np.append(cum_before, 0)[first_of_store]
    return BusinessCalendar(
        space=space,
        store=m_store,
        start=m_start,
        end=m_end,
        keys=space.key(m_store, m_start),
        cum_before=cum_before,
        store_base=store_base,
    )


def build_calendar(
    hours: pd.DataFrame, store_ids: pd.Index, store_tz: np.ndarray, space: KeySpace
) -> BusinessCalendar:
    """Business intervals for the stores in ``store_ids`` (codes = positions) over the key space.

    ``hours`` has store_id, day_of_week, start_seconds, end_seconds; ``store_tz`` holds the
    timezone used for each store code.
    """
    codes = store_ids.get_indexer(hours["store_id"])
    listed = codes >= 0
    codes = codes[listed].astype(np.int64)
    day = hours["day_of_week"].to_numpy()[listed].astype(np.int64)
    start_s = hours["start_seconds"].to_numpy()[listed].astype(np.int64)
    end_s = hours["end_seconds"].to_numpy()[listed].astype(np.int64)
    lo, hi = space.lo, space.hi
    store, local_a, local_b = _local_intervals(codes, day, start_s, end_s, lo, hi)
    store, utc_a, utc_b = _to_utc(store, local_a, local_b, store_tz, lo, hi)
    always_open = np.setdiff1d(np.arange(len(store_ids)), codes)
    store = np.concatenate([store, always_open]).astype(np.int64)
    utc_a = np.concatenate([utc_a, np.full(len(always_open), lo, dtype=np.int64)])
    utc_b = np.concatenate([utc_b, np.full(len(always_open), hi, dtype=np.int64)])
    return _merge(space, store, utc_a, utc_b)
