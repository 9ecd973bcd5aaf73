"""Pandera models of the three input files, built on the engine's reading rules.

Each column has a pandera *parser* that calls the engine's rule for that column
(``engine.reading.RULES``) and leaves a missing value where the rule rejects the row, and a check,
named after the rule's reason, that the value is there. So pandera reads each value exactly once,
a row it rejects is exactly a row the CLI would leave out, for the same reason, and validation is
lazy: every failing row is collected, mapped back to its line number and returned as a reject.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from storeuptime_pipeline.engine.reading import RULES, Kind, Parsed, ReadResult, empty_rejects, read_input


def _rule(kind: Kind, column: str):
    return next(r for r in RULES[kind] if r.column == column)


def _parse(kind: Kind, column: str, values: pd.Series) -> pd.Series:
    """The rule's values, missing where the rule rejects the row (so a check can name the reason)."""
    parsed, bad = _rule(kind, column).parse(values)
    bad = bad.to_numpy(dtype=bool)
    if not bad.any():
        return parsed
    if parsed.dtype == bool:
        parsed = parsed.astype("boolean")
    elif pd.api.types.is_integer_dtype(parsed.dtype):
        parsed = parsed.astype("Int64")
    return parsed.mask(bad)


def _reason(kind: Kind, column: str) -> str:
    return _rule(kind, column).reason


class _InputFile(pa.DataFrameModel):
    line: Series[int] = pa.Field(ge=1)

    class Config:
        strict = False
        coerce = False


class StatusFile(_InputFile):
    """A status file: store_id, status, timestamp_utc."""

    store_id: Series[Any] = pa.Field(nullable=True)
    status: Series[Any] = pa.Field(nullable=True)
    timestamp_utc: Series[Any] = pa.Field(nullable=True)

    @pa.parser("store_id")
    def _read_store_id(cls, values: pd.Series) -> pd.Series:
        return _parse("status", "store_id", values)

    @pa.parser("timestamp_utc")
    def _read_timestamp(cls, values: pd.Series) -> pd.Series:
        return _parse("status", "timestamp_utc", values)

    @pa.parser("status")
    def _read_status(cls, values: pd.Series) -> pd.Series:
        return _parse("status", "status", values)

    @pa.check("store_id", name=_reason("status", "store_id"), ignore_na=False)
    def _store_id(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    @pa.check("timestamp_utc", name=_reason("status", "timestamp_utc"), ignore_na=False)
    def _timestamp(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    @pa.check("status", name=_reason("status", "status"), ignore_na=False)
    def _status(cls, values: pd.Series) -> pd.Series:
        return values.notna()


class HoursFile(_InputFile):
    """A business-hours file: store_id, day_of_week (or day), start_time_local, end_time_local."""

    store_id: Series[Any] = pa.Field(nullable=True)
    day_of_week: Series[Any] = pa.Field(nullable=True)
    start_time_local: Series[Any] = pa.Field(nullable=True)
    end_time_local: Series[Any] = pa.Field(nullable=True)

    @pa.parser("store_id")
    def _read_store_id(cls, values: pd.Series) -> pd.Series:
        return _parse("hours", "store_id", values)

    @pa.parser("day_of_week")
    def _read_day(cls, values: pd.Series) -> pd.Series:
        return _parse("hours", "day_of_week", values)

    @pa.parser("start_time_local")
    def _read_start(cls, values: pd.Series) -> pd.Series:
        return _parse("hours", "start_time_local", values)

    @pa.parser("end_time_local")
    def _read_end(cls, values: pd.Series) -> pd.Series:
        return _parse("hours", "end_time_local", values)

    @pa.check("store_id", name=_reason("hours", "store_id"), ignore_na=False)
    def _store_id(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    @pa.check("day_of_week", name=_reason("hours", "day_of_week"), ignore_na=False)
    def _day(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    @pa.check("start_time_local", name=_reason("hours", "start_time_local"), ignore_na=False)
    def _start(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    @pa.check("end_time_local", name=_reason("hours", "end_time_local"), ignore_na=False)
    def _end(cls, values: pd.Series) -> pd.Series:
        return values.notna()


class TimezonesFile(_InputFile):
    """A timezones file: store_id, timezone_str; an unusable timezone is defaulted, not rejected."""

    store_id: Series[Any] = pa.Field(nullable=True)
    timezone_str: Series[Any] = pa.Field(nullable=True)

    @pa.parser("store_id")
    def _read_store_id(cls, values: pd.Series) -> pd.Series:
        return _parse("timezones", "store_id", values)

    @pa.check("store_id", name=_reason("timezones", "store_id"), ignore_na=False)
    def _store_id(cls, values: pd.Series) -> pd.Series:
        return values.notna()


MODELS: dict[Kind, type[_InputFile]] = {"status": StatusFile, "hours": HoursFile, "timezones": TimezonesFile}


def validate_rows(kind: Kind, frame: pd.DataFrame) -> Parsed:
    """Read and check a file's string frame through its pandera model, lazily.

    Returns the parsed columns, the mask of accepted rows and one reject per failing row (for the
    first rule in reading order, the reason the CLI prints too).
    """
    columns = [r.column for r in RULES[kind]]
    try:
        validated = MODELS[kind].validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        structural = cases[cases["index"].isna()]
        if len(structural):
            problems = "; ".join(
                f"{c}: {k}" for c, k in zip(structural["column"], structural["check"], strict=True)
            )
            raise ValueError(f"{kind} file does not match its schema: {problems}") from None
        validated = errors.data
        rows = cases[cases["column"].isin(columns)]
        order = {c: i for i, c in enumerate(columns)}
        rows = (
            rows.assign(rank=rows["column"].map(order))
            .sort_values(["index", "rank"])
            .drop_duplicates("index")
        )
        positions = frame.index.get_indexer(rows["index"].astype(frame.index.dtype))
        ok = np.ones(len(frame), dtype=bool)
        ok[positions] = False
        rejects = pd.DataFrame(
            {
                "line": frame["line"].to_numpy()[positions].astype(np.int64),
                "column": rows["column"].to_numpy(),
                "reason": rows["check"].to_numpy(),
                "raw": "",
            }
        )
        return {c: validated[c] for c in columns}, ok, rejects
    return {c: validated[c] for c in columns}, np.ones(len(frame), dtype=bool), empty_rejects()


def read_validated(path: str | Path, kind: Kind) -> ReadResult:
    """Read a file for ingestion: the pandera models parse and check, the engine's rules inside."""
    return read_input(path, kind, screen=validate_rows)
