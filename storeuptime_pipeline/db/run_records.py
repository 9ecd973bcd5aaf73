"""The ``report_runs`` table: which report id is which run, its as-of instant and its outcome.

The API hands out report ids before a run has started; the run records its outcome here, so a
report can be served without asking Dagster once it is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert

from storeuptime_pipeline.db.models import ReportRun


@dataclass(frozen=True)
class ReportRecord:
    report_id: str
    run_id: str | None
    status: str
    as_of: pd.Timestamp | None
    csv_path: str | None
    error: str | None


def record_report(
    engine: Engine,
    report_id: str,
    run_id: str | None,
    *,
    status: str,
    kind: str = "on_demand",
    as_of: pd.Timestamp | None = None,
    csv_path: str | None = None,
    error: str | None = None,
) -> None:
    """Insert or update one report's record (idempotent per report id)."""
    values = {
        "report_id": report_id,
        "run_id": run_id,
        "status": status,
        "kind": kind,
        "as_of": as_of.to_pydatetime() if as_of is not None else None,
        "csv_path": csv_path,
        "error": error,
    }
    finished = status in ("complete", "failed")
    stmt = insert(ReportRun).values(**values, finished_at=func.now() if finished else None)
    update = {k: stmt.excluded[k] for k in ("run_id", "status", "as_of", "csv_path", "error", "finished_at")}
    if not finished:
        # A late "queued" write must not undo a finished run's record.
        update = {k: func.coalesce(getattr(ReportRun, k), stmt.excluded[k]) for k in ("run_id",)}
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(index_elements=[ReportRun.report_id], set_=update))


def get_report(engine: Engine, report_id: str) -> ReportRecord | None:
    with engine.connect() as conn:
        # A Core connection yields plain rows (not ORM objects): select the table's columns.
        table = ReportRun.__table__
        row = conn.execute(select(table).where(table.c.report_id == report_id)).first()
    if row is None:
        return None
    as_of = pd.Timestamp(row.as_of).tz_convert("UTC") if isinstance(row.as_of, datetime) else None
    return ReportRecord(row.report_id, row.run_id, row.status, as_of, row.csv_path, row.error)
