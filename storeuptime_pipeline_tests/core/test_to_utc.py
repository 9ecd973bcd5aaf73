"""The one UTC reading of an instant (core/limits.py ``to_utc``) that the engine, db/ and the API share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from storeuptime_pipeline.core.limits import to_utc

NOON = pd.Timestamp("2023-01-25 12:00", tz="UTC")


@pytest.mark.parametrize(
    "value",
    [
        "2023-01-25 12:00",  # naive text: UTC
        "2023-01-25T12:00:00Z",
        "2023-01-25 12:00:00 UTC",  # as in the status file
        "  2023-01-25T06:00:00-06:00 ",
        datetime(2023, 1, 25, 12),  # naive datetime: UTC
        datetime(2023, 1, 25, 13, tzinfo=timezone(timedelta(hours=1))),
        datetime(2023, 1, 25, 12, tzinfo=UTC),
        pd.Timestamp("2023-01-25 07:00", tz="America/New_York"),
        pd.Timestamp("2023-01-25 12:00"),
    ],
)
def test_every_spelling_of_one_instant_is_the_same_utc_timestamp(value: object) -> None:
    ts = to_utc(value)
    assert ts == NOON
    assert str(ts.tz) == "UTC"
    assert ts.unit == "us"


def test_finer_than_a_microsecond_is_floored_as_postgres_and_the_engine_hold_it() -> None:
    assert to_utc(pd.Timestamp("2023-01-25 12:00:00.0000019", tz="UTC")) == NOON + pd.Timedelta("1us")
    assert to_utc("1969-12-31 23:59:59.9999999") == pd.Timestamp("1969-12-31 23:59:59.999999", tz="UTC")
    # to_pydatetime would otherwise warn about (and drop) the nanoseconds.
    assert to_utc("2023-01-25 12:00:00.000000001").to_pydatetime() == NOON.to_pydatetime()


def test_unreadable_text_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        to_utc("garbage")
