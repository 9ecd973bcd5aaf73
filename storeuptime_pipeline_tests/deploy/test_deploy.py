"""The docker-compose deployment, checked without Docker: what can go wrong in the files is checked here.

Docker does not run on the development and CI machines, so instead of starting the stack these tests
check that its files agree with the code: every command parses with the CLI it names, every
STOREUPTIME_* variable is one the code reads, the database URL and the STOREUPTIME_PG_* values name
the same database, the workspace files load, and the Dockerfile copies files that exist.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from dagster import Definitions
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin, ManagedGrpcPythonEnvCodeLocationOrigin
from dagster._core.workspace.load import location_origins_from_yaml_paths

from storeuptime_pipeline import settings
from storeuptime_pipeline.cli import main as cli
from storeuptime_pipeline.db import config as db_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKER_WORKSPACE = ROOT / "deploy" / "workspace.docker.yaml"
LOCAL_WORKSPACE = ROOT / "workspace.yaml"
APP_SERVICES = ("codelocation", "webserver", "daemon", "api", "worker")
APP_DIR = "/app"  # the Dockerfile's WORKDIR, where the checkout is copied
PG_ENV = {
    db_config.PG_USERNAME_ENV,
    db_config.PG_PASSWORD_ENV,
    db_config.PG_HOSTNAME_ENV,
    db_config.PG_PORT_ENV,
    db_config.PG_DB_ENV,
}
#: Variables the compose file may set in the project's containers besides the STOREUPTIME_* ones.
DAGSTER_ENV = {"DAGSTER_HOME"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


#: What a ``.env`` file would give the variables compose requires (``${VAR:?message}``).
_REQUIRED_VALUES = {"POSTGRES_PASSWORD": "from-dot-env"}


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with the default (what a fresh checkout without .env gets),
    and ``${VAR:?message}`` with the value a ``.env`` file would set."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), str(value))
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: _REQUIRED_VALUES[m.group(1)], value)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: _interpolate(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _click_parses(command: click.Command, args: list[str], name: str) -> None:
    """Walk the click groups down to the subcommand and parse its options (nothing is run)."""
    while isinstance(command, click.Group):
        sub = command.get_command(click.Context(command, info_name=name), args[0])
        assert sub is not None, f"{name}: no subcommand {args[0]!r}"
        command, name, args = sub, f"{name} {args[0]}", args[1:]
    command.make_context(name, list(args))


def test_services_and_postgres(services: dict[str, dict[str, Any]], compose: dict[str, Any]) -> None:
    assert set(services) >= {"postgres", *APP_SERVICES}
    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"], "Postgres data must live in a named volume"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_command_names_an_installed_entry_point_and_parses(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    program, *args = _command(services[name])
    found = entry_points(group="console_scripts", name=program)
    assert found, f"{name}: {program} is not a console script of the installed packages"
    (entry_point,) = found
    module = importlib.import_module(entry_point.module)
    # The image's WORKDIR /app is this checkout: its paths must exist here (click checks them).
    args = [str(ROOT / a.removeprefix(f"{APP_DIR}/")) if a.startswith(f"{APP_DIR}/") else a for a in args]
    if program == "storeuptime":
        cli.build_parser().parse_args(args)  # SystemExit(2) on an unknown command or option
    else:
        _click_parses(module.cli, args, program)


def test_every_variable_set_is_read_by_the_code(services: dict[str, dict[str, Any]]) -> None:
    known = settings.KNOWN_ENV | PG_ENV
    for name in APP_SERVICES:
        env = _env(services[name])
        unknown = {k for k in env if k.startswith("STOREUPTIME_") and k not in known}
        assert not unknown, f"{name} sets variables no code reads: {sorted(unknown)}"
        others = {k for k in env if not k.startswith("STOREUPTIME_")} - DAGSTER_ENV
        assert not others, f"{name} sets unexpected variables: {sorted(others)}"


def test_database_url_and_dagster_storage_variables_agree(services: dict[str, dict[str, Any]]) -> None:
    """dagster.yaml (code server, webserver, daemon) and the storeuptime CLI must use one database."""
    for name in APP_SERVICES:
        env = _env(services[name])
        derived = db_config.dagster_storage_env(env[db_config.DATABASE_URL_ENV])
        assert {k: env[k] for k in PG_ENV} == {k: derived[k] for k in PG_ENV}, name
        assert env[db_config.PG_HOSTNAME_ENV] == "postgres"
    postgres_env = _env(services["postgres"])
    api_env = _env(services["api"])
    assert postgres_env["POSTGRES_DB"] == api_env[db_config.PG_DB_ENV]
    assert postgres_env["POSTGRES_USER"] == api_env[db_config.PG_USERNAME_ENV]
    assert postgres_env["POSTGRES_PASSWORD"] == api_env[db_config.PG_PASSWORD_ENV]


def test_services_share_the_landing_and_reports_volumes(
    services: dict[str, dict[str, Any]], compose: dict[str, Any]
) -> None:
    for name in ("codelocation", "api", "worker"):  # worker: ingest reads landed files, reports write CSVs
        env = _env(services[name])
        mounts = dict(reversed(v.split(":")[:2]) for v in services[name]["volumes"])
        for variable in (settings.DATA_DIR_ENV, settings.REPORTS_DIR_ENV):
            assert env[variable] in mounts, f"{name}: {variable} is not on a shared volume"
            assert mounts[env[variable]] in compose["volumes"]


def test_start_order_waits_for_health(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["depends_on"]["webserver"]["condition"] == "service_healthy"
    assert services["webserver"]["depends_on"]["codelocation"]["condition"] == "service_healthy"


def test_api_reaches_the_webserver_service(services: dict[str, dict[str, Any]]) -> None:
    url = _env(services["api"])[settings.DAGSTER_GRAPHQL_URL_ENV]
    port = _command(services["webserver"])[_command(services["webserver"]).index("-p") + 1]
    assert url == f"http://webserver:{port}"


def test_docker_workspace_points_at_the_code_location_service(services: dict[str, dict[str, Any]]) -> None:
    for name in ("webserver", "daemon"):
        command = _command(services[name])
        assert command[command.index("-w") + 1] == f"{APP_DIR}/deploy/workspace.docker.yaml"
    (origin,) = location_origins_from_yaml_paths([str(DOCKER_WORKSPACE)])
    assert isinstance(origin, GrpcServerCodeLocationOrigin)
    server = _command(services["codelocation"])
    assert origin.host == "codelocation"
    assert origin.port == int(server[server.index("-p") + 1])
    assert origin.location_name == server[server.index("--location-name") + 1]


def test_local_workspace_loads_the_definitions() -> None:
    (origin,) = location_origins_from_yaml_paths([str(LOCAL_WORKSPACE)])
    assert isinstance(origin, ManagedGrpcPythonEnvCodeLocationOrigin)
    assert origin.location_name == "storeuptime"
    module = importlib.import_module(origin.loadable_target_origin.module_name)
    (defs,) = [v for v in vars(module).values() if isinstance(v, Definitions)]
    assert defs.resolve_job_def("on_demand_report_job") is not None


def test_dockerfile_copies_existing_files_and_sets_the_instance_home(
    services: dict[str, dict[str, Any]],
) -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(rf"^WORKDIR {APP_DIR}$", text, re.MULTILINE)
    for line in re.findall(r"^COPY\s+(.+)$", text, re.MULTILINE):
        *sources, _target = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"
    # The image installs the locked versions (with hashes), then the project without resolving again.
    assert re.search(r"RUN pip install --require-hashes --no-deps -r requirements\.lock", text)
    assert re.search(r"RUN pip install --no-deps --no-build-isolation \.", text)
    home = re.search(r"DAGSTER_HOME=(\S+)", text)
    assert home is not None and home.group(1) == _env(services["api"])["DAGSTER_HOME"]
    assert 'cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in text


def test_compose_refuses_to_start_without_a_postgres_password() -> None:
    """No fallback password: every use of POSTGRES_PASSWORD is ``${POSTGRES_PASSWORD:?...}``."""
    text = COMPOSE.read_text()
    uses = re.findall(r"\$\{POSTGRES_PASSWORD([^}]*)\}", text)
    assert len(uses) >= 3, uses  # the server, the URL and dagster.yaml's password
    assert all(use.startswith(":?") for use in uses), uses
    assert "$POSTGRES_PASSWORD" not in text  # the unbraced form cannot require a value


def test_redis_is_health_checked_and_the_workers_scale(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up --scale worker=4` needs a worker service with no fixed name or host port;
    the workers and every run-submitting service wait for a healthy Redis."""
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert redis["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    worker = services["worker"]
    assert _command(worker)[:2] == ["storeuptime", "worker"]
    assert "container_name" not in worker and "ports" not in worker, "a fixed name or port cannot scale"
    assert worker["image"] == services["codelocation"]["image"], "workers must run the same code"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    # The run workers (in the code location) submit the steps: Redis must be up before them.
    assert services["codelocation"]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_executor_setting_reaches_code_location_daemon_and_workers(
    services: dict[str, dict[str, Any]],
) -> None:
    """One broker and backend for all, on the redis service; the executor is celery unless .env says."""
    seen = set()
    for name in ("codelocation", "daemon", "worker"):
        env = _env(services[name])
        assert env[settings.EXECUTOR_ENV] in settings.EXECUTORS, name
        seen.add(
            (env[settings.EXECUTOR_ENV], env[settings.CELERY_BROKER_ENV], env[settings.CELERY_BACKEND_ENV])
        )
    assert len(seen) == 1, f"the services disagree on the executor, broker or backend: {seen}"
    ((executor, broker, backend),) = seen
    if not os.environ.get(settings.EXECUTOR_ENV):
        assert executor == "celery"
    for url in (broker, backend):
        assert url.startswith("redis://redis:6379/"), url
    assert broker != backend, "tasks and results in separate Redis databases"
