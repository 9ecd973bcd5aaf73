"""Pandera models of the three input files, built on the reading rules: the validation itself.

Each column has a pandera *parser* that calls the rule for that column (``rules.RULES``) and
leaves a missing value where the rule rejects the row, and a check, named after the rule's
reason (``RejectReason``), that the value is there. So pandera reads each value exactly once, and
validation is lazy: every failing row is collected, mapped back to its line number and returned as
a reject whose reason is the failed check's name. The CLI and ingestion both validate through
these models (``validation.validate_input``), so they cannot disagree on a row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from storeuptime_pipeline.core.inputs import REQUIRED_COLUMNS, Kind
from storeuptime_pipeline.core.reasons import empty_rejects
from storeuptime_pipeline.core.rules import RULES, Check, Rule

#: Parsed columns (by source column name), the mask of rows every rule accepted, and the rejects.
Parsed = tuple[dict[str, pd.Series], np.ndarray, pd.DataFrame]


def _rule(kind: Kind, column: str) -> Rule:
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


class _InputFile(pa.DataFrameModel):
    line: Series[int] = pa.Field(ge=1)

    class Config:
        strict = False
        coerce = False


def _column_parser(kind: Kind, column: str):
    def read(cls, values: pd.Series) -> pd.Series:
        return _parse(kind, column, values)

    return pa.parser(column)(read)


def _column_check(column: str, reason: str):
    """The parser's own reason: a value it left missing is a rejected row."""

    def present(cls, values: pd.Series) -> pd.Series:
        return values.notna()

    return pa.check(column, name=reason, ignore_na=False)(present)


def _limit_check(column: str, check: Check):
    """A rule's further check on the values its parser accepted (missing ones pass: already rejected)."""

    def within(cls, values: pd.Series) -> pd.Series:
        return pd.Series(~check.bad(values), index=values.index)

    return pa.check(column, name=check.text, ignore_na=False)(within)


def _model(kind: Kind, name: str, doc: str) -> type[_InputFile]:
    """A DataFrameModel whose parsers and checks are the kind's rules, in reading order.

    Built from ``RULES`` rather than written out, so a rule added there is validated by pandera
    without a second edit.
    """
    columns = REQUIRED_COLUMNS[kind]
    namespace: dict[str, object] = {
        "__module__": __name__,
        "__doc__": doc,
        "__annotations__": dict.fromkeys(columns, Series[Any]),
        **{column: pa.Field(nullable=True) for column in columns},
    }
    for rule in RULES[kind]:
        namespace[f"_read_{rule.column}"] = _column_parser(kind, rule.column)
        namespace[f"_check_{rule.column}"] = _column_check(rule.column, rule.text)
        for i, check in enumerate(rule.checks):
            namespace[f"_check_{rule.column}_{i}"] = _limit_check(rule.column, check)
    return type(name, (_InputFile,), namespace)


StatusFile = _model("status", "StatusFile", "A status file: store_id, status, timestamp_utc.")
HoursFile = _model(
    "hours", "HoursFile", "A business-hours file: store_id, day_of_week (or day), start and end local time."
)
TimezonesFile = _model(
    "timezones", "TimezonesFile", "A timezones file: store_id, timezone_str (unusable names are defaulted)."
)

MODELS: dict[Kind, type[_InputFile]] = {"status": StatusFile, "hours": HoursFile, "timezones": TimezonesFile}


def validate_rows(kind: Kind, frame: pd.DataFrame) -> Parsed:
    """Read and check a file's string frame through its pandera model, lazily.

    Returns the parsed columns, the mask of accepted rows and one reject per failing row, for the
    first rule it breaks in reading order (the parser of a column before that column's checks).
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
        # The first rule in reading order names the row, and within a column the parser comes first.
        order = {
            (rule.column, reason): i
            for i, (rule, reason) in enumerate((r, why) for r in RULES[kind] for why in r.texts())
        }
        rank = [order.get((c, k), len(order)) for c, k in zip(rows["column"], rows["check"], strict=True)]
        rows = rows.assign(rank=rank).sort_values(["index", "rank"]).drop_duplicates("index")
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
