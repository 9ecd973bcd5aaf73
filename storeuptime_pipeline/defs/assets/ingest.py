"""The ingest assets: each loads the files of one input kind from the landing folder into Postgres."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

if TYPE_CHECKING:
    from storeuptime_pipeline.services.loading import FileLoad

from storeuptime_pipeline.core.inputs import Kind
from storeuptime_pipeline.core.quarantine import MAX_REJECTED_SHARE
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.defs.assets.metadata import (
    OWNERS,
    TABLES,
    counts_frame_table,
    frame_table,
    table_definition_metadata,
)
from storeuptime_pipeline.defs.freshness import feed_freshness_policy
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.services.loading import FilesQuarantined

REJECTS_CHECK = "rejected_rows_at_most_1_percent"

#: Asset name of each input kind.
ASSET_OF_KIND: dict[Kind, str] = {
    "status": "store_status",
    "hours": "business_hours",
    "timezones": "store_timezones",
}


class IngestConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="File names in the landing folder; empty = every file of this kind "
        "(for hours and timezones, the newest one).",
    )
    force: bool = Field(default=False, description="Load status files again even if their content was loaded")
    accept_rejects: bool = Field(
        default=False,
        description="Load files whose rejected share is over the limit anyway (otherwise they are "
        "quarantined: nothing written, the run fails naming them)",
    )


def _metadata(loads: Sequence["FileLoad"], skipped: Sequence[str]) -> dict[str, object]:
    reasons: dict[str, int] = {}
    for load in loads:
        for reason, count in load.reject_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    meta: dict[str, object] = {
        "files": ", ".join(load.path.name for load in loads) or "(none)",
        "rows_read": sum(load.rows_read for load in loads),
        "rows_loaded": sum(load.rows_loaded for load in loads),
        "rows_rejected": sum(load.rows_rejected for load in loads),
        "rows_changed": sum(load.rows_changed for load in loads),
        "distinct_stores": max((load.stores for load in loads), default=0),
        "reject_reasons": counts_frame_table(reasons),
    }
    if skipped:
        meta["skipped_already_loaded"] = ", ".join(skipped)
    ranges = [load.time_range for load in loads if load.time_range]
    if ranges:
        meta["first_poll"] = MetadataValue.timestamp(min(r[0] for r in ranges))
        meta["last_poll"] = MetadataValue.timestamp(max(r[1] for r in ranges))
    if loads:
        meta["preview"] = frame_table(loads[-1].preview)
        rejected = [
            load.rejected_sample.assign(file=load.path.name) for load in loads if len(load.rejected_sample)
        ]
        if rejected:
            meta["rejected_sample"] = frame_table(rejected[0], max_rows=10)
    for load in loads:
        for note, count in load.notes.items():
            if count:
                meta[note] = count
    return meta


def _table_metadata(database: DatabaseResource, kind: Kind) -> dict[str, object]:
    """What the catalog reads after any load: the table's row count and, for polls, the newest poll.

    ``dagster/last_updated_timestamp`` is the newest poll in the database (not the load time), so
    the freshness check follows the data: a file of old polls does not make the feed look fresh.
    """
    table = TABLES[ASSET_OF_KIND[kind]][0].removeprefix("public.")
    with database.engine().connect() as conn:
        meta: dict[str, object] = {"dagster/row_count": queries.table_row_count(conn, table)}
        if kind == "status":
            newest = queries.latest_poll_time(conn)
            if newest is not None:
                meta["newest_poll"] = MetadataValue.timestamp(newest)
                meta["dagster/last_updated_timestamp"] = MetadataValue.timestamp(newest)
    return meta


def _rejects_check(asset_name: str, loads: Sequence["FileLoad"]) -> AssetCheckResult:
    """Over the limit here means accepted by the operator (otherwise it was quarantined): a warning."""
    worst = max(loads, key=lambda load: load.reject_share, default=None)
    share = worst.reject_share if worst else 0.0
    return AssetCheckResult(
        asset_key=asset_name,
        check_name=REJECTS_CHECK,
        passed=share <= MAX_REJECTED_SHARE,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "worst_file": worst.path.name if worst else "(none)",
            "rejected_share": MetadataValue.float(round(share, 6)),
            "limit": MetadataValue.float(MAX_REJECTED_SHARE),
            "accepted_over_limit": share > MAX_REJECTED_SHARE,
        },
    )


def ingest(
    context: AssetExecutionContext,
    kind: Kind,
    config: IngestConfig,
    landing: LandingFolderResource,
    database: DatabaseResource,
) -> MaterializeResult:
    """Shared body of the three ingest assets: find the files, load them, describe the load."""
    from storeuptime_pipeline.services.loading import (
        already_loaded,
        load_files,
    )  # pandera: only in ingest runs

    asset_name = ASSET_OF_KIND[kind]
    try:
        paths = landing.files(kind, config.files)
    except FileNotFoundError as exc:
        raise Failure(description=str(exc)) from None
    if not paths:
        raise Failure(description=f"no {kind} file in the landing folder {landing.folder()}")
    engine = database.engine()
    skipped: list[str] = []
    if kind == "status" and not config.force:
        seen = already_loaded(engine, kind, paths)
        skipped = [p.name for p in paths if p in seen]
        paths = [p for p in paths if p not in seen]
    context.log.info(
        f"loading {len(paths)} {kind} file(s): {', '.join(p.name for p in paths) or '(none new)'}"
    )
    try:
        loads = load_files(engine, kind, paths, accept_rejects=config.accept_rejects) if paths else []
    except FilesQuarantined as exc:
        loaded = [load for load in exc.loads if not load.quarantined]
        raise Failure(description=str(exc), metadata=_metadata(loaded, skipped)) from None
    for load in loads:
        context.log.info(
            f"{load.path.name}: {load.rows_read:,} rows read, {load.rows_loaded:,} loaded, "
            f"{load.rows_rejected:,} rejected, {load.rows_changed:,} changed"
        )
    return MaterializeResult(
        metadata=_metadata(loads, skipped), check_results=[_rejects_check(asset_name, loads)]
    )


def _check_spec(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        REJECTS_CHECK,
        asset=asset_name,
        blocking=True,
        description="A file with more than 1% of its rows unreadable is quarantined (nothing written, the "
        "run fails); this check warns when such a file was loaded anyway with accept_rejects.",
    )


@asset(
    group_name="ingest",
    check_specs=[_check_spec("store_status")],
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "ingest"},
    metadata=table_definition_metadata("store_status"),
    freshness_policy=feed_freshness_policy(),
)
def store_status(
    context: AssetExecutionContext,
    config: IngestConfig,
    landing: LandingFolderResource,
    database: DatabaseResource,
) -> MaterializeResult:
    """Status polls appended to ``store_status`` (upsert on store and timestamp: re-loads change nothing)."""
    result = ingest(context, "status", config, landing, database)
    context.add_asset_metadata(_table_metadata(database, "status"))
    return result


@asset(
    group_name="ingest",
    check_specs=[_check_spec("business_hours")],
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "ingest"},
    metadata=table_definition_metadata("business_hours"),
)
def business_hours(
    context: AssetExecutionContext,
    config: IngestConfig,
    landing: LandingFolderResource,
    database: DatabaseResource,
) -> MaterializeResult:
    """The business-hours snapshot: replaces ``business_hours`` in one transaction."""
    result = ingest(context, "hours", config, landing, database)
    context.add_asset_metadata(_table_metadata(database, "hours"))
    return result


@asset(
    group_name="ingest",
    check_specs=[_check_spec("store_timezones")],
    kinds={"postgres", "csv"},
    owners=OWNERS,
    tags={"domain": "uptime", "layer": "ingest"},
    metadata=table_definition_metadata("store_timezones"),
)
def store_timezones(
    context: AssetExecutionContext,
    config: IngestConfig,
    landing: LandingFolderResource,
    database: DatabaseResource,
) -> MaterializeResult:
    """The timezone snapshot: sets every store's timezone (absent or invalid: America/Chicago)."""
    result = ingest(context, "timezones", config, landing, database)
    context.add_asset_metadata(_table_metadata(database, "timezones"))
    return result


INGEST_ASSETS = [store_status, business_hours, store_timezones]
