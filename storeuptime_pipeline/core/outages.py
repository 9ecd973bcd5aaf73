"""Outage episodes: how often a store went down in business hours, not only for how long.

An outage (README, "Outages: how often") is a maximal inactive stretch of the report's status
timeline inside [T-7d, T) that holds some business time; closed hours inside it do not split it.

How it rides on the report's pass without a per-store loop: on the full timeline, the inactive
stretches are the runs of consecutive inactive polls, each covering [segment start of its first
poll, segment end of its last poll). As of T only one run can differ from that full-timeline run:
the one holding the last poll at or before T, which then reaches T (polls after T are unseen).
Every other run of the store ends before it. So for a window [W, T), the runs that can hold
business time are the run rW where the window starts (the first ending after W), the run rL of
the last poll, and the runs strictly between them, which lie wholly inside the window and are
counted, summed and maximised with prefix sums and a sparse max table. Business time of a
clipped run is B(min(end, T)) - B(max(start, W)) with B monotone, so it is built from B at the
run's bounds (computed once per run) and B(W), B(T) (computed by the report): no extra
calendar lookups per (as_of, store).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.keyed import KeySpace
from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.report import (
    REPORT_COLUMNS,
    WINDOWS,
    PreparedSpan,
    Timeline,
    report_pass,
    store_timezones,
)
from storeuptime_pipeline.core.timezones import US_PER_HOUR

#: The outage summary a report carries (``--extended``, the stored report rows).
OUTAGE_SUMMARY_COLUMNS = [
    "outages_last_hour",
    "outages_last_day",
    "outages_last_week",
    "longest_outage_last_week",
]
EXTENDED_COLUMNS = [*REPORT_COLUMNS, *OUTAGE_SUMMARY_COLUMNS]
#: Exact figures (µs) behind the invariant "outage time in a window == the report's downtime".
EXACT_COLUMNS = [
    f"{kind}_last_{name}_us" for name, _length, _unit in WINDOWS for kind in ("outage_time", "downtime")
]
#: The outage list's file columns (``storeuptime outages``).
OUTAGE_COLUMNS = ["store_id", "start_utc", "end_utc", "start_local", "business_hours", "ongoing"]


@dataclass(frozen=True)
class _Runs:
    """The inactive runs of the full timeline, sorted by (store, time), over one prepared span."""

    space: KeySpace
    store: np.ndarray
    first_poll: np.ndarray  # index of the run's first poll in the timeline
    last_poll: np.ndarray
    start: np.ndarray  # µs, clipped to the span
    end: np.ndarray
    end_keys: np.ndarray
    b_start: np.ndarray  # business time before the run's start / end (µs)
    b_end: np.ndarray
    count_before: np.ndarray  # runs holding business time before each index (n + 1)
    time_before: np.ndarray  # their business time before each index (n + 1)
    max_table: np.ndarray  # sparse table: [k, i] = longest business time among runs i .. i + 2**k - 1

    def longest_between(self, first: np.ndarray, stop: np.ndarray) -> np.ndarray:
        """Largest business time among runs [first, stop) (0 where empty)."""
        length = stop - first
        nonempty = length > 0
        k = np.floor(np.log2(np.maximum(length, 1))).astype(np.int64)
        n = len(self.store)
        flat = self.max_table.reshape(-1)
        a = flat[k * n + np.clip(first, 0, n - 1)]
        b = flat[k * n + np.clip(stop - (1 << k), 0, n - 1)]
        return np.where(nonempty, np.maximum(a, b), 0)


def _runs(prep: PreparedSpan, timeline: Timeline) -> _Runs:
    store, active = timeline.store, timeline.active
    n = len(store)
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = store[1:] == store[:-1]
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = same_next[:-1]
    inactive = ~active
    prev_inactive = np.zeros(n, dtype=bool)
    prev_inactive[1:] = inactive[:-1]
    next_inactive = np.zeros(n, dtype=bool)
    next_inactive[:-1] = inactive[1:]
    heads = np.flatnonzero(inactive & ~(same_prev & prev_inactive))
    tails = np.flatnonzero(inactive & ~(same_next & next_inactive))
    hi = prep.space.hi
    # A poll's segment ends where the next poll's begins (the report's seg_start), the last at hi.
    seg_end = np.full(n, hi, dtype=np.int64)
    seg_end[:-1] = np.where(same_next[:-1], prep.seg_start[1:], hi)
    run_store = store[heads]
    start = prep.seg_start[heads]
    end = seg_end[tails]
    b_start = prep.calendar.time_until(run_store, start)
    b_end = prep.calendar.time_until(run_store, end)
    duration = b_end - b_start
    levels = [duration]
    width = 1
    while 2 * width <= len(duration):
        prev = levels[-1]
        nxt = prev.copy()
        nxt[: len(prev) - width] = np.maximum(prev[:-width], prev[width:])
        levels.append(nxt)
        width *= 2
    return _Runs(
        space=prep.space,
        store=run_store,
        first_poll=heads,
        last_poll=tails,
        start=start,
        end=end,
        end_keys=prep.space.key(run_store, end),
        b_start=b_start,
        b_end=b_end,
        count_before=np.concatenate([[0], np.cumsum(duration > 0)]),
        time_before=np.concatenate([[0], np.cumsum(duration)]),
        max_table=np.stack(levels) if len(duration) else np.zeros((1, 0), dtype=np.int64),
    )


@dataclass
class _Bounds:
    """For (store, as_of) pairs: the run of the last poll and what it becomes as of T."""

    last_run: np.ndarray  # index of rL (clipped to a valid index)
    has_run: np.ndarray  # the store has a run starting at or before its last poll
    ongoing: np.ndarray  # that run holds the last poll, so it reaches T
    b_last_end: np.ndarray  # business time before rL's end as of T


def _bounds(runs: _Runs, store: np.ndarray, figures: dict[str, np.ndarray]) -> _Bounds:
    last = figures["last_poll"]
    r_last = np.searchsorted(runs.first_poll, last, side="right") - 1
    safe = np.maximum(r_last, 0)
    has_run = (r_last >= 0) & (runs.store[safe] == store)
    ongoing = has_run & (runs.last_poll[safe] >= last)
    b_as_of = figures["business_until_as_of"]
    return _Bounds(safe, has_run, ongoing, np.where(ongoing, b_as_of, runs.b_end[safe]))


def _window_start_run(runs: _Runs, store: np.ndarray, window_start: np.ndarray) -> np.ndarray:
    """rW: the store's first run ending after the window's start."""
    return np.searchsorted(runs.end_keys, runs.space.key(store, window_start), side="right")


def _clipped(b_start: np.ndarray, b_end: np.ndarray, b_window: np.ndarray, b_as_of: np.ndarray) -> np.ndarray:
    return np.maximum(np.minimum(b_end, b_as_of) - np.maximum(b_start, b_window), 0)


@dataclass
class OutagePass:
    """The outage summary (and optionally the outage list) as an extension of the report's pass."""

    store_tz: np.ndarray
    with_list: bool = False
    exact: bool = False
    #: Receives the outage list chunk by chunk instead of keeping it (a backfill's list is large).
    sink: Callable[[pd.DataFrame], None] | None = None
    columns: list[str] = field(default_factory=list)
    lists: list[pd.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.columns = [*OUTAGE_SUMMARY_COLUMNS, *(EXACT_COLUMNS if self.exact else [])]

    def prepare(self, prep: PreparedSpan, timeline: Timeline) -> _Runs:
        return _runs(prep, timeline)

    def chunk(
        self,
        state: object,
        timeline: Timeline,
        store: np.ndarray,
        as_of: np.ndarray,
        figures: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        runs = state
        assert isinstance(runs, _Runs)
        if not len(runs.store):  # no store has an inactive poll: no outage anywhere
            return self._none(store, figures)
        bounds = _bounds(runs, store, figures)
        b_as_of = figures["business_until_as_of"]
        r_last = bounds.last_run
        out: dict[str, np.ndarray] = {}
        for name, length, _unit in WINDOWS:
            b_window = b_as_of - figures[f"business_{name}"]
            r_first = _window_start_run(runs, store, as_of - length)
            last_time = np.where(
                bounds.has_run, _clipped(runs.b_start[r_last], bounds.b_last_end, b_window, b_as_of), 0
            )
            has_first = bounds.has_run & (r_first < r_last)
            first_safe = np.where(has_first, r_first, 0)
            first_time = np.where(
                has_first, _clipped(runs.b_start[first_safe], runs.b_end[first_safe], b_window, b_as_of), 0
            )
            inner_lo = np.where(has_first, first_safe + 1, 0)
            inner_hi = np.where(has_first, r_last, 0)
            count = (
                (last_time > 0).astype(np.int64)
                + (first_time > 0)
                + (runs.count_before[inner_hi] - runs.count_before[inner_lo])
            )
            out[f"outages_last_{name}"] = count
            if name == "week":
                longest = np.maximum(
                    np.maximum(last_time, first_time), runs.longest_between(inner_lo, inner_hi)
                )
                out["longest_outage_last_week"] = np.round(longest / US_PER_HOUR, 2) + 0.0
                if self.with_list:
                    listed = self._list(runs, timeline, store, as_of, bounds, r_first, b_window, b_as_of)
                    if self.sink is not None:
                        self.sink(listed)
                    else:
                        self.lists.append(listed)
            if self.exact:
                inner = runs.time_before[inner_hi] - runs.time_before[inner_lo]
                out[f"outage_time_last_{name}_us"] = last_time + first_time + inner
                out[f"downtime_last_{name}_us"] = figures[f"business_{name}"] - figures[f"up_{name}"]
        return out

    def _none(self, store: np.ndarray, figures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        zero = np.zeros(len(store), dtype=np.int64)
        out: dict[str, np.ndarray] = {f"outages_last_{name}": zero for name, _length, _unit in WINDOWS}
        out["longest_outage_last_week"] = np.zeros(len(store))
        if self.exact:
            for name, _length, _unit in WINDOWS:
                out[f"outage_time_last_{name}_us"] = zero
                out[f"downtime_last_{name}_us"] = figures[f"business_{name}"] - figures[f"up_{name}"]
        return out

    def _list(
        self,
        runs: _Runs,
        timeline: Timeline,
        store: np.ndarray,
        as_of: np.ndarray,
        bounds: _Bounds,
        r_first: np.ndarray,
        b_window: np.ndarray,
        b_as_of: np.ndarray,
    ) -> pd.DataFrame:
        """Every run that can hold business time in the week, expanded, kept when it does."""
        r_last = bounds.last_run
        first = np.where(bounds.has_run, np.minimum(r_first, r_last), 0)
        count = np.where(bounds.has_run, r_last - first + 1, 0)
        pair = np.repeat(np.arange(len(store)), count)
        run = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count) + first[pair]
        is_last = run == r_last[pair]
        ongoing = is_last & bounds.ongoing[pair]
        b_end = np.where(is_last, bounds.b_last_end[pair], runs.b_end[run])
        business = _clipped(runs.b_start[run], b_end, b_window[pair], b_as_of[pair])
        keep = business > 0
        pair, run, ongoing, business = pair[keep], run[keep], ongoing[keep], business[keep]
        t = as_of[pair]
        start = np.maximum(runs.start[run], t - WINDOWS[-1][1])
        end = np.where(ongoing, t, np.minimum(runs.end[run], t))
        codes = store[pair]
        return pd.DataFrame(
            {
                "as_of": pd.to_datetime(t, unit="us", utc=True),
                "store_id": timeline.store_ids.to_numpy()[codes],
                "start_utc": pd.to_datetime(start, unit="us", utc=True),
                "end_utc": pd.to_datetime(end, unit="us", utc=True),
                "timezone": self.store_tz[codes],
                "business_us": business,
                "business_hours": business / US_PER_HOUR,
                "ongoing": ongoing,
            }
        )


@dataclass(frozen=True)
class OutageResult:
    """The report with the outage summary columns, and the outage list (as_of, store_id, start order)."""

    report: pd.DataFrame
    outages: pd.DataFrame


def reports_with_outages_for(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_ofs: Sequence[object],
    *,
    with_list: bool = True,
    with_business: bool = False,
    exact: bool = False,
    sink: Callable[[pd.DataFrame], None] | None = None,
) -> OutageResult:
    """Reports for many as-of instants with the outage summary (and list), in the report's one pass.

    With ``sink``, the list goes to it chunk by chunk (each in (as_of, store_id, start) order) and
    the result's list is empty.
    """
    return with_outages(
        Timeline.from_polls(polls),
        hours,
        timezones,
        as_ofs,
        with_list=with_list,
        with_business=with_business,
        exact=exact,
        sink=sink,
    )


def report_with_outages_at(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_of: object | None = None,
    *,
    with_list: bool = True,
    with_business: bool = False,
    exact: bool = False,
) -> OutageResult:
    """The report as of one instant (default: the latest poll), without the ``as_of`` columns."""
    timeline = Timeline.from_polls(polls)
    if as_of is None:
        as_of = timeline.latest()
        if as_of is None:
            raise ValueError("no polls: the report needs at least one poll or an explicit as-of")
    result = with_outages(
        timeline,
        hours,
        timezones,
        [to_utc(as_of)],
        with_list=with_list,
        with_business=with_business,
        exact=exact,
    )
    return OutageResult(
        result.report.drop(columns="as_of").reset_index(drop=True),
        result.outages.drop(columns="as_of").reset_index(drop=True),
    )


def with_outages(
    timeline: Timeline,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_ofs: Sequence[object],
    *,
    with_list: bool,
    with_business: bool = False,
    exact: bool = False,
    sink: Callable[[pd.DataFrame], None] | None = None,
) -> OutageResult:
    """The outage pass on a timeline already built (one shard's, ``core/sharded.py``), as_of columns kept."""
    store_tz = store_timezones(timeline.store_ids, timezones)
    extension = OutagePass(store_tz, with_list=with_list, exact=exact, sink=sink)
    report = report_pass(timeline, hours, timezones, as_ofs, with_business, extension)
    if len(report) == 0:
        for column in OUTAGE_SUMMARY_COLUMNS[:3]:
            report[column] = report[column].astype(np.int64)
    if extension.lists:
        outages = pd.concat(extension.lists, ignore_index=True)
    else:
        outages = pd.DataFrame(
            {
                "as_of": pd.Series(dtype="datetime64[us, UTC]"),
                "store_id": pd.Series(dtype=object),
                "start_utc": pd.Series(dtype="datetime64[us, UTC]"),
                "end_utc": pd.Series(dtype="datetime64[us, UTC]"),
                "timezone": pd.Series(dtype=object),
                "business_us": pd.Series(dtype=np.int64),
                "business_hours": pd.Series(dtype=np.float64),
                "ongoing": pd.Series(dtype=bool),
            }
        )
    return OutageResult(report, outages)
