"""Warning checks on the ingested data: stores with polls but no timezone or no business hours, and
whether the newest poll is recent.

They do not block anything (the report has defaults for both inputs, and a historical data set is
legitimate) but tell an operator which stores are reported on America/Chicago time or as open 24x7
because an input is missing, and when the status feed stopped.
"""

from datetime import UTC, datetime

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from storeuptime_pipeline import settings
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.defs.assets.ingest import business_hours, store_status, store_timezones
from storeuptime_pipeline.defs.assets.metadata import frame_table
from storeuptime_pipeline.defs.resources import DatabaseResource


def _result(flag: str, database: DatabaseResource, meaning: str) -> AssetCheckResult:
    with database.engine().connect() as conn:
        stores = queries.polled_stores_inputs(conn)
    flagged = stores[stores[flag]]
    share = len(flagged) / len(stores) if len(stores) else 0.0
    return AssetCheckResult(
        passed=flagged.empty,
        severity=AssetCheckSeverity.WARN,
        description=f"{len(flagged):,} of {len(stores):,} polled stores {meaning}" if len(flagged) else None,
        metadata={
            "polled_stores": len(stores),
            "flagged_stores": len(flagged),
            "flagged_share": round(share, 4),
            "meaning": meaning,
            "sample": frame_table(
                flagged[["store_id"]].sort_values("store_id").assign(reported_as=meaning),
                descriptions={
                    "store_id": "store with polls",
                    "reported_as": "what the report assumes for it",
                },
            ),
        },
    )


@asset_check(
    asset=store_status,
    additional_deps=[store_timezones],
    description="Stores with polls but no usable timezone (reported on America/Chicago).",
)
def polled_stores_have_timezone(database: DatabaseResource) -> AssetCheckResult:
    return _result("no_timezone", database, "reported in America/Chicago time")


@asset_check(
    asset=store_status,
    additional_deps=[business_hours],
    description="Stores with polls but no business hours (reported as open 24x7).",
)
def polled_stores_have_hours(database: DatabaseResource) -> AssetCheckResult:
    return _result("no_hours", database, "reported as open 24x7")


FEED_CHECK = "newest_poll_is_recent"


def feed_check_result(newest: pd.Timestamp | None, now: pd.Timestamp) -> AssetCheckResult:
    """Compare the newest poll (not the load time) with the clock and the feed's fail window."""
    limit = settings.feed_fail_window()
    limit_hours = limit.total_seconds() / 3600
    if newest is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description="no polls in the database yet: ingest a status file",
            metadata={"fail_after_hours": limit_hours},
        )
    age = now - newest
    age_text = f"{age.days:,} days" if age >= pd.Timedelta(days=2) else f"{age.total_seconds() / 3600:.1f} h"
    passed = age < limit
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        description=f"newest poll {newest:%Y-%m-%d %H:%M:%S} UTC is {age_text} old (limit {limit_hours:g} h)"
        + ("" if passed else ": the status feed has stopped, or only old polls were loaded"),
        metadata={
            "newest_poll": MetadataValue.timestamp(newest),
            "age_hours": round(age.total_seconds() / 3600, 2),
            "fail_after_hours": limit_hours,
        },
    )


@asset_check(
    asset=store_status,
    description="Warns when the newest poll in the database is older than STOREUPTIME_FEED_FAIL_HOURS "
    "(default 2 h): the poll-time counterpart of store_status's FreshnessPolicy, which Dagster measures "
    "from the load time. Runs with every ingest.",
)
def newest_poll_is_recent(database: DatabaseResource) -> AssetCheckResult:
    with database.engine().connect() as conn:
        newest = queries.latest_poll_time(conn)
    return feed_check_result(newest, pd.Timestamp(datetime.now(UTC)))


INGEST_CHECKS = [polled_stores_have_timezone, polled_stores_have_hours, newest_poll_is_recent]
