"""The uptime report assets: one hourly-partitioned report (computed in store shards) and the on-demand
report "as of now"."""

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    BackfillPolicy,
    Config,
    DynamicOut,
    DynamicOutput,
    Failure,
    In,
    MaterializeResult,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    PartitionsDefinition,
    asset,
    graph_asset,
    op,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from pydantic import Field
from sqlalchemy import Engine

from storeuptime_pipeline.core.limits import parse_as_of, time_limits
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.db.errors import ReadBlocked
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
)
from storeuptime_pipeline.services.report_shards import (
    HourResult,
    Published,
    Shard,
    ShardOutcome,
    clear_stale_runs,
    plan_shards,
    publish,
    report_in_process,
    run_shard,
)
from storeuptime_pipeline.services.reporting import NoPollsError, default_as_of, polls_outside_limits

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


def _checks(asset_name: str, hour: HourResult) -> list[AssetCheckResult]:
    """Check results of an unpartitioned report (one as-of)."""
    return [
        AssetCheckResult(
            asset_key=asset_name,
            check_name=o.name,
            passed=o.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata=_check_metadata(o),
        )
        for o in hour.checks
    ]


def _metadata(hour: HourResult, seconds: float) -> dict[str, object]:
    """Metadata of a one-report materialization (the on-demand report)."""
    meta: dict[str, object] = {
        "as_of": MetadataValue.timestamp(hour.as_of),
        "dagster/row_count": hour.rows,
        "seconds": round(seconds, 3),
        "csv_path": MetadataValue.path(str(hour.csv_path)),
        **{name: _number(value) for name, value in hour.figures.items()},
        "worst_stores_last_week": report_table(hour.worst_stores),
        "most_outages_last_week": report_table(hour.most_outages),
    }
    meta.update(hour.summary)
    return meta


def _number(value: object) -> int | float:
    value = value.item() if hasattr(value, "item") else value
    return value if isinstance(value, int) else float(value)


def hour_metadata(hour: HourResult, table_rows: int) -> dict[str, object]:
    """One hour's own materialization metadata: what the partitions page shows for that partition.

    Numbers only where a plot over partitions makes sense (``hourly_figures``); the worst stores
    and the most outages as tables with units.
    """
    return {
        "as_of": MetadataValue.timestamp(hour.as_of),
        "dagster/partition_row_count": hour.rows,
        "dagster/row_count": table_rows,
        **{name: _number(value) for name, value in hour.figures.items()},
        "csv_path": MetadataValue.path(str(hour.csv_path)),
        "worst_stores_last_week": report_table(hour.worst_stores),
        "most_outages_last_week": report_table(hour.most_outages),
    }


def build_and_store(
    engine: Engine,
    reports_dir,
    as_ofs: list[pd.Timestamp],
    shards: int | None = None,
    checks: bool = True,
) -> tuple[Published, dict[pd.Timestamp, Path]]:
    """Compute the reports of these instants from Postgres in shards (in this process), publish their
    rows in one transaction and write their CSVs (hour by hour, from the stored rows)."""
    published = report_in_process(engine, reports_dir, as_ofs, shards, checks)
    return published, published.paths


def _check_evaluations(
    context: AssetExecutionContext, published: Published
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per check and hour, each tied to that hour's materialization.

    ``AssetCheckResult`` has no partition field, and in a range run Dagster gives it none, so the
    evaluations are built here with their partition (the checks' specs are partitioned, so the run
    planned one execution per check and hour and these complete them). Then the check outputs
    (Nothing) that the graph maps to the asset's checks.
    """
    keys = [partition_of_as_of(hour.as_of) for hour in published.hours]
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=REPORT_KEY, asset_partitions=keys), limit=len(keys)
    ).records
    target = {}
    for record in records:  # newest first: this run's materializations
        target.setdefault(
            record.partition_key,
            AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            ),
        )
    for hour in published.hours:
        partition = partition_of_as_of(hour.as_of)
        for o in hour.checks:
            yield AssetCheckEvaluation(
                asset_key=REPORT_KEY,
                check_name=o.name,
                passed=o.passed,
                metadata=_check_metadata(o),
                target_materialization_data=target.get(partition),
                severity=AssetCheckSeverity.ERROR,
                blocking=_SPECS[o.name].blocking,
                partition=partition,
            )
    for output_name in _CHECK_OUTPUTS:
        yield Output(None, output_name=output_name)


def _say_ignored_polls(context: AssetExecutionContext, engine: Engine, meta: dict[str, object]) -> None:
    """Polls stored before the time limits existed are left out of every report: say how many."""
    ignored = polls_outside_limits(engine)
    meta["polls_ignored_outside_time_limits"] = ignored
    if ignored:
        context.log.warning(
            f"{ignored:,} stored poll(s) lie outside {time_limits().describe()} and were ignored "
            "(loaded before that limit existed; new files reject such rows)"
        )


# --- the hourly report: a graph of plan -> one step per store shard -> publish ---

REPORT_KEY = AssetKey("uptime_report")
#: The IO manager of the values between the report's steps (defs/resources.py ReportStepsIOManager).
REPORT_STEPS_IO = "report_steps_io"
_SPECS = {spec.name: spec for spec in _check_specs("uptime_report", hourly_partitions)}
#: The graph's output of each check (Dagster names them after the spec); the publish op has the same.
_CHECK_OUTPUTS = [spec.get_python_identifier() for spec in _SPECS.values()]


def _as_ofs(context: OpExecutionContext) -> list[pd.Timestamp]:
    window = context.partition_time_window
    return as_ofs_of_window(window.start, window.end)


@dataclass(frozen=True)
class ShardTask:
    """What the planning step hands each shard step: the run's token (its generation's key) and the shard."""

    token: str
    shard: Shard


@op(
    ins={asset.key.path[-1]: In(Nothing) for asset in INGEST_ASSETS},
    out=DynamicOut(io_manager_key=REPORT_STEPS_IO),
    description="Decide the number of store shards (STOREUPTIME_REPORT_SHARDS, default auto) and fan out.",
)
def uptime_report_plan(context: OpExecutionContext, database: DatabaseResource) -> Iterator[DynamicOutput]:
    as_ofs = _as_ofs(context)
    engine = database.engine()
    try:
        shards = plan_shards(engine, as_ofs)
    except ValueError as exc:  # a bad STOREUPTIME_REPORT_SHARDS: one line, no trace
        raise Failure(description=str(exc)) from None
    stale = clear_stale_runs(engine)
    context.log.info(
        f"computing {len(as_ofs)} hourly report(s), as of {as_ofs[0]} .. {as_ofs[-1]}, in {shards} store shard(s)"
        + (f"; deleted {stale:,} rows of runs that never published" if stale else "")
    )
    for i in range(shards):
        yield DynamicOutput(ShardTask(context.run_id, Shard(i, shards)), mapping_key=f"shard_{i}_of_{shards}")


@op(
    out=Out(io_manager_key=REPORT_STEPS_IO),
    description="Compute one store shard's reports and outage lists and write them, unpublished, to Postgres.",
)
def uptime_report_shard(
    context: OpExecutionContext, database: DatabaseResource, task: ShardTask
) -> tuple[str, ShardOutcome]:
    started = time.perf_counter()
    try:
        outcome = run_shard(database.engine(), _as_ofs(context), task.shard, task.token)
    except ReadBlocked as exc:  # one line, no trace: nothing was written (run_shard's one transaction)
        raise Failure(description=str(exc)) from None
    context.log.info(
        f"shard {task.shard.index} of {task.shard.count}: {int(outcome.rows.sum()):,} rows written (unpublished)"
        f" in {time.perf_counter() - started:.1f} s"
    )
    return task.token, outcome


@op(
    out={"result": Out(Nothing), **{name: Out(Nothing) for name in _CHECK_OUTPUTS}},
    description="Publish every shard's rows in one transaction, then each hour's CSV, metadata and checks.",
)
def uptime_report_publish(
    context: AssetExecutionContext,  # an op of a graph-backed asset may have it: add_asset_metadata(partition_key=)
    database: DatabaseResource,
    reports: ReportsFolderResource,
    staged: list[tuple[str, ShardOutcome]],
) -> Iterator[AssetCheckEvaluation | Output]:
    started = time.perf_counter()
    engine = database.engine()
    as_ofs = _as_ofs(context)
    tokens = {token for token, _ in staged}
    if len(tokens) != 1:
        raise Failure(description=f"the shards of one run wrote under {len(tokens)} tokens: {sorted(tokens)}")
    outcomes = [outcome for _, outcome in staged]
    shards = outcomes[0].shard.count if outcomes else 0
    try:
        published = publish(engine, reports.folder(), as_ofs, tokens.pop(), outcomes, shards)
    except NoPollsError as exc:
        raise Failure(description=str(exc)) from None
    with engine.connect() as conn:
        table_rows = queries.table_row_count(conn, "uptime_report")
    for hour in published.hours:
        context.add_asset_metadata(
            hour_metadata(hour, table_rows), partition_key=partition_of_as_of(hour.as_of)
        )
    seconds = time.perf_counter() - started
    stores = [h.figures["stores_reported"] for h in published.hours]
    down = [h.figures["stores_with_downtime_last_hour"] for h in published.hours]
    context.log.info(
        f"{published.rows:,} rows for {len(published.hours)} report(s) from {shards} shard(s), published in"
        f" {seconds:.1f} s; per hour: {min(stores):,}-{max(stores):,} stores, {min(down):,}-{max(down):,}"
        f" with downtime in the last hour; CSVs in {reports.folder()}"
    )
    # Range-wide figures: the same on every hour's event of this run, named so they are not read as the hour's.
    run_meta: dict[str, object] = {
        "run_reports": len(published.hours),
        "run_seconds": round(seconds, 3),
        "run_shards": shards,
    }
    _say_ignored_polls(context, engine, run_meta)
    yield Output(None, output_name="result", metadata=run_meta)
    yield from _check_evaluations(context, published)


@graph_asset(
    ins={asset.key.path[-1]: AssetIn(key=asset.key, dagster_type=Nothing) for asset in INGEST_ASSETS},
    partitions_def=hourly_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="report",
    check_specs=list(_SPECS.values()),
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "report"},
    metadata=table_definition_metadata("uptime_report"),
)
def uptime_report(store_status, business_hours, store_timezones) -> dict[str, object]:
    """Uptime and downtime within business hours, as of the end of each hourly partition.

    Computed in store shards: a planning step decides their number, one step per shard computes and
    writes its rows, unpublished (in parallel on Celery workers with STOREUPTIME_EXECUTOR=celery), and
    a publish step makes the hours show them in one transaction, so re-runs and overlapping backfills are safe
    and a reader never sees an hour half old, half new. A range run (a backfill) is one run that
    still records every hour as that hour's own materialization (as_of, row counts, figures, CSV
    path) with that hour's check results, so the partitions page tells each hour's truth.
    """
    tasks = uptime_report_plan(
        store_status=store_status, business_hours=business_hours, store_timezones=store_timezones
    )
    outputs = uptime_report_publish(staged=tasks.map(uptime_report_shard).collect())
    return {"result": outputs[0], **{name: getattr(outputs, name) for name in _CHECK_OUTPUTS}}


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
        published, paths = build_and_store(engine, reports.folder(), [as_of], checks=False)
    except (NoPollsError, ReadBlocked, ValueError) as exc:
        record_report(engine, report_id, context.run.run_id, status="failed", error=str(exc))
        raise Failure(description=str(exc)) from None
    # Complete as soon as the rows and the CSV are there; the checks follow on the materialization.
    record_report(
        engine, report_id, context.run.run_id, status="complete", as_of=as_of, csv_path=str(paths[as_of])
    )
    published = published.with_checks(engine)
    (hour,) = published.hours
    meta = _metadata(hour, time.perf_counter() - started)
    meta["report_id"] = report_id
    meta["shards"] = published.shards
    _say_ignored_polls(context, engine, meta)
    return MaterializeResult(metadata=meta, check_results=_checks("on_demand_report", hour))


REPORT_ASSETS = [uptime_report, on_demand_report]
