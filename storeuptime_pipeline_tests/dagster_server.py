"""A real local Dagster deployment for end-to-end tests: webserver, daemon and code server.

Usage (module-scoped fixture; the deployment takes ~10-20 s to come up, so share it)::

    from storeuptime_pipeline.db.scratch import temporary_database
    from storeuptime_pipeline_tests.dagster_server import dagster_stack

    @pytest.fixture(scope="module")
    def stack(admin_url, tmp_path_factory):  # admin_url: conftest's session fixture
        with temporary_database(admin_url, prefix="storeuptime_e2e_") as url:
            with dagster_stack(url, tmp_path_factory.mktemp("dagster")) as running:
                yield running

    def test_something(stack):
        (stack.landing / "store_status.csv").write_text(...)   # the sensor picks it up
        with stack.instance() as instance:
            stack.wait_for(lambda: instance.get_runs_count() > 0, "an ingest run", timeout=60)
        # also: stack.url (STOREUPTIME_DAGSTER_URL), stack.graphql(query), stack.log_tail()

What you get: ``dagster dev -m storeuptime_pipeline.definitions`` on a free 127.0.0.1 port, with a
temporary DAGSTER_HOME holding the project's ``dagster.yaml`` (so run, event and schedule storage,
the QueuedRunCoordinator and its concurrency limit are the production ones) pointed at the given
database through ``db.config.dagster_storage_env``; temporary landing and reports folders; a
2-second sensor interval and no file-settle delay. Runs are real: the daemon dequeues them and the
run workers are subprocesses reading the same environment.

Why a subprocess group and not Dagster's in-process test helpers: the API under test talks to the
webserver over HTTP and the daemon must dequeue queued runs, exactly as in production. Everything
is started in its own process group and the whole group (webserver, daemon, code server and any run
worker still going) is stopped at exit, so a failing test leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from dagster import DagsterInstance

from storeuptime_pipeline import settings
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import (
    DATABASE_URL_ENV,
    MAX_CONCURRENT_RUNS_ENV,
    dagster_storage_env,
    normalize_url,
)
from storeuptime_pipeline.db.embedded import HOME_ENV
from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV, instance_yaml
from storeuptime_pipeline_tests.waiting import wait_until

DEFINITIONS_MODULE = "storeuptime_pipeline.definitions"
_DAEMONS_NEEDED = ("QUEUED_RUN_COORDINATOR", "SENSOR")
_DAEMON_HEALTH = """
{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }
"""
_LOCATIONS = """
{ repositoriesOrError { __typename ... on RepositoryConnection { nodes { name pipelines { name } } } } }
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DagsterStack:
    """A running local deployment; every path is private to it."""

    url: str  # the webserver, e.g. http://127.0.0.1:41234 (what STOREUPTIME_DAGSTER_URL takes)
    database_url: str
    dagster_home: Path
    landing: Path
    reports: Path
    log_path: Path
    env: Mapping[str, str] = field(repr=False)

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    def instance(self) -> DagsterInstance:
        """A new DagsterInstance on the deployment's storage; use it in ``with`` so it is disposed.

        dagster.yaml's variables are set in this process only while the instance is created, except
        the libpq ones (``PGHOST`` for a Unix-socket server): the storage connects lazily, later, and
        libpq reads them then. Every URL the project builds names its host, so they affect nothing else.
        """
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("PG")})
        with _patched_environ({k: self.env[k] for k in self.env if k.startswith("STOREUPTIME_")}):
            return DagsterInstance.from_config(str(self.dagster_home))

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST a GraphQL query to the webserver; returns ``data`` (raises on GraphQL errors)."""
        response = requests.post(self.graphql_url, json={"query": query, "variables": variables}, timeout=60)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def log_tail(self, lines: int = 60) -> str:
        """The end of the deployment's combined output, for assertion messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_for(
        self, condition: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.5
    ) -> Any:
        """Poll ``condition`` until it returns something truthy; fail with the log tail after ``timeout``."""
        return wait_until(
            condition, timeout, what, every=every, details=lambda: f"--- dagster log ---\n{self.log_tail()}"
        )


@contextmanager
def dagster_stack(
    database_url: str,
    workdir: Path,
    *,
    max_concurrent_runs: int = 4,
    sensor_interval_seconds: int = 2,
    file_settle_seconds: float = 0,
    extra_env: Mapping[str, str] | None = None,
    wait_for_daemon: bool = True,
    startup_timeout: float = 120,
    instance_config: Path | None = None,
) -> Iterator[DagsterStack]:
    """Start ``dagster dev`` on ``database_url`` (migrated first) and stop its process group at exit.

    ``workdir`` receives ``dagster_home/``, ``landing/``, ``reports/`` and ``dagster.log``.
    ``extra_env`` is merged last (e.g. ``STOREUPTIME_PARTITIONS_START``); ``instance_config`` replaces
    the project's ``dagster.yaml`` (to try an instance setting before changing the real file).
    """
    workdir = Path(workdir).resolve()
    home, landing, reports = workdir / "dagster_home", workdir / "landing", workdir / "reports"
    for folder in (home, landing, reports):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_config or instance_yaml(), home / "dagster.yaml")
    url = normalize_url(database_url)
    migrate.upgrade(url)  # once, before the webserver, daemon and run workers race for it

    port = free_port()
    env = {
        **os.environ,
        **dagster_storage_env(url),
        DATABASE_URL_ENV: url,
        DAGSTER_HOME_ENV: str(home),
        HOME_ENV: str(workdir),
        settings.DATA_DIR_ENV: str(landing),
        settings.REPORTS_DIR_ENV: str(reports),
        settings.SENSOR_INTERVAL_ENV: str(sensor_interval_seconds),
        settings.FILE_SETTLE_ENV: str(file_settle_seconds),
        MAX_CONCURRENT_RUNS_ENV: str(max_concurrent_runs),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log_path = workdir / "dagster.log"
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-m",
        DEFINITIONS_MODULE,
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    stack = DagsterStack(f"http://127.0.0.1:{port}", url, home, landing, reports, log_path, env)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_until_ready(stack, process, startup_timeout, wait_for_daemon)
        yield stack
    finally:
        _stop_group(process)


def _wait_until_ready(stack: DagsterStack, process: subprocess.Popen, timeout: float, daemon: bool) -> None:
    """The code location is loaded (the job is listed) and, if asked, the daemons needed are healthy."""

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}\n{stack.log_tail()}")
        try:
            repos = stack.graphql(_LOCATIONS)["repositoriesOrError"]
            if repos["__typename"] != "RepositoryConnection" or not repos["nodes"]:
                return False
            if not daemon:
                return True
            statuses = stack.graphql(_DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (requests.RequestException, RuntimeError, KeyError, TypeError):
            return False
        healthy = {s["daemonType"] for s in statuses if s["healthy"]}
        return all(d in healthy for d in _DAEMONS_NEEDED)

    stack.wait_for(ready, "dagster dev to serve the code location", timeout=timeout, every=0.5)


def _stop_group(process: subprocess.Popen, grace_seconds: float = 5) -> None:
    """SIGTERM the whole process group (dagster dev shuts its children down), SIGKILL what is left."""
    try:
        pgid = os.getpgid(process.pid)
    except ProcessLookupError:
        return
    _signal_group(pgid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_seconds)
    _signal_group(pgid, signal.SIGKILL)  # run workers or code servers that outlived the parent
    process.wait(timeout=10)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pgid, sig)


@contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
