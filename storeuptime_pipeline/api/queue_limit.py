"""The bound on waiting report runs behind ``POST /trigger_report`` (answered 429 above it).

Without it a burst of triggers (or dead runs holding every concurrency slot) grows Dagster's run
queue without end: 200 triggers left 46 runs queued 7.5 minutes later. What is counted is what
waits: the on-demand report runs QUEUED in Dagster, plus the launches this process has in flight
(a run is queued only once the webserver answers, so concurrent triggers would otherwise all see
the same count and overshoot together).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from storeuptime_pipeline.api.launcher import JOB_NAME

#: Seconds a refused client is told to wait (``Retry-After``): a report run takes a few seconds.
RETRY_AFTER_SECONDS = 10


class QueueFull(Exception):
    """``limit`` report runs are already waiting; ``str()`` is the sentence for the client."""

    def __init__(self, waiting: int, limit: int) -> None:
        super().__init__(f"{waiting} reports are already queued (limit {limit}); retry later")
        self.waiting = waiting
        self.limit = limit


class TriggerGate:
    """Admits a trigger only while fewer than ``limit`` report runs wait."""

    def __init__(self, instance: Callable[[], DagsterInstance], limit: Callable[[], int]) -> None:
        self._instance = instance
        self._limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    def queued_runs(self) -> int:
        filters = RunsFilter(job_name=JOB_NAME, statuses=[DagsterRunStatus.QUEUED])
        return self._instance().get_runs_count(filters)

    @contextmanager
    def admit(self) -> Iterator[Callable[[], None]]:
        """Raise :class:`QueueFull` when the queue is full; else hold a place while launching.

        Yields ``launched``, to call once the webserver has queued the run: from then on Dagster's
        count holds it, and counting it twice would refuse triggers below the limit.
        """
        limit = self._limit()
        queued = self.queued_runs()
        with self._lock:
            waiting = queued + self._in_flight
            if waiting >= limit:
                raise QueueFull(waiting, limit)
            self._in_flight += 1
        held = True

        def launched() -> None:
            nonlocal held
            with self._lock:
                if held:
                    self._in_flight -= 1
                    held = False

        try:
            yield launched
        finally:
            launched()
