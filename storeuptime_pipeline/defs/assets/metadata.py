"""Metadata an operator reads in the UI: Dagster tables with units in their column names, not raw dumps."""

from __future__ import annotations

import pandas as pd
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

#: Owner and tags on every table asset, so the catalog can be filtered by them.
OWNERS = ["team:storeuptime"]

_UNIT = {"hour": ("min", "minutes"), "day": ("h", "hours"), "week": ("h", "hours")}

#: Report value column -> (display name with its unit, description).
REPORT_VALUE_LABELS: dict[str, tuple[str, str]] = {
    f"{kind}_last_{window}": (
        f"{kind}_last_{window}_{short}",
        f"{kind} within business hours in the last {window}, in {long}",
    )
    for kind in ("uptime", "downtime")
    for window, (short, long) in _UNIT.items()
}


def _dagster_type(dtype: object) -> str:
    kind = getattr(dtype, "kind", "O")
    return {"b": "bool", "i": "int", "u": "int", "f": "float", "M": "timestamp"}.get(kind, "string")


def _cell(value: object) -> str | int | float | bool | None:
    """A table cell as Dagster accepts it: timestamps and other objects become text, NaN None."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def frame_table(
    frame: pd.DataFrame, max_rows: int = 10, descriptions: dict[str, str] | None = None
) -> MetadataValue:
    """A frame as a Dagster table (typed columns, optional per-column descriptions), cut to ``max_rows``."""
    shown = frame.head(max_rows)
    descriptions = descriptions or {}
    schema = TableSchema(
        columns=[
            TableColumn(str(name), _dagster_type(dtype), description=descriptions.get(str(name)))
            for name, dtype in shown.dtypes.items()
        ]
    )
    records = [
        TableRecord({str(name): _cell(value) for name, value in zip(shown.columns, row, strict=True)})
        for row in shown.itertuples(index=False)
    ]
    return MetadataValue.table(records, schema=schema)


def counts_frame_table(counts: dict[str, int], key: str = "reason", value: str = "rows") -> MetadataValue:
    """A {label: count} mapping as a two-column table (typed even when empty)."""
    frame = pd.DataFrame(
        {key: pd.Series(list(counts), dtype=object), value: pd.Series(list(counts.values()), dtype="int64")}
    )
    return frame_table(frame, max_rows=20)


def report_table(frame: pd.DataFrame, max_rows: int = 10) -> MetadataValue:
    """Report rows as a table whose column names carry their unit (``_min`` / ``_h``)."""
    labels = {column: label for column, (label, _) in REPORT_VALUE_LABELS.items()}
    descriptions = {label: text for label, text in REPORT_VALUE_LABELS.values()}
    return frame_table(frame.rename(columns=labels), max_rows=max_rows, descriptions=descriptions)


def _columns(*columns: tuple[str, str, str]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, kind, description=text) for name, kind, text in columns])


_REPORT_COLUMNS = (
    ("as_of", "timestamp", "the report instant T (UTC); windows end at T"),
    ("store_id", "string", "store id as given in the input files"),
    *((column, "float", text) for column, (_, text) in REPORT_VALUE_LABELS.items()),
    (
        "outages_last_hour",
        "int",
        "outages with business time in the last hour (NULL on rows from before 0003)",
    ),
    ("outages_last_day", "int", "outages with business time in the last day"),
    ("outages_last_week", "int", "outages with business time in the last week"),
    ("longest_outage_last_week", "float", "largest outage downtime in the last week, hours"),
)

#: Asset name -> (Postgres table it lives in, its column schema).
TABLES: dict[str, tuple[str, TableSchema]] = {
    "store_status": (
        "public.store_status",
        _columns(
            ("store_id", "string", "store id"),
            ("timestamp_utc", "timestamp", "poll instant (UTC)"),
            ("is_active", "bool", "true = the store answered 'active'"),
        ),
    ),
    "business_hours": (
        "public.business_hours",
        _columns(
            ("id", "int", "surrogate key"),
            ("store_id", "string", "store id"),
            ("day_of_week", "int", "local weekday, 0 = Monday"),
            ("start_local", "time", "opening, local wall-clock time"),
            ("end_local", "time", "closing, local wall-clock time (<= start: overnight)"),
        ),
    ),
    "store_timezones": (
        "public.stores",
        _columns(
            ("store_id", "string", "store id"),
            ("timezone_str", "string", "timezone as given in the file (may be empty or invalid)"),
            ("timezone", "string", "IANA timezone used by the report"),
            (
                "timezone_defaulted",
                "bool",
                "true = America/Chicago because the given one was missing/invalid",
            ),
            ("shard_hash", "int", "store_hash(store_id): the store's shard is shard_hash % N"),
        ),
    ),
    # The view of the rows each hour shows (a sharded run writes rows nobody reads before it publishes).
    "uptime_report": ("public.published_uptime_report", _columns(*_REPORT_COLUMNS)),
    "on_demand_report": ("public.published_uptime_report", _columns(*_REPORT_COLUMNS)),
}


def table_definition_metadata(asset_name: str) -> dict[str, object]:
    """Definition metadata Dagster's catalog reads: the table's name and column schema."""
    table_name, schema = TABLES[asset_name]
    return {
        "dagster/table_name": MetadataValue.text(table_name),
        "dagster/column_schema": MetadataValue.table_schema(schema),
    }
