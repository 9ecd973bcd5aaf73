"""Dagster runs executed in this process (the CLI's ingest, run and demo commands).

They are real runs of the same assets, recorded in the instance like the daemon's, so they show in
the UI; only the launcher differs. Kept out of the CLI so the command-line layer only prints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from storeuptime_pipeline.assets.ingest import ASSET_OF_KIND, INGEST_ASSETS
from storeuptime_pipeline.assets.report import on_demand_report
from storeuptime_pipeline.checks import INGEST_CHECKS
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.engine.reading import InputFileError
from storeuptime_pipeline.resources import DatabaseResource, LandedFile, LandingFolderResource
from storeuptime_pipeline.run_records import get_report

#: In-process runs log nothing to the console: the CLI prints its own progress and error lines
#: (the run's events and traces stay in the instance, and the UI shows them).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
#: ``--verbose``: warnings and errors with their stack traces as well.
VERBOSE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
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


def failure_message(result: ExecuteInProcessResult) -> str:
    """One line: the description an asset raised with ``Failure``, else the root cause of the error.

    Dagster wraps an exception raised in a step in ``DagsterExecutionStepExecutionError: Error
    occurred while executing op ...``; the operator needs the innermost cause (the database's or
    the reader's message), not the wrapper.
    """
    for event in result.all_events:
        if event.is_failure and event.step_failure_data is not None:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return _one_line(user.description)
            error = event.step_failure_data.error
            if error is not None:
                return f"{_root_cause(error)} (run {result.run_id[:8]}; --verbose shows the trace)"
    return f"see run {result.run_id} in the Dagster UI"


def _root_cause(error: Any) -> str:
    """``Type: message`` of the innermost cause, its first line, without the module path."""
    while error.cause is not None:
        error = error.cause
    lines = [line for line in error.message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else error.cls_name or "unknown error"
    return re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*:)", "", first)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def landed_files(folder: Path) -> list[LandedFile]:
    files = LandingFolderResource(path=str(folder)).scan()
    if not files:
        raise InputFileError(
            folder, "no input files (store_status*.csv, menu_hours*.csv, timezones*.csv, ...)"
        )
    return sorted(files, key=lambda f: (_KIND_ORDER.index(f.kind), f.path.name))


def ingest_folder(
    folder: Path, *, accept_rejects: bool = False, force: bool = False, verbose: bool = False
) -> Iterator[FileIngested]:
    """One ingest run per file of the folder, snapshots first; yields as each run finishes.

    A failed file does not stop the others (each is its own transaction, as with the sensor).
    ``accept_rejects`` and ``force`` are the assets' config of the same names.
    """
    instance = DagsterInstance.get()
    for file in landed_files(folder):
        asset_name = ASSET_OF_KIND[file.kind]
        config: dict[str, object] = {"files": [file.path.name], "accept_rejects": accept_rejects}
        if file.kind == "status":
            config["force"] = force
        started = time.perf_counter()
        result = materialize(
            [*INGEST_ASSETS, *INGEST_CHECKS],
            selection=[asset_name],
            instance=instance,
            resources=resources(landing=str(folder)),
            run_config={"ops": {asset_name: {"config": config}}, **(VERBOSE if verbose else QUIET)},
            tags={"storeuptime/file": file.path.name, "storeuptime/source": "cli"},
            raise_on_error=False,
        )
        seconds = time.perf_counter() - started
        if not result.success:
            yield FileIngested(file, result.run_id, seconds, {}, error=failure_message(result))
            continue
        metadata = {
            k: v.value for k, v in result.asset_materializations_for_node(asset_name)[0].metadata.items()
        }
        yield FileIngested(file, result.run_id, seconds, metadata)


def report_now(as_of: str | None, *, verbose: bool = False) -> tuple[pd.Timestamp, Path, str]:
    """The on-demand report as of ``as_of`` (default: the latest poll); its as-of, CSV and run id."""
    result = materialize(
        [on_demand_report],
        instance=DagsterInstance.get(),
        resources=resources(),
        run_config={
            "ops": {"on_demand_report": {"config": {"as_of": as_of or ""}}},
            **(VERBOSE if verbose else QUIET),
        },
        tags={"storeuptime/source": "cli"},
        raise_on_error=False,
    )
    if not result.success:
        raise RunFailed(f"report failed: {failure_message(result)}")
    record = get_report(DatabaseResource().engine(), result.run_id)
    if record is None or record.as_of is None or not record.csv_path:
        raise RunFailed(f"run {result.run_id} succeeded but recorded no report")
    return record.as_of, Path(record.csv_path), result.run_id


__all__ = ["FileIngested", "RunFailed", "failure_message", "ingest_folder", "report_now"]
