"""The hourly schedule: at HH:00 it materializes the partition of the hour that just ended."""

from __future__ import annotations

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from storeuptime_pipeline.jobs import uptime_report_job

hourly_report_schedule = build_schedule_from_partitioned_job(
    uptime_report_job,
    name="hourly_report_schedule",
    description="At the top of every hour, the report as of that instant (partition of the hour that ended).",
    default_status=DefaultScheduleStatus.RUNNING,
)
