"""Warning checks on the ingested data: stores with polls but no timezone or no business hours.

They do not block anything (the report has defaults for both) but tell an operator which stores
are reported on America/Chicago time or as open 24x7 because an input is missing.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, asset_check

from storeuptime_pipeline.assets.ingest import business_hours, store_status, store_timezones
from storeuptime_pipeline.assets.metadata import markdown_table
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.resources import DatabaseResource


def _result(flag: str, database: DatabaseResource, meaning: str) -> AssetCheckResult:
    with database.engine().connect() as conn:
        stores = queries.polled_stores_inputs(conn)
    flagged = stores[stores[flag]]
    return AssetCheckResult(
        passed=flagged.empty,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "polled_stores": len(stores),
            "flagged_stores": len(flagged),
            "meaning": meaning,
            "sample": markdown_table(flagged[["store_id"]]),
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


INGEST_CHECKS = [polled_stores_have_timezone, polled_stores_have_hours]
