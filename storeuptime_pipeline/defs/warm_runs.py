"""Warm run workers: processes that imported Dagster and the definitions before their run existed.

Why: a run launched the default way starts a fresh interpreter in the code server, which imports
Dagster, pandas and the definitions before the run's first step: about 3 s of an on-demand report's
5 s from trigger to Complete, on 2 cores. A warm worker has done that work ahead of time; when the
launcher hands it a run id it executes the run at once.

How (``MonitoredRunLauncher`` in defs/run_launcher.py uses this for ``on_demand_report_job``):

* For each job origin (the run's ``job_code_origin``: interpreter, code pointer, job) the run
  launcher (in the daemon) starts one *zygote*, ``python -m storeuptime_pipeline.defs.warm_runs
  --zygote FD`` with the same interpreter and environment (defs/warm_zygote.py). It loads that job
  exactly as ``dagster api execute_run`` would (``recon_job_from_origin``) and imports what a run
  imports, once; it never runs anything itself.
* A spare is a fork of the zygote (milliseconds, no second import competing with the run that is
  going). It opens the instance from the launcher's ``InstanceRef`` and its own connections, answers
  ``ready`` on its reply pipe and waits for one line on its stdin: the run id.
* Before it accepts a run it checks that the run is the job it loaded (same origin and the same job
  snapshot as the code server computed), not yet started, and that no source file it imported
  changed since (a spare must never run stale code: then it refuses and the launcher starts the run
  the normal way). It tags the run with its host and pid
  (the run monitor's health check reads them, so a killed warm worker fails its run), answers
  ``accepted`` and executes the run with Dagster's own run-worker body (the one ``dagster api
  execute_run`` uses: the "Started process" event, every run and step event, the exit event), under
  ``capture_interrupts`` like every run worker: SIGINT (what ``terminate`` sends) cancels the run.
* One run per process, then it exits: nothing a run imported, cached or leaked reaches another run
  (the zygote, which never ran one, is what the next fork copies). The launcher forks a new spare
  after each hand-off; with no live spare it launches the run the normal way (and makes one for
  the next run). A zygote whose code changed on disk says so when asked to fork and exits; the
  launcher starts a new one.

Spares exit when their launcher goes away (stdin reaches end of file) or on SIGINT/SIGTERM while
idle; a zygote at the end of its socket.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from storeuptime_pipeline.defs.warm_zygote import ForkedProcess, Zygote, ZygoteGone, read_line

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun

log = logging.getLogger(__name__)

#: Jobs launched through warm workers: the API's reports, which a person waits for.
WARM_JOBS = frozenset({"on_demand_report_job"})
#: Tag set on a run a warm worker executes (value: its pid), read by ``terminate``.
WARM_WORKER_TAG = "storeuptime/warm_worker"
#: How long a launch waits for a spare that is still warming up before it starts the run the normal
#: way. A spare started earlier is always nearer to ready than a fresh run worker, so this is generous.
READY_TIMEOUT_S = 60.0
#: How long a launch waits for the spare to check the run and answer.
ACCEPT_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------------
# The launcher's side
# --------------------------------------------------------------------------------------------------


class SpareUnusable(Exception):
    """Raised when a spare cannot take the run (gone, not ready in time, or it refused)."""


@dataclass
class Spare:
    """One warm worker process and the read end of its reply pipe."""

    process: subprocess.Popen | ForkedProcess
    replies: int
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False

    def reply(self, deadline: float) -> str:
        """The next line the spare wrote, waiting until ``deadline`` (monotonic; see ``read_line``)."""
        try:
            return read_line(self.replies, self.buffer, deadline)
        except TimeoutError:
            raise SpareUnusable("no answer in time") from None
        except EOFError:
            raise SpareUnusable(f"exited with {self.process.poll()}") from None

    def wait_ready(self, timeout: float) -> None:
        if not self.ready:
            line = self.reply(time.monotonic() + timeout)
            if line != "ready":
                raise SpareUnusable(f"said {line!r} instead of ready")
            self.ready = True

    def hand(self, run_id: str, timeout: float) -> None:
        """Give the spare its run; returns once it accepted (it then executes the run and exits)."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(f"{run_id}\n".encode())
            self.process.stdin.close()
        except OSError as exc:
            raise SpareUnusable(f"unreachable ({exc})") from None
        line = self.reply(time.monotonic() + timeout)
        if line != "accepted":
            raise SpareUnusable(line)

    def close(self) -> None:
        """Stop an idle spare (end of its stdin) and release the pipe."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with suppress(OSError):
                self.process.stdin.close()
        os.close(self.replies)
        _reap(self.process)


def _owns(instance: DagsterInstance, run: DagsterRun, spare: Spare) -> DagsterRun | None:
    """The run as stored now, if ``spare`` tagged it (it accepts only after tagging), else None."""
    current = instance.get_run_by_id(run.run_id)
    if current is not None and current.tags.get(WARM_WORKER_TAG) == str(spare.process.pid):
        return current
    return None


def _disown(instance: DagsterInstance, run: DagsterRun, spare: Spare, why: str) -> bool:
    """Settle a hand-off that went wrong (``why``); True when the run must not be launched again.

    A spare that tagged the run accepted it, whatever its answer said or when it came: if it is
    alive it runs the run, and starting it a second time would fail a run that is going well (seen
    in a burst of 50 reports on a loaded machine). Otherwise the spare is killed, so that it can never
    execute the run; if it had tagged the run, its tags are blanked so that the health check and
    ``terminate`` follow the normal worker, unless it had begun the run already: that run has no
    worker any more and is failed here, in one line, rather than launched twice.
    """
    from dagster import DagsterRunStatus

    from storeuptime_pipeline.defs.run_launcher import WORKER_PID_TAG, WORKER_SINCE_TAG

    pid = spare.process.pid
    if spare.process.poll() is None and _owns(instance, run, spare) is not None:
        instance.report_engine_event(
            f"Warm run worker {pid} accepted the run after the launcher stopped waiting ({why}); it runs it.",
            run,
        )
        return True
    if spare.process.poll() is None:
        spare.process.kill()
        with suppress(subprocess.TimeoutExpired):
            spare.process.wait(timeout=10)
    current = _owns(instance, run, spare)
    if current is None:
        return False
    if current.status in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        instance.add_run_tags(run.run_id, {WARM_WORKER_TAG: "", WORKER_PID_TAG: "", WORKER_SINCE_TAG: ""})
        return False
    if not current.is_finished:
        instance.report_run_failed(
            current, f"warm run worker {pid} stopped after it had begun the run ({why}); re-run the report"
        )
    return True


def _reap(process: subprocess.Popen | ForkedProcess) -> None:
    """Wait for the process in the background: a finished warm worker must not stay a zombie. A
    forked one is not this process's child: its zygote reaps it."""
    if isinstance(process, subprocess.Popen):
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


class WarmPool:
    """Spares per job origin, forked by that origin's zygote; kept by the run launcher (one pool per
    launcher, so per daemon)."""

    def __init__(self) -> None:
        self._spares: dict[str, list[Spare]] = {}
        self._zygotes: dict[str, Zygote] = {}
        self._loading: set[str] = set()  # origins whose zygote a background thread waits for
        self._unloadable: set[str] = set()  # origins whose last zygote failed to load (prewarm skips them)
        self._lock = threading.Lock()

    @staticmethod
    def handles(run: DagsterRun) -> bool:
        """Whether this run may go to a warm worker: a warm job whose code this interpreter can load."""
        return run.job_name in WARM_JOBS and _warmable(run) and not run.tags.get(WARM_WORKER_TAG)

    def launch(self, instance: DagsterInstance, run: DagsterRun) -> bool:
        """Hand ``run`` to a spare; False (nothing happened to the run) when none could take it.

        A used spare is replaced at once (a fork: milliseconds); without one the caller launches the
        normal way, then calls :meth:`fill`.
        """
        key = _key(run)
        launched = False
        spare, dead = self._take(key)
        if spare is None:
            detail = f" ({'; '.join(dead)})" if dead else ""
            instance.report_engine_event(
                f"No warm run worker ready{detail}; starting the run the normal way.", run
            )
        else:
            try:
                spare.wait_ready(READY_TIMEOUT_S)
                spare.hand(run.run_id, ACCEPT_TIMEOUT_S)
                launched = True
            except SpareUnusable as exc:
                launched = _disown(instance, run, spare, str(exc))
                if not launched:
                    log.warning(
                        "warm run worker %s not used for run %s: %s", spare.process.pid, run.run_id, exc
                    )
                    instance.report_engine_event(
                        f"Warm run worker {spare.process.pid} not used ({exc}); starting the run the normal way.",
                        run,
                    )
                    if "snapshot" in str(exc) or "changed since" in str(exc):
                        self._retire(key)  # its zygote holds the old code: every fork would refuse
            finally:
                spare.close()
        if launched:
            self.fill(instance, run)
        return launched

    def _take(self, key: str) -> tuple[Spare | None, list[str]]:
        """A live spare for ``key`` (or None), and what became of the dead ones passed over."""
        dead = []
        with self._lock:
            spares = self._spares.get(key, [])
            while spares:
                spare = spares.pop(0)
                if spare.process.poll() is None:
                    return spare, dead
                dead.append(f"spare {spare.process.pid} exited with {spare.process.returncode}")
                spare.close()
        return None, dead

    def fill(self, instance: DagsterInstance, run: DagsterRun) -> None:
        """Fork spares for the run's job origin until it has ``STOREUPTIME_WARM_RUNS`` live ones.

        Its zygote is started first if need be; while it loads (~2-3 s) this returns at once and a
        background thread forks the spares once the zygote is ready.
        """
        self._fill(instance, _key(run))

    def prewarm(self, instance: DagsterInstance, run: DagsterRun) -> None:
        """After a run of another job of a code location, make that location's warm jobs' spares.

        Why: spares are otherwise made by the first on-demand report, which then takes the normal
        way itself (a fresh interpreter, ~1.8 s more). In a running deployment the sensor's ingest
        runs come every hour, so the first report a person asks for after a restart finds a spare.
        The warm job's origin is this run's with the job name changed: same interpreter, same code
        pointer (the code location's definitions), so the same key its own runs have. A location
        without such a job is tried once: its zygote fails to load, and it is not tried again.
        """
        origin = run.job_code_origin
        if run.job_name in WARM_JOBS or origin is None or not _warmable(run):
            return
        from dagster._serdes import serialize_value

        for job_name in sorted(WARM_JOBS):
            key = serialize_value(origin._replace(job_name=job_name))
            with self._lock:
                unloadable = key in self._unloadable
            if not unloadable:
                self._fill(instance, key)

    def live_spares(self, run: DagsterRun) -> int:
        """How many live spares wait for runs of ``run``'s job origin (what a test can observe)."""
        with self._lock:
            return sum(s.process.poll() is None for s in self._spares.get(_key(run), []))

    def _fill(self, instance: DagsterInstance, key: str) -> None:
        from storeuptime_pipeline import settings

        wanted = settings.warm_runs()
        with self._lock:
            spares = [s for s in self._spares.get(key, []) if s.process.poll() is None]
            self._spares[key] = spares
            if len(spares) >= wanted or key in self._loading:
                return
            zygote = self._zygotes.get(key)
            if zygote is None or not zygote.alive():
                try:
                    zygote = self._zygotes[key] = _start_zygote(instance, key)
                except OSError as exc:  # cannot start a process now: the normal launch still works
                    log.warning("could not start a warm run worker: %s", exc)
                    return
            if not zygote.ready:
                self._loading.add(key)
                threading.Thread(
                    target=self._fill_when_ready,
                    args=(instance, key, zygote),
                    name="warm-zygote",
                    daemon=True,
                ).start()
                return
            while len(spares) < wanted:
                try:
                    process, replies = zygote.spawn()
                except (ZygoteGone, OSError) as exc:
                    log.warning("warm run workers: %s; a new zygote starts at the next launch", exc)
                    self._zygotes.pop(key, None)
                    break
                spares.append(Spare(process, replies))

    def _fill_when_ready(self, instance: DagsterInstance, key: str, zygote: Zygote) -> None:
        try:
            zygote.wait_ready(READY_TIMEOUT_S)
        except ZygoteGone as exc:
            log.warning("warm run worker zygote %s not usable: %s", zygote.process.pid, exc)
            with self._lock:
                self._unloadable.add(key)
            return
        finally:
            with self._lock:
                self._loading.discard(key)
        with self._lock:
            self._unloadable.discard(key)
        self._fill(instance, key)

    def _retire(self, key: str) -> None:
        """Close the zygote and the spares of ``key`` (they hold code that is no longer current)."""
        with self._lock:
            zygote = self._zygotes.pop(key, None)
            for spare in self._spares.pop(key, []):
                spare.close()
        if zygote is not None:
            zygote.close()

    def dispose(self) -> None:
        with self._lock:
            for spares in self._spares.values():
                for spare in spares:
                    spare.close()
            self._spares.clear()
            for zygote in self._zygotes.values():
                zygote.close()
            self._zygotes.clear()


def _warmable(run: DagsterRun) -> bool:
    """Warm workers are on and this interpreter can load the run's code (the code server is local)."""
    from storeuptime_pipeline import settings

    origin = run.job_code_origin
    return (
        settings.warm_runs() > 0
        and origin is not None
        and origin.repository_origin.executable_path == sys.executable
    )


def _key(run: DagsterRun) -> str:
    """Spares are kept per job origin: interpreter, code pointer (code location) and job."""
    from dagster._serdes import serialize_value

    return serialize_value(run.job_code_origin)


def _start_zygote(instance: DagsterInstance, key: str) -> Zygote:
    from dagster._serdes import serialize_value

    setup = {"origin": key, "instance_ref": serialize_value(instance.get_ref())}
    return Zygote(setup, cwd=_working_directory(key))


def _working_directory(key: str) -> str | None:
    """The code pointer's working directory (as the code server's), if it names one."""
    from dagster._core.origin import JobPythonOrigin
    from dagster._serdes import deserialize_value

    origin = deserialize_value(key, JobPythonOrigin)
    folder = getattr(origin.repository_origin.code_pointer, "working_directory", None)
    return folder if folder and Path(folder).is_dir() else None


def terminate_warm_run(instance: DagsterInstance, run: DagsterRun) -> bool:
    """Cancel a run a warm worker executes: mark it CANCELING, then SIGINT its worker (as the code
    server does for its own run workers). Only a worker on this host can be signalled."""
    import signal

    from storeuptime_pipeline.defs.run_launcher import WORKER_HOST_TAG, host_id, worker_process

    if run.tags.get(WORKER_HOST_TAG) != host_id():
        instance.report_engine_event("The warm run worker runs on another host: cannot signal it.", run)
        return False
    instance.report_run_canceling(run)
    process = worker_process(instance, run)
    if process is None:
        instance.report_engine_event("The warm run worker is gone: nothing to interrupt.", run)
        return False
    try:
        process.send_signal(signal.SIGINT)
    except Exception as exc:  # psutil.NoSuchProcess, AccessDenied: nothing to stop here
        instance.report_engine_event(f"Could not interrupt the warm run worker: {exc}", run)
        return False
    return True


# --------------------------------------------------------------------------------------------------
# The spare's side (forked by the zygote: python -m storeuptime_pipeline.defs.warm_runs --zygote FD)
# --------------------------------------------------------------------------------------------------


def _imported_sources(root: Path) -> dict[str, float]:
    """Modification times of the imported modules under ``root`` (the definitions' package)."""
    sources: dict[str, float] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(str(root)):
            try:
                sources[path] = os.stat(path).st_mtime
            except OSError:
                continue
    return sources


def _changed(sources: Mapping[str, float]) -> str | None:
    for path, mtime in sources.items():
        try:
            if os.stat(path).st_mtime != mtime:
                return path
        except OSError:
            return path
    return None


def _code_root(origin: Any) -> Path:
    """The folder whose files define the code: the pointer module's top package, or the file's folder."""
    pointer = origin.repository_origin.code_pointer
    module = getattr(pointer, "module", None)
    if module:
        top = sys.modules[module.split(".")[0]]
        return Path(top.__file__ or ".").resolve().parent
    return Path(getattr(pointer, "python_file", ".")).resolve().parent


def _refusal(
    run: DagsterRun | None, origin: Any, snapshot_id: str, sources: Mapping[str, float]
) -> str | None:
    """Why this worker must not execute ``run`` (None: it may)."""
    from dagster import DagsterRunStatus

    if run is None:
        return "refused: no such run"
    if run.job_code_origin != origin:
        return "refused: the run is another job or code location than the one loaded"
    if run.job_snapshot_id != snapshot_id:
        return "refused: the run's job snapshot differs from the loaded job's (code or settings changed)"
    if run.status not in (DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING):
        return f"refused: the run is {run.status.value}"
    changed = _changed(sources)
    if changed:
        return f"refused: {changed} changed since the worker loaded it"
    return None


#: Modules a run of the job imports only once it executes (found by listing ``sys.modules`` after one).
_RUN_TIME_MODULES = (
    "dagster._core.execution.plan.active",
    "dagster._core.executor.in_process",
    "dagster._core.storage.local_compute_log_manager",
    "dagster._core.system_config.composite_descent",
    "pyarrow.pandas_compat",
)
#: Connections the warm worker's run and event storage keep open. Dagster's run workers open a new
#: Postgres connection for every event they write (NullPool): about 60 per on-demand report, 0.5-1.8 s
#: of its run on 2 cores. One process runs one run, so holding a few connections costs nothing later.
_STORAGE_POOL_OVERFLOW = 4


def _warm_up(instance: DagsterInstance) -> None:
    """Work a run does before its first step, done ahead of time; nothing here decides a result.

    Storage connections are pooled (see ``_STORAGE_POOL_OVERFLOW``; no statement timeout, as for
    every run worker) and opened now; the project database's engine is created, its schema revision
    read, and the connections a report reads on opened, each having planned the poll reads
    (``reads.warm_backends``), only when the database URL is set: an embedded server is never started
    from here. A failure is left for the run to meet.
    """
    instance.optimize_for_webserver(
        statement_timeout=0, pool_recycle=3600, max_overflow=_STORAGE_POOL_OVERFLOW
    )
    instance.get_runs(limit=1)
    _ = instance.compute_log_manager
    from storeuptime_pipeline.db import migrate, reads
    from storeuptime_pipeline.db.config import DATABASE_URL_ENV, normalize_url
    from storeuptime_pipeline.db.session import get_engine
    from storeuptime_pipeline.services.reporting import READ_CONNECTIONS

    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        with suppress(Exception):
            engine = get_engine(normalize_url(url))
            migrate.require_head(engine)
            reads.warm_backends(engine, READ_CONNECTIONS)


@dataclass(frozen=True)
class _Loaded:
    """What a zygote loaded once and every spare it forks shares."""

    origin: Any
    snapshot_id: str
    sources: Mapping[str, float]
    instance_ref: str


def _load(setup: Mapping[str, str]) -> _Loaded:
    """What ``dagster api execute_run`` does first, done ahead of time: imports, definitions, the job."""
    import importlib

    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.origin import JobPythonOrigin
    from dagster._serdes import deserialize_value
    from dagster._utils.hosted_user_process import recon_job_from_origin

    origin = deserialize_value(setup["origin"], JobPythonOrigin)
    recon: ReconstructableJob = recon_job_from_origin(origin)
    snapshot_id = recon.get_definition().get_job_snapshot_id()
    for name in (*_RUN_TIME_MODULES, "dagster._cli.api", "storeuptime_pipeline.defs.run_launcher"):
        with suppress(ImportError):
            importlib.import_module(name)
    _rehearse()
    return _Loaded(origin, snapshot_id, _imported_sources(_code_root(origin)), setup["instance_ref"])


def _rehearse() -> None:
    """The report's code path once on made-up stores (services/rehearsal.py), so that forks start warm.

    In the zygote, before any fork: it opens no connection, file or thread. A failure only costs the
    warmth (the run meets the real problem, if any): it is said on stderr and loading goes on.
    """
    from storeuptime_pipeline.services.rehearsal import rehearse_report

    try:
        rehearse_report()
    except Exception as exc:  # warming up must never stop the zygote
        print(
            f"warm run worker zygote: the report rehearsal failed ({exc!r}); spares start cold",
            file=sys.stderr,
        )


def _stale(loaded: _Loaded) -> str | None:
    return _changed(loaded.sources)


def _serve(loaded: _Loaded, commands: IO[str], replies: IO[str]) -> int:
    """One spare (a fork of the zygote): open the instance, warm up, wait for one run id, execute it."""
    from dagster import DagsterInstance
    from dagster._cli.api import _execute_run_command_body
    from dagster._core.instance import InstanceRef
    from dagster._serdes import deserialize_value
    from dagster._utils.interrupts import capture_interrupts

    from storeuptime_pipeline.defs.run_launcher import worker_tags

    with DagsterInstance.from_ref(deserialize_value(loaded.instance_ref, InstanceRef)) as instance:
        _warm_up(instance)
        replies.write("ready\n")
        run_id = commands.readline().strip()
        if not run_id:
            return 0  # the launcher went away
        run = instance.get_run_by_id(run_id)
        refusal = _refusal(run, loaded.origin, loaded.snapshot_id, loaded.sources)
        if refusal is not None:
            replies.write(refusal + "\n")
            return 0
        pid = str(os.getpid())
        instance.add_run_tags(run_id, {**worker_tags(), WARM_WORKER_TAG: pid})
        try:
            replies.write("accepted\n")
            replies.close()
        except OSError:  # the launcher stopped waiting and closed its end: the tags made the run ours
            with suppress(OSError):
                os.close(replies.fileno())
        with capture_interrupts():
            _execute_run_command_body(run_id, instance, lambda _event: None, set_exit_code_on_failure=False)
    return 0


def main(argv: list[str]) -> int:
    """``--zygote FD``: load the code once, then fork a spare for each request on socket FD."""
    if len(argv) != 2 or argv[0] != "--zygote" or not argv[1].isdigit():
        print("usage: python -m storeuptime_pipeline.defs.warm_runs --zygote FD", file=sys.stderr)
        return 2
    from storeuptime_pipeline.defs.warm_zygote import serve_forks

    return serve_forks(int(argv[1]), _load, _stale, _serve)


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # SIGINT while idle (Ctrl-C of dagster dev): just leave
        raise SystemExit(0) from None
