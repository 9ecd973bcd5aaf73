"""Dagster runs executed in this process (the CLI's ingest, run, demo and in-process backfill).

They are runs of the named jobs (``ingest_job``, ``on_demand_report_job``, ``uptime_report_job``),
created the way the daemon creates a sensor's or a schedule's run: from the code location
``storeuptime`` (the name workspace.yaml and the compose workspace give it), with its job snapshot,
execution plan and remote origin. That origin is what the UI's *Re-execute* needs (the webserver
looks the job up by location and repository name), and it is why these runs show in the UI under
their job, like the daemon's; only the launcher differs: the steps run here, synchronously.
Kept out of the CLI so the command-line layer only prints.
"""

from __future__ import annotations

import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetKey, DagsterInstance, DagsterRunStatus
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.execution.api import execute_run
from dagster._core.execution.execution_result import ExecutionResult
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.remote_representation.code_location import CodeLocation
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.hosted_user_process import recon_job_from_origin
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.db.run_records import get_report
from storeuptime_pipeline.defs.assets.ingest import ASSET_OF_KIND
from storeuptime_pipeline.defs.jobs import ingest_job, on_demand_report_job, uptime_report_job
from storeuptime_pipeline.defs.partitions import hourly_partitions
from storeuptime_pipeline.defs.resources import LandedFile, LandingFolderResource
from storeuptime_pipeline.defs.run_launcher import worker_tags

#: The code location's name in workspace.yaml and deploy/workspace.docker.yaml: a run re-executes there.
LOCATION_NAME = "storeuptime"
DEFINITIONS_MODULE = "storeuptime_pipeline.definitions"
#: In-process runs keep the console to the CLI's own lines (progress, a one-line reason on failure):
#: Dagster's log, with traces, is in the run's event log in the UI, or on the console with --verbose.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
VERBOSE = {"loggers": {"console": {"config": {"log_level": "DEBUG"}}}}
_console = {"logging": QUIET}


def show_run_logs(verbose: bool) -> None:
    """Whether the runs of this process print Dagster's log (``--verbose``) or stay quiet."""
    _console["logging"] = VERBOSE if verbose else QUIET


#: Every run the CLI starts carries this tag (the UI can filter on it).
CLI_TAGS = {"storeuptime/source": "cli"}
#: Snapshots before polls, so a report right after the load sees the hours and timezones.
_KIND_ORDER = ("timezones", "hours", "status")


class RunFailed(RuntimeError):
    """A run failed; the message is the readable reason the asset gave."""


@dataclass(frozen=True)
class FileIngested:
    """One file's run; ``error`` is its one-line failure (then none of its rows were loaded)."""

    file: LandedFile
    run_id: str
    seconds: float
    metadata: dict[str, object]
    error: str | None = None


@dataclass(frozen=True)
class BackfillDone:
    run_id: str
    partitions: int
    seconds: float


def failure_message(result: ExecutionResult) -> str:
    """One line: the description an asset raised with ``Failure``, else the root cause of the error.

    Dagster wraps an exception raised in a step in ``DagsterExecutionStepExecutionError: Error
    occurred while executing op ...``; the operator needs the innermost cause (the database's or
    the reader's message), not the wrapper.
    """
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return _one_line(user.description)
            error = event.step_failure_data.error
            if error is not None:
                return f"{_root_cause(error)} (--verbose shows the trace)"
    for event in result.all_events:  # failed outside any step (the executor, e.g. no Celery worker)
        error = getattr(event.event_specific_data, "error", None) if event.is_run_failure else None
        if error is not None:
            return f"{_root_cause(error)} (--verbose shows the trace)"
    return "see the run in the Dagster UI"


def _root_cause(error: Any) -> str:
    """``Type: message`` of the innermost cause, its first line, without the module path."""
    while error.cause is not None:
        error = error.cause
    lines = [line for line in error.message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else error.cls_name or "unknown error"
    return re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*:)", "", first)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class LocalJobs:
    """Runs the project's named jobs in this process, each recorded with the code location's origin.

    Use as a context manager: the code location (the definitions, loaded in this process) is built
    once, on entry, and shared by every run of the command.
    """

    def __init__(self, instance: DagsterInstance | None = None) -> None:
        self.instance = instance or DagsterInstance.get()
        self._stack = ExitStack()
        self._location: CodeLocation | None = None

    def __enter__(self) -> LocalJobs:
        origin = InProcessCodeLocationOrigin(
            loadable_target_origin=LoadableTargetOrigin(
                executable_path=sys.executable, module_name=DEFINITIONS_MODULE, working_directory=os.getcwd()
            ),
            location_name=LOCATION_NAME,
        )
        self._location = self._stack.enter_context(origin.create_location(self.instance))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def execute(
        self,
        job_name: str,
        run_config: Mapping[str, Any],
        tags: Mapping[str, str],
        asset_selection: set[AssetKey] | None = None,
    ) -> ExecutionResult:
        """Create the run as the daemon would (snapshot, plan, origins), then execute it here."""
        location = self._location
        assert location is not None, "use LocalJobs in a with block"
        (repository,) = location.get_repositories().values()
        remote_job = location.get_job(
            JobSubsetSelector(
                location_name=location.name,
                repository_name=repository.name,
                job_name=job_name,
                op_selection=None,
                asset_selection=asset_selection,
                asset_check_selection=None,
            )
        )
        plan = location.get_execution_plan(
            remote_job, run_config, step_keys_to_execute=None, known_state=None, instance=self.instance
        )
        run = self.instance.create_run(
            job_name=remote_job.name,
            run_id=None,
            run_config=run_config,
            status=DagsterRunStatus.NOT_STARTED,
            # worker_tags: if this process is killed, run monitoring can tell the run is dead.
            tags={**(remote_job.run_tags or {}), **CLI_TAGS, **worker_tags(), **tags},
            root_run_id=None,
            parent_run_id=None,
            step_keys_to_execute=None,
            execution_plan_snapshot=plan.execution_plan_snapshot,
            job_snapshot=remote_job.job_snapshot,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            asset_selection=frozenset(asset_selection) if asset_selection else None,
            asset_check_selection=None,
            resolved_op_selection=remote_job.resolved_op_selection,
            op_selection=None,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_graph=repository.asset_graph,
        )
        assert run.job_code_origin is not None
        return execute_run(recon_job_from_origin(run.job_code_origin), run, self.instance)


def landed_files(folder: Path) -> list[LandedFile]:
    files = LandingFolderResource(path=str(folder)).scan()
    if not files:
        raise InputFileError(
            folder, "no input files (store_status*.csv, menu_hours*.csv, timezones*.csv, ...)"
        )
    return sorted(files, key=lambda f: (_KIND_ORDER.index(f.kind), f.path.name))


def ingest_folder(
    folder: Path, *, accept_rejects: bool = False, force: bool = False
) -> Iterator[FileIngested]:
    """One ``ingest_job`` run per file of the folder, snapshots first; yields as each run finishes.

    The folder is part of the run config (the landing resource's path), so a re-execution from the
    UI reads the same file from the same folder. A failed file does not stop the others (each is its
    own transaction, as with the sensor). ``accept_rejects`` and ``force`` are the assets' config.
    """
    files = landed_files(folder)
    with LocalJobs() as jobs:
        for file in files:
            asset_name = ASSET_OF_KIND[file.kind]
            started = time.perf_counter()
            run_config = {
                "ops": {asset_name: {"config": _ingest_config(file, accept_rejects, force)}},
                "resources": {"landing": {"config": {"path": str(folder.resolve())}}},
                **_console["logging"],
            }
            result = jobs.execute(
                ingest_job.name,
                run_config,
                tags={"storeuptime/file": file.path.name, "storeuptime/kind": file.kind},
                asset_selection={AssetKey(asset_name)},
            )
            seconds = time.perf_counter() - started
            if not result.success:
                error = f"{failure_message(result)} (run {result.run_id})"
                yield FileIngested(file, result.run_id, seconds, {}, error=error)
                continue
            metadata = {
                k: v.value for k, v in result.asset_materializations_for_node(asset_name)[0].metadata.items()
            }
            yield FileIngested(file, result.run_id, seconds, metadata)


def _ingest_config(file: LandedFile, accept_rejects: bool, force: bool) -> dict[str, object]:
    config: dict[str, object] = {"files": [file.path.name], "accept_rejects": accept_rejects}
    if file.kind == "status":
        config["force"] = force
    return config


def report_now(engine: Engine, as_of: str | None) -> tuple[pd.Timestamp, Path, str]:
    """The on-demand report as of ``as_of`` (default: the latest poll); its as-of, CSV and run id.

    ``engine`` is the database the run wrote its record to (the one the environment names).
    """
    run_config = {"ops": {"on_demand_report": {"config": {"as_of": as_of or ""}}}, **_console["logging"]}
    with LocalJobs() as jobs:
        result = jobs.execute(on_demand_report_job.name, run_config, tags={})
    if not result.success:
        raise RunFailed(f"report failed: {failure_message(result)} (run {result.run_id})")
    record = get_report(engine, result.run_id)
    if record is None or record.as_of is None or not record.csv_path:
        raise RunFailed(f"run {result.run_id} succeeded but recorded no report")
    return record.as_of, Path(record.csv_path), result.run_id


def backfill_in_process(start: str, end: str) -> BackfillDone:
    """Partitions ``start``..``end`` of ``uptime_report`` as one ``uptime_report_job`` run, here.

    The same run the single-run backfill policy gives a backfill from the UI (a partition range in
    the run's tags), without the webserver or the daemon.
    """
    keys = hourly_partitions.get_partition_keys()
    for label, key in (("--from", start), ("--to", end)):
        if key not in keys:
            raise RunFailed(
                f"{label} {key} is not an uptime_report partition (hourly, YYYY-MM-DD-HH:00, "
                f"{keys[0]} .. {keys[-1]})"
            )
    count = keys.index(end) - keys.index(start) + 1
    if count < 1:
        raise RunFailed(f"--from {start} is after --to {end}")
    started = time.perf_counter()
    tags = {ASSET_PARTITION_RANGE_START_TAG: start, ASSET_PARTITION_RANGE_END_TAG: end}
    with LocalJobs() as jobs:
        result = jobs.execute(uptime_report_job.name, _console["logging"], tags=tags)
    if not result.success:
        raise RunFailed(f"backfill failed: {failure_message(result)} (run {result.run_id})")
    return BackfillDone(result.run_id, count, time.perf_counter() - started)


def webserver_url(dagster_url: str | None = None, timeout: float = 1.0) -> str | None:
    """``dagster_url`` (default STOREUPTIME_DAGSTER_URL) when a Dagster webserver answers there; else None."""
    url = (dagster_url or settings.dagster_url()).rstrip("/")
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=timeout) as response:
            return url if response.status == 200 else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


__all__ = [
    "BackfillDone",
    "FileIngested",
    "LocalJobs",
    "RunFailed",
    "backfill_in_process",
    "failure_message",
    "ingest_folder",
    "report_now",
    "show_run_logs",
    "webserver_url",
]
