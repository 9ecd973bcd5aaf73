"""Reports with outages from Postgres: compute, store report rows and outage lists in one transaction.

The report assets compute in store shards (``services/report_shards.py``); ``compute_and_store`` is
the unsharded write in one process, kept for ``benchmarks/bench_pipeline.py`` (the figures before
shards). The API and ``storeuptime run --extended`` read the stored rows back through
``extended_csv`` / ``outages_csv``, which format them exactly as ``storeuptime report --extended`` /
``storeuptime outages`` do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.limits import to_utc
from storeuptime_pipeline.core.outages import EXACT_COLUMNS, OUTAGE_SUMMARY_COLUMNS, reports_with_outages_for
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.core.timezones import US_PER_HOUR, US_PER_MINUTE
from storeuptime_pipeline.db import report_rows
from storeuptime_pipeline.db.outage_rows import (
    copy_outage_rows,
    delete_outage_rows,
    read_extended_rows,
    read_outage_rows,
)
from storeuptime_pipeline.fileio.report_csv import format_extended_csv, format_outages_csv
from storeuptime_pipeline.services.reporting import Inputs, NoPollsError, read_inputs, within_limits

#: Unit of each window's exact figures in the invariant's sample (as the report writes them).
_UNITS = {"hour": US_PER_MINUTE, "day": US_PER_HOUR, "week": US_PER_HOUR}


#: Instants computed in memory before the write transaction (the engine's chunk of instants).
_IN_MEMORY_AS_OFS = 24


class NoOutageSummary(LookupError):
    """The report was stored before outages were computed: re-materialize it to get them."""

    @classmethod
    def of(cls, as_of: datetime | pd.Timestamp, wanted: str) -> NoOutageSummary:
        """The one wording for both readers (the API answers it as a 409): what is missing, and the fix."""
        return cls(
            f"the report as of {to_utc(as_of).isoformat()} was computed before outages existed;"
            f" re-run it for {wanted}"
        )


def compute_and_store(engine: Engine, as_ofs: Sequence[object]) -> pd.DataFrame:
    """Reports (with business time and exact outage figures) of these instants, stored atomically.

    One transaction writes the outage lists of these instants and then the report rows with their
    summary columns; any failure rolls back both. Up to ``_IN_MEMORY_AS_OFS`` instants (a partition,
    an on-demand report) are computed before the transaction, so the report write lock is held only
    while writing; a longer backfill streams its list into the transaction chunk by chunk as the
    engine produces it (a week of hourly lists is millions of rows), holding the lock meanwhile.
    """
    instants = sorted({to_utc(a) for a in as_ofs})
    inputs = read_inputs(engine, instants)
    # Stored polls outside the time limits (loaded before they existed) are left out of every report.
    inputs = Inputs(within_limits(inputs.polls), inputs.hours, inputs.timezones)
    if len(inputs.polls) == 0:
        raise NoPollsError(f"no polls at or before {instants[-1].isoformat()} in the database")
    frames = (inputs.polls, inputs.hours, inputs.timezones, instants)
    options = {"with_business": True, "exact": True}
    if len(instants) <= _IN_MEMORY_AS_OFS:
        result = reports_with_outages_for(*frames, **options)
        with engine.begin() as conn:
            delete_outage_rows(conn, instants)
            copy_outage_rows(conn, result.outages)
            _store_report(conn, instants, result.report)
        return result.report
    with engine.begin() as conn:
        delete_outage_rows(conn, instants)
        result = reports_with_outages_for(
            *frames, **options, sink=lambda chunk: copy_outage_rows(conn, chunk)
        )
        _store_report(conn, instants, result.report)
    return result.report


def _store_report(conn: Connection, instants: list[pd.Timestamp], report: pd.DataFrame) -> None:
    report_rows.replace_report_rows(
        conn, instants, report[["as_of", *REPORT_COLUMNS, *OUTAGE_SUMMARY_COLUMNS]]
    )


def outage_violation_mask(report: pd.DataFrame) -> np.ndarray:
    """Per row: whether, in some window, the outages' business time misses the downtime (exact µs)."""
    bad = np.zeros(len(report), dtype=bool)
    for name in _UNITS:
        bad |= (
            report[f"outage_time_last_{name}_us"].to_numpy() != report[f"downtime_last_{name}_us"].to_numpy()
        )
    return bad


def outage_invariant_violations(report: pd.DataFrame, per_as_of: int = 10) -> pd.DataFrame:
    """Rows where, in some window, the outages' business time misses the report's downtime (exact µs):
    the first ``per_as_of`` of each as-of, with ``rows`` = how many break it in the whole frame."""
    bad = outage_violation_mask(report)
    sample = report.loc[bad, ["as_of", "store_id", *EXACT_COLUMNS]]
    sample = sample.groupby("as_of", sort=False).head(per_as_of).copy()
    for name, unit in _UNITS.items():
        for kind in ("outage_time", "downtime"):
            column = f"{kind}_last_{name}_us"
            sample[column] = sample[column] / unit
    return sample.rename(columns=lambda c: c.removesuffix("_us")).assign(rows=int(bad.sum()))


def most_outages(report: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The stores with the most outages in the last week, as of the latest instant (then the longest)."""
    latest = report[report["as_of"] == report["as_of"].max()]
    candidates = latest.nlargest(n, "outages_last_week", keep="all")  # as worst_stores: ties kept
    ranked = candidates.sort_values(
        ["outages_last_week", "longest_outage_last_week", "store_id"], ascending=[False, False, True]
    )
    return ranked.head(n)[["store_id", *OUTAGE_SUMMARY_COLUMNS, "downtime_last_week"]]


def extended_csv(engine: Engine, as_of: datetime | pd.Timestamp) -> str:
    """The stored report of one instant as ``storeuptime report --extended`` writes it."""
    with engine.connect() as conn:
        rows = read_extended_rows(conn, as_of)
    if rows is None:
        raise NoOutageSummary.of(as_of, "the extended columns")
    return format_extended_csv(rows)


def outages_csv(engine: Engine, as_of: datetime | pd.Timestamp) -> str:
    """The stored outage list of one instant as ``storeuptime outages`` writes it."""
    with engine.connect() as conn:
        extended = read_extended_rows(conn, as_of)
        rows = read_outage_rows(conn, as_of)
    if extended is None:
        raise NoOutageSummary.of(as_of, "its outage list")
    return format_outages_csv(rows)
