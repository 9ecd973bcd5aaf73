"""The run worker health check: FAILED only for a worker provably gone, RUNNING for anything else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.launcher import WorkerStatus

from storeuptime_pipeline.defs.run_launcher import (
    _PID_REUSE_SLACK_S,
    WORKER_HOST_TAG,
    WORKER_PID_TAG,
    host_id,
    worker_health,
)
from storeuptime_pipeline_tests.waiting import wait_until


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance


def _run(instance: DagsterInstance, tags: dict[str, str]) -> DagsterRun:
    return instance.add_run(DagsterRun(job_name="some_job", status=DagsterRunStatus.STARTED, tags=tags))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def test_a_live_worker_on_this_host_is_running(instance: DagsterInstance) -> None:
    run = _run(instance, {WORKER_HOST_TAG: host_id(), WORKER_PID_TAG: str(os.getpid())})
    assert worker_health(instance, run).status is WorkerStatus.RUNNING


def test_a_vanished_worker_on_this_host_is_failed(instance: DagsterInstance) -> None:
    pid = _dead_pid()
    run = _run(instance, {WORKER_HOST_TAG: host_id(), WORKER_PID_TAG: str(pid)})
    result = worker_health(instance, run)
    assert result.status is WorkerStatus.FAILED
    assert f"process {pid} is gone" in (result.msg or "")


def test_a_pid_reused_by_a_later_process_is_failed(instance: DagsterInstance) -> None:
    run = _run(instance, {WORKER_HOST_TAG: host_id()})
    record = instance.get_run_record_by_id(run.run_id)
    assert record is not None
    started = record.create_timestamp.timestamp()
    # The process below must be created after the run, as a reused pid would be, and provably so: past
    # the launcher's slack for create times, plus 1 s for psutil's whole-second boot time.
    wait_until(
        lambda: time.time() > started + _PID_REUSE_SLACK_S + 1.5,
        30,
        "the clock to pass the run's start by more than the pid-reuse slack",
        every=0.1,
    )
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        instance.add_run_tags(run.run_id, {WORKER_PID_TAG: str(later.pid)})
        reloaded = instance.get_run_by_id(run.run_id)
        assert reloaded is not None
        assert worker_health(instance, reloaded).status is WorkerStatus.FAILED
    finally:
        later.kill()
        later.wait(timeout=10)


def test_a_worker_started_after_its_run_was_queued_that_claimed_it_is_running(
    instance: DagsterInstance,
) -> None:
    """A warm run worker forked while the run waited in the queue: created after the run, yet its
    worker (seen in a burst of 50 reports: the run failed as "pid reused", its report Complete)."""
    run = _run(instance, {WORKER_HOST_TAG: host_id()})
    record = instance.get_run_record_by_id(run.run_id)
    assert record is not None
    started = record.create_timestamp.timestamp()
    wait_until(
        lambda: time.time() > started + _PID_REUSE_SLACK_S + 1.5, 30, "the clock to pass the slack", every=0.1
    )
    claim = (
        "import json, sys, time; from storeuptime_pipeline.defs.run_launcher import worker_tags; "
        "print(json.dumps(worker_tags()), flush=True); time.sleep(60)"
    )
    later = subprocess.Popen([sys.executable, "-c", claim], stdout=subprocess.PIPE, text=True)
    try:
        assert later.stdout is not None
        instance.add_run_tags(run.run_id, json.loads(later.stdout.readline()))  # what a warm worker does
        reloaded = instance.get_run_by_id(run.run_id)
        assert reloaded is not None and reloaded.tags[WORKER_PID_TAG] == str(later.pid)
        assert worker_health(instance, reloaded).status is WorkerStatus.RUNNING
        later.kill()
        later.wait(timeout=10)
        assert worker_health(instance, reloaded).status is WorkerStatus.FAILED  # and once it is gone
    finally:
        if later.poll() is None:
            later.kill()
            later.wait(timeout=10)


@pytest.mark.parametrize(
    "tags",
    [
        {},  # started elsewhere (a remote code server, an untagged in-process run)
        {WORKER_HOST_TAG: "another-host/boot", WORKER_PID_TAG: "1"},
        {WORKER_HOST_TAG: "HOST"},  # this host, but no pid recorded yet
    ],
)
def test_what_cannot_be_judged_counts_as_running(instance: DagsterInstance, tags: dict[str, str]) -> None:
    tags = {k: host_id() if v == "HOST" else v for k, v in tags.items()}
    if WORKER_PID_TAG in tags:
        tags[WORKER_PID_TAG] = str(_dead_pid())
    run = _run(instance, tags)
    assert worker_health(instance, run).status is WorkerStatus.RUNNING
