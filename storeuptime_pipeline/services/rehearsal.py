"""A report's code path run once on a made-up fleet of a few stores, in memory, before any real report.

Why: the first report in a process pays for what only the first call of each code path pays (lazy
imports inside pandas and pyarrow, first-use caches of timezones and of numpy's and pandas' kernels):
on the seed fleet a cold on-demand report took 0.3 s longer than the second one in the same process,
0.2 s of it in the checks alone. A warm run worker is a fork of a zygote that has never reported, so
every on-demand report it runs would be a cold one; the zygote runs this once instead (it is forked
after, so every spare starts warm).

Nothing here touches a database, a file or a thread, and nothing it computes is kept: the rows are
made up, the result is thrown away. It follows ``report_shards.run_shard`` and ``_hour_result``
step by step (engine with the outage pass, the binary COPY payloads, the checks' parts, the CSV and
the figures), so a path those gain is one to add here.
"""

from __future__ import annotations

from typing import Final

import pandas as pd

from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS, reports_with_outages_for
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.db.copyio import binary_payload, utc_microseconds
from storeuptime_pipeline.db.outage_rows import outage_row_columns
from storeuptime_pipeline.db.report_rows import report_row_columns
from storeuptime_pipeline.fileio.report_csv import format_report_csv
from storeuptime_pipeline.services.report_checks import check_parts
from storeuptime_pipeline.services.reporting import (
    hourly_figures,
    summary,
    within_limits,
    worst_stores,
)
from storeuptime_pipeline.services.reporting_outages import most_outages

#: Zones with and without daylight saving, north and south, and a half-hour offset.
_ZONES: Final = ("America/Chicago", "America/New_York", "Asia/Kolkata", "Australia/Sydney", "Europe/London")
_AS_OF: Final = pd.Timestamp("2023-01-25 18:13:22", tz="UTC")


def rehearse_report() -> tuple[int, int]:
    """Run the report's steps on a made-up fleet (one store per zone); return its report and outage rows."""
    ids = [f"rehearsal-{i}" for i in range(len(_ZONES))]
    ago = [pd.Timedelta(hours=h) for h in (1, 30, 100)]  # inside the last hour, day and week
    polls = pd.DataFrame(
        {
            "store_id": pd.Categorical([s for _ in ago for s in ids]),
            "timestamp_utc": pd.DatetimeIndex([_AS_OF - a for a in ago for _ in ids]).as_unit("us"),
            "is_active": [a == ago[1] for a in ago for _ in ids],  # down a day ago: one outage each
        }
    )
    hours = pd.DataFrame(
        {
            "store_id": ids,
            "day_of_week": [i % 7 for i in range(len(ids))],
            "start_seconds": 9 * 3600,
            "end_seconds": 17 * 3600,
        }
    )
    timezones = pd.DataFrame(
        {"store_id": ids, "timezone_str": list(_ZONES), "timezone": list(_ZONES), "timezone_defaulted": False}
    )
    outages: list[pd.DataFrame] = []
    result = reports_with_outages_for(
        within_limits(polls),
        hours,
        timezones,
        [_AS_OF],
        with_business=True,
        exact=True,
        sink=outages.append,
    )
    report = result.report
    stored = report[["as_of", *REPORT_COLUMNS, *OUTAGE_SUMMARY_COLUMNS]]
    binary_payload(report_row_columns(stored, utc_microseconds(stored["as_of"]))[1])
    for chunk in outages:
        binary_payload(outage_row_columns(chunk))
    check_parts(report)
    format_report_csv(stored)
    hourly_figures(stored)
    summary(stored)
    worst_stores(stored)
    most_outages(stored)
    return len(report), sum(len(chunk) for chunk in outages)
