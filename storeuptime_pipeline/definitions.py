"""The one entry point Dagster loads: every asset, check, job, schedule, sensor and resource."""

from __future__ import annotations

from dagster import Definitions

from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS, REPORT_STEPS_IO
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.defs.jobs import EXECUTOR, ingest_job, on_demand_report_job, uptime_report_job
from storeuptime_pipeline.defs.resources import (
    DatabaseResource,
    LandingFolderResource,
    ReportsFolderResource,
    ReportStepsIOManager,
)
from storeuptime_pipeline.defs.schedules import hourly_report_schedule
from storeuptime_pipeline.defs.sensors import landing_folder_sensor, report_after_ingest_sensor


def resources(
    database_url: str = "", landing: str = "", reports: str = ""
) -> dict[str, DatabaseResource | LandingFolderResource | ReportsFolderResource | ReportStepsIOManager]:
    """The resources, by default from the environment; tests and the CLI pass explicit values."""
    return {
        "database": DatabaseResource(url=database_url),
        "landing": LandingFolderResource(path=landing),
        "reports": ReportsFolderResource(path=reports),
        # The report's plan -> shard -> publish steps pass their small values through the reports folder.
        REPORT_STEPS_IO: ReportStepsIOManager(path=reports),
    }


defs = Definitions(
    assets=[*INGEST_ASSETS, *REPORT_ASSETS],
    asset_checks=INGEST_CHECKS,
    jobs=[ingest_job, uptime_report_job, on_demand_report_job],
    schedules=[hourly_report_schedule],
    sensors=[landing_folder_sensor, report_after_ingest_sensor],
    resources=resources(),
    # In-process unless STOREUPTIME_EXECUTOR=celery (defs/executor.py): also for the jobs the UI builds
    # to materialize a selection of assets.
    executor=EXECUTOR,
)
