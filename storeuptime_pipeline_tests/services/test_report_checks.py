"""The report checks' arithmetic on hand-made frames: which as-of passes which check, and why.

``check_outcomes`` is pure (frames in, outcomes out), so every figure below is written by hand:
three stores, two as-of instants, one broken row per check.
"""

from __future__ import annotations

import pandas as pd

from storeuptime_pipeline.services.report_checks import (
    COVERAGE_CHECK,
    INVARIANT_CHECK,
    OUTAGE_CHECK,
    check_outcomes,
    stores_expected,
)

T1 = pd.Timestamp("2023-01-25 10:00", tz="UTC")
T2 = pd.Timestamp("2023-01-25 11:00", tz="UTC")
US_MIN, US_H = 60_000_000, 3_600_000_000


def _row(
    as_of: pd.Timestamp, store: str, up: tuple[float, float, float], business: tuple[float, float, float]
):
    """One report row; downtime = business - uptime unless a test breaks it afterwards.

    ``up`` and ``business`` are (last hour in minutes, last day in hours, last week in hours).
    """
    down = tuple(round(b - u, 2) for u, b in zip(up, business, strict=True))
    row: dict[str, object] = {"as_of": as_of, "store_id": store}
    for i, (window, unit) in enumerate((("hour", US_MIN), ("day", US_H), ("week", US_H))):
        row[f"uptime_last_{window}"] = up[i]
        row[f"downtime_last_{window}"] = down[i]
        row[f"business_last_{window}"] = business[i]
        row[f"downtime_last_{window}_us"] = round(down[i] * unit)
        row[f"outage_time_last_{window}_us"] = round(down[i] * unit)
    return row


def _report() -> pd.DataFrame:
    rows = [
        _row(T1, "a", (45.0, 10.0, 60.0), (60.0, 12.0, 84.0)),
        _row(T1, "b", (60.0, 12.0, 84.0), (60.0, 12.0, 84.0)),
        _row(T2, "a", (30.0, 9.5, 59.5), (60.0, 12.0, 84.0)),
        _row(T2, "c", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ]
    report = pd.DataFrame(rows)
    # Store b at T1: 10 minutes of downtime lost (45 + 5 != 60): the invariant breaks.
    report.loc[1, "downtime_last_hour"] = 0.0
    report.loc[1, "uptime_last_hour"] = 50.0
    # Store a at T2: its outages add up to one microsecond less than its downtime of the last day.
    report.loc[2, "outage_time_last_day_us"] -= 1
    return report


def _first_polls() -> pd.DataFrame:
    """a and b polled before T1; c first exactly at T2 (expected from T2 on); d only after T2."""
    return pd.DataFrame(
        {
            "store_id": ["a", "b", "c", "d"],
            "first_poll": pd.to_datetime(
                ["2023-01-20 08:00", "2023-01-25 09:59:59.999999", "2023-01-25 11:00", "2023-01-25 11:00:01"],
                utc=True,
                format="ISO8601",
            ),
        }
    )


def test_each_check_fails_only_at_the_instant_that_breaks_it() -> None:
    outcomes = check_outcomes(_report(), _first_polls())
    assert list(outcomes) == [T1, T2]
    verdicts = {t: {o.name: o.passed for o in outcomes[t]} for t in outcomes}
    assert verdicts == {
        T1: {INVARIANT_CHECK: False, COVERAGE_CHECK: True, OUTAGE_CHECK: True},
        T2: {INVARIANT_CHECK: True, COVERAGE_CHECK: False, OUTAGE_CHECK: False},
    }


def test_coverage_counts_stores_polled_at_or_before_each_instant() -> None:
    outcomes = check_outcomes(_report(), _first_polls())
    coverage = {t: next(o for o in outcomes[t] if o.name == COVERAGE_CHECK).metadata for t in outcomes}
    # T1: a and b expected, both have rows. T2: a, b, c expected (c's first poll is T2 itself), b has none.
    assert coverage[T1] == {"stores_expected": 2, "rows": 2, "missing": 0}
    assert coverage[T2] == {"stores_expected": 3, "rows": 2, "missing": 1}
    assert list(stores_expected(_first_polls(), pd.DatetimeIndex([T1, T2]))) == [2, 3]


def test_invariant_and_outage_samples_name_the_broken_rows() -> None:
    outcomes = check_outcomes(_report(), _first_polls())
    invariant = next(o for o in outcomes[T1] if o.name == INVARIANT_CHECK).metadata
    assert invariant["rows_checked"] == 2 and invariant["violations"] == 1
    sample = invariant["sample"]
    assert "as_of" not in sample.columns
    assert list(sample["store_id"]) == ["b"]
    assert sample.iloc[0]["uptime_last_hour"] + sample.iloc[0]["downtime_last_hour"] == 50.0

    outage = next(o for o in outcomes[T2] if o.name == OUTAGE_CHECK).metadata
    assert outage["rows_checked"] == 2 and outage["violations"] == 1
    assert list(outage["sample"]["store_id"]) == ["a"]
    assert {"as_of", "rows"}.isdisjoint(outage["sample"].columns)
    # Passing outage checks carry no sample at all; passing invariant checks an empty one.
    assert "sample" not in next(o for o in outcomes[T1] if o.name == OUTAGE_CHECK).metadata
    clean = next(o for o in outcomes[T2] if o.name == INVARIANT_CHECK).metadata
    assert clean["violations"] == 0 and clean["sample"].empty
