"""Reports computed in store shards: plan, one step per shard, and one publish step.

A shard is the stores with ``store_hash(store_id) % N = i`` (``core.shards``, ``stores.shard_hash``).
Each shard reads only its stores' polls, hours and timezones (``db.reads`` with a ``Shard``), runs
the unchanged engine on them and writes its rows under the run's generation (``db.report_stage``),
where no reader sees them before the publish; a shard's peak memory is its share of the fleet. The
engine's result for a store depends on that store's rows only, so the union of the shards' rows is
the unsharded report, row for row.

:func:`publish` makes the rows visible in one transaction, then writes each hour's CSV and figures
from the stored rows, one hour at a time (the formatters are the ones ``storeuptime report`` uses,
so the files are byte-identical to an unsharded run's). The Dagster report asset runs
:func:`plan_shards` / :func:`run_shard` / :func:`publish` as separate steps (parallel on Celery
workers); in-process callers use :func:`report_in_process`, which runs the same functions in turn.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS, reports_with_outages_for
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.db import queries, report_stage
from storeuptime_pipeline.db.reads import Shard
from storeuptime_pipeline.db.report_rows import read_report_rows
from storeuptime_pipeline.fileio.report_csv import format_report_csv
from storeuptime_pipeline.services.report_checks import (
    CheckOutcome,
    CheckParts,
    check_parts,
    combine_outcomes,
    read_first_polls,
)
from storeuptime_pipeline.services.reporting import (
    Inputs,
    NoPollsError,
    hourly_figures,
    read_inputs,
    read_window,
    summary,
    within_limits,
    worst_stores,
    write_csv,
)
from storeuptime_pipeline.services.reporting_outages import most_outages

__all__ = ["HourResult", "Published", "Shard", "ShardOutcome", "plan_shards", "publish", "run_shard"]


def plan_shards(engine: Engine, as_ofs: Sequence[object], shards: int | None = None) -> int:
    """How many shards the reports of ``as_ofs`` get: ``shards``, else STOREUPTIME_REPORT_SHARDS, else
    ``auto``: one per ~3M polls in the window they read (planner estimate), at least 1."""
    wanted = shards if shards is not None else settings.report_shards()
    if wanted is not None:
        if wanted < 1:
            raise ValueError(f"shards must be at least 1, not {wanted}")
        return wanted
    lo, hi = read_window(sorted(to_utc(a) for a in as_ofs))
    with engine.begin() as conn:  # committed: the ANALYZE of a new week must outlive this call
        polls = queries.estimated_polls_between(conn, lo, hi)
    return max(1, math.ceil(polls / settings.POLLS_PER_AUTO_SHARD))


def clear_stale_runs(engine: Engine) -> int:
    """Delete the rows of runs that died before publishing (opened over a day ago)."""
    with engine.begin() as conn:
        return report_stage.clear_stale(conn)


@dataclass(frozen=True)
class ShardOutcome:
    """What a shard step hands to the publish step (small: the rows are in Postgres already)."""

    shard: Shard
    rows: pd.Series  # report rows written per as-of (int, indexed by as_of)
    checks: CheckParts
    published: bool = False  # the only shard: it published its rows itself (run_shard)


def run_shard(engine: Engine, as_ofs: Sequence[object], shard: Shard, token: str) -> ShardOutcome:
    """Compute one shard's reports and outage lists of ``as_ofs`` and write them under run ``token``.

    One transaction: an earlier attempt's rows of this shard are replaced, the outage list is COPYed
    chunk by chunk as the engine produces it, then the report rows, all under the run's generation
    (``db/report_stage``): in the published tables, but shown by no as-of until the run publishes.
    A shard without polls writes nothing (the publish step decides whether the run has any).

    The only shard of a run (N = 1, what ``auto`` picks for fleets up to ~3M polls a window) has
    nothing to be combined with, so it publishes its own rows in the same one transaction, which is
    already all-or-nothing. It still writes them under a generation of their own and repoints the
    instants at the end (``publish_staged``), rather than deleting the shown rows first and writing
    generation 0 again: each new row would then meet the deleted row of the same key in the primary
    key and check it, and a report repeated as of the same instant (every trigger between two polls)
    spent 0.15 s of the seed fleet's 0.4 s outage write on that. Writing before taking the report
    write lock also lets two runs of one instant compute at once; the later publish wins.
    """
    instants = sorted({to_utc(a) for a in as_ofs})
    inputs = read_inputs(engine, instants, shard)
    # Stored polls outside the time limits (loaded before they existed) are left out of every report.
    inputs = Inputs(within_limits(inputs.polls), inputs.hours, inputs.timezones)
    direct = shard.count == 1
    if not direct:
        with engine.begin() as conn:  # its own transaction: see open_run
            generation = report_stage.open_run(conn, token, instants)
    with engine.begin() as conn:
        if direct:  # one shard: nothing to serialize with, so in the transaction that publishes
            generation = report_stage.open_run(conn, token, instants)
        else:
            report_stage.clear_shard(conn, generation, shard, instants)
        if len(inputs.polls) == 0:
            empty = pd.Series(dtype="int64", index=pd.DatetimeIndex([], tz="UTC"))
            return ShardOutcome(shard, empty, _no_check_parts())

        def sink(chunk: pd.DataFrame) -> None:
            report_stage.stage_outages(conn, generation, chunk)

        result = reports_with_outages_for(
            inputs.polls,
            inputs.hours,
            inputs.timezones,
            instants,
            with_business=True,
            exact=True,
            sink=sink,
        )
        report = result.report
        stored = report[["as_of", *REPORT_COLUMNS, *OUTAGE_SUMMARY_COLUMNS]]
        report_stage.stage_report(conn, generation, stored)
        if direct:
            report_stage.publish_staged(conn, token, instants, len(stored))
    rows = report.groupby("as_of").size()
    return ShardOutcome(shard, rows, check_parts(report), published=direct)


def _no_check_parts() -> CheckParts:
    empty = pd.DataFrame(
        {"as_of": pd.Series(dtype="datetime64[us, UTC]"), "store_id": pd.Series(dtype=object)}
    )
    return CheckParts(empty, pd.Series(dtype="int64"), empty)


@dataclass(frozen=True)
class HourResult:
    """One published report instant: its CSV and the figures its materialization shows."""

    as_of: pd.Timestamp
    rows: int
    csv_path: Path
    figures: dict[str, object]  # hourly_figures' row of this instant
    summary: dict[str, object]  # reporting.summary of this instant
    worst_stores: pd.DataFrame
    most_outages: pd.DataFrame
    checks: list[CheckOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class Published:
    """A published report run: one :class:`HourResult` per instant that has rows, in as-of order."""

    hours: list[HourResult]
    rows: int
    shards: int
    check_parts: list[CheckParts] = field(default_factory=list, repr=False)
    row_counts: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"), repr=False)

    def with_checks(self, engine: Engine) -> Published:
        """The same run with each hour's check outcomes (one query: every store's first poll).

        Apart from :func:`publish` so that an on-demand report can be recorded Complete first: the
        checks describe the report, they do not gate it (a person is waiting for the CSV).
        """
        checks = combine_outcomes(self.check_parts, self.row_counts, read_first_polls(engine))
        return replace(self, hours=[replace(h, checks=checks[h.as_of]) for h in self.hours])

    @property
    def paths(self) -> dict[pd.Timestamp, Path]:
        return {h.as_of: h.csv_path for h in self.hours}


def publish(
    engine: Engine,
    reports_dir: Path,
    as_ofs: Sequence[object],
    token: str,
    outcomes: Sequence[ShardOutcome],
    shards: int,
    checks: bool = True,
) -> Published:
    """Make ``as_ofs`` show the rows every shard wrote, in one transaction (no row moves: a pointer per
    as-of, ``db/report_stage``); then, hour by hour from the stored rows, write each CSV and compute
    its figures and checks.

    Refuses (and leaves the published rows alone) when a shard's outcome is missing, and raises
    :class:`NoPollsError` when no shard had a poll at or before the last instant.
    """
    instants = sorted({to_utc(a) for a in as_ofs})
    got = sorted(o.shard.index for o in outcomes)
    if got != list(range(shards)) or any(o.shard.count != shards for o in outcomes):
        raise ValueError(f"publish needs the outcomes of shards 0..{shards - 1} of {shards}, got {got}")
    rows = pd.concat([o.rows for o in outcomes]).groupby(level=0).sum() if outcomes else pd.Series()
    if int(rows.sum()) == 0:
        with engine.begin() as conn:
            report_stage.clear_run(conn, token)
        raise NoPollsError(f"no polls at or before {instants[-1].isoformat()} in the database")
    if shards == 1 and outcomes[0].published:
        published = int(rows.sum())  # the one shard wrote the published rows itself (run_shard)
    else:
        with engine.begin() as conn:
            published = report_stage.publish_staged(conn, token, instants, int(rows.sum()))
    hours = [_hour_result(reports_dir, as_of, stored) for as_of, stored in _stored_hours(engine, rows)]
    done = Published(hours, published, shards, [o.checks for o in outcomes], rows)
    return done.with_checks(engine) if checks else done


def _stored_hours(engine: Engine, rows: pd.Series) -> Iterator[tuple[pd.Timestamp, pd.DataFrame]]:
    """The stored rows of each instant with rows, in order, the next hour read while this one is used.

    At most two hours' rows in memory. The read is mostly Postgres' time (the COPY) and the caller's
    formatting is Python's, so overlapping them in a second thread takes ~30% off a 168-hour publish
    without a second core for Python.
    """
    instants = list(pd.DatetimeIndex(sorted(rows.index[rows.to_numpy() > 0])))

    def read(as_of: pd.Timestamp) -> pd.DataFrame:
        with engine.connect() as conn:
            stored = read_report_rows(conn, as_of, with_outage_summary=True)
        for name in OUTAGE_SUMMARY_COLUMNS[:3]:
            stored[name] = stored[name].astype("int64")
        return stored

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-rows") as pool:
        pending = pool.submit(read, instants[0]) if instants else None
        for i, as_of in enumerate(instants):
            assert pending is not None
            stored = pending.result()
            pending = pool.submit(read, instants[i + 1]) if i + 1 < len(instants) else None
            yield as_of, stored


def _hour_result(reports_dir: Path, as_of: pd.Timestamp, stored: pd.DataFrame) -> HourResult:
    """One published hour: its CSV written from the stored rows, and the figures its event shows."""
    path = write_csv(reports_dir, as_of, format_report_csv(stored))
    return HourResult(
        as_of=as_of,
        rows=len(stored),
        csv_path=path,
        figures=hourly_figures(stored).iloc[0].to_dict(),
        summary=summary(stored),
        worst_stores=worst_stores(stored),
        most_outages=most_outages(stored),
    )


def report_in_process(
    engine: Engine,
    reports_dir: Path,
    as_ofs: Sequence[object],
    shards: int | None = None,
    checks: bool = True,
) -> Published:
    """Plan, every shard one after another, and publish, in this process (CLI, on-demand report);
    ``checks=False`` leaves the check outcomes to :meth:`Published.with_checks`.

    The same functions as the asset's steps, so an in-process report equals a Celery-run one. A shard
    that fails deletes this run's unpublished rows and leaves the published ones as they were.
    """
    count = plan_shards(engine, as_ofs, shards)
    token = f"inproc-{uuid.uuid4().hex}"
    try:
        outcomes = [run_shard(engine, as_ofs, Shard(i, count), token) for i in range(count)]
        return publish(engine, reports_dir, as_ofs, token, outcomes, count, checks)
    except BaseException:
        with engine.begin() as conn:
            report_stage.clear_run(conn, token)
        raise
