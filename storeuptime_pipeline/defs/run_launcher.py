"""The instance's run launcher: Dagster's default one, plus a run worker health check.

Why: Dagster's run monitoring (dagster.yaml ``run_monitoring``) fails a STARTED run whose worker
died only when the run launcher can check worker health, and ``DefaultRunLauncher`` cannot
(``supports_check_run_worker_health`` is False in Dagster 1.13). A run whose process was killed
with -9 (``storeuptime ingest`` interrupted hard, an OOM kill) then stays STARTED for good and holds
one of the queue's ``max_concurrent_runs`` slots; four of them stop every later run.

The check is a process check, so it only judges workers it can see: a run records the host it
runs on (``storeuptime/worker_host``: host name and boot id) and, for in-process runs, its pid;
runs launched through a code server on this host get the host tag at launch and their pid from the
worker's "Started process for run (pid: ...)" event. A worker on this host whose pid is gone, or
now belongs to a process started after the run, is dead: the monitor marks the run FAILURE (the
default launcher cannot resume runs, so ``max_resume_run_attempts`` is 0). Anything it cannot
judge (another host or container, no pid yet) counts as running: the check never fails a live
run. Runs on a remote code server (docker-compose) are watched by that code server itself, which
fails runs whose worker process exited.

With ``STOREUPTIME_WARM_RUNS`` >= 1 (the default: one spare), on-demand reports (``on_demand_report_job``) go to a
warm run worker when one is ready (defs/warm_runs.py): a process that imported Dagster and the definitions
before the run existed. It tags the run with its host and pid like an in-process run, so this check
judges it the same way; ``terminate`` interrupts it directly (the code server does not know it).
Without a usable spare the run starts the default way.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from functools import cache
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, WorkerStatus

from storeuptime_pipeline.defs.warm_runs import WARM_WORKER_TAG, WarmPool, terminate_warm_run

WORKER_HOST_TAG = "storeuptime/worker_host"
WORKER_PID_TAG = "storeuptime/worker_pid"
#: When the tagged worker claimed the run (epoch seconds): the pid-reuse check's reference. Not the
#: run's creation: a warm worker forked while the run waited in the queue started after it, and was
#: judged a reused pid (its run failed, report Complete, in a burst of 50 on-demand reports).
WORKER_SINCE_TAG = "storeuptime/worker_since"
#: A process created more than this after the run started cannot be its worker (pid reused).
_PID_REUSE_SLACK_S = 2.0  # psutil derives create times from the boot time, in whole seconds
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


@cache
def host_id() -> str:
    """This machine or container: host name plus boot id (containers share the boot id, not the name)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            boot = handle.read().strip()
    except OSError:
        boot = "?"
    return f"{socket.gethostname()}/{boot}"


def worker_tags() -> dict[str, str]:
    """Tags of a run executed in this process (``materialize`` in the CLI, a warm run worker), for
    the health check: this host, this pid, and now (this process is alive and claims the run)."""
    return {
        WORKER_HOST_TAG: host_id(),
        WORKER_PID_TAG: str(os.getpid()),
        WORKER_SINCE_TAG: f"{time.time():.3f}",
    }


class MonitoredRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` whose run workers the run monitoring daemon can check, and which hands
    on-demand reports to warm run workers (defs/warm_runs.py) when it can."""

    def __init__(self, inst_data: Any = None) -> None:
        super().__init__(inst_data=inst_data)
        self._warm = WarmPool()

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        local = _code_server_is_local(run)
        if local and WORKER_HOST_TAG not in run.tags:
            self._instance.add_run_tags(run.run_id, {WORKER_HOST_TAG: host_id()})
        warm = local and self._warm.handles(run)
        if warm and self._warm.launch(self._instance, run):
            return
        super().launch_run(context)
        # After the launch, so that starting spares does not slow this run's worker.
        if warm:
            self._warm.fill(self._instance, run)
        elif local:
            self._warm.prewarm(self._instance, run)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished and run.tags.get(WARM_WORKER_TAG):
            return terminate_warm_run(self._instance, run)
        return super().terminate(run_id)

    def dispose(self) -> None:
        self._warm.dispose()
        super().dispose()

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        return worker_health(self._instance, run)


def worker_health(instance: DagsterInstance, run: DagsterRun) -> CheckRunHealthResult:
    """FAILED only when the worker is provably gone; RUNNING otherwise (see the module note)."""
    import psutil

    if run.tags.get(WORKER_HOST_TAG) != host_id():
        return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker on another host: not checked here")
    pid, since = _worker_pid(instance, run)
    if pid is None:
        return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker pid not recorded yet")
    try:
        process = psutil.Process(pid)
        created = process.create_time()
        alive = process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed)"
        )
    except psutil.Error as exc:  # e.g. access denied: it exists, so do not fail the run
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid}: {exc}")
    if not alive:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} exited")
    if since is not None and created > since + _PID_REUSE_SLACK_S:
        return CheckRunHealthResult(WorkerStatus.FAILED, f"run worker process {pid} is gone (pid reused)")
    return CheckRunHealthResult(WorkerStatus.RUNNING, f"run worker process {pid} alive")


def worker_process(instance: DagsterInstance, run: DagsterRun) -> Any:
    """The run's worker as a ``psutil.Process`` if it runs on this host and is alive (pid not reused)."""
    import psutil

    if run.tags.get(WORKER_HOST_TAG) != host_id():
        return None
    pid, since = _worker_pid(instance, run)
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        if since is not None and process.create_time() > since + _PID_REUSE_SLACK_S:
            return None
    except psutil.Error:
        return None
    return process


def _worker_pid(instance: DagsterInstance, run: DagsterRun) -> tuple[int | None, float | None]:
    """The run worker's pid and a time it was known to be running (for the pid-reuse check)."""
    record = instance.get_run_record_by_id(run.run_id)
    started = record.create_timestamp.timestamp() if record is not None else None
    tagged = run.tags.get(WORKER_PID_TAG)
    if tagged and tagged.isdigit():
        try:
            return int(tagged), float(run.tags.get(WORKER_SINCE_TAG) or "")
        except ValueError:  # tagged before the claim time was recorded
            return int(tagged), started
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.engine_event_data if event is not None else None
        pid = _metadata_pid(data.metadata if data is not None else {})
        if pid is not None:
            return pid, entry.timestamp
    return None, None


def _metadata_pid(metadata: Mapping[str, Any]) -> int | None:
    value = metadata.get("pid")
    text = getattr(value, "value", value)
    return int(text) if isinstance(text, str | int) and str(text).isdigit() else None


def _code_server_is_local(run: DagsterRun) -> bool:
    """Whether the code server that starts this run's worker runs on this host."""
    from dagster._core.remote_origin import GrpcServerCodeLocationOrigin

    origin = run.remote_job_origin
    if origin is None:
        return False
    location = origin.repository_origin.code_location_origin
    if isinstance(location, GrpcServerCodeLocationOrigin):
        return location.host in _LOCAL_HOSTS or location.host == socket.gethostname()
    return True  # a code server this process (the daemon or dagster dev) started itself
