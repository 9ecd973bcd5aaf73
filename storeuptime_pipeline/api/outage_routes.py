"""Outages in the API: ``GET /get_report/{id}?columns=extended`` and ``GET /get_report/{id}/outages``.

Both follow ``get_report``'s status semantics (Running / Failed as JSON, 404 unknown id, 422 bad
id); a complete report's extended CSV or outage list is rebuilt once from the stored rows, in
exactly the format of ``storeuptime report --extended`` / ``storeuptime outages``, and cached like
the plain CSV (a finished report never changes).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine

from storeuptime_pipeline.api.models import REPORT_ID_PATTERN, STATUS_HEADER, ErrorDetail, ReportStatus
from storeuptime_pipeline.api.status import Complete, Outcome, ReportStatuses
from storeuptime_pipeline.services.reporting_outages import NoOutageSummary, extended_csv, outages_csv

Variant = Literal["extended", "outages"]
Columns = Annotated[
    Literal["default", "extended"],
    Query(
        description=(
            "``default``: the seven report columns (unchanged); ``extended``: plus outages_last_hour,"
            " outages_last_day, outages_last_week, longest_outage_last_week"
        )
    ),
]
_BUILDERS: dict[Variant, Callable[[Engine, object], str]] = {"extended": extended_csv, "outages": outages_csv}
_FILENAMES: dict[Variant, str] = {"extended": "uptime_report_{}_extended.csv", "outages": "outages_{}.csv"}
NOT_AVAILABLE_DOC = {
    409: {"model": ErrorDetail, "description": "The report was computed before outages existed: re-run it"}
}


class VariantCsvs:
    """Extended CSVs and outage lists of complete reports, built once each (bounded LRU)."""

    def __init__(self, engine: Callable[[], Engine], size: int = 32) -> None:
        self._engine = engine
        self._size = size
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, outcome: Complete, variant: Variant) -> bytes:
        key = (outcome.report_id, variant)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        body = _BUILDERS[variant](self._engine(), outcome.as_of).encode()
        with self._lock:
            self._cache[key] = body
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return body


async def variant_response(csvs: VariantCsvs, outcome: Complete, variant: Variant, fmt: str) -> Response:
    """A complete report's extended CSV or outage list, as a download or as JSON."""
    try:
        body = await run_in_threadpool(csvs.get, outcome, variant)
    except NoOutageSummary as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from None
    headers = {STATUS_HEADER: "Complete"}
    if fmt == "json":
        as_of = outcome.as_of.tz_convert("UTC").isoformat().replace("+00:00", "Z")
        payload = {"status": "Complete", "as_of": as_of, "csv": body.decode()}
        return Response(json.dumps(payload).encode(), media_type="application/json", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{_FILENAMES[variant].format(outcome.report_id)}"'
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)


def add_outage_routes(
    app: FastAPI,
    statuses: ReportStatuses,
    csvs: VariantCsvs,
    outcome_response: Callable[[Outcome, str], Response],
    responses: dict,
) -> None:
    """``GET /get_report/{report_id}/outages``, documented like ``get_report``."""

    @app.get(
        "/get_report/{report_id}/outages",
        response_model=ReportStatus,
        responses={**responses, **NOT_AVAILABLE_DOC},
        summary="The report's status; when complete, its outage list (one row per outage in the week)",
    )
    async def get_report_outages(
        report_id: Annotated[
            str, Path(pattern=REPORT_ID_PATTERN, description="The id ``POST /trigger_report`` answered")
        ],
        fmt: Annotated[
            Literal["csv", "json"],
            Query(
                alias="format",
                description="``csv`` (a download) or ``json`` (status, as_of and the CSV text)",
            ),
        ] = "csv",
    ) -> Response:
        report_id = report_id.lower()
        outcome = statuses.cached(report_id)
        if outcome is None:
            outcome = await run_in_threadpool(statuses.resolve, report_id)
        if outcome is None:
            raise HTTPException(status_code=404, detail="unknown report id")
        if isinstance(outcome, Complete):
            return await variant_response(csvs, outcome, "outages", fmt)
        return outcome_response(outcome, fmt)  # Running or Failed, exactly as get_report answers
