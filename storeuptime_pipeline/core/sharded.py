"""The report, the extended report and the outage list computed shard by shard of stores.

Why it is exact: every figure of a report row depends on that store's polls, hours and timezone
only, so the rows of a shard are the rows the whole fleet's pass gives for those stores. A
report as of one instant has one row per store, so the shards' rows concatenated and sorted by
store_id (as text, code point order, the engine's order) are the unsharded report, byte for
byte once written; the outage list is sorted by its writer (``fileio.report_csv``). Only the
as-of must be the fleet's: the default (the newest poll) is taken over all polls before any
shard is computed.

A shard is ``shard_of(store_id, N)`` (``core/shards.py``): the same stores in every process and in
the database's ``stores.shard_hash``. Peak memory follows the largest shard, not the fleet: the
polls of one shard are a timeline of integer codes (4 + 8 + 1 bytes a poll, ``Timeline.from_codes``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.outages import with_outages
from storeuptime_pipeline.core.report import Timeline, epoch_us, report_pass
from storeuptime_pipeline.core.shards import shard_of

#: What ``storeuptime report`` (plain or ``--extended``) and ``storeuptime outages`` compute.
Output = Literal["report", "extended", "outages"]

#: Bytes of status CSV per shard when ``--shards`` is not given: a shard of ~256 MiB of text
#: (~4.4M polls) peaks below ~1 GB; the seed-sized file (~100 MB) stays one shard.
STATUS_BYTES_PER_SHARD = 256 << 20


def default_shards(status_bytes: int) -> int:
    """Shards for status files of this total size: 1 up to STATUS_BYTES_PER_SHARD, then one per slice."""
    return max(1, math.ceil(status_bytes / STATUS_BYTES_PER_SHARD))


@dataclass(frozen=True)
class CodedPolls:
    """Polls whose store is an integer code into a dictionary of store ids kept elsewhere."""

    codes: np.ndarray  # int32
    micros: np.ndarray  # int64 epoch microseconds (UTC)
    active: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.codes)


def split_by_shard(polls: CodedPolls, shard_of_code: np.ndarray, shards: int) -> list[CodedPolls]:
    """The polls of each shard (in their original order), given each dictionary code's shard.

    One stable counting sort of the shard numbers (numpy's radix sort for 16-bit keys), not a
    mask per shard.
    """
    shard = np.asarray(shard_of_code, dtype=np.int16)[polls.codes]
    order = np.argsort(shard, kind="stable")
    bounds = np.searchsorted(shard[order], np.arange(shards + 1))
    parts = []
    for s in range(shards):  # a loop over shards, not over stores
        rows = order[bounds[s] : bounds[s + 1]]
        parts.append(CodedPolls(polls.codes[rows], polls.micros[rows], polls.active[rows]))
    return parts


def split_frame_by_shard(frame: pd.DataFrame | None, shards: int) -> list[pd.DataFrame | None]:
    """The rows of an hours or timezones frame per shard of their store_id (order kept).

    A shard needs only its stores' rows; handing it the fleet's would make every shard match all
    of them again (~0.5 s a shard for the 10x hours). The hash is taken of the distinct ids only.
    """
    if frame is None:
        return [None] * shards
    if shards == 1:
        return [frame]
    codes, uniques = pd.factorize(frame["store_id"])
    shard = shard_of(pd.Index(uniques), shards)[np.asarray(codes)]
    return [frame[shard == s].reset_index(drop=True) for s in range(shards)]


def shard_output(
    timeline: Timeline, hours: pd.DataFrame, timezones: pd.DataFrame | None, as_of: object, output: Output
) -> pd.DataFrame:
    """One shard's rows as of ``as_of``: the report (plain or extended) or the outage list."""
    instant = to_utc(as_of)
    if output == "report":
        frame = report_pass(timeline, hours, timezones, [instant], False)
    else:
        result = with_outages(timeline, hours, timezones, [instant], with_list=output == "outages")
        frame = result.outages if output == "outages" else result.report
    return frame.drop(columns="as_of").reset_index(drop=True)


def combine_shards(frames: Iterable[pd.DataFrame], output: Output) -> pd.DataFrame:
    """The shards' rows as one frame in the unsharded order (report rows by store_id)."""
    frames = list(frames)
    rows = [f for f in frames if len(f)] or frames[:1]  # an empty shard's columns have no dtypes
    combined = pd.concat(rows, ignore_index=True)
    if output == "outages":
        return combined  # the list's writer sorts by (store_id, start)
    return combined.sort_values("store_id", kind="stable").reset_index(drop=True)


def output_in_shards(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_of: object | None,
    shards: int,
    output: Output = "report",
) -> pd.DataFrame:
    """The engine's sharded path on an in-memory polls frame: what ``report_at`` and
    ``report_with_outages_at`` give, computed shard by shard (the file path spills shards to disk
    instead, ``fileio.shard_spill``)."""
    codes, categories = pd.factorize(polls["store_id"])
    coded = CodedPolls(
        np.asarray(codes, dtype=np.int32),
        epoch_us(polls["timestamp_utc"]),
        polls["is_active"].to_numpy(dtype=bool),
    )
    if as_of is None:
        if len(coded) == 0:
            raise ValueError("no polls: the report needs at least one poll or an explicit as-of")
        as_of = pd.Timestamp(int(coded.micros.max()), unit="us", tz="UTC")
    index = pd.Index(categories)
    frames = []
    hours_parts = split_frame_by_shard(hours, shards)
    tz_parts = split_frame_by_shard(timezones, shards)
    for s, part in enumerate(split_by_shard(coded, shard_of(index, shards), shards)):
        if len(part) == 0:
            continue
        timeline = Timeline.from_codes(part.codes, index, part.micros, part.active)
        frames.append(shard_output(timeline, hours_parts[s], tz_parts[s], as_of, output))
    if not frames:  # no polls at all: the unsharded pass's empty frame, with its columns
        empty = Timeline.from_codes(coded.codes, index, coded.micros, coded.active)
        frames = [shard_output(empty, hours, timezones, as_of, output)]
    return combine_shards(frames, output)
