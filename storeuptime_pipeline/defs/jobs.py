"""Jobs: ingest, the hourly report, and the on-demand report (what the API launches)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from storeuptime_pipeline.defs.executor import selected_executor
from storeuptime_pipeline.defs.partitions import hourly_partitions

#: In-process by default; Dagster's Celery executor with STOREUPTIME_EXECUTOR=celery (defs/executor.py).
EXECUTOR = selected_executor()

ingest_job = define_asset_job(
    "ingest_job",
    selection=AssetSelection.groups("ingest"),
    description="Load the CSV files of the landing folder into Postgres.",
    executor_def=EXECUTOR,
)

uptime_report_job = define_asset_job(
    "uptime_report_job",
    selection=AssetSelection.assets("uptime_report"),
    partitions_def=hourly_partitions,
    description="The hourly uptime report for one partition (or a range, in one run).",
    executor_def=EXECUTOR,
)

on_demand_report_job = define_asset_job(
    "on_demand_report_job",
    selection=AssetSelection.assets("on_demand_report"),
    description="The report as of the latest poll (or a given instant), keyed by a report id.",
    executor_def=EXECUTOR,
)
