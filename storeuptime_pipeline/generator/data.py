"""Seeded generator of realistic store-monitoring input files: the entry point.

The real Jan-2023 status file (about 1.8M polls) is not available anywhere public, only head samples
that are all ``active``, so the pipeline cannot be exercised at full size or on outages without a
synthetic stand-in. :func:`generate_dataset` writes the three inputs in the real formats and with the
real distributions (see ``/work/shared/realdata/SOURCES.md``), and plants a handful of awkward stores
so that tests can check each corner of the business-hours and timezone logic by name.

The steps live beside it: ``fleet`` (the stores and the edge cases), ``hours``, ``polls`` and
``write`` (the files, byte by byte for the status file). They draw from one random generator in a
fixed order, so the same arguments give the same bytes.

Everything is vectorized over the (store x hour) grid with numpy: a Python loop runs only over the
handful of edge-case stores and over output chunks, so 14k stores x 8 days (1.75M polls) take about 2.5 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from storeuptime_pipeline.generator.fleet import EDGE_CASE_KINDS, make_stores
from storeuptime_pipeline.generator.hours import hours_rows
from storeuptime_pipeline.generator.polls import file_order, make_polls
from storeuptime_pipeline.generator.write import write_hours, write_status, write_timezones

__all__ = ["EDGE_CASE_KINDS", "GeneratedDataset", "generate_dataset"]

STATUS_FILE = "store_status.csv"
HOURS_FILE = "menu_hours.csv"
TIMEZONES_FILE = "timezones.csv"


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
    universe = make_stores(rng, stores, store_ids, edge_cases)  # validates store_ids before any I/O
    polls = make_polls(rng, universe, days, end_us)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / STATUS_FILE, directory / HOURS_FILE, directory / TIMEZONES_FILE)
    write_status(universe, polls, file_order(rng, polls.time_us), paths[0])
    write_hours(universe, hours_rows(rng, universe), paths[1])
    write_timezones(rng, universe, paths[2])
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
