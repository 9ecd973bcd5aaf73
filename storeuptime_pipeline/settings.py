"""Every environment variable the project reads, with its default, in one place.

docker-compose.yml, the Makefile and the README name these variables; a test checks that every
variable the compose file sets is one listed here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from storeuptime_pipeline.core.limits import MAX_POLL_AHEAD_ENV, MIN_POLL_TIME_ENV, TimeLimits, time_limits
from storeuptime_pipeline.db.config import DATABASE_URL_ENV, MAX_CONCURRENT_RUNS_ENV
from storeuptime_pipeline.db.embedded import HOME_ENV, project_root

DATA_DIR_ENV = "STOREUPTIME_DATA_DIR"
REPORTS_DIR_ENV = "STOREUPTIME_REPORTS_DIR"
PARTITIONS_START_ENV = "STOREUPTIME_PARTITIONS_START"
SENSOR_INTERVAL_ENV = "STOREUPTIME_SENSOR_INTERVAL_SECONDS"
FILE_SETTLE_ENV = "STOREUPTIME_FILE_SETTLE_SECONDS"
API_HOST_ENV = "STOREUPTIME_API_HOST"
API_PORT_ENV = "STOREUPTIME_API_PORT"
UI_PORT_ENV = "STOREUPTIME_UI_PORT"
DAGSTER_GRAPHQL_URL_ENV = "STOREUPTIME_DAGSTER_URL"
FEED_FAIL_HOURS_ENV = "STOREUPTIME_FEED_FAIL_HOURS"
FEED_WARN_HOURS_ENV = "STOREUPTIME_FEED_WARN_HOURS"

DEFAULT_PARTITIONS_START = "2023-01-18-00:00"
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")

#: Read by the code (here or in db/); the compose file may set only these (plus Dagster's own).
KNOWN_ENV = {
    HOME_ENV,
    DATABASE_URL_ENV,
    MAX_CONCURRENT_RUNS_ENV,
    DATA_DIR_ENV,
    REPORTS_DIR_ENV,
    PARTITIONS_START_ENV,
    SENSOR_INTERVAL_ENV,
    FILE_SETTLE_ENV,
    API_HOST_ENV,
    API_PORT_ENV,
    UI_PORT_ENV,
    DAGSTER_GRAPHQL_URL_ENV,
    FEED_FAIL_HOURS_ENV,
    FEED_WARN_HOURS_ENV,
    MIN_POLL_TIME_ENV,
    MAX_POLL_AHEAD_ENV,
}


def _path(env: str, default: str) -> Path:
    value = Path(os.environ.get(env) or default).expanduser()
    return value if value.is_absolute() else project_root() / value


def data_dir() -> Path:
    """The landing folder the sensor watches and ``storeuptime ingest`` reads by default."""
    return _path(DATA_DIR_ENV, "data/incoming")


def reports_dir() -> Path:
    return _path(REPORTS_DIR_ENV, "reports")


def partitions_start() -> str:
    """First hourly partition (UTC), default covering the January 2023 data set."""
    return os.environ.get(PARTITIONS_START_ENV) or DEFAULT_PARTITIONS_START


def sensor_interval_seconds() -> int:
    return int(os.environ.get(SENSOR_INTERVAL_ENV) or 30)


def file_settle_seconds() -> float:
    """A file modified more recently than this may still be being written: the sensor waits."""
    return float(os.environ.get(FILE_SETTLE_ENV) or 5)


def api_bind() -> tuple[str, int]:
    return os.environ.get(API_HOST_ENV) or "127.0.0.1", int(os.environ.get(API_PORT_ENV) or 8000)


def home() -> Path:
    return project_root()


def ui_port() -> int:
    """Where ``storeuptime dev`` serves the Dagster UI: STOREUPTIME_UI_PORT, else the port of a local
    STOREUPTIME_DAGSTER_URL (so setting only the URL moves the UI there too), else 3000."""
    configured = os.environ.get(UI_PORT_ENV)
    if configured:
        return int(configured)
    url = urlsplit(os.environ.get(DAGSTER_GRAPHQL_URL_ENV) or "")
    if url.hostname in _LOCAL_HOSTS and url.port:
        return url.port
    return 3000


def dagster_url() -> str:
    """The Dagster webserver the API and ``storeuptime backfill`` talk to: STOREUPTIME_DAGSTER_URL,
    else the local UI port's."""
    return (os.environ.get(DAGSTER_GRAPHQL_URL_ENV) or f"http://127.0.0.1:{ui_port()}").rstrip("/")


def is_local_url(url: str) -> bool:
    return urlsplit(url).hostname in _LOCAL_HOSTS


def feed_fail_window() -> timedelta:
    """No poll newer than this: the status feed counts as stopped (freshness FAIL). Default 2 h."""
    return timedelta(hours=float(os.environ.get(FEED_FAIL_HOURS_ENV) or 2))


def feed_warn_window() -> timedelta | None:
    """No poll newer than this: freshness WARN (unset or 0: no warning stage)."""
    hours = float(os.environ.get(FEED_WARN_HOURS_ENV) or 0)
    return timedelta(hours=hours) if hours > 0 else None


def poll_time_limits() -> TimeLimits:
    """Believable instants: ``STOREUPTIME_MIN_POLL_TIME`` (default 2000-01-01, UTC) to now +
    ``STOREUPTIME_MAX_POLL_AHEAD`` (default ``1 day``). A poll outside is a rejected row, a stored one
    is ignored by the reports, an as-of outside is refused. Kept in the engine (which reads them too),
    named here with every other setting.
    """
    return time_limits()


# --- API limits and run monitoring (issue 8) ---
API_MAX_QUEUED_ENV = "STOREUPTIME_API_MAX_QUEUED"
API_HEADER_TIMEOUT_ENV = "STOREUPTIME_API_HEADER_TIMEOUT_SECONDS"
API_MAX_CONNECTIONS_ENV = "STOREUPTIME_API_MAX_CONNECTIONS"
KNOWN_ENV |= {API_MAX_QUEUED_ENV, API_HEADER_TIMEOUT_ENV, API_MAX_CONNECTIONS_ENV}


def api_max_queued() -> int:
    """Triggers are refused (429) while this many on-demand report runs wait in Dagster's queue."""
    return int(os.environ.get(API_MAX_QUEUED_ENV) or 20)


def api_header_timeout_seconds() -> float:
    """A connection whose request headers are not complete this long after it opened is closed."""
    return float(os.environ.get(API_HEADER_TIMEOUT_ENV) or 10)


def api_max_connections() -> int:
    """Open connections plus requests in progress above which uvicorn answers 503 at once."""
    return int(os.environ.get(API_MAX_CONNECTIONS_ENV) or 200)


# --- Scale-out on Celery workers (issue 12) ---
EXECUTOR_ENV = "STOREUPTIME_EXECUTOR"
CELERY_BROKER_ENV = "STOREUPTIME_CELERY_BROKER"
CELERY_BACKEND_ENV = "STOREUPTIME_CELERY_BACKEND"
KNOWN_ENV |= {EXECUTOR_ENV, CELERY_BROKER_ENV, CELERY_BACKEND_ENV}

EXECUTORS = ("in_process", "celery")
DEFAULT_CELERY_BROKER = "redis://127.0.0.1:6379/0"
DEFAULT_CELERY_BACKEND = "redis://127.0.0.1:6379/1"


def executor_name() -> str:
    """How the steps of a run execute: ``in_process`` (default: inside the run's own process, no Redis
    needed) or ``celery`` (each step a task on ``storeuptime worker`` processes; see defs/executor.py).
    An unknown value is an error, not a silent fallback: a typo would otherwise run everything on one
    machine while the workers sit idle."""
    value = (os.environ.get(EXECUTOR_ENV) or "in_process").strip().lower().replace("-", "_")
    if value not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={value!r}: expected one of {', '.join(EXECUTORS)}")
    return value


def celery_broker() -> str:
    """Where the run submits step tasks and the workers take them (Redis database 0 by default)."""
    return os.environ.get(CELERY_BROKER_ENV) or DEFAULT_CELERY_BROKER


def celery_backend() -> str:
    """Where the workers put each step's events for the run to read (Redis database 1 by default)."""
    return os.environ.get(CELERY_BACKEND_ENV) or DEFAULT_CELERY_BACKEND


# --- poll retention (issue 12) ---
RETENTION_WEEKS_ENV = "STOREUPTIME_RETENTION_WEEKS"
KNOWN_ENV |= {RETENTION_WEEKS_ENV}


def retention_weeks() -> int | None:
    """How many weeks of polls to keep, counted back from the newest poll's week (None: unset or empty,
    keep everything). Whole weekly partitions older than that are dropped after each status load, never
    the newest 2 weeks nor a week a report at the newest poll reads (rule: ``db/retention.py``)."""
    value = (os.environ.get(RETENTION_WEEKS_ENV) or "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"{RETENTION_WEEKS_ENV}={value!r} must be a whole number of weeks >= 1 (unset: keep all)"
        )
    return int(value)


# --- store shards of a report run (issue 12) ---
REPORT_SHARDS_ENV = "STOREUPTIME_REPORT_SHARDS"
KNOWN_ENV |= {REPORT_SHARDS_ENV}
#: Polls per shard that ``auto`` aims at: a shard of ~3M polls peaks at a few hundred MB.
POLLS_PER_AUTO_SHARD = 3_000_000


def report_shards() -> int | None:
    """How many store shards a report run computes: a whole number >= 1, or None for ``auto`` (unset,
    empty or ``auto``: one shard per ~3M polls in the window the report reads, so the seed data set gets
    1; services/report_shards.py decides). A bad value is a one-line error, not a silent default."""
    value = (os.environ.get(REPORT_SHARDS_ENV) or "auto").strip().lower()
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{REPORT_SHARDS_ENV}={value!r} must be a whole number of shards >= 1, or auto")
    return int(value)


# --- warm run workers for on-demand reports (issue 12) ---
WARM_RUNS_ENV = "STOREUPTIME_WARM_RUNS"
KNOWN_ENV |= {WARM_RUNS_ENV}
#: One spare by default: an API report is a person waiting, and a warm worker takes its launch from
#: ~2.3 s to ~0.25 s (trigger to Complete p50 1.8-2.0 s against 3.6 s, seed data set, 2026-12-04).
#: The burst failure that kept it off (a spare forked while its run was queued taken for a reused
#: pid) is fixed and tested. Only where the launcher runs beside the code (``make dev``, one host);
#: 0 turns it off.
DEFAULT_WARM_RUNS = 1


def warm_runs() -> int:
    """Warm run workers kept ready per code location for ``on_demand_report_job`` (defs/warm_runs.py):
    processes that have already imported Dagster and the definitions, so an API report does not pay a
    fresh interpreter start. Default 1; 0 turns it off (every run starts the normal way); at most 8."""
    value = (os.environ.get(WARM_RUNS_ENV) or "").strip()
    if not value:
        return DEFAULT_WARM_RUNS
    if not value.isdigit() or int(value) > 8:
        raise ValueError(f"{WARM_RUNS_ENV}={value!r} must be a whole number 0..8 (0: off)")
    return int(value)
