"""Sensors: new CSV files in the landing folder start ingest runs; each ingest refreshes the latest report."""

import json
import time

import pandas as pd
from dagster import (
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from storeuptime_pipeline import settings
from storeuptime_pipeline.assets.ingest import ASSET_OF_KIND
from storeuptime_pipeline.jobs import ingest_job, uptime_report_job
from storeuptime_pipeline.partitions import HOUR, hourly_partitions
from storeuptime_pipeline.reporting import latest_poll
from storeuptime_pipeline.resources import DatabaseResource, LandedFile, LandingFolderResource


def _request(file: LandedFile) -> RunRequest:
    asset_name = ASSET_OF_KIND[file.kind]
    return RunRequest(
        run_key=file.run_key,
        asset_selection=[AssetKey(asset_name)],
        run_config={"ops": {asset_name: {"config": {"files": [file.path.name]}}}},
        tags={"storeuptime/file": file.path.name, "storeuptime/kind": file.kind},
    )


def landing_requests(
    files: list[LandedFile], cursor: str | None, now: float, settle_seconds: float
) -> tuple[list[RunRequest], str]:
    """One run per new or changed file (name, size, modification time); files still settling wait.

    The cursor maps each file name to the key of the version already requested, so an unchanged
    file never starts a second run, and a rewritten file (new size or time) starts one again.
    """
    seen: dict[str, str] = json.loads(cursor) if cursor else {}
    requests = []
    for file in files:
        name = file.path.name
        if seen.get(name) == file.run_key:
            continue
        if now - file.mtime_ns / 1e9 < settle_seconds:
            continue  # possibly still being written: look again next tick
        requests.append(_request(file))
        seen[name] = file.run_key
    return requests, json.dumps(seen, sort_keys=True)


@sensor(
    job=ingest_job,
    minimum_interval_seconds=settings.sensor_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts an ingest run for each new or changed CSV file in the landing folder.",
)
def landing_folder_sensor(context: SensorEvaluationContext, landing: LandingFolderResource) -> SensorResult:
    requests, cursor = landing_requests(
        landing.scan(), context.cursor, time.time(), settings.file_settle_seconds()
    )
    return SensorResult(run_requests=requests, cursor=cursor)


def latest_report_partition(latest: pd.Timestamp, now: pd.Timestamp) -> str | None:
    """The partition to refresh after new polls: the hour of the newest poll, if that hour has ended.

    In live operation the newest poll lies in the current hour, so this is the last complete hour
    (late polls correct it); with historical data it is the hour the data ends in.
    """
    hour = min(latest.floor("h"), now.floor("h") - HOUR)
    key = hour.strftime("%Y-%m-%d-%H:%M")
    first = hourly_partitions.get_first_partition_key()
    return key if first is not None and key >= first else None


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job],
    request_job=uptime_report_job,
    minimum_interval_seconds=settings.sensor_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    description="After any ingest (polls, hours or timezones), brings the latest report partition up to date.",
)
def report_after_ingest_sensor(context: RunStatusSensorContext, database: DatabaseResource):
    latest = latest_poll(database.engine())
    if latest is None:
        return SkipReason("no polls in the database")
    key = latest_report_partition(latest, pd.Timestamp.now(tz="UTC"))
    if key is None:
        return SkipReason("the newest poll is before the first partition")
    return RunRequest(run_key=f"after-ingest:{context.dagster_run.run_id}", partition_key=key)
