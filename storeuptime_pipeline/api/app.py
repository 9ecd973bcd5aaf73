"""The FastAPI app: ``POST /trigger_report``, ``GET /get_report/{report_id}``, ``GET /healthz``.

``create_app()`` takes its collaborators (database URL, Dagster instance, launcher) as arguments so
tests can point it at a throw-away database and a recording launcher; with no arguments it finds
them the way every entry point does (``instance.prepare_environment``), lazily, on first use, so
importing this module (``uvicorn storeuptime_pipeline.api.app:app``) never touches a database.
The app never migrates: ``storeuptime api`` does before it serves; the app checks the revision and
answers 503 naming ``storeuptime db init`` while the schema is not there.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import pandas as pd
from dagster import DagsterInstance
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from storeuptime_pipeline import settings
from storeuptime_pipeline.api.launcher import GraphQLLauncher, Launcher, LaunchError
from storeuptime_pipeline.api.models import (
    REPORT_ID_PATTERN,
    STATUS_HEADER,
    ComponentHealth,
    ErrorDetail,
    Health,
    ReportStatus,
    TriggerResponse,
)
from storeuptime_pipeline.api.outage_routes import (
    NOT_AVAILABLE_DOC,
    Columns,
    VariantCsvs,
    add_outage_routes,
    variant_response,
)
from storeuptime_pipeline.api.queue_limit import RETRY_AFTER_SECONDS, QueueFull, TriggerGate
from storeuptime_pipeline.api.status import Complete, Failed, Outcome, ReportStatuses, Running
from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.db import migrate, queries
from storeuptime_pipeline.db.config import normalize_url
from storeuptime_pipeline.db.errors import SchemaNotReady
from storeuptime_pipeline.db.run_records import record_report
from storeuptime_pipeline.db.session import get_engine

log = logging.getLogger(__name__)

_FIRST_YEAR, _LAST_YEAR = 1900, 2199


def parse_as_of(value: str | None) -> str | None:
    """An ISO 8601 instant (naive = UTC; a trailing `` UTC`` as in the input files is accepted),
    normalized to ISO in UTC for the run config; left out means "the latest poll".

    An empty or blank value is an error (422), as its documented pattern says: ``?as_of=`` is more
    likely a client's missing value than a deliberate "latest".
    """
    if value is None:
        return None
    if not value.strip():
        raise ValueError("as_of is empty: leave the parameter out for the latest poll")
    text_value = value.strip().removesuffix(" UTC").removesuffix("UTC").strip()
    try:
        parsed = datetime.fromisoformat(text_value)
    except ValueError as exc:
        raise ValueError("as_of must be an ISO 8601 timestamp, e.g. 2023-01-25T18:13:22Z") from exc
    if not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        # Far from the limits of datetime and of the engine's week-long windows; the document says so.
        raise ValueError(f"as_of must lie in the years {_FIRST_YEAR}..{_LAST_YEAR}")
    # Strict ISO 8601 above is the API's documented contract; naive-means-UTC is the core's rule.
    return to_utc(parsed).isoformat()


AsOf = Annotated[
    str | None,
    AfterValidator(parse_as_of),
    Query(
        description=(
            "Report instant, ISO 8601 (UTC unless an offset is given), in the years 1900..2199;"
            " default: the latest poll"
        ),
        examples=["2023-01-25T18:13:22Z"],
        # JSON Schema has no date range: the pattern states the year bound for clients and schemathesis.
        json_schema_extra={"format": "date-time", "pattern": "^(19|20|21)[0-9]{2}-"},
    ),
]
ReportId = Annotated[
    str,
    Path(pattern=REPORT_ID_PATTERN, description="The id ``POST /trigger_report`` answered"),
]
Format = Annotated[
    Literal["csv", "json"],
    Query(alias="format", description="``csv`` (a download) or ``json`` (status, as_of and the CSV text)"),
]

_PLAIN_503 = {"content": {"text/plain": {"schema": {"type": "string"}}}}
_RETRY_AFTER_DOC = {
    "Retry-After": {"description": "Seconds to wait before triggering again", "schema": {"type": "integer"}}
}
_STATUS_HEADER_DOC = {
    STATUS_HEADER: {
        "description": "Running, Failed or Complete",
        "schema": {"type": "string", "enum": ["Running", "Failed", "Complete"]},
    }
}


class Backends:
    """The database engine, the Dagster instance and the launcher, resolved once and lazily."""

    def __init__(
        self,
        database_url: str | None,
        instance: DagsterInstance | None,
        launcher: Launcher | None,
        dagster_url: str | None,
    ) -> None:
        self._url = normalize_url(database_url) if database_url else None
        self._instance = instance
        self._launcher = launcher
        self._dagster_url = dagster_url
        self._engine: Engine | None = None
        self._prepared = False
        self._lock = threading.Lock()

    def _environment(self) -> str:
        """Database URL and DAGSTER_HOME as every entry point decides them, once (the lock is held)."""
        if not self._prepared:
            if self._url is None or self._instance is None:
                from storeuptime_pipeline.services.instance import prepare_environment

                self._url = prepare_environment(self._url)
            self._prepared = True
        assert self._url is not None
        return self._url

    def engine(self) -> Engine:
        """The engine, once the schema is at head (checked, never migrated here).

        Until it is, every call checks again and raises :class:`SchemaNotReady`, so the app answers
        as soon as an operator ran ``storeuptime db init``, without a restart.
        """
        with self._lock:
            if self._engine is None:
                engine = get_engine(self._environment())
                migrate.require_head(engine)
                self._engine = engine
            return self._engine

    def instance(self) -> DagsterInstance:
        with self._lock:
            self._environment()  # what DagsterInstance.get() reads
            if self._instance is None:
                self._instance = DagsterInstance.get()
            return self._instance

    def launcher(self) -> Launcher:
        with self._lock:
            if self._launcher is None:
                self._launcher = GraphQLLauncher(self._dagster_url or settings.dagster_url())
            return self._launcher


def _outcome_response(outcome: Outcome, fmt: str) -> Response:
    if isinstance(outcome, Complete):
        headers = {STATUS_HEADER: "Complete"}
        if fmt == "json":
            return Response(outcome.json_bytes, media_type="application/json", headers=headers)
        headers["Content-Disposition"] = f'attachment; filename="{outcome.filename}"'
        return Response(outcome.csv_bytes, media_type="text/csv; charset=utf-8", headers=headers)
    if isinstance(outcome, Failed):
        body: dict[str, Any] = {"status": "Failed", "error": outcome.error}
        return JSONResponse(body, headers={STATUS_HEADER: "Failed"})
    assert isinstance(outcome, Running)
    return JSONResponse({"status": "Running"}, headers={STATUS_HEADER: "Running"})


def create_app(
    database_url: str | None = None,
    instance: DagsterInstance | None = None,
    launcher: Launcher | None = None,
    dagster_url: str | None = None,
    max_queued: int | None = None,
) -> FastAPI:
    """The API; collaborators left out are found from the environment on first use.

    ``max_queued`` (default ``STOREUPTIME_API_MAX_QUEUED``): triggers answer 429 while that many
    report runs wait in Dagster's queue.
    """
    backends = Backends(database_url, instance, launcher, dagster_url)
    statuses = ReportStatuses(backends.engine, backends.instance)
    gate = TriggerGate(
        backends.instance, lambda: settings.api_max_queued() if max_queued is None else max_queued
    )
    # /docs and /redoc from the Swagger UI and ReDoc files fastapi-offline ships: no CDN, so they work
    # on a machine without internet.
    app = FastAPIOffline(
        title="storeuptime report API",
        version="1.0.0",
        description="Trigger an uptime report (a Dagster run), poll for it, download it as CSV.",
    )
    app.state.backends = backends
    app.state.statuses = statuses

    @app.exception_handler(OperationalError)
    async def database_unavailable(_request: Request, exc: OperationalError) -> PlainTextResponse:
        log.error("database unavailable: %s", exc)
        return PlainTextResponse("the database is unavailable; try again later", status_code=503)

    @app.exception_handler(SchemaNotReady)
    async def schema_not_ready(_request: Request, exc: SchemaNotReady) -> PlainTextResponse:
        log.error("database not migrated: %s", exc)
        return PlainTextResponse(str(exc), status_code=503)

    @app.post(
        "/trigger_report",
        response_model=TriggerResponse,
        responses={
            429: {
                "model": ErrorDetail,
                "description": "Too many reports already queued; retry after the given seconds",
                "headers": _RETRY_AFTER_DOC,
            },
            503: {"description": "Dagster webserver or database unavailable", **_PLAIN_503},
        },
        summary="Start an on-demand report run; answers its report id at once",
    )
    def trigger_report(as_of: AsOf = None) -> TriggerResponse | Response:
        try:
            with gate.admit() as launched:
                return _start_report(as_of, launched)
        except QueueFull as exc:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return JSONResponse({"detail": str(exc)}, status_code=429, headers=headers)

    def _start_report(as_of: str | None, launched: Callable[[], None]) -> TriggerResponse | PlainTextResponse:
        report_id = uuid.uuid4().hex
        engine = backends.engine()
        as_of_ts = pd.Timestamp(as_of) if as_of else None
        # Recorded before the launch, so a poll right after the answer never sees an unknown id.
        record_report(engine, report_id, None, status="queued", as_of=as_of_ts)
        try:
            run_id = backends.launcher().launch(report_id, as_of or "")
            launched()  # queued in Dagster now: counted there
        except LaunchError as exc:
            record_report(engine, report_id, None, status="failed", error=f"not started: {exc}")
            return PlainTextResponse(f"could not start the report: {exc}", status_code=503)
        record_report(engine, report_id, run_id, status="queued")
        return TriggerResponse(report_id=report_id)

    report_responses: dict = {
        200: {
            "description": "Running or Failed (JSON); when Complete the CSV, or JSON with ?format=json",
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "headers": _STATUS_HEADER_DOC,
        },
        404: {"model": ErrorDetail, "description": "No report has this id"},
        503: {"description": "Database unavailable", **_PLAIN_503},
    }
    variants = VariantCsvs(backends.engine)

    @app.get(
        "/get_report/{report_id}",
        response_model=ReportStatus,
        responses={**report_responses, **NOT_AVAILABLE_DOC},
        summary="The report's status; when complete, the report itself",
    )
    async def get_report(report_id: ReportId, fmt: Format = "csv", columns: Columns = "default") -> Response:
        report_id = report_id.lower()
        outcome = statuses.cached(report_id)  # finished reports: no thread hop, no database
        if outcome is None:
            outcome = await run_in_threadpool(statuses.resolve, report_id)
        if outcome is None:
            raise HTTPException(status_code=404, detail="unknown report id")
        if columns == "extended" and isinstance(outcome, Complete):
            return await variant_response(variants, outcome, "extended", fmt)
        return _outcome_response(outcome, fmt)

    add_outage_routes(app, statuses, variants, _outcome_response, report_responses)

    @app.get(
        "/healthz",
        response_model=Health,
        responses={
            503: {
                "model": Health,
                "description": "Database, Dagster instance or webserver unreachable (the failing one has ok: false)",
            }
        },
        summary="Whether the database, the Dagster instance and the webserver (which starts the runs) answer",
    )
    def healthz() -> JSONResponse:
        database = _check(lambda: _ping_database(backends.engine()))
        dagster = _check(lambda: _ping_instance(backends.instance()))
        webserver = _check(lambda: backends.launcher().reachable())
        # Without the webserver every trigger answers 503: the API is not healthy then either.
        ok = database.ok and dagster.ok and webserver.ok
        health = Health(
            status="ok" if ok else "unavailable",
            database=database,
            dagster_instance=dagster,
            dagster_webserver=webserver,
        )
        return JSONResponse(health.model_dump(mode="json"), status_code=200 if ok else 503)

    return app


def _ping_database(engine: Engine) -> tuple[bool, str]:
    with engine.connect() as conn:
        queries.ping(conn)
    return True, "reachable"


def _ping_instance(instance: DagsterInstance) -> tuple[bool, str]:
    instance.get_runs(limit=1)
    return True, "run storage reachable"


def _check(probe: Any) -> ComponentHealth:
    """Run one probe; an exception is a failed check whose detail names only its type (which cannot leak
    a URL or SQL), except :class:`SchemaNotReady`, whose line names the command that fixes it."""
    try:
        ok, detail = probe()
    except SchemaNotReady as exc:  # reachable but not migrated: the line says which command fixes it
        log.warning("health probe failed: %s", exc)
        return ComponentHealth(ok=False, detail=str(exc))
    except Exception as exc:  # a health check must answer, whatever broke
        log.warning("health probe failed: %r", exc)
        return ComponentHealth(ok=False, detail=f"unreachable ({type(exc).__name__})")
    return ComponentHealth(ok=ok, detail=detail)


app = create_app()
