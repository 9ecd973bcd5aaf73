"""The instance's run coordinator: Dagster's queue, looked at twice a second.

Why: a report a person asked for through the API waits in Dagster's run queue until the daemon's
next look, on average half the interval. ``QueuedRunCoordinator`` takes the interval as a whole
number of seconds (1 at the least), so a trigger waited ~0.5 s there for nothing: a fifth of the
on-demand target (trigger to Complete, p50 <= 2.5 s). The daemon's loop waits in ticks of 0.5 s, so
an interval of 0.5 s is the shortest the loop keeps; a look is one query for the queued runs and
one for those in progress (a few milliseconds of the daemon and of Postgres each).

Everything else (the concurrency limit, the tag limits, the threads that launch) is Dagster's. A
``dequeue_interval_seconds`` set in dagster.yaml still wins.
"""

from __future__ import annotations

from typing import Any

from dagster._core.run_coordinator import QueuedRunCoordinator

#: Seconds between the daemon's looks at the queue when dagster.yaml names none.
DEQUEUE_INTERVAL_S = 0.5


class PromptQueuedRunCoordinator(QueuedRunCoordinator):
    """``QueuedRunCoordinator`` whose queue is looked at every ``DEQUEUE_INTERVAL_S`` by default."""

    def __init__(self, *args: Any, dequeue_interval_seconds: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, dequeue_interval_seconds=dequeue_interval_seconds, **kwargs)
        self._prompt_interval_s: float = (
            DEQUEUE_INTERVAL_S if dequeue_interval_seconds is None else float(dequeue_interval_seconds)
        )

    @property
    def dequeue_interval_seconds(self) -> float:  # type: ignore[override]  # Dagster's type says int
        return self._prompt_interval_s
