"""Polls of a generated data set: which store polls in which hour, when exactly, and with what status.

Built on the (store x UTC clock hour) grid with numpy masks: outage runs and silent gaps are random
runs over that grid, drawn with difference arrays instead of loops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from storeuptime_pipeline.generator.fleet import LATE_START, NO_POLLS, NORMAL, SPARSE, Stores

US_PER_S = 1_000_000
US_PER_HOUR = 3600 * US_PER_S
DAY_S = 86_400

_BLIP_RATE = 0.035  # isolated inactive polls outside outage runs
_NO_FRACTION_SHARE = 0.02


@dataclass
class Polls:
    """Every poll of the data set as parallel arrays, in generation order (``file_order`` shuffles)."""

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


def _poll_grid(rng: np.random.Generator, stores: Stores, hours: int) -> tuple[np.ndarray, np.ndarray]:
    """Which clock-hour slots of which stores carry a poll, and which of those polls are inactive."""
    n, days = stores.ids.size, hours / 24
    present = rng.random((n, hours)) < stores.rate[:, None]
    present &= ~_runs_mask(rng, stores.gap_rate * days, hours, min_len=3, mean_len=9.0)
    first_slot = np.where(
        stores.profile == LATE_START, rng.integers(int(hours * 0.2), int(hours * 0.9) + 1, n), 0
    )
    if "late_start" in stores.edge:
        first_slot[stores.edge["late_start"]] = hours // 2
    present &= np.arange(hours)[None, :] >= first_slot[:, None]
    present[stores.profile == NO_POLLS] = False
    sparse = np.flatnonzero(stores.profile == SPARSE)
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
    time_us = slot_start_us + np.clip((offsets * US_PER_S).astype(np.int64), 0, US_PER_HOUR - 1)
    whole = rng.random(count) < _NO_FRACTION_SHARE
    time_us[whole] -= time_us[whole] % US_PER_S  # these print without a fraction
    return time_us


def _end_poll_store(rng: np.random.Generator, stores: Stores) -> int:
    """A store that polls normally takes the poll at `end`, so no edge case gets an extra poll."""
    special = {"single_poll", "no_polls", "always_inactive", "duplicate_polls", "conflicting_duplicate"}
    candidates = np.isin(stores.profile, [NORMAL, LATE_START])
    candidates[
        np.array([index for kind, index in stores.edge.items() if kind in special], dtype=np.int64)
    ] = False
    pool = np.flatnonzero(candidates)
    if pool.size == 0:
        pool = np.setdiff1d(np.arange(stores.ids.size), [stores.edge.get("no_polls", -1)])
    return int(rng.choice(pool))


def make_polls(rng: np.random.Generator, stores: Stores, days: int, end_us: int) -> Polls:
    start_us = end_us - days * DAY_S * US_PER_S
    first_hour_us = start_us - start_us % US_PER_HOUR
    hours = -(-(end_us - first_hour_us) // US_PER_HOUR)  # UTC clock hours touching [start, end)
    present, inactive = _poll_grid(rng, stores, hours)
    store, slot = np.nonzero(present)
    time_us = _poll_times(rng, first_hour_us + slot * US_PER_HOUR)
    inside = (time_us >= start_us) & (time_us < end_us)
    store, slot, time_us = store[inside], slot[inside], time_us[inside]
    last = _end_poll_store(rng, stores)
    polls = Polls(
        np.append(store, last),
        np.append(time_us, end_us),
        np.append(inactive[store, slot], inactive[last, -1]),
    )
    return _add_duplicates(rng, stores, polls)


def _add_duplicates(rng: np.random.Generator, stores: Stores, polls: Polls) -> Polls:
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
    return Polls(
        np.append(polls.store, polls.store[picked]),
        np.append(polls.time_us, polls.time_us[picked]),
        np.append(polls.inactive, polls.inactive[picked] ^ flips),
    )


def file_order(rng: np.random.Generator, time_us: np.ndarray) -> np.ndarray:
    """Roughly shuffled by time like the real file: short time-sorted runs, the runs in random order."""
    by_time = np.argsort(time_us, kind="stable")
    run = np.cumsum(rng.random(time_us.size) < 0.45)
    run_rank = rng.permutation(int(run[-1]) + 1)[run] if time_us.size else run
    return by_time[np.argsort(run_rank, kind="stable")]
