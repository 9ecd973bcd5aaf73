"""The uptime report assets: one hourly-partitioned report and the on-demand report "as of now"."""

import time
import warnings
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetRecordsFilter,
    BackfillPolicy,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    PartitionsDefinition,
    asset,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from pydantic import Field
from sqlalchemy import Engine

from storeuptime_pipeline.core.limits import parse_as_of, time_limits
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.db.run_records import record_report
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.metadata import (
    OWNERS,
    frame_table,
    report_table,
    table_definition_metadata,
)
from storeuptime_pipeline.defs.partitions import as_ofs_of_window, hourly_partitions, partition_of_as_of
from storeuptime_pipeline.defs.resources import DatabaseResource, ReportsFolderResource
from storeuptime_pipeline.services.report_checks import (
    COVERAGE_CHECK,
    INVARIANT_CHECK,
    OUTAGE_CHECK,
    CheckOutcome,
    report_check_outcomes,
)
from storeuptime_pipeline.services.reporting import (
    NoPollsError,
    default_as_of,
    hourly_figures,
    polls_outside_limits,
    summary,
    worst_stores,
    worst_stores_by_as_of,
    write_csvs,
)
from storeuptime_pipeline.services.reporting_outages import compute_and_store, most_outages

# Single-run backfills are the point of this asset; the parameter is marked beta upstream.
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`")
# Partitioned check specs (one result per check and hour) are marked preview upstream.
warnings.filterwarnings("ignore", message=r".*partitions_def on an AssetCheckSpec")


def _check_specs(asset_name: str, partitions_def: PartitionsDefinition | None = None) -> list[AssetCheckSpec]:
    """The report's checks; on the hourly asset they are partitioned, so each hour has its own result."""
    return [
        AssetCheckSpec(
            INVARIANT_CHECK,
            asset=asset_name,
            blocking=True,
            description="In every row and window, uptime + downtime equals the store's business time.",
            partitions_def=partitions_def,
        ),
        AssetCheckSpec(
            COVERAGE_CHECK,
            asset=asset_name,
            description="Every store with a poll at or before the as-of instant has a row.",
            partitions_def=partitions_def,
        ),
        AssetCheckSpec(
            OUTAGE_CHECK,
            asset=asset_name,
            blocking=True,
            description="In every row and window, the outages' business time equals the downtime (exactly).",
            partitions_def=partitions_def,
        ),
    ]


def _check_metadata(outcome: CheckOutcome) -> dict[str, object]:
    """The outcome's metadata as Dagster shows it: sample frames as tables."""
    return {k: frame_table(v) if isinstance(v, pd.DataFrame) else v for k, v in outcome.metadata.items()}


def _checks(asset_name: str, engine: Engine, report: pd.DataFrame) -> list[AssetCheckResult]:
    """Check results of an unpartitioned report (one as-of)."""
    return [
        AssetCheckResult(
            asset_key=asset_name,
            check_name=o.name,
            passed=o.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata=_check_metadata(o),
        )
        for outcomes in report_check_outcomes(engine, report).values()
        for o in outcomes
    ]


def _metadata(report: pd.DataFrame, paths: dict[pd.Timestamp, object], seconds: float) -> dict[str, object]:
    """Metadata of a one-report materialization (the on-demand report)."""
    latest = report["as_of"].max()
    figures = hourly_figures(report).loc[latest]
    meta: dict[str, object] = {
        "as_of": MetadataValue.timestamp(latest),
        "dagster/row_count": len(report),
        "seconds": round(seconds, 3),
        "csv_path": MetadataValue.path(str(paths[latest])),
        **{name: _number(value) for name, value in figures.items()},
        "worst_stores_last_week": report_table(worst_stores(report)),
        "most_outages_last_week": report_table(most_outages(report)),
    }
    meta.update(summary(report))
    return meta


def _number(value: object) -> int | float:
    value = value.item() if hasattr(value, "item") else value
    return value if isinstance(value, int) else float(value)


def partition_metadata(
    report: pd.DataFrame, figures: pd.DataFrame, paths: dict[pd.Timestamp, object], table_rows: int
) -> dict[str, dict[str, object]]:
    """Each hour's own materialization metadata, keyed by partition: what the partitions page shows.

    Numbers only where a plot over partitions makes sense (``figures`` = ``hourly_figures(report)``);
    the worst stores as a table with units.
    """
    worst = worst_stores_by_as_of(report)
    rows_of = report.groupby("as_of").indices  # positions per hour: no repeated filtering of the frame
    out: dict[str, dict[str, object]] = {}
    for as_of, row in figures.iterrows():
        stores = int(row["stores_reported"])
        out[partition_of_as_of(as_of)] = {
            "as_of": MetadataValue.timestamp(as_of),
            "dagster/partition_row_count": stores,
            "dagster/row_count": table_rows,
            **{name: _number(value) for name, value in row.items()},
            "csv_path": MetadataValue.path(str(paths[as_of])),
            "worst_stores_last_week": report_table(worst[as_of]),
            "most_outages_last_week": report_table(most_outages(report.iloc[rows_of[as_of]])),
        }
    return out


def build_and_store(engine: Engine, reports_dir, as_ofs: list[pd.Timestamp]) -> tuple[pd.DataFrame, dict]:
    """Compute the reports of these instants from Postgres, replace their rows, write their CSVs."""
    report = compute_and_store(engine, as_ofs)  # report rows and outage lists, one transaction
    return report, write_csvs(reports_dir, report)


def _partition_check_evaluations(
    context: AssetExecutionContext, engine: Engine, report: pd.DataFrame
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per check and hour, each tied to that hour's materialization.

    ``AssetCheckResult`` has no partition field, and in a range run Dagster gives it none, so the
    evaluations are built here with their partition (the checks' specs are partitioned, so the run
    planned one execution per check and hour and these complete them).
    """
    selected = {key.name: key for key in context.selected_asset_check_keys}
    outcomes = report_check_outcomes(engine, report)
    keys = [partition_of_as_of(as_of) for as_of in outcomes]
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=keys), limit=len(keys)
    ).records
    target = {}
    for record in records:  # newest first: this run's materializations
        target.setdefault(
            record.partition_key,
            AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            ),
        )
    specs = {spec.name: spec for spec in context.assets_def.check_specs}
    for as_of, partition_outcomes in outcomes.items():
        partition = partition_of_as_of(as_of)
        for o in partition_outcomes:
            if o.name not in selected:
                continue
            yield AssetCheckEvaluation(
                asset_key=context.asset_key,
                check_name=o.name,
                passed=o.passed,
                metadata=_check_metadata(o),
                target_materialization_data=target.get(partition),
                severity=AssetCheckSeverity.ERROR,
                blocking=specs[o.name].blocking,
                partition=partition,
            )
    for key in selected.values():
        yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


def _say_ignored_polls(context: AssetExecutionContext, engine: Engine, meta: dict[str, object]) -> None:
    """Polls stored before the time limits existed are left out of every report: say how many."""
    ignored = polls_outside_limits(engine)
    meta["polls_ignored_outside_time_limits"] = ignored
    if ignored:
        context.log.warning(
            f"{ignored:,} stored poll(s) lie outside {time_limits().describe()} and were ignored "
            "(loaded before that limit existed; new files reject such rows)"
        )


@asset(
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    deps=INGEST_ASSETS,
    group_name="report",
    check_specs=_check_specs("uptime_report", hourly_partitions),
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "report"},
    metadata=table_definition_metadata("uptime_report"),
)
def uptime_report(
    context: AssetExecutionContext, database: DatabaseResource, reports: ReportsFolderResource
) -> Iterator[MaterializeResult | AssetCheckEvaluation | Output]:
    """Uptime and downtime within business hours, as of the end of each hourly partition.

    A range run (a backfill) computes all its hours in one pass and replaces their rows in one
    transaction, so re-runs and overlapping backfills are safe. It still records every hour as that
    hour's own materialization (as_of, row counts, figures, CSV path) with that hour's check results,
    so the partitions page and plots by partition tell each hour's truth; the run logs the summary.
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
    with engine.connect() as conn:
        table_rows = queries.table_row_count(conn, "uptime_report")
    figures = hourly_figures(report)
    for partition, meta in partition_metadata(report, figures, paths, table_rows).items():
        context.add_asset_metadata(meta, partition_key=partition)
    seconds = time.perf_counter() - started
    context.log.info(
        f"{len(report):,} rows for {len(paths)} report(s) in {seconds:.1f} s; per hour: "
        f"{figures['stores_reported'].min():,}-{figures['stores_reported'].max():,} stores, "
        f"{figures['stores_with_downtime_last_hour'].min():,}-{figures['stores_with_downtime_last_hour'].max():,}"
        f" with downtime in the last hour; CSVs in {reports.folder()}"
    )
    # Range-wide figures: the same on every hour's event of this run, named so they are not read as the hour's.
    run_meta: dict[str, object] = {"run_reports": len(paths), "run_seconds": round(seconds, 3)}
    _say_ignored_polls(context, engine, run_meta)
    yield MaterializeResult(metadata=run_meta)
    yield from _partition_check_evaluations(context, engine, report)


class OnDemandReportConfig(Config):
    report_id: str = Field(default="", description="Id the API hands out; empty = this run's id")
    as_of: str = Field(default="", description="ISO instant; empty = the latest poll in the database")


@asset(
    deps=INGEST_ASSETS,
    group_name="report",
    check_specs=_check_specs("on_demand_report"),
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "report"},
    metadata=table_definition_metadata("on_demand_report"),
)
def on_demand_report(
    context: AssetExecutionContext,
    config: OnDemandReportConfig,
    database: DatabaseResource,
    reports: ReportsFolderResource,
) -> MaterializeResult:
    """The report as of the latest poll (the original problem's "now"), or of a given instant, by report id."""
    engine = database.engine()
    report_id = config.report_id or context.run.run_id
    started = time.perf_counter()
    try:
        as_of = parse_as_of(config.as_of) if config.as_of else default_as_of(engine)
        if as_of is None:
            ignored = polls_outside_limits(engine)
            if ignored:
                raise NoPollsError(
                    f"every stored poll ({ignored:,}) lies outside {time_limits().describe()}: "
                    "ingest a status file with current polls"
                )
            raise NoPollsError("no polls in the database yet: ingest a status file first")
        report, paths = build_and_store(engine, reports.folder(), [as_of])
    except (NoPollsError, ValueError) as exc:
        record_report(engine, report_id, context.run.run_id, status="failed", error=str(exc))
        raise Failure(description=str(exc)) from None
    record_report(
        engine, report_id, context.run.run_id, status="complete", as_of=as_of, csv_path=str(paths[as_of])
    )
    meta = _metadata(report, paths, time.perf_counter() - started)
    meta["report_id"] = report_id
    _say_ignored_polls(context, engine, meta)
    return MaterializeResult(metadata=meta, check_results=_checks("on_demand_report", engine, report))


REPORT_ASSETS = [uptime_report, on_demand_report]
