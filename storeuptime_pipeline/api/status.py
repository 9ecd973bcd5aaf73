"""What ``GET /get_report`` answers: a report's status from ``report_runs`` and its Dagster run.

``report_runs`` is the first source: the run records ``complete`` or ``failed`` (with the readable
reason the asset raised) itself. The Dagster run is asked only while the record is unfinished, to
notice runs that ended without recording anything (crashed, canceled, killed run worker).

A complete report's CSV is rebuilt once from its ``uptime_report`` rows (the database is the
source of truth and the API needs no access to the reports folder) and kept in a small in-process
cache: a finished report never changes, so every later request is served from memory.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from sqlalchemy import Engine

from storeuptime_pipeline.db.run_records import get_report
from storeuptime_pipeline.services.reporting import report_csv

#: Run statuses in which the report may still appear.
_UNFINISHED = {
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.MANAGED,
    DagsterRunStatus.CANCELING,
}


@dataclass(frozen=True)
class Running:
    pass


@dataclass(frozen=True)
class Failed:
    error: str


@dataclass(frozen=True)
class Complete:
    """A finished report, with its encodings prepared once: responses are then plain byte copies."""

    report_id: str
    as_of: pd.Timestamp
    csv: str
    csv_bytes: bytes = field(repr=False)
    json_bytes: bytes = field(repr=False)

    @classmethod
    def build(cls, report_id: str, as_of: pd.Timestamp, csv: str) -> Complete:
        body = {"status": "Complete", "as_of": _iso(as_of), "csv": csv}
        return cls(report_id, as_of, csv, csv.encode(), json.dumps(body).encode())

    @property
    def filename(self) -> str:
        return f"uptime_report_{self.report_id}.csv"


Outcome = Running | Failed | Complete


def _iso(ts: pd.Timestamp) -> str:
    """ISO 8601 in UTC with a ``Z``, microseconds only when present (as pydantic would print it)."""
    return ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


class ReportStatuses:
    """Resolves report ids to outcomes; finished outcomes are cached (bounded, least recently used)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        instance: Callable[[], DagsterInstance],
        cache_size: int = 64,
    ) -> None:
        self._engine = engine
        self._instance = instance
        self._cache: OrderedDict[str, Complete | Failed] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def cached(self, report_id: str) -> Complete | Failed | None:
        """The finished outcome if already known: no database access (the hot path)."""
        with self._lock:
            outcome = self._cache.get(report_id)
            if outcome is not None:
                self._cache.move_to_end(report_id)
            return outcome

    def resolve(self, report_id: str) -> Outcome | None:
        """The outcome of a report id, or None for an id never handed out. Blocking (database)."""
        outcome = self.cached(report_id)
        if outcome is not None:
            return outcome
        # One builder per id: concurrent first requests for a large report wait for one rebuild.
        with self._lock:
            gate = self._building.setdefault(report_id, threading.Lock())
        with gate:
            try:
                outcome = self.cached(report_id) or self._resolve_uncached(report_id)
            finally:
                with self._lock:
                    self._building.pop(report_id, None)
        if isinstance(outcome, Complete | Failed):
            self._remember(report_id, outcome)
        return outcome

    def _resolve_uncached(self, report_id: str) -> Outcome | None:
        engine = self._engine()
        record = get_report(engine, report_id)
        if record is None:
            return None
        if record.status in ("complete", "failed"):
            return self._finished(report_id, record.status, record.as_of, record.error)
        if record.run_id is None:
            return Running()  # the API is still handing the run to the webserver
        run = self._instance().get_run_by_id(record.run_id)
        if run is None:
            return Failed("the report's Dagster run no longer exists")
        if run.status in _UNFINISHED:
            return Running()
        # The run ended; the record may have been written between our two reads.
        record = get_report(engine, report_id) or record
        if record.status in ("complete", "failed"):
            return self._finished(report_id, record.status, record.as_of, record.error)
        if run.status == DagsterRunStatus.CANCELED:
            return Failed("the report run was canceled")
        if run.status == DagsterRunStatus.SUCCESS:
            return Failed("the report run finished without recording a report")
        return Failed(self._failure_description(record.run_id))

    def _finished(
        self, report_id: str, status: str, as_of: pd.Timestamp | None, error: str | None
    ) -> Complete | Failed:
        if status == "failed" or as_of is None:
            return Failed(error or "the report run failed")
        return Complete.build(report_id, as_of, report_csv(self._engine(), as_of))

    def _failure_description(self, run_id: str) -> str:
        """The description a step raised with ``dagster.Failure``; never an exception's text.

        A ``Failure`` description is written for people; any other exception's message may hold
        SQL, paths or a traceback, so those get a generic sentence naming the run instead.
        """
        for entry in self._instance().all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
            event = entry.dagster_event
            data = event.step_failure_data if event is not None else None
            if data is not None and data.user_failure_data is not None:
                description = data.user_failure_data.description
                if description:
                    return description
        return f"the report run failed unexpectedly (Dagster run {run_id}); see its logs in the Dagster UI"

    def _remember(self, report_id: str, outcome: Complete | Failed) -> None:
        with self._lock:
            self._cache[report_id] = outcome
            self._cache.move_to_end(report_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
