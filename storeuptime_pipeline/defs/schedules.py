"""The hourly schedule: at HH:00 it reports the hour that just ended, but only when the data moved.

A report every hour on the clock is only useful while polls keep arriving. When the hour holds no
poll newer than the last report, the tick is skipped with a reason naming the newest poll, so an
operator sees "the feed stopped at ..." on the schedule page instead of a report per hour computed
from data years old.
"""

from __future__ import annotations

import pandas as pd
from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from sqlalchemy import Engine

from storeuptime_pipeline.db import queries
from storeuptime_pipeline.defs.jobs import uptime_report_job
from storeuptime_pipeline.defs.partitions import HOUR, hourly_partitions, partition_of_as_of
from storeuptime_pipeline.defs.resources import DatabaseResource


def _ago(newest: pd.Timestamp, now: pd.Timestamp) -> str:
    delta = now - newest
    if delta >= pd.Timedelta(days=2):
        return f"{delta.days:,} days before this tick"
    return f"{delta.total_seconds() / 3600:.1f} h before this tick"


def skip_reason_for_hour(engine: Engine, as_of: pd.Timestamp) -> str | None:
    """Why the report as of ``as_of`` (an hour boundary) need not run, or None when it should.

    It runs when some poll p has max(as_of - 1 h, last report) < p <= as_of, the last report being
    the newest stored report instant <= as_of: the hour brought a poll that no report has seen.
    """
    with engine.connect() as conn:
        last_report = queries.last_report_at_or_before(conn, as_of)
        after = as_of - HOUR if last_report is None else max(as_of - HOUR, last_report)
        if queries.has_poll_between(conn, after, as_of):
            return None
        newest = queries.latest_poll_time(conn)
    window = f"({(as_of - HOUR):%Y-%m-%d %H:%M}, {as_of:%H:%M}] UTC"
    if newest is None:
        return f"no poll in {window}: no polls in the database yet (ingest a status file first)"
    seen = f" newer than the last report (as of {last_report:%Y-%m-%d %H:%M:%S} UTC)" if last_report else ""
    return (
        f"no poll in {window}{seen}; the newest poll is {newest:%Y-%m-%d %H:%M:%S} UTC "
        f"({_ago(newest, as_of)}): nothing new to report"
    )


@schedule(
    job=uptime_report_job,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
    name="hourly_report_schedule",
    description="At the top of every hour, the report as of that instant (partition of the hour that "
    "ended), skipped when that hour brought no poll newer than the last report.",
    default_status=DefaultScheduleStatus.RUNNING,
)
def hourly_report_schedule(
    context: ScheduleEvaluationContext, database: DatabaseResource
) -> RunRequest | SkipReason:
    as_of = pd.Timestamp(context.scheduled_execution_time).tz_convert("UTC").floor("h")
    partition = partition_of_as_of(as_of)
    if as_of - HOUR < pd.Timestamp(hourly_partitions.start).tz_convert("UTC"):
        return SkipReason(
            f"partition {partition} is before the first partition ({hourly_partitions.start:%Y-%m-%d-%H:%M})"
        )
    reason = skip_reason_for_hour(database.engine(), as_of)
    if reason is not None:
        return SkipReason(reason)
    return RunRequest(run_key=partition, partition_key=partition)
