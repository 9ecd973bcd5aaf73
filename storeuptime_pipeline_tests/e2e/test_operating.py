"""The operating commands as the README writes them: `make dev` on other ports, CLI runs, backfill.

One `make dev` (webserver, daemon and API) is started on free ports chosen through the variables
the README names, on a throw-away database, from the repository folder (which holds the project's
dagster.yaml, as on a fresh clone) with DAGSTER_HOME elsewhere. While it runs, the CLI's runs are
checked to be runs of the named jobs that the webserver can re-execute, and the README's
in-process backfill is run as written. The last test stops `make dev` with a SIGTERM to its pid.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from storeuptime_pipeline import settings
from storeuptime_pipeline.cli.commands_serve import dev_ports
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import DATABASE_URL_ENV
from storeuptime_pipeline.db.embedded import HOME_ENV
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV, dagster_home
from storeuptime_pipeline_tests.dagster_server import free_port
from storeuptime_pipeline_tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
RUN_ID = re.compile(r"\brun ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")

_RUN = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run {
      jobName status
      repositoryOrigin { repositoryLocationName repositoryName }
      tags { key value }
      stats { __typename ... on RunStatsSnapshot { materializations } }
    }
  }
}
"""
_REEXECUTE = """
mutation Reexecute($params: ReexecutionParams!) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""
#: What a start must not print: Python warnings (``...: SomeWarning: ...``) and Dagster WARNING logs.
_WARNING_LINE = re.compile(r"\w+Warning: |\bWARNING\b")


@dataclass
class Dev:
    process: subprocess.Popen
    ui: str
    api: str
    env: dict[str, str]
    log: Path
    data: Path
    startup_output: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(
            f"{self.ui}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def run(self, run_id: str) -> dict[str, Any]:
        found = self.graphql(_RUN, {"id": run_id})["runOrError"]
        assert found["__typename"] == "Run", found
        return found

    def storeuptime(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(BIN / "storeuptime"), *args], env=self.env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done


def wait_for(condition: Callable[[], Any], what: str, timeout: float, dev: Dev | None = None) -> Any:
    """``wait_until`` with a server not answering yet counted as "not yet" and make dev's output on timeout."""

    def tail() -> str:
        return "--- make dev output ---\n" + ("\n".join(dev.output().splitlines()[-40:]) if dev else "")

    return wait_until(condition, timeout, what, ignoring=(requests.RequestException,), details=tail)


def dev_command() -> list[str]:
    """``make dev`` from the repository when this interpreter is its .venv; else the same command."""
    if shutil.which("make") and BIN.resolve() == (REPO / ".venv" / "bin").resolve():
        # -o: never reinstall from inside a test (the stamp may be older than an edited pyproject).
        return ["make", "--no-print-directory", "-o", ".venv/.installed", "dev"]
    return [str(BIN / "storeuptime"), "dev"]


def _answers(url: str) -> bool:
    return requests.get(url, timeout=2).status_code == 200


def test_dev_ports_follow_the_variables_and_refuse_a_url_on_another_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(settings.DAGSTER_GRAPHQL_URL_ENV, raising=False)
    monkeypatch.setenv(settings.UI_PORT_ENV, "3011")
    monkeypatch.setenv(settings.API_PORT_ENV, "8011")
    assert dev_ports(None, None) == (3011, 8011, "http://127.0.0.1:3011")
    assert dev_ports(3012, 8012) == (3012, 8012, "http://127.0.0.1:3012")  # the flags win
    # The command: only the API port and the URL set; the UI follows the URL.
    monkeypatch.delenv(settings.UI_PORT_ENV)
    monkeypatch.setenv(settings.DAGSTER_GRAPHQL_URL_ENV, "http://127.0.0.1:3013")
    assert dev_ports(None, None) == (3013, 8011, "http://127.0.0.1:3013")
    monkeypatch.setenv(settings.UI_PORT_ENV, "3014")
    with pytest.raises(SystemExit, match="but the UI listens on port 3014"):
        dev_ports(None, None)
    monkeypatch.setenv(settings.DAGSTER_GRAPHQL_URL_ENV, "http://dagster.internal:3000")  # not ours to check
    assert dev_ports(None, None) == (3014, 8011, "http://dagster.internal:3000")


def test_dagster_home_gets_the_current_dagster_yaml_and_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", project / "dagster.yaml")
    monkeypatch.setenv(HOME_ENV, str(project))
    default = project / ".storeuptime" / "dagster_home"
    default.mkdir(parents=True)
    (default / "dagster.yaml").write_text("stale: true\n")
    monkeypatch.setenv(DAGSTER_HOME_ENV, str(default))  # as the Makefile exports it
    assert dagster_home() == default
    assert (default / "dagster.yaml").read_bytes() == (REPO / "dagster.yaml").read_bytes()
    own = tmp_path / "deployment_home"
    own.mkdir()
    (own / "dagster.yaml").write_text("own: true\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DAGSTER_HOME_ENV, "deployment_home")
    assert dagster_home() == own  # absolute: child processes started elsewhere find the same folder
    assert (own / "dagster.yaml").read_text() == "own: true\n"


def test_a_failed_cli_run_says_why_in_one_line_and_the_trace_only_with_verbose(
    database_url: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "store_status.csv").write_text("store_id,timestamp_utc\n1,2023-01-22 12:00:00 UTC\n")
    env = {
        **os.environ,
        DATABASE_URL_ENV: database_url,
        HOME_ENV: str(tmp_path),
        DAGSTER_HOME_ENV: str(tmp_path / "dagster_home"),
    }
    command = [str(BIN / "storeuptime"), "ingest", "--data", str(bad)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "missing required column(s) status" in line and RUN_ID.search(line), line
    assert "Stack Trace" not in done.stdout + done.stderr
    verbose = subprocess.run([*command, "--verbose"], env=env, capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 1 and "Stack Trace" in verbose.stdout + verbose.stderr


@pytest.fixture(scope="module")
def dev(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    work = tmp_path_factory.mktemp("dev")
    data = work / "data"
    generate_dataset(data, stores=20, days=8, seed=11)
    ui_port, api_port = free_port(), free_port()
    with temporary_database(admin_url, prefix="storeuptime_dev_") as url:
        migrate.upgrade(url)
        env = {
            **os.environ,
            DATABASE_URL_ENV: url,
            HOME_ENV: str(work),
            DAGSTER_HOME_ENV: str(work / "dagster_home"),
            settings.DATA_DIR_ENV: str(work / "landing"),
            settings.REPORTS_DIR_ENV: str(work / "reports"),
            settings.UI_PORT_ENV: str(ui_port),
            settings.API_PORT_ENV: str(api_port),
            # Sensors tick once at start, then not again during the test: no runs but the test's own.
            settings.SENSOR_INTERVAL_ENV: "3600",
            "PYTHONUNBUFFERED": "1",
            "DAGSTER_DISABLE_TELEMETRY": "1",
        }
        env.pop(settings.DAGSTER_GRAPHQL_URL_ENV, None)
        log = work / "dev.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                dev_command(), cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        running = Dev(process, f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}", env, log, data)
        try:
            wait_for(
                lambda: _answers(f"{running.ui}/server_info"),
                "the Dagster UI on STOREUPTIME_UI_PORT",
                240,
                running,
            )
            wait_for(
                lambda: _answers(f"{running.api}/healthz"),
                "a healthy API on STOREUPTIME_API_PORT",
                120,
                running,
            )
            running.startup_output = running.output()
            yield running
        finally:
            if process.poll() is None:  # a test failed before stopping it: stop it as that test would
                groups = process_groups(process.pid)
                process.send_signal(signal.SIGTERM)
                with suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=60)
                for group in groups:  # and whatever of its family outlived it
                    with suppress(ProcessLookupError):
                        os.killpg(group, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def ingested(dev: Dev) -> str:
    """What ``storeuptime ingest`` printed for the data folder, loaded while ``make dev`` runs."""
    return dev.storeuptime("ingest", "--data", str(dev.data)).stdout


def test_dev_serves_the_ui_and_an_api_that_reaches_it_on_the_port_variables(dev: Dev) -> None:
    health = requests.get(f"{dev.api}/healthz", timeout=10).json()
    # The webserver check passing shows the API's STOREUPTIME_DAGSTER_URL followed the UI port.
    assert health["status"] == "ok" and health["dagster_webserver"]["ok"], health
    assert requests.get(f"{dev.api}/docs", timeout=10).status_code == 200


def test_dev_starts_without_warnings(dev: Dev) -> None:
    warnings = [line for line in dev.startup_output.splitlines() if _WARNING_LINE.search(line)]
    assert not warnings, "\n".join(warnings)


def test_cli_ingest_runs_are_ingest_job_runs_with_full_ids_that_the_ui_re_executes(
    dev: Dev, ingested: str
) -> None:
    run_ids = RUN_ID.findall(ingested)
    assert len(run_ids) == 3, ingested
    for run_id in run_ids:
        assert len(run_id) == 36
        assert f"{dev.ui}/runs/{run_id}" in ingested  # the UI link, since a webserver is up
        run = dev.run(run_id)
        assert run["jobName"] == "ingest_job" and run["status"] == "SUCCESS"
        assert run["repositoryOrigin"]["repositoryLocationName"] == "storeuptime"
        assert {"key": "storeuptime/source", "value": "cli"} in run["tags"]

    launched = dev.graphql(_REEXECUTE, {"params": {"parentRunId": run_ids[-1], "strategy": "ALL_STEPS"}})
    result = launched["launchPipelineReexecution"]
    assert result["__typename"] == "LaunchRunSuccess", result
    child = result["run"]["runId"]
    finished = wait_for(
        lambda: (run := dev.run(child))["status"] in ("SUCCESS", "FAILURE", "CANCELED") and run,
        "the re-executed ingest run to finish",
        180,
        dev,
    )
    assert finished["status"] == "SUCCESS" and finished["jobName"] == "ingest_job"


def test_readme_in_process_backfill_works_as_written(dev: Dev, ingested: str) -> None:
    readme = (REPO / "README.md").read_text()
    (command,) = [
        line for line in readme.splitlines() if line.startswith(".venv/bin/storeuptime backfill --in-process")
    ]
    done = subprocess.run(
        ["bash", "-c", command], cwd=REPO, env=dev.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (run_id,) = RUN_ID.findall(done.stdout)
    run = dev.run(run_id)
    assert run["jobName"] == "uptime_report_job" and run["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    start, end = re.search(r"--from (\S+) --to (\S+)", command).groups()
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (
        start,
        end,
    )
    assert run["stats"]["materializations"] == 24  # one per hour of the range


def test_sigterm_to_make_dev_stops_everything(dev: Dev) -> None:
    groups = process_groups(dev.process.pid)
    # make and storeuptime dev; dagster dev (webserver, daemon, code server); the API: own groups each.
    assert len(groups) >= 3, groups
    os.kill(dev.process.pid, signal.SIGTERM)
    dev.process.wait(timeout=60)
    wait_until(
        lambda: not _members(groups),
        60,
        "every process of make dev to exit after SIGTERM",
        details=lambda: f"still running: {_members(groups)}",
    )
    for url in (f"{dev.ui}/server_info", f"{dev.api}/healthz"):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)


def process_groups(pid: int) -> set[int]:
    """The process groups of ``pid`` and its descendants (dagster dev and the API start their own)."""
    root = psutil.Process(pid)
    groups = set()
    for proc in [root, *root.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess, ProcessLookupError):
            groups.add(os.getpgid(proc.pid))
    return groups


def _members(groups: set[int]) -> list[str]:
    """Processes (not zombies) still in one of ``groups``."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        with suppress(psutil.NoSuchProcess, ProcessLookupError):
            if os.getpgid(proc.pid) in groups and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(" ".join(proc.info["cmdline"] or [])[:120])
    return found
