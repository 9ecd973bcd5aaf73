"""The report's hourly partitions, in UTC: partition ``YYYY-MM-DD-HH:00`` is the report as of the END of that hour."""

from __future__ import annotations

import pandas as pd
from dagster import HourlyPartitionsDefinition

from storeuptime_pipeline import settings

HOUR = pd.Timedelta(hours=1)

hourly_partitions = HourlyPartitionsDefinition(start_date=settings.partitions_start(), timezone="UTC")


def as_of_of_partition(partition_key: str) -> pd.Timestamp:
    """Partition 09:00 covers [09:00, 10:00): its report is as of 10:00."""
    start = pd.Timestamp(pd.to_datetime(partition_key, format="%Y-%m-%d-%H:%M")).tz_localize("UTC")
    return start + HOUR


def partition_of_as_of(as_of: pd.Timestamp) -> str:
    """The partition whose report is as of ``as_of`` (an hour boundary)."""
    return (as_of - HOUR).strftime("%Y-%m-%d-%H:%M")


def as_ofs_of_window(start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """The as-of instants of every partition in the time window [start, end)."""
    start, end = pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")
    return list(pd.date_range(start + HOUR, end, freq="h"))
