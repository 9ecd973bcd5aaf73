"""Business hours of a generated data set: the real file's patterns, plus each edge store's own rows.

Rows are (store index, day, start s, end s) as integers; :mod:`.write` formats them as the real
file does (``HH:MM:SS``, ``24:00:00`` kept).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from storeuptime_pipeline.generator.fleet import EDGE_CASES, Stores

# Stores with hours that list fewer than 7 days, by number of days listed (2,066 of 11,116 stores).
_PARTIAL_WEEK_DAY_COUNTS: dict[int, int] = {6: 1446, 5: 391, 1: 150, 4: 44, 3: 31, 2: 4}
_PARTIAL_WEEK_SHARE = 2066 / 11116


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


def _edge_hours(stores: Stores) -> pd.DataFrame:
    rows = [
        (stores.edge[case.kind], day, _hms(start), _hms(end))
        for case in EDGE_CASES
        if case.kind in stores.edge
        for days, start, end in case.hours
        for day in days
    ]
    return pd.DataFrame(rows, columns=["store", "day", "start", "end"], dtype=np.int64)


def hours_rows(rng: np.random.Generator, stores: Stores) -> pd.DataFrame:
    """Every store's rows (random scheme and edge cases), grouped by store with the days in random
    order as in the real file: (store index, day, start s, end s)."""
    hours = pd.concat(
        [_random_hours(rng, np.flatnonzero(stores.has_hours)), _edge_hours(stores)], ignore_index=True
    )
    order = np.lexsort((rng.random(len(hours)), hours["store"].to_numpy()))
    return hours.iloc[order]
