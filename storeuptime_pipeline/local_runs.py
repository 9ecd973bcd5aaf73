"""Dagster runs executed in this process (the CLI's ingest, run and demo commands).

They are real runs of the same assets, recorded in the instance like the daemon's, so they show in
the UI; only the launcher differs. Kept out of the CLI so the command-line layer only prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from storeuptime_pipeline.assets.ingest import ASSET_OF_KIND, INGEST_ASSETS
from storeuptime_pipeline.assets.report import on_demand_report
from storeuptime_pipeline.checks import INGEST_CHECKS
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.engine.reading import InputFileError
from storeuptime_pipeline.resources import DatabaseResource, LandedFile, LandingFolderResource
from storeuptime_pipeline.run_launcher import worker_tags
from storeuptime_pipeline.run_records import get_report

#: In-process runs log only warnings to the console: the CLI prints its own progress lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: Snapshots before polls, so a report right after the load sees the hours and timezones.
_KIND_ORDER = ("timezones", "hours", "status")


class RunFailed(RuntimeError):
    """A run failed; the message is the readable reason the asset gave."""


@dataclass(frozen=True)
class FileIngested:
    file: LandedFile
    run_id: str
    seconds: float
    metadata: dict[str, object]


def failure_message(result: ExecuteInProcessResult) -> str:
    """The description an asset raised with ``Failure``, else the last line of the error."""
    for event in result.all_events:
        if event.is_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description
            error = event.step_failure_data.error
            if error is not None:
                return error.message.strip().splitlines()[-1]
    return "see the run in the Dagster UI"


def landed_files(folder: Path) -> list[LandedFile]:
    files = LandingFolderResource(path=str(folder)).scan()
    if not files:
        raise InputFileError(
            folder, "no input files (store_status*.csv, menu_hours*.csv, timezones*.csv, ...)"
        )
    return sorted(files, key=lambda f: (_KIND_ORDER.index(f.kind), f.path.name))


def ingest_folder(folder: Path) -> Iterator[FileIngested]:
    """One ingest run per file of the folder, snapshots first; yields as each run finishes."""
    instance = DagsterInstance.get()
    for file in landed_files(folder):
        asset_name = ASSET_OF_KIND[file.kind]
        started = time.perf_counter()
        result = materialize(
            [*INGEST_ASSETS, *INGEST_CHECKS],
            selection=[asset_name],
            instance=instance,
            resources=resources(landing=str(folder)),
            run_config={"ops": {asset_name: {"config": {"files": [file.path.name]}}}, **QUIET},
            # worker_tags: if this process is killed, run monitoring can tell the run is dead.
            tags={"storeuptime/file": file.path.name, "storeuptime/source": "cli", **worker_tags()},
            raise_on_error=False,
        )
        if not result.success:
            raise RunFailed(f"{file.path.name}: {failure_message(result)}")
        metadata = {
            k: v.value for k, v in result.asset_materializations_for_node(asset_name)[0].metadata.items()
        }
        yield FileIngested(file, result.run_id, time.perf_counter() - started, metadata)


def report_now(as_of: str | None) -> tuple[pd.Timestamp, Path, str]:
    """The on-demand report as of ``as_of`` (default: the latest poll); its as-of, CSV and run id."""
    result = materialize(
        [on_demand_report],
        instance=DagsterInstance.get(),
        resources=resources(),
        run_config={"ops": {"on_demand_report": {"config": {"as_of": as_of or ""}}}, **QUIET},
        tags={"storeuptime/source": "cli", **worker_tags()},
        raise_on_error=False,
    )
    if not result.success:
        raise RunFailed(f"report failed: {failure_message(result)}")
    record = get_report(DatabaseResource().engine(), result.run_id)
    if record is None or record.as_of is None or not record.csv_path:
        raise RunFailed(f"run {result.run_id} succeeded but recorded no report")
    return record.as_of, Path(record.csv_path), result.run_id


__all__ = ["FileIngested", "RunFailed", "failure_message", "ingest_folder", "report_now"]
