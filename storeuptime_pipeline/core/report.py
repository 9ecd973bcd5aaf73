"""The uptime report: uptime and downtime within business hours over the last hour, day and week.

How it is computed without a per-store loop: with B(x) the business time of a store before x
(``BusinessCalendar``) and U(x) the business time spent active before x, every window figure is
a difference U(T) - U(T - w). U is piecewise: each poll owns the segment between the midpoints to
its neighbours, so U(x) = (U at the start of x's segment) + status * (B(x) - B(segment start)).
The cumulative U at segment starts is one cumsum over all polls of all stores; the segment of
an instant is one keyed ``searchsorted``. Reports as of an earlier instant T must not see polls
after T: there, the last poll at or before T owns everything up to T, which is the same formula
with the segment index capped at that poll. So a week of hourly reports shares all the work but
the final lookups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.business_hours import BusinessCalendar, build_calendar
from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE
from storeuptime_pipeline.core.keyed import KeySpace, group_starts, max_span_us
from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.polls import UniquePolls, dedupe_coded, dedupe_polls
from storeuptime_pipeline.core.rules import resolve_timezones
from storeuptime_pipeline.core.timezones import US_PER_DAY, US_PER_HOUR, US_PER_MINUTE

#: The report of one store as the spec defines it (and its file's header): store_id, six figures.
REPORT_COLUMNS = [
    "store_id",
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
]
#: The six uptime/downtime figures, in the report's units (minutes for the hour, hours otherwise).
FIGURE_COLUMNS = REPORT_COLUMNS[1:]
#: Business time per window, in the same units: what uptime + downtime must add up to.
BUSINESS_COLUMNS = ["business_last_hour", "business_last_day", "business_last_week"]

#: (name, window length, unit the figure is expressed in)
WINDOWS: tuple[tuple[str, int, int], ...] = (
    ("hour", US_PER_HOUR, US_PER_MINUTE),
    ("day", US_PER_DAY, US_PER_HOUR),
    ("week", 7 * US_PER_DAY, US_PER_HOUR),
)
_WEEK = 7 * US_PER_DAY
#: How many as-of instants are evaluated together: bounds memory, not work.
_AS_OF_CHUNK = 24
#: The widest as-of span prepared in one go; longer backfills are cut into such spans.
_MAX_PREPARED_SPAN = 35 * US_PER_DAY


def epoch_us(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Epoch microseconds of a datetime column; naive means UTC, as for single instants (``to_utc``)."""
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        index = index.tz_localize("UTC")
    return index.tz_convert("UTC").as_unit("us").asi8.astype(np.int64)


@dataclass(frozen=True)
class Timeline:
    """All polls of all stores, deduplicated and sorted by (store, time), ready for lookups."""

    store_ids: pd.Index
    store: np.ndarray
    time: np.ndarray
    active: np.ndarray
    first: np.ndarray  # index of each store's first poll (n_stores + 1 bounds)

    @classmethod
    def from_polls(cls, polls: pd.DataFrame) -> Timeline:
        """Duplicates of one store at one instant count once; if they disagree, inactive wins."""
        unique = dedupe_polls(
            polls["store_id"], epoch_us(polls["timestamp_utc"]), polls["is_active"].to_numpy(dtype=bool)
        )
        return cls._of(unique)

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, categories: pd.Index, micros: np.ndarray, active: np.ndarray
    ) -> Timeline:
        """The timeline of polls whose store ids are codes into ``categories`` (a lean read, a shard).

        Only the stores with a poll here are in ``store_ids``; the rule is ``from_polls``'.
        """
        return cls._of(dedupe_coded(codes, categories, micros, active))

    @classmethod
    def _of(cls, unique: UniquePolls) -> Timeline:
        first = group_starts(unique.store, len(unique.store_ids))
        return cls(unique.store_ids, unique.store, unique.time, unique.active, first)

    def latest(self) -> pd.Timestamp | None:
        """The newest poll's instant (None without polls): the default as-of."""
        if len(self.time) == 0:
            return None
        return pd.Timestamp(int(self.time.max()), unit="us", tz="UTC")


@dataclass(frozen=True)
class PreparedSpan:
    """Everything for reports whose as-of instants lie in [lo + 1 week, hi]: the calendar, the
    segments' cumulative uptime and the search keys, shared by all as-ofs of the span."""

    space: KeySpace
    calendar: BusinessCalendar
    poll_keys: np.ndarray
    mid_keys: np.ndarray
    seg_start: np.ndarray
    up_before: np.ndarray  # uptime of the store before each segment's start (µs)
    seg_store_base: np.ndarray


def store_timezones(store_ids: pd.Index, timezones: pd.DataFrame | None) -> np.ndarray:
    """Each store's IANA zone (the default where unlisted or unusable), by store code."""
    tz = np.full(len(store_ids), DEFAULT_TIMEZONE, dtype=object)
    if timezones is not None and len(timezones):
        used, _, _ = resolve_timezones(timezones["timezone_str"].reset_index(drop=True))
        codes = store_ids.get_indexer(timezones["store_id"])
        listed = codes >= 0
        tz[codes[listed]] = used.to_numpy()[listed]
    return tz


def _prepare(timeline: Timeline, hours: pd.DataFrame, store_tz: np.ndarray, lo: int, hi: int) -> PreparedSpan:
    space = KeySpace(lo=lo, hi=hi, n_stores=len(timeline.store_ids))
    calendar = build_calendar(hours, timeline.store_ids, store_tz, space)
    store, time, active = timeline.store, timeline.time, timeline.active
    same_next = np.zeros(len(store), dtype=bool)
    same_next[:-1] = store[1:] == store[:-1]
    mid = time.copy()
    mid[:-1] = time[:-1] + (time[1:] - time[:-1]) // 2
    is_first = np.ones(len(store), dtype=bool)
    is_first[1:] = ~same_next[:-1]
    # Temporaries are freed as soon as used: each is 8 bytes a poll (the peak of a report pass).
    seg_start = np.where(is_first, lo, np.roll(mid, 1))
    np.clip(seg_start, lo, hi, out=seg_start)
    seg_end = np.where(same_next, mid, hi)
    np.clip(seg_end, lo, hi, out=seg_end)
    up = calendar.time_until(store, seg_end)
    del seg_end
    up -= calendar.time_until(store, seg_start)
    up[~active] = 0
    up_cum = np.concatenate([[0], np.cumsum(up)])
    del up
    # Boundaries a store has: after every poll but its last one.
    mid_keys = space.key(store[same_next], mid[same_next])
    del mid
    return PreparedSpan(
        space=space,
        calendar=calendar,
        poll_keys=space.key(store, time),
        mid_keys=mid_keys,
        seg_start=seg_start,
        up_before=up_cum[:-1],
        seg_store_base=up_cum[timeline.first[:-1]],
    )


def _window_figures(
    prep: PreparedSpan, timeline: Timeline, store: np.ndarray, as_of: np.ndarray
) -> dict[str, np.ndarray]:
    """Uptime and business time (µs) in each window for (store, as_of) pairs with a poll <= as_of."""
    space, cal = prep.space, prep.calendar
    first = timeline.first[store]
    n_polls_upto = np.searchsorted(prep.poll_keys, space.key(store, as_of), side="right") - first
    last = first + n_polls_upto - 1
    # Polls before this store's first one = boundaries before it, since each store has n-1 of them.
    mid_base = first - store

    def uptime_until(x: np.ndarray) -> np.ndarray:
        passed = np.searchsorted(prep.mid_keys, space.key(store, x), side="right") - mid_base
        seg = np.minimum(first + passed, last)
        within = cal.time_until(store, x) - cal.time_until(store, prep.seg_start[seg])
        return prep.up_before[seg] - prep.seg_store_base[store] + np.where(timeline.active[seg], within, 0)

    up_end = uptime_until(as_of)
    b_end = cal.time_until(store, as_of)
    # Shared with the outage pass (core/outages.py), which needs the same poll and business time.
    out: dict[str, np.ndarray] = {"last_poll": last, "business_until_as_of": b_end}
    for name, length, _unit in WINDOWS:
        start = as_of - length
        out[f"up_{name}"] = up_end - uptime_until(start)
        out[f"business_{name}"] = b_end - cal.time_until(store, start)
    return out


def _in_report_units(
    store_ids: pd.Index, store: np.ndarray, as_of: np.ndarray, figures: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Figures in report units, rounded; downtime = business - uptime on the rounded figures.

    Rounding both sides separately could make uptime + downtime miss the business time by 0.01;
    deriving downtime from the rounded figures keeps the sum exact in every row.
    """
    data: dict[str, object] = {
        "as_of": pd.to_datetime(as_of, unit="us", utc=True),
        "store_id": store_ids.to_numpy()[store],
    }
    for name, _length, unit in WINDOWS:
        business = np.round(figures[f"business_{name}"] / unit, 2)
        up = np.round(figures[f"up_{name}"] / unit, 2)
        data[f"uptime_last_{name}"] = up
        data[f"downtime_last_{name}"] = np.round(business - up, 2) + 0.0
        data[f"business_last_{name}"] = business
    return pd.DataFrame(data)


class PassExtension(Protocol):
    """More columns computed in the report's pass (the outage summary): per prepared span, per chunk."""

    columns: list[str]

    def prepare(self, prep: PreparedSpan, timeline: Timeline) -> object: ...

    def chunk(
        self,
        state: object,
        timeline: Timeline,
        store: np.ndarray,
        as_of: np.ndarray,
        figures: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]: ...


def reports_for(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_ofs: Sequence[object],
    *,
    with_business: bool = False,
) -> pd.DataFrame:
    """Reports for many as-of instants in one pass, as one frame with an ``as_of`` column.

    Each as-of T sees only polls at or before T. A store has a row for T when it has a poll at or
    before T. Rows are sorted by (as_of, store_id).
    """
    return report_pass(Timeline.from_polls(polls), hours, timezones, as_ofs, with_business)


def report_pass(
    timeline: Timeline,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_ofs: Sequence[object],
    with_business: bool,
    extension: PassExtension | None = None,
) -> pd.DataFrame:
    """The one pass behind every report: prepared spans of as-ofs, chunks of instants, an extension.

    Returns the (as_of, store_id)-sorted frame of ``reports_for``; the outage pass rides on it
    through ``extension`` (core/outages.py).
    """
    columns = ["as_of", *REPORT_COLUMNS, *(BUSINESS_COLUMNS if with_business else [])]
    columns += extension.columns if extension is not None else []
    instants = np.unique(epoch_us(pd.DatetimeIndex([to_utc(a) for a in as_ofs])))
    if len(instants) == 0 or len(timeline.time) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    store_tz = store_timezones(timeline.store_ids, timezones)
    n_stores = len(timeline.store_ids)
    span = min(_MAX_PREPARED_SPAN, max_span_us(n_stores) - _WEEK)
    first_time = timeline.time[timeline.first[:-1]]
    frames = []
    group_start = 0
    while group_start < len(instants):
        group_end = int(np.searchsorted(instants, instants[group_start] + span, side="right"))
        group = instants[group_start:group_end]
        prep = _prepare(timeline, hours, store_tz, int(group[0]) - _WEEK, int(group[-1]))
        state = extension.prepare(prep, timeline) if extension is not None else None
        for c in range(0, len(group), _AS_OF_CHUNK):
            chunk = group[c : c + _AS_OF_CHUNK]
            store = np.tile(np.arange(n_stores), len(chunk))
            as_of = np.repeat(chunk, n_stores)
            has_poll = first_time[store] <= as_of
            store, as_of = store[has_poll], as_of[has_poll]
            figures = _window_figures(prep, timeline, store, as_of)
            frame = _in_report_units(timeline.store_ids, store, as_of, figures)
            if extension is not None:
                for name, values in extension.chunk(state, timeline, store, as_of, figures).items():
                    frame[name] = values
            frames.append(frame)
        group_start = group_end
    # Already in (as_of, store_id) order: instants ascend, and store codes follow sorted store ids.
    return pd.concat([f[columns] for f in frames], ignore_index=True)


def report_at(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_of: object | None = None,
    *,
    with_business: bool = False,
) -> pd.DataFrame:
    """The report as of one instant (default: the latest poll), without the ``as_of`` column."""
    timeline = Timeline.from_polls(polls)
    if as_of is None:
        as_of = timeline.latest()
        if as_of is None:
            raise ValueError("no polls: the report needs at least one poll or an explicit as-of")
    report = report_pass(timeline, hours, timezones, [as_of], with_business)
    return report.drop(columns="as_of").reset_index(drop=True)


def newest_poll(polls: pd.DataFrame) -> pd.Timestamp | None:
    """The newest poll's instant in a polls frame (None when empty): the default as-of of a report."""
    return Timeline.from_polls(polls).latest() if len(polls) else None
