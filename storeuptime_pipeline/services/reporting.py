"""Reports from Postgres: read only the window the as-of instants need, compute, store, write CSVs.

The Dagster assets, the CLI and the API go through these functions; the numbers come from the
pure engine, so a report built here equals ``storeuptime report`` on the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from storeuptime_pipeline.core.limits import time_limits, to_utc
from storeuptime_pipeline.core.report import BUSINESS_COLUMNS, FIGURE_COLUMNS, REPORT_COLUMNS
from storeuptime_pipeline.db import queries, reads
from storeuptime_pipeline.db.report_rows import read_report_rows
from storeuptime_pipeline.db.session import snapshot_connections
from storeuptime_pipeline.fileio.report_csv import REPORT_CSV_HEADER, format_report_csv, report_csv_bodies

WEEK = pd.Timedelta(days=7)


class NoPollsError(RuntimeError):
    """There is nothing to report on: no poll at or before the requested instant."""


@dataclass(frozen=True)
class Inputs:
    polls: pd.DataFrame
    hours: pd.DataFrame
    timezones: pd.DataFrame


#: Connections a report's inputs are read on at once: the window in two halves of time, and the
#: earlier polls, hours and timezones one after another on the third. Most of a read is Postgres'
#: time (scan, COPY formatting), one core per connection: on 2 cores the seed fleet's inputs take
#: 0.59 s instead of 0.80 s. Parsing (Arrow) releases the GIL, so the threads overlap here too.
READ_CONNECTIONS = 3


def read_inputs(engine: Engine, as_ofs: Sequence[pd.Timestamp], shard: reads.Shard | None = None) -> Inputs:
    """Polls of [first as-of - 7 days, last as-of] plus each store's last earlier poll, and the snapshots;
    with ``shard``, only that shard's stores' rows of each. All from one snapshot of the database.

    A report that is not split into shards reads on ``READ_CONNECTIONS`` connections at once (the
    on-demand report, a partition of a small fleet). A shard of a split run reads on one: the run's
    parallelism is its shards (one per worker), so N workers hold N connections rather than 3N of
    Postgres' ``max_connections``, and a second level only contends for the same cores (on 2 cores,
    one seed partition in 4 shards took 3.3-3.6 s and peaked at 280-310 MB either way).
    """
    lo, hi = read_window(as_ofs)
    if shard is not None and shard.count > 1:
        with snapshot_connections(engine, 1) as (conn,):
            return Inputs(
                polls=reads.read_polls_window(conn, lo, hi, shard),
                hours=reads.read_business_hours(conn, shard),
                timezones=reads.read_timezones(conn, shard),
            )
    middle = lo + (hi - lo) / 2
    with (
        snapshot_connections(engine, READ_CONNECTIONS) as (first, second, third),
        ThreadPoolExecutor(max_workers=2, thread_name_prefix="read-inputs") as pool,
    ):
        early = pool.submit(reads.read_window_part, first, lo, middle, shard, closed=False)
        late = pool.submit(reads.read_window_part, second, middle, hi, shard, closed=True)
        earlier = reads.read_earlier_polls(third, lo, shard)
        hours = reads.read_business_hours(third, shard)
        timezones = reads.read_timezones(third, shard)
        polls = reads.combine_polls([early.result(), late.result(), earlier])
    return Inputs(polls=polls, hours=hours, timezones=timezones)


def read_window(as_ofs: Sequence[pd.Timestamp]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The poll window the reports of these instants read: [first - 7 days, last]."""
    return min(as_ofs) - WEEK, max(as_ofs)


def default_as_of(engine: Engine) -> pd.Timestamp | None:
    """A report's as-of when none is given: the newest stored poll inside the time limits.

    Inside the limits because a poll of year 9999 loaded earlier is not "now". None without polls.
    """
    limits = time_limits()
    with engine.connect() as conn:
        return queries.latest_poll_within(conn, limits.earliest, limits.latest())


def polls_outside_limits(engine: Engine) -> int:
    """Stored polls the reports ignore: outside the time limits, loaded before the reading rule existed."""
    limits = time_limits()
    with engine.connect() as conn:
        return queries.polls_outside(conn, limits.earliest, limits.latest())


def within_limits(polls: pd.DataFrame) -> pd.DataFrame:
    """The polls inside the time limits (the reading rule for new files, applied to stored ones)."""
    lo, hi = time_limits().bounds_us()
    us = pd.DatetimeIndex(polls["timestamp_utc"]).as_unit("us").asi8
    inside = (us >= lo) & (us <= hi)
    return polls if inside.all() else polls.loc[inside].reset_index(drop=True)


def csv_name(as_of: pd.Timestamp) -> str:
    """``uptime_report_<as_of>.csv`` with a file-name-safe UTC instant (fraction only when present)."""
    ts = to_utc(as_of)
    stamp = ts.strftime("%Y-%m-%dT%H%M%S")
    if ts.microsecond:
        stamp += f".{ts.microsecond:06d}"
    return f"uptime_report_{stamp}Z.csv"


def csv_texts(report: pd.DataFrame) -> dict[pd.Timestamp, str]:
    """The engine's CSV for each as-of of a frame sorted by (as_of, store_id), in one pass."""
    if len(report) == 0:
        return {}
    instants = pd.DatetimeIndex(report["as_of"])
    stamps = instants.asi8
    bounds = list(pairwise(np.flatnonzero(np.r_[True, stamps[1:] != stamps[:-1], True])))
    bodies = report_csv_bodies(report, bounds)
    return {instants[a]: REPORT_CSV_HEADER + body for (a, _), body in zip(bounds, bodies, strict=True)}


def report_csv(engine: Engine, as_of: datetime | pd.Timestamp) -> str:
    """The stored report of one as-of, in exactly the file format of ``storeuptime report``.

    The API serves reports from their ``uptime_report`` rows (the database is the source of truth),
    so they are formatted by the same writer as the CLI's and the assets' files.
    """
    with engine.connect() as conn:
        rows = read_report_rows(conn, as_of)
    return format_report_csv(rows)


def write_csvs(reports_dir: Path, report: pd.DataFrame) -> dict[pd.Timestamp, Path]:
    """Write one CSV per as-of atomically (temp file + rename), so readers never see half a file."""
    return {as_of: write_csv(reports_dir, as_of, text) for as_of, text in csv_texts(report).items()}


def write_csv(reports_dir: Path, as_of: pd.Timestamp, text: str) -> Path:
    """Write one report's CSV atomically (temp file + rename) under its ``csv_name``."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / csv_name(as_of)
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def summary(report: pd.DataFrame) -> dict[str, object]:
    """Totals and medians of the latest as-of in the frame, for metadata and the CLI."""
    latest = report[report["as_of"] == report["as_of"].max()]
    out: dict[str, object] = {"stores": len(latest)}
    for column in FIGURE_COLUMNS:
        out[f"total_{column}"] = round(float(latest[column].sum()), 2)
        out[f"median_{column}"] = round(float(latest[column].median()), 2) if len(latest) else 0.0
    return out


def worst_stores(report: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The stores with the most downtime in the last week, as of the latest instant."""
    latest = report[report["as_of"] == report["as_of"].max()]
    # The top n by downtime with every tie at the cut (a partial selection, not a sort of the whole
    # fleet: a backfill's publish does this once per hour), then the full order on that handful.
    candidates = latest.nlargest(n, "downtime_last_week", keep="all")
    return candidates.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(n)[
        REPORT_COLUMNS
    ]


def invariant_violations(report: pd.DataFrame) -> pd.DataFrame:
    """Rows where uptime + downtime misses business time in some window, or a figure is out of range."""
    bad = np.zeros(len(report), dtype=bool)
    limits = {"hour": 60.0, "day": 24.0, "week": 168.0}
    for window, (up, down, business) in {
        w: (f"uptime_last_{w}", f"downtime_last_{w}", f"business_last_{w}") for w in limits
    }.items():
        total = report[up].to_numpy() + report[down].to_numpy()
        bad |= np.abs(total - report[business].to_numpy()) > 0.005
        bad |= (report[up].to_numpy() < 0) | (report[down].to_numpy() < 0)
        bad |= report[business].to_numpy() > limits[window] + 1e-9
    return report.loc[bad, ["as_of", *REPORT_COLUMNS, *BUSINESS_COLUMNS]]


def hourly_figures(report: pd.DataFrame) -> pd.DataFrame:
    """Per as-of figures that plot well over hours, one row per as-of (one groupby, no loop).

    stores_reported; stores_with_downtime_last_hour; downtime_last_hour_min (total over stores);
    median_uptime_share_last_day (uptime / business time, over stores open at all that day, 0..1).
    """
    up, down = report["uptime_last_day"].to_numpy(), report["downtime_last_day"].to_numpy()
    business = up + down
    share = np.divide(up, business, out=np.full(len(report), np.nan), where=business > 0)
    down_hour = report["downtime_last_hour"].to_numpy()
    # Grouping on int64 instants is several times faster than on tz-aware timestamps.
    frame = pd.DataFrame(
        {
            "key": pd.DatetimeIndex(report["as_of"]).asi8,
            "down": down_hour > 0,
            "downtime": down_hour,
            "share": share,
        }
    )
    grouped = frame.groupby("key", sort=True)
    out = pd.DataFrame(
        {
            "stores_reported": grouped.size(),
            "stores_with_downtime_last_hour": grouped["down"].sum(),
            "downtime_last_hour_min": grouped["downtime"].sum().round(2),
            "median_uptime_share_last_day": grouped["share"].median().round(4),
        }
    )
    unit = pd.DatetimeIndex(report["as_of"][:1]).unit if len(report) else "ns"
    out.index = pd.DatetimeIndex(pd.to_datetime(out.index.to_numpy(), unit=unit), name="as_of").tz_localize(
        "UTC"
    )
    return out


def worst_stores_by_as_of(report: pd.DataFrame, n: int = 10) -> dict[pd.Timestamp, pd.DataFrame]:
    """For every as-of, the ``n`` stores with the most downtime in the last week.

    One stable numeric sort (ties keep the frame's order, store_id for the engine's frames) instead
    of a sort on strings: a week of hourly reports is millions of rows.
    """
    stamps = pd.DatetimeIndex(report["as_of"]).asi8
    order = np.lexsort((-report["downtime_last_week"].to_numpy(), stamps))
    sorted_stamps = stamps[order]
    starts = np.searchsorted(sorted_stamps, sorted_stamps, side="left")
    picked = order[np.arange(len(order)) - starts < n]
    top = report.iloc[picked][REPORT_COLUMNS]
    top_stamps = stamps[picked]
    bounds = np.flatnonzero(np.r_[True, top_stamps[1:] != top_stamps[:-1], True])
    instants = pd.DatetimeIndex(report["as_of"].iloc[picked[bounds[:-1]]])
    return {instants[i]: top.iloc[a:b] for i, (a, b) in enumerate(pairwise(bounds))}
