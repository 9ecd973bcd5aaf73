"""The run queue's interval: 0.5 s unless dagster.yaml names one (defs/run_coordinator.py)."""

from __future__ import annotations

from dagster._core.run_coordinator import QueuedRunCoordinator

from storeuptime_pipeline.defs.run_coordinator import DEQUEUE_INTERVAL_S, PromptQueuedRunCoordinator


def test_the_queue_is_looked_at_twice_a_second_by_default() -> None:
    coordinator = PromptQueuedRunCoordinator.from_config_value(None, {})  # type: ignore[arg-type]
    assert coordinator.dequeue_interval_seconds == DEQUEUE_INTERVAL_S == 0.5
    assert QueuedRunCoordinator.from_config_value(None, {}).dequeue_interval_seconds == 5  # type: ignore[arg-type]


def test_an_interval_set_in_dagster_yaml_wins() -> None:
    coordinator = PromptQueuedRunCoordinator.from_config_value(  # type: ignore[arg-type]
        None, {"dequeue_interval_seconds": 3, "max_concurrent_runs": 2}
    )
    assert coordinator.dequeue_interval_seconds == 3
    assert coordinator.get_run_queue_config().max_concurrent_runs == 2
