"""UTC offsets of a timezone as a few constant-offset segments.

Business hours are written in local wall-clock time, and a local time maps to UTC through an
offset that changes at daylight-saving transitions. Cutting the UTC timeline into segments of
constant offset lets the engine convert every business interval with plain array arithmetic,
and it makes the DST rules exact for free: a local hour skipped in spring lies in no segment,
and a local hour repeated in autumn lies in two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR


@dataclass(frozen=True)
class OffsetSegments:
    """UTC instants [start[i], end[i]) have local time = UTC + offset[i] (all in microseconds)."""

    start: np.ndarray
    end: np.ndarray
    offset: np.ndarray


def _offsets(tz: str, instants_us: np.ndarray) -> np.ndarray:
    """Offset (local minus UTC) in microseconds at each UTC instant."""
    utc = pd.DatetimeIndex(instants_us.astype("datetime64[us]"), tz="UTC")
    local = utc.tz_convert(tz).tz_localize(None)
    return (local.asi8 - utc.tz_localize(None).asi8).astype(np.int64)


def _first_change(tz: str, lo: int, hi: int, step: int) -> int:
    """The first instant in (lo, hi] on a ``step`` grid whose offset differs from the offset at lo."""
    grid = np.arange(lo, hi + step, step, dtype=np.int64)
    offs = _offsets(tz, grid)
    changed = np.flatnonzero(offs != offs[0])
    return int(grid[changed[0]])


@lru_cache(maxsize=4096)
def offset_segments(tz: str, lo_us: int, hi_us: int) -> OffsetSegments:
    """Constant-offset segments covering [lo_us, hi_us), exact to the second.

    Transitions are found on an hourly grid, then refined to the minute and the second; tzdata
    transitions fall on whole seconds, so the result is exact.
    """
    lo = lo_us - lo_us % US_PER_HOUR
    hi = hi_us + (-hi_us) % US_PER_HOUR
    grid = np.arange(lo, hi + US_PER_HOUR, US_PER_HOUR, dtype=np.int64)
    offs = _offsets(tz, grid)
    changes = np.flatnonzero(np.diff(offs) != 0)
    bounds = [lo_us]
    for i in changes:
        minute = _first_change(tz, int(grid[i]), int(grid[i + 1]), US_PER_MINUTE)
        second = _first_change(tz, minute - US_PER_MINUTE, minute, US_PER_SECOND)
        if lo_us < second < hi_us:
            bounds.append(second)
    bounds.append(hi_us)
    start = np.asarray(bounds[:-1], dtype=np.int64)
    end = np.asarray(bounds[1:], dtype=np.int64)
    return OffsetSegments(start=start, end=end, offset=_offsets(tz, start))
