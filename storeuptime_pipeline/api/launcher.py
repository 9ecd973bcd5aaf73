"""Starting ``on_demand_report_job`` runs through the Dagster webserver's GraphQL API.

Why the webserver and not ``instance.submit_run`` in this process: the webserver holds the code
location (the job's snapshot and execution plan), so the API process does not have to load the
definitions, and the run is created exactly as a launch from the UI would create it: queued by the
instance's QueuedRunCoordinator, then started by the daemon, within the concurrency limit.

A raw ``launchRun`` mutation over ``requests`` is used instead of ``DagsterGraphQLClient``: the client
shares one gql session, which is not safe to use from the API's worker threads, and it would look
the job's location up again before every launch. Here the lookup is done once and cached.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from storeuptime_pipeline.defs.jobs import on_demand_report_job

log = logging.getLogger(__name__)

JOB_NAME = on_demand_report_job.name
#: launchRun mutations in flight at once. Every launch upserts the same ``asset_keys`` rows (the
#: asset and its checks) inside the webserver, so a burst of 50 concurrent launches queues on that
#: row lock until the webserver's statement timeout (15 s) cancels the later ones (HTTP 500). A few
#: at a time keep each launch short; the rest wait here, which costs a burst seconds, not failures.
MAX_CONCURRENT_LAUNCHES = 4
ASSET_NAME = "on_demand_report"
REPORT_ID_TAG = "storeuptime/report_id"

_FIND_JOB = """
query StoreuptimeFindJob {
  repositoriesOrError {
    __typename
    ... on RepositoryConnection { nodes { name location { name } pipelines { name } } }
    ... on Error { message }
  }
}
"""

_LAUNCH = """
mutation StoreuptimeLaunchReport($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""


class LaunchError(RuntimeError):
    """The run could not be started. ``str()`` is safe to show a client (no URL, no traceback)."""


class Launcher(Protocol):
    """Starts the on-demand report run for a report id; returns the Dagster run id."""

    def launch(self, report_id: str, as_of: str) -> str: ...

    def reachable(self) -> tuple[bool, str]: ...


def run_config(report_id: str, as_of: str) -> dict[str, Any]:
    """The run config of one on-demand report; an empty ``as_of`` means "the latest poll"."""
    return {
        "ops": {ASSET_NAME: {"config": {"report_id": report_id, "as_of": as_of}}},
    }


@dataclass(frozen=True)
class _JobSelector:
    location: str
    repository: str


class GraphQLLauncher:
    """Launches through ``<url>/graphql`` of a Dagster webserver (``STOREUPTIME_DAGSTER_URL``)."""

    def __init__(self, url: str, timeout_seconds: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.endpoint = self.url if self.url.endswith("/graphql") else f"{self.url}/graphql"
        self.timeout = timeout_seconds
        self._selector: _JobSelector | None = None
        self._lock = threading.Lock()
        self._launching = threading.BoundedSemaphore(MAX_CONCURRENT_LAUNCHES)

    def launch(self, report_id: str, as_of: str) -> str:
        """Queue the run; on a stale cached location (code location renamed/reloaded) look it up once more."""
        try:
            return self._launch(self._job_selector(), report_id, as_of)
        except _StaleSelector:
            with self._lock:
                self._selector = None
            return self._launch(self._job_selector(), report_id, as_of)

    def reachable(self) -> tuple[bool, str]:
        """Whether the webserver answers its health endpoint (used by ``/healthz``, informational)."""
        try:
            response = requests.get(f"{self.endpoint.removesuffix('/graphql')}/server_info", timeout=2)
        except requests.RequestException as exc:
            return False, f"unreachable ({type(exc).__name__})"
        return response.ok, f"HTTP {response.status_code}"

    def _launch(self, selector: _JobSelector, report_id: str, as_of: str) -> str:
        params = {
            "selector": {
                "repositoryLocationName": selector.location,
                "repositoryName": selector.repository,
                "jobName": JOB_NAME,
            },
            "runConfigData": run_config(report_id, as_of),
            "executionMetadata": {"tags": [{"key": REPORT_ID_TAG, "value": report_id}]},
        }
        with self._launching:
            result = self._post(_LAUNCH, {"executionParams": params})["launchRun"]
        kind = result["__typename"]
        if kind == "LaunchRunSuccess":
            return str(result["run"]["runId"])
        if kind in ("PipelineNotFoundError", "RepositoryLocationNotFound", "RepositoryNotFoundError"):
            raise _StaleSelector(kind)
        detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", []))
        log.error("launchRun for report %s answered %s: %s", report_id, kind, detail)
        raise LaunchError(f"the Dagster webserver refused the report run ({kind})")

    def _job_selector(self) -> _JobSelector:
        with self._lock:
            if self._selector is None:
                self._selector = self._find_job()
            return self._selector

    def _find_job(self) -> _JobSelector:
        result = self._post(_FIND_JOB, None)["repositoriesOrError"]
        if result["__typename"] != "RepositoryConnection":
            log.error("repositoriesOrError answered %s: %s", result["__typename"], result.get("message"))
            raise LaunchError("the Dagster webserver has no loadable code location")
        for node in result["nodes"]:
            if any(p["name"] == JOB_NAME for p in node["pipelines"]):
                return _JobSelector(location=node["location"]["name"], repository=node["name"])
        raise LaunchError(f"no code location served by the Dagster webserver has the job {JOB_NAME}")

    def _post(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        try:
            response = requests.post(
                self.endpoint, json={"query": query, "variables": variables}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            log.warning("Dagster webserver at %s unreachable: %s", self.endpoint, exc)
            raise LaunchError("the Dagster webserver is unreachable; try again later") from None
        if response.status_code != 200:
            log.warning("Dagster webserver answered HTTP %s: %.500s", response.status_code, response.text)
            raise LaunchError(f"the Dagster webserver answered HTTP {response.status_code}; try again later")
        try:
            body = response.json()
        except ValueError:
            raise LaunchError("the Dagster webserver sent an unreadable answer") from None
        if body.get("errors") or not body.get("data"):
            log.error("GraphQL errors from %s: %s", self.endpoint, body.get("errors"))
            raise LaunchError("the Dagster webserver rejected the request")
        return body["data"]


class _StaleSelector(Exception):
    """The cached location/repository no longer has the job (e.g. the location was renamed)."""
