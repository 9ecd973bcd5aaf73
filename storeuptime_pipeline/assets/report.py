"""The uptime report assets: one hourly-partitioned report and the on-demand report "as of now"."""

import time
import warnings

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field
from sqlalchemy import Engine

from storeuptime_pipeline.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.assets.metadata import markdown_table
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.engine.report import to_utc_timestamp
from storeuptime_pipeline.partitions import as_ofs_of_window, hourly_partitions
from storeuptime_pipeline.reporting import (
    NoPollsError,
    invariant_violations,
    latest_poll,
    summary,
    worst_stores,
    write_csvs,
)
from storeuptime_pipeline.reporting_outages import (
    compute_and_store,
    most_outages,
    outage_invariant_violations,
)
from storeuptime_pipeline.resources import DatabaseResource, ReportsFolderResource
from storeuptime_pipeline.run_records import record_report

# Single-run backfills are the point of this asset; the parameter is marked beta upstream.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`")

INVARIANT_CHECK = "uptime_plus_downtime_equals_business_time"
COVERAGE_CHECK = "every_polled_store_has_a_row"
OUTAGE_CHECK = "outages_add_up_to_downtime"


def _check_specs(asset_name: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            INVARIANT_CHECK,
            asset=asset_name,
            blocking=True,
            description="In every row and window, uptime + downtime equals the store's business time.",
        ),
        AssetCheckSpec(
            COVERAGE_CHECK,
            asset=asset_name,
            description="Every store with a poll at or before the as-of instant has a row.",
        ),
        AssetCheckSpec(
            OUTAGE_CHECK,
            asset=asset_name,
            blocking=True,
            description="In every row and window, the outages' business time equals the downtime (exactly).",
        ),
    ]


def _checks(asset_name: str, engine: Engine, report: pd.DataFrame) -> list[AssetCheckResult]:
    violations = invariant_violations(report)
    with engine.connect() as conn:
        first = queries.first_polls(conn)
    as_ofs = pd.DatetimeIndex(report["as_of"].unique())
    expected = (first["first_poll"].to_numpy()[:, None] <= as_ofs.to_numpy()[None, :]).sum(axis=0)
    actual = report.groupby("as_of").size().reindex(as_ofs, fill_value=0).to_numpy()
    missing = int((expected - actual).clip(min=0).sum())
    return [
        AssetCheckResult(
            asset_key=asset_name,
            check_name=INVARIANT_CHECK,
            passed=violations.empty,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "rows_checked": len(report),
                "violations": len(violations),
                "sample": markdown_table(violations),
            },
        ),
        AssetCheckResult(
            asset_key=asset_name,
            check_name=COVERAGE_CHECK,
            passed=missing == 0,
            severity=AssetCheckSeverity.ERROR,
            metadata={"stores_expected": int(expected.sum()), "rows": int(actual.sum()), "missing": missing},
        ),
        _outage_check(asset_name, report),
    ]


def _outage_check(asset_name: str, report: pd.DataFrame) -> AssetCheckResult:
    sample = outage_invariant_violations(report)
    bad = int(sample["rows"].iloc[0]) if len(sample) else 0
    return AssetCheckResult(
        asset_key=asset_name,
        check_name=OUTAGE_CHECK,
        passed=bad == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"rows_checked": len(report), "violations": bad, "sample": markdown_table(sample)},
    )


def _metadata(report: pd.DataFrame, paths: dict[pd.Timestamp, object], seconds: float) -> dict[str, object]:
    latest = report["as_of"].max()
    meta: dict[str, object] = {
        "as_of": MetadataValue.timestamp(latest),
        "reports": len(paths),
        "row_count": len(report),
        "seconds": round(seconds, 3),
        "csv_path": MetadataValue.path(str(paths[latest])),
        "worst_stores_last_week": markdown_table(worst_stores(report)),
        "most_outages_last_week": markdown_table(most_outages(report)),
    }
    meta.update(summary(report))
    return meta


def build_and_store(engine: Engine, reports_dir, as_ofs: list[pd.Timestamp]) -> tuple[pd.DataFrame, dict]:
    """Compute the reports of these instants from Postgres, replace their rows, write their CSVs."""
    report = compute_and_store(engine, as_ofs)  # report rows and outage lists, one transaction
    return report, write_csvs(reports_dir, report)


@asset(
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=INGEST_ASSETS,
    group_name="report",
    check_specs=_check_specs("uptime_report"),
    kinds={"postgres", "csv"},
)
def uptime_report(
    context: AssetExecutionContext, database: DatabaseResource, reports: ReportsFolderResource
) -> MaterializeResult:
    """Uptime and downtime within business hours, as of the end of each hourly partition.

    A range run (a backfill) computes all its hours in one pass and replaces their rows in one
    transaction, so re-runs and overlapping backfills are safe.
    """
    window = context.partition_time_window
    as_ofs = as_ofs_of_window(window.start, window.end)
    context.log.info(f"computing {len(as_ofs)} hourly report(s), as of {as_ofs[0]} .. {as_ofs[-1]}")
    started = time.perf_counter()
    engine = database.engine()
    try:
        report, paths = build_and_store(engine, reports.folder(), as_ofs)
    except NoPollsError as exc:
        raise Failure(description=str(exc)) from None
    context.log.info(
        f"{len(report):,} rows for {len(paths)} report(s) in {time.perf_counter() - started:.1f} s"
    )
    return MaterializeResult(
        metadata=_metadata(report, paths, time.perf_counter() - started),
        check_results=_checks("uptime_report", engine, report),
    )


class OnDemandReportConfig(Config):
    report_id: str = Field(default="", description="Id the API hands out; empty = this run's id")
    as_of: str = Field(default="", description="ISO instant; empty = the latest poll in the database")


@asset(
    deps=INGEST_ASSETS,
    group_name="report",
    check_specs=_check_specs("on_demand_report"),
    kinds={"postgres", "csv"},
)
def on_demand_report(
    context: AssetExecutionContext,
    config: OnDemandReportConfig,
    database: DatabaseResource,
    reports: ReportsFolderResource,
) -> MaterializeResult:
    """The report as of the latest poll (the original problem's "now"), or of a given instant, by report id."""
    engine = database.engine()
    report_id = config.report_id or context.run_id
    started = time.perf_counter()
    try:
        as_of = to_utc_timestamp(config.as_of) if config.as_of else latest_poll(engine)
        if as_of is None:
            raise NoPollsError("no polls in the database yet: ingest a status file first")
        report, paths = build_and_store(engine, reports.folder(), [as_of])
    except (NoPollsError, ValueError) as exc:
        record_report(engine, report_id, context.run_id, status="failed", error=str(exc))
        raise Failure(description=str(exc)) from None
    record_report(
        engine, report_id, context.run_id, status="complete", as_of=as_of, csv_path=str(paths[as_of])
    )
    meta = _metadata(report, paths, time.perf_counter() - started)
    meta["report_id"] = report_id
    return MaterializeResult(metadata=meta, check_results=_checks("on_demand_report", engine, report))


REPORT_ASSETS = [uptime_report, on_demand_report]
