"""Response shapes of the report API, as published in its OpenAPI document.

They exist for the document as much as for the code: schemathesis (and any client generator) checks
every response against these schemas, so each status the API can answer has its own model here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

#: A report id is a uuid4 in hex (32 lowercase hex digits); upper case is accepted and lowered.
REPORT_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
REPORT_ID_EXAMPLE = "3f6c1e0a9b8d4c2e8f7a6b5c4d3e2f10"

#: Response header naming the report's status on every 200 of ``GET /get_report``.
STATUS_HEADER = "X-Report-Status"

#: Published as ``additionalProperties: false`` with ``status`` required, so schemathesis' response
#: conformance check fails on a missing status or a stray key instead of accepting any object.
_STRICT = ConfigDict(extra="forbid")


class TriggerResponse(BaseModel):
    """The id to poll ``GET /get_report/{report_id}`` with."""

    model_config = _STRICT

    report_id: str = Field(pattern=REPORT_ID_PATTERN, examples=[REPORT_ID_EXAMPLE])


class RunningReport(BaseModel):
    """The run is queued, starting or running."""

    model_config = _STRICT
    status: Literal["Running"]


class FailedReport(BaseModel):
    """The run failed or was canceled; ``error`` is a sentence meant for the caller."""

    model_config = _STRICT
    status: Literal["Failed"]
    error: str = Field(examples=["no polls in the database yet: ingest a status file first"])


class CompleteReport(BaseModel):
    """The finished report as JSON (``?format=json``): the CSV text plus its as-of instant."""

    model_config = _STRICT
    status: Literal["Complete"]
    as_of: datetime
    csv: str = Field(description="The report CSV, exactly as the CSV download")


ReportStatus = Annotated[RunningReport | FailedReport | CompleteReport, Field(discriminator="status")]


class ErrorDetail(BaseModel):
    """A plain error (unknown report id, queue full)."""

    model_config = _STRICT

    detail: str


class ComponentHealth(BaseModel):
    """One dependency's probe: reachable or not, and a short reason (never a secret or a URL)."""

    model_config = _STRICT

    ok: bool
    detail: str


class Health(BaseModel):
    """``ok`` when the database, the Dagster instance and the webserver (which starts the runs) answer."""

    model_config = _STRICT

    status: Literal["ok", "unavailable"]
    database: ComponentHealth
    dagster_instance: ComponentHealth
    dagster_webserver: ComponentHealth
