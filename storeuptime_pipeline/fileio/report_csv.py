"""CSV output: the report file, the extended report and the outage list, as text.

The engine (``core/report.py``, ``core/outages.py``) returns frames; this module turns them into the
exact files ``storeuptime report [--extended]`` and ``storeuptime outages`` write and the API
serves, so every path that shows a report formats it here. Arrow's C++ CSV writer does the
formatting because it is an order of magnitude faster than pandas' ``to_csv`` on a week of hourly
reports; a value that would need quoting (a store id with a comma or a quote, never seen in real
data) falls back to pandas, which quotes it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from storeuptime_pipeline.core.outages import EXTENDED_COLUMNS, OUTAGE_COLUMNS, OUTAGE_SUMMARY_COLUMNS
from storeuptime_pipeline.core.report import FIGURE_COLUMNS, REPORT_COLUMNS

REPORT_CSV_HEADER = ",".join(REPORT_COLUMNS) + "\n"
EXTENDED_CSV_HEADER = ",".join(EXTENDED_COLUMNS) + "\n"
OUTAGE_CSV_HEADER = ",".join(OUTAGE_COLUMNS) + "\n"

_NO_QUOTES = pacsv.WriteOptions(include_header=False, quoting_style="none")


def _cents(values: np.ndarray) -> pa.Array:
    """Figures as 2-decimal decimals, so they print as ``60.00`` (rounded to the cent first)."""
    cents = pa.array(np.round(values.astype(np.float64) * 100).astype(np.int64)).cast(pa.decimal128(19, 0))
    return pa.Array.from_buffers(pa.decimal128(19, 2), len(cents), cents.buffers())


def report_csv_table(report: pd.DataFrame) -> pa.Table:
    """The report columns as Arrow: store_id as text, the six figures with two decimals."""
    columns = {"store_id": pa.array(report["store_id"].astype("str").to_numpy(dtype=object), pa.string())}
    for column in FIGURE_COLUMNS:
        columns[column] = _cents(report[column].to_numpy(dtype=np.float64))
    return pa.table(columns)


def report_csv_bodies(report: pd.DataFrame, bounds: Sequence[tuple[int, int]]) -> list[str]:
    """CSV rows (no header) of each [start, end) row range: one Arrow table for all ranges."""
    table = report_csv_table(report)
    bodies = []
    for start, end in bounds:
        sink = io.BytesIO()
        try:
            pacsv.write_csv(table.slice(start, end - start), sink, write_options=_NO_QUOTES)
        except pa.ArrowInvalid:
            part = report.iloc[start:end][REPORT_COLUMNS]
            bodies.append(part.to_csv(index=False, header=False, float_format="%.2f", lineterminator="\n"))
            continue
        bodies.append(sink.getvalue().decode())
    return bodies


def format_report_csv(report: pd.DataFrame) -> str:
    """The report file: the exact header, two decimals, rows in the frame's (store_id) order."""
    return REPORT_CSV_HEADER + report_csv_bodies(report, [(0, len(report))])[0]


def _write(table: pa.Table, fallback: pd.DataFrame) -> str:
    """Arrow's writer without quoting; a value that would need quoting falls back to pandas."""
    sink = io.BytesIO()
    try:
        pacsv.write_csv(table, sink, write_options=_NO_QUOTES)
    except pa.ArrowInvalid:
        return fallback.to_csv(index=False, header=False, lineterminator="\n")
    return sink.getvalue().decode()


def extended_csv_table(report: pd.DataFrame) -> pa.Table:
    """The seven report columns exactly as the plain report writes them, then the four outage columns."""
    table = report_csv_table(report)
    for column in OUTAGE_SUMMARY_COLUMNS[:3]:
        table = table.append_column(column, pa.array(report[column].to_numpy(dtype=np.int64)))
    return table.append_column(
        "longest_outage_last_week", _cents(report["longest_outage_last_week"].to_numpy())
    )


def format_extended_csv(report: pd.DataFrame) -> str:
    """``storeuptime report --extended``: the report file with the outage summary appended."""
    fallback = report[EXTENDED_COLUMNS].copy()
    fallback["longest_outage_last_week"] = fallback["longest_outage_last_week"].map("{:.2f}".format)
    for column in FIGURE_COLUMNS:
        fallback[column] = fallback[column].map("{:.2f}".format)
    return EXTENDED_CSV_HEADER + _write(extended_csv_table(report), fallback)


def _whole_seconds(values: pd.Series) -> pa.Array:
    """Bounds shown to the second (floored): readable, and the exact figure is business_hours."""
    us = pd.DatetimeIndex(values).as_unit("us").asi8
    return pa.array(np.floor_divide(us, 1_000_000), pa.int64()).cast(pa.timestamp("s", tz="UTC"))


def outage_csv_table(outages: pd.DataFrame) -> pa.Table:
    """The outage list's columns as text: ISO 8601 bounds, start in the store's local time too."""
    start = _whole_seconds(outages["start_utc"])
    local = np.empty(len(outages), dtype=object)
    zones = outages["timezone"].to_numpy()
    for zone in pd.unique(zones):  # a loop over timezones (a dozen), not over outages
        mask = zones == zone
        local[mask] = pc.strftime(
            pc.filter(start, pa.array(mask)).cast(pa.timestamp("s", tz=str(zone))),
            format="%Y-%m-%dT%H:%M:%S%Ez",
        ).to_numpy(zero_copy_only=False)
    utc = "%Y-%m-%dT%H:%M:%SZ"
    return pa.table(
        {
            "store_id": pa.array(outages["store_id"].astype("str").to_numpy(dtype=object), pa.string()),
            "start_utc": pc.strftime(start, format=utc),
            "end_utc": pc.strftime(_whole_seconds(outages["end_utc"]), format=utc),
            "start_local": pa.array(local, pa.string()),
            "business_hours": _cents(outages["business_hours"].to_numpy()),
            "ongoing": pa.array(
                np.where(outages["ongoing"].to_numpy(dtype=bool), "true", "false"), pa.string()
            ),
        }
    )


def format_outages_csv(outages: pd.DataFrame) -> str:
    """``storeuptime outages``: one row per outage, sorted by store_id (as text) then start."""
    keyed = outages.assign(_id=outages["store_id"].astype(str))
    outages = keyed.sort_values(["_id", "start_utc"], kind="stable").drop(columns="_id")
    table = outage_csv_table(outages)
    return OUTAGE_CSV_HEADER + _write(table, table.to_pandas())
