"""Pandera models of the three input files, built on the engine's reading rules.

Each check calls the same rule the CLI uses (``engine.reading.RULES``), so a row pandera
rejects is exactly a row the report engine would leave out, for the same reason. Validation is
lazy: every failing row is collected, mapped back to its line number, and returned as a reject
instead of failing the load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from storeuptime_pipeline.engine.reading import RULES, Kind, ReadResult, empty_rejects, read_input


def _ok(kind: Kind, column: str, values: pd.Series) -> pd.Series:
    rule = next(r for r in RULES[kind] if r.column == column)
    return ~rule.parse(values)[1]


def _reason(kind: Kind, column: str) -> str:
    return next(r.reason for r in RULES[kind] if r.column == column)


class _InputFile(pa.DataFrameModel):
    line: Series[int] = pa.Field(ge=1)

    class Config:
        strict = False
        coerce = False


class StatusFile(_InputFile):
    """store_id, status, timestamp_utc as read from a status file (strings)."""

    store_id: Series[str]
    status: Series[str]
    timestamp_utc: Series[str]

    @pa.check("store_id", name=_reason("status", "store_id"))
    def _store_id(cls, values: Series[str]) -> Series[bool]:
        return _ok("status", "store_id", values)

    @pa.check("timestamp_utc", name=_reason("status", "timestamp_utc"))
    def _timestamp(cls, values: Series[str]) -> Series[bool]:
        return _ok("status", "timestamp_utc", values)

    @pa.check("status", name=_reason("status", "status"))
    def _status(cls, values: Series[str]) -> Series[bool]:
        return _ok("status", "status", values)


class HoursFile(_InputFile):
    """store_id, day_of_week, start_time_local, end_time_local as read from a business-hours file."""

    store_id: Series[str]
    day_of_week: Series[str]
    start_time_local: Series[str]
    end_time_local: Series[str]

    @pa.check("store_id", name=_reason("hours", "store_id"))
    def _store_id(cls, values: Series[str]) -> Series[bool]:
        return _ok("hours", "store_id", values)

    @pa.check("day_of_week", name=_reason("hours", "day_of_week"))
    def _day(cls, values: Series[str]) -> Series[bool]:
        return _ok("hours", "day_of_week", values)

    @pa.check("start_time_local", name=_reason("hours", "start_time_local"))
    def _start(cls, values: Series[str]) -> Series[bool]:
        return _ok("hours", "start_time_local", values)

    @pa.check("end_time_local", name=_reason("hours", "end_time_local"))
    def _end(cls, values: Series[str]) -> Series[bool]:
        return _ok("hours", "end_time_local", values)


class TimezonesFile(_InputFile):
    """store_id, timezone_str; an unusable timezone is defaulted, not rejected."""

    store_id: Series[str]
    timezone_str: Series[str]

    @pa.check("store_id", name=_reason("timezones", "store_id"))
    def _store_id(cls, values: Series[str]) -> Series[bool]:
        return _ok("timezones", "store_id", values)


MODELS: dict[Kind, type[_InputFile]] = {"status": StatusFile, "hours": HoursFile, "timezones": TimezonesFile}


def validate_rows(kind: Kind, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Lazily validate a file's string frame; returns (valid rows, rejects with line and reason).

    A row failing several checks is rejected once, for the first rule in reading order, the
    same reason the CLI prints.
    """
    try:
        MODELS[kind].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        row_cases = cases[cases["index"].notna() & cases["column"].isin([r.column for r in RULES[kind]])]
        structural = cases[cases["index"].isna()]
        if len(structural):
            problems = "; ".join(
                f"{c}: {k}" for c, k in zip(structural["column"], structural["check"], strict=True)
            )
            raise ValueError(f"{kind} file does not match its schema: {problems}") from None
        order = {r.column: i for i, r in enumerate(RULES[kind])}
        row_cases = row_cases.assign(rank=row_cases["column"].map(order)).sort_values(["index", "rank"])
        first = row_cases.drop_duplicates("index")
        positions = frame.index.get_indexer(first["index"].astype(frame.index.dtype))
        rejects = pd.DataFrame(
            {
                "line": frame["line"].to_numpy()[positions].astype(np.int64),
                "column": first["column"].to_numpy(),
                "reason": first["check"].to_numpy(),
                "raw": "",
            }
        ).sort_values("line", kind="stable")
        keep = np.ones(len(frame), dtype=bool)
        keep[positions] = False
        return frame.loc[keep].reset_index(drop=True), rejects.reset_index(drop=True)
    return frame, empty_rejects()


def read_validated(path: str | Path, kind: Kind) -> ReadResult:
    """Read a file for ingestion: the pandera models screen the rows, the engine's parsers convert."""
    return read_input(path, kind, screen=validate_rows)
