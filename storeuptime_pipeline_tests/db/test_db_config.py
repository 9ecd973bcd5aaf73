"""Database selection and the Dagster instance configuration derived from it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator
from sqlalchemy.engine import make_url

from storeuptime_pipeline.db import config
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.defs.run_coordinator import DEQUEUE_INTERVAL_S

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5/d", "postgresql+psycopg2://u@h:5/d"),
        ("postgres://u:p@h/d?sslmode=require", "postgresql+psycopg2://u:p@h/d?sslmode=require"),
        ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),  # an explicit driver is kept
    ],
)
def test_bare_urls_are_pinned_to_psycopg2(given: str, expected: str) -> None:
    assert config.normalize_url(given) == expected


def test_database_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.DATABASE_URL_ENV, "  postgres://app@db.internal:6543/uptime  ")
    assert config.database_url() == "postgresql+psycopg2://app@db.internal:6543/uptime"


def test_storage_env_for_a_tcp_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.MAX_CONCURRENT_RUNS_ENV, raising=False)
    env = config.dagster_storage_env(
        "postgresql://app:p%40ss%3Aw%2Frd@db.internal:6543/uptime?sslmode=require"
    )
    assert env == {
        "STOREUPTIME_PG_USERNAME": "app",
        "STOREUPTIME_PG_PASSWORD": "p@ss:w/rd",
        "STOREUPTIME_PG_HOSTNAME": "db.internal",
        "STOREUPTIME_PG_PORT": "6543",
        "STOREUPTIME_PG_DB": "uptime",
        "STOREUPTIME_MAX_CONCURRENT_RUNS": "4",
        "PGSSLMODE": "require",
    }


def test_storage_env_for_a_unix_socket_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.MAX_CONCURRENT_RUNS_ENV, "2")
    env = config.dagster_storage_env("postgresql+psycopg2://postgres@/storeuptime?host=%2Fsrv%2Fpg%20data")
    assert env["PGHOST"] == "/srv/pg data"
    assert env["STOREUPTIME_PG_HOSTNAME"] == ""  # an explicit host would override PGHOST
    assert env["STOREUPTIME_PG_PORT"] == "5432"
    assert env["STOREUPTIME_MAX_CONCURRENT_RUNS"] == "2"


def test_storage_env_refuses_what_it_cannot_pass_on() -> None:
    with pytest.raises(ValueError, match="fancy"):
        config.dagster_storage_env("postgresql://u@h/d?fancy=1")
    with pytest.raises(ValueError, match="name a database"):
        config.dagster_storage_env("postgresql://u@h")
    with pytest.raises(ValueError, match="Postgres"):
        config.dagster_storage_env("sqlite:///x.db")


def test_dagster_yaml_holds_no_credentials() -> None:
    document = yaml.safe_load(DAGSTER_YAML.read_text())
    db = document["storage"]["postgres"]["postgres_db"]
    assert db.pop("scheme") == "postgresql+psycopg2"
    assert all(set(value) == {"env"} for value in db.values()), db
    assert {value["env"] for value in db.values()} <= set(config.dagster_storage_env("postgresql://u@h/d"))
    assert document["run_coordinator"]["class"] == "PromptQueuedRunCoordinator"
    assert document["telemetry"] == {"enabled": False}


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    return home


@pytest.fixture
def dagster_database(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_dagster_") as url:
        yield url


def open_instance(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> DagsterInstance:
    """Load the project's dagster.yaml with the environment a caller derives from ``url``."""
    for name in ("PGHOST", "PGSSLMODE", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in config.dagster_storage_env(url).items():
        monkeypatch.setenv(name, value)
    return DagsterInstance.from_config(str(home))


def assert_instance_uses(instance: DagsterInstance, url: str) -> None:
    """Storage on ``url``'s database, queued runs limited to 4, and the storage actually works."""
    try:
        storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        assert [type(s).__name__ for s in storages] == [
            "PostgresRunStorage",
            "PostgresEventLogStorage",
            "PostgresScheduleStorage",
        ]
        dagster_url = make_url(instance.run_storage.postgres_url)  # type: ignore[attr-defined]
        assert dagster_url.drivername == "postgresql+psycopg2"
        assert dagster_url.database == make_url(url).database
        coordinator = instance.run_coordinator
        assert isinstance(coordinator, QueuedRunCoordinator)
        assert coordinator.dequeue_interval_seconds == DEQUEUE_INTERVAL_S
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4  # type: ignore[attr-defined]
        assert instance.get_runs_count() == 0  # a real round trip to the database
    finally:
        instance.dispose()


def test_dagster_instance_on_the_test_server(
    dagster_database: str, dagster_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.MAX_CONCURRENT_RUNS_ENV, raising=False)
    assert_instance_uses(open_instance(dagster_database, dagster_home, monkeypatch), dagster_database)
