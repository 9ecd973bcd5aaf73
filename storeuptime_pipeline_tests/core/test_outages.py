"""Outage episodes: hand-computed cases, a brute-force property test, the invariant at full size.

The semantics under test (README, "Outages: how often"): an outage is a maximal inactive stretch
of the report's timeline inside [T-7d, T) holding some business time; closed hours inside it do
not split it; bounds are clipped to [T-7d, T); it is ongoing when it reaches T. Its business time
in each window adds up, over outages, to the report's downtime in that window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storeuptime_pipeline.core.outages import report_with_outages_at, reports_with_outages_for
from storeuptime_pipeline.core.report import WINDOWS
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_outages_csv
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline_tests.core.test_engine_property import frames, scenario
from storeuptime_pipeline_tests.reference import (
    WEEK_SECONDS,
    active_mask,
    open_mask,
    timezone_for,
    whole_seconds,
)
from storeuptime_pipeline_tests.reference import (
    WINDOWS as SECOND_WINDOWS,
)

HOUR = 3600
DAY = 24 * HOUR


def data(
    polls: list[tuple[str, str, bool]],
    hours: list[tuple[str, int, str, str]] = (),
    zones: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Frames from readable rows: polls (store, UTC time, active), hours (store, day, 'HH:MM', 'HH:MM')."""

    def seconds(text: str) -> int:
        h, m = text.split(":")
        return int(h) * HOUR + int(m) * 60

    poll_frame = pd.DataFrame(
        {
            "store_id": pd.Series([p[0] for p in polls], dtype=object),
            "timestamp_utc": pd.to_datetime([p[1] for p in polls], utc=True),
            "is_active": np.array([p[2] for p in polls], dtype=bool),
        }
    )
    hours_frame = pd.DataFrame(
        {
            "store_id": pd.Series([h[0] for h in hours], dtype=object),
            "day_of_week": np.array([h[1] for h in hours], dtype=np.int64),
            "start_seconds": np.array([seconds(h[2]) for h in hours], dtype=np.int64),
            "end_seconds": np.array([seconds(h[3]) for h in hours], dtype=np.int64),
        }
    )
    zones = zones or {}
    tz_frame = pd.DataFrame(
        {"store_id": pd.Series(list(zones), dtype=object), "timezone_str": pd.Series(list(zones.values()))}
    )
    return poll_frame, hours_frame, tz_frame


def summary(report: pd.DataFrame, store: str = "s") -> tuple[int, int, int, float]:
    row = report.set_index("store_id").loc[store]
    return (
        int(row["outages_last_hour"]),
        int(row["outages_last_day"]),
        int(row["outages_last_week"]),
        float(row["longest_outage_last_week"]),
    )


def listed(outages: pd.DataFrame) -> list[tuple[str, str, str, float, bool]]:
    """The outage list as (start UTC, end UTC, start local, business hours, ongoing)."""
    text = format_outages_csv(outages).splitlines()[1:]
    rows = [line.split(",") for line in text]
    return [(r[1], r[2], r[3], float(r[4]), r[5] == "true") for r in rows]


def assert_invariant(report: pd.DataFrame) -> None:
    for name, _length, _unit in WINDOWS:
        outage = report[f"outage_time_last_{name}_us"].to_numpy()
        down = report[f"downtime_last_{name}_us"].to_numpy()
        assert np.array_equal(outage, down), name


# ---------------------------------------------------------------------------------------------
# Hand-computed cases. 2023-01-23 is a Monday; Chicago is UTC-6 in January.
# ---------------------------------------------------------------------------------------------

MONDAY_9_TO_12 = [("s", 0, "09:00", "12:00")]
CHICAGO = {"s": "America/Chicago"}


def test_readme_worked_example() -> None:
    """Polls 10:14 active, 11:15 inactive (local), as of 11:15: down from the midpoint 10:44:30."""
    polls = [("s", "2023-01-23 16:14", True), ("s", "2023-01-23 17:15", False)]
    result = report_with_outages_at(*data(polls, MONDAY_9_TO_12, CHICAGO), exact=True)
    assert summary(result.report) == (1, 1, 1, 0.51)
    assert list(result.report["downtime_last_hour"]) == [30.5]
    assert listed(result.outages) == [
        ("2023-01-23T16:44:30Z", "2023-01-23T17:15:00Z", "2023-01-23T10:44:30-06:00", 0.51, True)
    ]
    assert_invariant(result.report)


def test_outage_across_closing_time_counts_once() -> None:
    """Dark at 21:00, closed 22:00-9:00, back at 10:00: one outage of 2 business hours."""
    hours = [("s", day, "09:00", "22:00") for day in range(7)]
    polls = [
        ("s", "2023-01-24 02:30", True),  # Mon 20:30 local
        ("s", "2023-01-24 03:30", False),  # Mon 21:30 -> switch at 21:00
        ("s", "2023-01-24 15:30", False),  # Tue 09:30
        ("s", "2023-01-24 16:30", True),  # Tue 10:30 -> switch at 10:00
    ]
    result = report_with_outages_at(*data(polls, hours, CHICAGO), "2023-01-24 18:00", exact=True)
    assert summary(result.report) == (0, 1, 1, 2.0)
    assert list(result.report["downtime_last_day"]) == [2.0]
    assert listed(result.outages) == [
        ("2023-01-24T03:00:00Z", "2023-01-24T16:00:00Z", "2023-01-23T21:00:00-06:00", 2.0, False)
    ]
    assert_invariant(result.report)


def test_flapping_store_counts_every_drop() -> None:
    """Open 24x7, polls every 10 minutes alternating: three 10-minute outages in the last hour."""
    minutes = [5, 15, 25, 35, 45, 55]
    polls = [("s", f"2023-01-23 11:{m:02d}", i % 2 == 0) for i, m in enumerate(minutes)]
    result = report_with_outages_at(*data(polls), "2023-01-23 12:00", exact=True)
    assert summary(result.report) == (3, 3, 3, 0.17)
    assert list(result.report["downtime_last_hour"]) == [30.0]
    assert listed(result.outages) == [
        ("2023-01-23T11:10:00Z", "2023-01-23T11:20:00Z", "2023-01-23T05:10:00-06:00", 0.17, False),
        ("2023-01-23T11:30:00Z", "2023-01-23T11:40:00Z", "2023-01-23T05:30:00-06:00", 0.17, False),
        ("2023-01-23T11:50:00Z", "2023-01-23T12:00:00Z", "2023-01-23T05:50:00-06:00", 0.17, True),
    ]
    assert_invariant(result.report)


def test_ongoing_at_t_and_polls_after_t_unseen() -> None:
    """As of 12:00 the 12:20 active poll is unseen: the outage from 10:30 is ongoing up to T."""
    polls = [
        ("s", "2023-01-23 10:00", True),
        ("s", "2023-01-23 11:00", False),
        ("s", "2023-01-23 12:20", True),
    ]
    frames_ = data(polls, zones={"s": "UTC"})
    at_noon = report_with_outages_at(*frames_, "2023-01-23 12:00", exact=True)
    assert summary(at_noon.report) == (1, 1, 1, 1.5)
    assert listed(at_noon.outages) == [
        ("2023-01-23T10:30:00Z", "2023-01-23T12:00:00Z", "2023-01-23T10:30:00+00:00", 1.5, True)
    ]
    # An hour later the 12:20 poll is seen: the outage ended at the midpoint 11:40, before the hour.
    later = report_with_outages_at(*frames_, "2023-01-23 13:00", exact=True)
    assert summary(later.report) == (0, 1, 1, 1.17)
    assert listed(later.outages) == [
        ("2023-01-23T10:30:00Z", "2023-01-23T11:40:00Z", "2023-01-23T10:30:00+00:00", 1.17, False)
    ]
    assert_invariant(at_noon.report)
    assert_invariant(later.report)


def test_outage_that_began_before_the_week_is_clipped() -> None:
    """Inactive since before T-7d, back at T-6.5d: the outage starts at T-7d and lasts 12 h."""
    polls = [("s", "2023-01-22 12:00", False), ("s", "2023-01-25 12:00", True)]
    result = report_with_outages_at(*data(polls), "2023-01-30 12:00", exact=True)
    assert summary(result.report) == (0, 0, 1, 12.0)
    assert listed(result.outages) == [
        ("2023-01-23T12:00:00Z", "2023-01-24T00:00:00Z", "2023-01-23T06:00:00-06:00", 12.0, False)
    ]
    assert_invariant(result.report)


def test_inactive_stretch_outside_business_hours_is_not_an_outage() -> None:
    """Inactive 12:15-13:30 local on a Monday open 9-12 only: no business time, no outage."""
    polls = [
        ("s", "2023-01-23 17:30", True),  # 11:30 local
        ("s", "2023-01-23 19:00", False),  # 13:00 -> switch at 12:15
        ("s", "2023-01-23 20:00", True),  # 14:00 -> switch at 13:30
    ]
    result = report_with_outages_at(*data(polls, MONDAY_9_TO_12, CHICAGO), "2023-01-24 00:00", exact=True)
    assert summary(result.report) == (0, 0, 0, 0.0)
    assert len(result.outages) == 0
    assert (
        format_outages_csv(result.outages)
        == "store_id,start_utc,end_utc,start_local,business_hours,ongoing\n"
    )
    assert_invariant(result.report)


@pytest.mark.parametrize(
    ("polls", "as_of", "want"),
    [
        # Autumn: 2023-11-05 in New York, 02:00 EDT -> 01:00 EST. Open Sat 22:00-24:00 and Sun
        # 00:00-03:00 (4 h that night). Dark from 22:30 EDT to 04:30 EST: 1.5 h + 4 h.
        (
            [
                ("s", "2023-11-05 02:00", True),
                ("s", "2023-11-05 03:00", False),
                ("s", "2023-11-05 09:00", False),
                ("s", "2023-11-05 10:00", True),
            ],
            "2023-11-05 17:00",
            ("2023-11-05T02:30:00Z", "2023-11-05T09:30:00Z", "2023-11-04T22:30:00-04:00", 5.5, False),
        ),
        # Spring: 2023-03-12, 02:00 EST -> 03:00 EDT; the same hours hold 1.5 h + 2 h that night.
        (
            [
                ("s", "2023-03-12 03:00", True),
                ("s", "2023-03-12 04:00", False),
                ("s", "2023-03-12 08:00", False),
                ("s", "2023-03-12 09:00", True),
            ],
            "2023-03-12 16:00",
            ("2023-03-12T03:30:00Z", "2023-03-12T08:30:00Z", "2023-03-11T22:30:00-05:00", 3.5, False),
        ),
    ],
)
def test_dst_night_inside_an_outage(polls: list, as_of: str, want: tuple) -> None:
    hours = [("s", 5, "22:00", "24:00"), ("s", 6, "00:00", "03:00")]
    result = report_with_outages_at(*data(polls, hours, {"s": "America/New_York"}), as_of, exact=True)
    assert summary(result.report) == (0, 1, 1, want[3])
    assert list(result.report["downtime_last_day"]) == [want[3]]
    assert listed(result.outages) == [want]
    assert_invariant(result.report)


def test_several_as_ofs_in_one_pass_match_one_at_a_time() -> None:
    polls = [
        ("s", "2023-01-23 10:00", True),
        ("s", "2023-01-23 11:00", False),
        ("s", "2023-01-23 12:20", True),
    ]
    frames_ = data(polls, zones={"s": "UTC"})
    as_ofs = ["2023-01-23 12:00", "2023-01-23 13:00"]
    many = reports_with_outages_for(*frames_, as_ofs)
    for t in as_ofs:
        one = report_with_outages_at(*frames_, t)
        part = many.report[many.report["as_of"] == pd.Timestamp(t, tz="UTC")].drop(columns="as_of")
        pd.testing.assert_frame_equal(part.reset_index(drop=True), one.report)
        listed_part = many.outages[many.outages["as_of"] == pd.Timestamp(t, tz="UTC")].drop(columns="as_of")
        pd.testing.assert_frame_equal(listed_part.reset_index(drop=True), one.outages)


# ---------------------------------------------------------------------------------------------
# Property test: the engine against a per-second brute-force outage finder.
# ---------------------------------------------------------------------------------------------


def brute_force_outages(
    poll_us: np.ndarray, poll_active: np.ndarray, rows: list, timezone: object, as_of_s: int
) -> list[dict]:
    """Every second of [T-7d, T): runs of inactive seconds holding at least one open second."""
    is_open = open_mask(rows, timezone_for(timezone), as_of_s)
    down = ~active_mask(poll_us, poll_active, as_of_s)
    edges = np.diff(np.concatenate([[0], down.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    week_start = as_of_s - WEEK_SECONDS
    open_before = np.concatenate([[0], np.cumsum(is_open)])  # open seconds before each second
    found = []
    for a, b in zip(starts, ends, strict=True):
        business = {
            name: int(open_before[b] - open_before[min(max(a, WEEK_SECONDS - length), b)])
            for name, length, _u in SECOND_WINDOWS
        }
        if business.get("week", 0) > 0:
            found.append(
                {
                    "start": week_start + int(a),
                    "end": week_start + int(b),
                    "business": business,
                    "ongoing": b == WEEK_SECONDS,
                }
            )
    return found


def brute_force(
    polls: pd.DataFrame, hours: pd.DataFrame, timezones: pd.DataFrame, as_of: pd.Timestamp
) -> dict:
    as_of_s = whole_seconds(as_of)
    poll_us = pd.DatetimeIndex(polls["timestamp_utc"]).as_unit("us").asi8
    stores = polls["store_id"].astype(str).to_numpy()
    tz_of = dict(zip(timezones["store_id"].astype(str), timezones["timezone_str"], strict=True))
    out = {}
    for store in sorted(set(stores)):
        mine = (stores == store) & (poll_us <= as_of_s * 1_000_000)
        if not mine.any():
            continue
        sel = hours[hours["store_id"].astype(str) == store]
        rows = list(zip(sel["day_of_week"], sel["start_seconds"], sel["end_seconds"], strict=True))
        out[store] = brute_force_outages(
            poll_us[mine], polls["is_active"].to_numpy()[mine], rows, tz_of.get(store), as_of_s
        )
    return out


def check_against_brute_force(
    report: pd.DataFrame, outages: pd.DataFrame, expected: dict, context: str
) -> None:
    assert list(report["store_id"]) == sorted(expected), context
    for _, row in report.iterrows():
        want = expected[row["store_id"]]
        for name, _length, _unit in WINDOWS:
            count = sum(1 for o in want if o["business"].get(name, 0) > 0)
            assert row[f"outages_last_{name}"] == count, f"{context} store {row['store_id']} {name}: {want}"
        longest = max((o["business"]["week"] for o in want), default=0) / HOUR
        assert abs(row["longest_outage_last_week"] - longest) <= 0.02, f"{context} {row['store_id']}"
        assert row["outage_time_last_week_us"] == row["downtime_last_week_us"], context
    got = [
        (
            str(r.store_id),
            r.start_utc.value // 10**9,
            r.end_utc.value // 10**9,
            int(r.business_us),
            bool(r.ongoing),
        )
        for r in outages.itertuples()
    ]
    want_rows = [
        (store, o["start"], o["end"], o["business"]["week"] * 10**6, o["ongoing"])
        for store in sorted(expected)
        for o in expected[store]
    ]
    assert got == want_rows, context


@st.composite
def outage_scenario(draw) -> dict:
    """The report property test's scenarios, some stores with 20-200 more polls: many outages.

    The extra polls come from a drawn seed (hypothesis draws long lists short), on even seconds
    within 4 days before T, a third of them inactive, in bursts so runs have varied lengths.
    """
    scn = draw(scenario())
    for spec in scn["stores"].values():
        if draw(st.booleans()):
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            n = draw(st.integers(20, 200))
            offsets = -2 * rng.integers(0, 2 * DAY, n)
            states = rng.random(n) < draw(st.sampled_from([0.5, 0.7, 0.9]))
            spec["polls"] = spec["polls"] + [(int(o), bool(a)) for o, a in zip(offsets, states, strict=True)]
    return scn


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scn=outage_scenario())
def test_outages_match_brute_force(scn: dict) -> None:
    """Random stores (DST and half-hour zones, overnight rows, duplicates) against every second."""
    polls, hours, timezones = frames(scn)
    as_ofs = [pd.Timestamp(t, unit="s", tz="UTC") for t in [scn["as_of"], *scn["extra_as_ofs"]]]
    result = reports_with_outages_for(polls, hours, timezones, as_ofs, exact=True)
    for t in sorted(set(as_ofs)):
        report = result.report[result.report["as_of"] == t].reset_index(drop=True)
        outages = result.outages[result.outages["as_of"] == t].reset_index(drop=True)
        context = f"as of {t}\n{polls}\n{hours}\n{timezones}\n{report.T}"
        check_against_brute_force(report, outages, brute_force(polls, hours, timezones, t), context)


# ---------------------------------------------------------------------------------------------
# The invariant at full size.
# ---------------------------------------------------------------------------------------------


def test_invariant_on_the_14k_store_data_set(tmp_path: Path) -> None:
    """Every row and window: the outages' business time equals the report's downtime, exactly."""
    ds = generate_dataset(tmp_path, stores=14_000, days=8, seed=42)
    polls = read_input(ds.status_path, "status").valid
    hours = read_input(ds.hours_path, "hours").valid
    tz = read_input(ds.timezones_path, "timezones").valid
    as_ofs = [ds.end, *pd.date_range(end=ds.end.floor("h"), periods=24, freq="h")]
    result = reports_with_outages_for(polls, hours, tz, as_ofs, exact=True)
    report = result.report
    assert len(report) > 24 * 13_000
    assert_invariant(report)
    # The list adds up too: per (as_of, store), its week business time is the week's downtime.
    listed_time = result.outages.groupby(["as_of", "store_id"])["business_us"].sum()
    keyed = report.set_index(["as_of", "store_id"])
    assert (keyed.loc[listed_time.index, "downtime_last_week_us"] == listed_time).all()
    no_outage = keyed.index.difference(listed_time.index)
    assert (keyed.loc[no_outage, "downtime_last_week_us"] == 0).all()
    counts = result.outages.groupby(["as_of", "store_id"]).size()
    assert (keyed.loc[counts.index, "outages_last_week"] == counts).all()
    # Non-trivial: many stores with outages, some flapping, some down in the last hour.
    assert (report["outages_last_week"] >= 5).sum() > 500
    assert (report["outages_last_hour"] > 0).sum() > 1000
