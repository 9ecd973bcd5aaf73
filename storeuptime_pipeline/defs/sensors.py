"""Sensors: new CSV files in the landing folder start ingest runs; each ingest refreshes the latest report."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
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
from sqlalchemy.exc import SQLAlchemyError

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.defs.assets.ingest import ASSET_OF_KIND
from storeuptime_pipeline.defs.jobs import ingest_job, uptime_report_job
from storeuptime_pipeline.defs.partitions import HOUR, hourly_partitions
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.fileio.landing import LandedFile, content_sha256, printable
from storeuptime_pipeline.services.reporting import default_as_of


def _request(file: LandedFile) -> RunRequest:
    asset_name = ASSET_OF_KIND[file.kind]
    return RunRequest(
        run_key=file.run_key,
        asset_selection=[AssetKey(asset_name)],
        run_config={"ops": {asset_name: {"config": {"files": [file.path.name]}}}},
        tags={"storeuptime/file": file.path.name, "storeuptime/kind": file.kind},
    )


@dataclass
class LandingState:
    """The landing sensor's cursor: what it requested, what it is waiting on, what it has said.

    ``requested`` maps a file name to the version (run key) already requested or found loaded, so
    an unchanged file never starts a second run and a rewritten one starts one again. ``pending``
    holds the version seen at the previous tick: a file is requested only when the next tick finds
    the same size and modification time (a writer that stalls mid-line leaves a file that *looks*
    complete, so neither its age alone nor a final newline can be the rule). ``skipped`` holds the
    reason already logged for each skipped entry, so each is logged once, not every tick.
    """

    requested: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, cursor: str | None) -> "LandingState":
        """The state a cursor holds; the earlier flat cursor (name -> run key) reads as requested.

        A cursor that cannot be read starts afresh rather than failing every tick: files whose
        content is loaded are recognised by their hash, so nothing is loaded twice.
        """
        try:
            data = json.loads(cursor) if cursor else {}
            if data and all(isinstance(v, str) for v in data.values()):
                return cls(requested=dict(data))
            return cls(**{k: dict(data.get(k, {})) for k in ("requested", "pending", "skipped")})
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {"requested": self.requested, "pending": self.pending, "skipped": self.skipped}, sort_keys=True
        )

    def keep_only(self, files: set[str], skipped: set[str]) -> None:
        """Forget entries no longer in the folder (a file dropped again is recognised by its content)."""
        for table, names in ((self.requested, files), (self.pending, files), (self.skipped, skipped)):
            for name in [n for n in table if n not in names]:
                del table[name]


def settled_files(
    files: Sequence[LandedFile], state: LandingState, now: float, settle_seconds: float
) -> list[LandedFile]:
    """New versions seen unchanged since the previous tick and not modified for ``settle_seconds``.

    A version seen for the first time (or changed since) is recorded as pending and waits a tick.
    """
    ready = []
    for file in files:
        name = file.path.name
        if state.requested.get(name) == file.run_key:
            continue
        if state.pending.get(name) == file.run_key and now - file.mtime_ns / 1e9 >= settle_seconds:
            ready.append(file)
        else:
            state.pending[name] = file.run_key
    return ready


def _loaded_names(files: Sequence[LandedFile], database: DatabaseResource) -> set[str]:
    """The files whose content is already what the database holds (e.g. loaded by ``make run``)."""
    from storeuptime_pipeline.db.queries import loaded_contents

    shas = {file.path.name: (file.kind, content_sha256(file.path)) for file in files}
    with database.engine().connect() as conn:
        known = loaded_contents(conn, shas.values())
    return {name for name, content in shas.items() if content in known}


@sensor(
    job=ingest_job,
    minimum_interval_seconds=settings.sensor_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts an ingest run for each new or changed CSV file in the landing folder, once it "
    "is unchanged across two ticks and its content is not already loaded.",
)
def landing_folder_sensor(
    context: SensorEvaluationContext, landing: LandingFolderResource, database: DatabaseResource
) -> SensorResult:
    state = LandingState.parse(context.cursor)
    try:
        survey = landing.survey()
    except InputFileError as exc:
        return SensorResult(skip_reason=f"landing folder: {exc}", cursor=context.cursor)
    state.keep_only({f.path.name for f in survey.files}, {s.name for s in survey.skipped})
    for entry in survey.skipped:
        if state.skipped.get(entry.name) != entry.reason:
            (context.log.info if entry.temporary else context.log.warning)(f"landing folder: {entry}")
            state.skipped[entry.name] = entry.reason

    ready = settled_files(survey.files, state, time.time(), settings.file_settle_seconds())
    try:
        loaded = _loaded_names(ready, database) if ready else set()
    except (OSError, SQLAlchemyError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return SensorResult(
            skip_reason=f"cannot tell which files are already loaded ({reason}); looking again next tick",
            cursor=state.dump(),
        )
    requests = []
    for file in ready:
        name = file.path.name
        if name in loaded:
            context.log.info(f"landing folder: {printable(name)}: same content already loaded, no run")
        else:
            requests.append(_request(file))
        state.requested[name] = file.run_key
        del state.pending[name]
    if requests:
        return SensorResult(run_requests=requests, cursor=state.dump())
    waiting = ", ".join(printable(n) for n in sorted(state.pending))
    reason = f"waiting for a second look at {waiting}" if waiting else "no new or changed input file"
    return SensorResult(skip_reason=reason, cursor=state.dump())


def latest_report_partition(latest: pd.Timestamp, now: pd.Timestamp) -> str | None:
    """The partition to refresh after new polls: the hour of the newest poll, if that hour has ended.

    In live operation the newest poll lies in the current hour, so this is the last complete hour
    (late polls correct it); with historical data it is the hour the data ends in.
    """
    hour = min(latest.floor("h"), now.floor("h") - HOUR)
    key = hour.strftime("%Y-%m-%d-%H:%M")
    first = hourly_partitions.get_first_partition_key()
    return key if first is not None and key >= first else None


def rows_changed(instance: DagsterInstance, run_id: str) -> int | None:
    """Rows the run's ingest materializations changed in total; None when there is none or one does not say.

    A re-load of content already in the database (``make dev`` after ``make run``, a file dropped
    twice) changes nothing, so recomputing the report after it would only repeat the same rows.
    """
    records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    if not records:
        return None
    total = 0
    for record in records:
        materialization = record.asset_materialization
        value = materialization.metadata.get("rows_changed") if materialization else None
        if value is None or not isinstance(value.value, int):
            return None
        total += value.value
    return total


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_job],
    request_job=uptime_report_job,
    minimum_interval_seconds=settings.sensor_interval_seconds(),
    default_status=DefaultSensorStatus.RUNNING,
    description="After any ingest (polls, hours or timezones) that changed rows, brings the latest report "
    "partition up to date.",
)
def report_after_ingest_sensor(context: RunStatusSensorContext, database: DatabaseResource):
    changed = rows_changed(context.instance, context.dagster_run.run_id)
    if changed == 0:
        return SkipReason(f"ingest run {context.dagster_run.run_id} changed no rows: the report stands")
    latest = default_as_of(database.engine())
    if latest is None:
        return SkipReason("no polls in the database")
    key = latest_report_partition(latest, pd.Timestamp.now(tz="UTC"))
    if key is None:
        return SkipReason("the newest poll is before the first partition")
    return RunRequest(run_key=f"after-ingest:{context.dagster_run.run_id}", partition_key=key)
