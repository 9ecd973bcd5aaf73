"""Hand-computed cases of the report semantics, each checked against the engine and the reference.

Every expected figure is worked out by hand in the comment above it. Figures are written as
(hour in minutes, day in hours, week in hours) for uptime and for downtime; business time is
their sum. Each case is also run through the brute-force reference (``reference.py``), so a
wrong hand number or a wrong reference shows up as well as a wrong engine.

Calendar used throughout: 2023-01-16 and 2023-01-23 are Mondays. America/Chicago is UTC-6 in
January, America/New_York UTC-5 (EST) / UTC-4 (EDT).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from storeuptime_pipeline.core.report import REPORT_COLUMNS, report_at, reports_for
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline_tests.reference import reference_report

Figures = tuple[float, float, float]
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def hms(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    h, m, s = [*parts, 0][:3]
    return h * 3600 + m * 60 + s


def polls_frame(rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype=object),
            "timestamp_utc": pd.to_datetime([r[1] for r in rows], utc=True, format="ISO8601"),
            "is_active": np.array([r[2] for r in rows], dtype=bool),
        }
    )


def hours_frame(rows: list[tuple[str, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype=object),
            "day_of_week": np.array([r[1] for r in rows], dtype=np.int64),
            "start_seconds": np.array([hms(r[2]) for r in rows], dtype=np.int64),
            "end_seconds": np.array([hms(r[3]) for r in rows], dtype=np.int64),
        }
    )


def tz_frame(rows: list[tuple[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": pd.Series([r[0] for r in rows], dtype=object),
            "timezone_str": pd.Series([r[1] for r in rows], dtype=object),
        }
    )


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def assert_report(report: pd.DataFrame, expected: dict[str, tuple[Figures, Figures]]) -> None:
    """The report has exactly these stores, in this order, with these figures."""
    assert list(report["store_id"]) == list(expected)
    for (_, row), (store, (up, down)) in zip(report.iterrows(), expected.items(), strict=True):
        got_up = (row["uptime_last_hour"], row["uptime_last_day"], row["uptime_last_week"])
        got_down = (row["downtime_last_hour"], row["downtime_last_day"], row["downtime_last_week"])
        assert got_up == pytest.approx(up, abs=1e-9), f"uptime of store {store}"
        assert got_down == pytest.approx(down, abs=1e-9), f"downtime of store {store}"
        if "business_last_hour" in report.columns:
            got_business = (row["business_last_hour"], row["business_last_day"], row["business_last_week"])
            business = tuple(round(u + d, 2) for u, d in zip(up, down, strict=True))
            assert got_business == pytest.approx(business, abs=1e-9), f"business time of store {store}"


def check(
    polls: pd.DataFrame,
    hours: pd.DataFrame,
    timezones: pd.DataFrame | None,
    as_of: object,
    expected: dict[str, tuple[Figures, Figures]],
) -> pd.DataFrame:
    """Engine and reference both give the hand-computed figures; returns the engine's report."""
    report = report_at(polls, hours, timezones, as_of, with_business=True)
    assert_report(report, expected)
    assert_report(reference_report(polls, hours, timezones, as_of), expected)
    plain = report_at(polls, hours, timezones, as_of)
    assert list(plain.columns) == REPORT_COLUMNS
    pd.testing.assert_frame_equal(plain, report[REPORT_COLUMNS])
    return report


CHI = [("s", "America/Chicago")]


def test_worked_example() -> None:
    # Open Mon 09:00-12:00 Chicago. Polls Mon 2023-01-23 10:14 local (16:14Z) active, 11:15 local
    # (17:15Z) inactive: the switch is at the midpoint 10:44:30. As of 12:00 local (18:00Z):
    #   up 09:00-10:44:30 = 1 h 44 min 30 s = 1.7417 h -> 1.74; down 10:44:30-12:00 -> 3.00 - 1.74 = 1.26.
    #   Day [Sun 12:00, Mon 12:00) and week [Mon 01-16 12:00, ...) hold only that Monday (the
    #   previous Monday's 09:00-12:00 ends exactly where the week starts).
    #   Hour [11:00, 12:00) local: all after the switch -> up 0 min, down 60 min.
    polls = polls_frame([("s", "2023-01-23 16:14", True), ("s", "2023-01-23 17:15", False)])
    hours = hours_frame([("s", MON, "09:00", "12:00")])
    check(polls, hours, tz_frame(CHI), ts("2023-01-23 18:00"), {"s": ((0, 1.74, 1.74), (60, 1.26, 1.26))})
    # Two hours later (14:00 local) the hour window [13:00, 14:00) is closed; the rest is unchanged.
    check(polls, hours, tz_frame(CHI), ts("2023-01-23 20:00"), {"s": ((0, 1.74, 1.74), (0, 1.26, 1.26))})


def test_overnight_rows() -> None:
    # "fri": Fri 22:00-02:00 runs into Saturday. Polls Fri 01-20 23:00 local (01-21 05:00Z) active,
    # Sat 00:30 local (06:30Z) inactive: switch at 23:45 Fri. As of Sat 01:00 local (07:00Z):
    #   week [Sat 01-14 01:00, Sat 01-21 01:00): Sat 01-14 01:00-02:00 (spill of Fri 01-13) 1 h up
    #     (before the first poll); Fri 01-20 22:00-23:45 1.75 h up; 23:45-01:00 1.25 h down.
    #     -> up 2.75, down 1.25.
    #   day [Fri 01:00, Sat 01:00): up 1.75, down 1.25.  hour [Sat 00:00, 01:00): down 60.
    # "sun": Sun 23:00-01:00 wraps from the end of the week into Monday; always active. Same as-of
    #   is Sat, so: week holds Sun 01-15 23:00 - Mon 01-16 01:00 (2 h, window starts Sat 01-14),
    #   day and hour nothing.
    polls = polls_frame(
        [
            ("fri", "2023-01-21 05:00", True),
            ("fri", "2023-01-21 06:30", False),
            ("sun", "2023-01-21 06:00", True),
        ]
    )
    hours = hours_frame([("fri", FRI, "22:00", "02:00"), ("sun", SUN, "23:00", "01:00")])
    tz = tz_frame([("fri", "America/Chicago"), ("sun", "America/Chicago")])
    check(
        polls,
        hours,
        tz,
        ts("2023-01-21 07:00"),
        {"fri": ((0, 1.75, 2.75), (60, 1.25, 1.25)), "sun": ((0, 0, 2), (0, 0, 0))},
    )
    # As of Mon 01-23 00:30 local (06:30Z):
    # "sun": hour [Sun 23:30, Mon 00:30) = 60 min; day [Sun 00:30, Mon 00:30): Sun 01-22 23:00 -
    #   Mon 00:30 = 1.5 h; week [Mon 01-16 00:30, ...) adds the tail 00:30-01:00 of Sun 01-15's
    #   shift: 0.5 h -> 2 h.
    # "fri": week [Mon 01-16 00:30, ...) holds Fri 01-20 22:00 - Sat 02:00 = 4 h: 1.75 up, 2.25 down
    #   (status after the last poll holds); day and hour nothing.
    check(
        polls,
        hours,
        tz,
        ts("2023-01-23 06:30"),
        {"fri": ((0, 0, 1.75), (0, 0, 2.25)), "sun": ((60, 1.5, 2), (0, 0, 0))},
    )


def test_start_equal_end_is_24_hours() -> None:
    # Wed 10:00-10:00 = Wed 10:00 to Thu 10:00. As of Thu 01-19 12:00 local (18:00Z):
    #   week [Thu 01-12 12:00, Thu 01-19 12:00): Wed 01-11's 24 h ended Thu 01-12 10:00 (outside);
    #     Wed 01-18 10:00 - Thu 01-19 10:00 = 24 h.  day [Wed 12:00, Thu 12:00): 22 h.
    #   hour [Thu 11:00, 12:00): closed.
    # "a" is always active, "b" always inactive.
    # "c": Wed 00:00-00:00 = all of Wednesday: week 24 h, day [Wed 12:00, Thu 00:00) = 12 h.
    polls = polls_frame(
        [("a", "2023-01-19 18:00", True), ("b", "2023-01-19 18:00", False), ("c", "2023-01-19 18:00", True)]
    )
    hours = hours_frame(
        [("a", WED, "10:00", "10:00"), ("b", WED, "10:00", "10:00"), ("c", WED, "00:00", "00:00")]
    )
    tz = tz_frame([("a", "America/Chicago"), ("b", "America/Chicago"), ("c", "America/Chicago")])
    check(
        polls,
        hours,
        tz,
        ts("2023-01-19 18:00"),
        {
            "a": ((0, 22, 24), (0, 0, 0)),
            "b": ((0, 0, 0), (0, 22, 24)),
            "c": ((0, 12, 24), (0, 0, 0)),
        },
    )


def test_split_shifts() -> None:
    # Tue 08:00-11:00 and 17:00-21:00. Polls Tue 01-17 09:00 local (15:00Z) active, 18:00 local
    # (01-18 00:00Z) inactive: switch at 13:30 local, between the shifts.
    # As of Wed 00:00 local (01-18 06:00Z): morning shift 3 h up, evening shift 4 h down, in the
    # day [Tue 00:00, Wed 00:00) and the week; the hour [Tue 23:00, Wed 00:00) is closed.
    polls = polls_frame([("s", "2023-01-17 15:00", True), ("s", "2023-01-18 00:00", False)])
    hours = hours_frame([("s", TUE, "08:00", "11:00"), ("s", TUE, "17:00", "21:00")])
    check(polls, hours, tz_frame(CHI), ts("2023-01-18 06:00"), {"s": ((0, 3, 3), (0, 4, 4))})


def test_overlapping_rows_are_a_union() -> None:
    # "s": Thu 09:00-13:00, 11:00-15:00 and 12:00-12:30: the union is 09:00-15:00 = 6 h (not 8.5).
    # Polls Thu 01-19 10:00 local (16:00Z) active, 14:00 local (20:00Z) inactive: switch 12:00.
    #   -> 09:00-12:00 up (3 h), 12:00-15:00 down (3 h).
    # "o": Thu 20:00-02:00 overlapping Fri 00:00-03:00: union Thu 20:00 - Fri 03:00 = 7 h; active.
    # As of Fri 01-20 06:00 local (12:00Z): day [Thu 06:00, Fri 06:00) holds all of it; week
    # [Fri 01-13 06:00, ...) holds nothing of the previous Thursday; hour [05:00, 06:00) is closed.
    polls = polls_frame(
        [("s", "2023-01-19 16:00", True), ("s", "2023-01-19 20:00", False), ("o", "2023-01-20 12:00", True)]
    )
    hours = hours_frame(
        [
            ("s", THU, "09:00", "13:00"),
            ("s", THU, "11:00", "15:00"),
            ("s", THU, "12:00", "12:30"),
            ("o", THU, "20:00", "02:00"),
            ("o", FRI, "00:00", "03:00"),
        ]
    )
    tz = tz_frame([("s", "America/Chicago"), ("o", "America/Chicago")])
    check(
        polls, hours, tz, ts("2023-01-20 12:00"), {"o": ((0, 7, 7), (0, 0, 0)), "s": ((0, 3, 3), (0, 3, 3))}
    )


def test_partial_week_closed_on_other_days() -> None:
    # Rows for Mon 10:00-12:00 and Sat 10:00-11:00 only: closed on the other five days.
    # As of Mon 01-23 12:00 local (18:00Z), always active:
    #   week [Mon 01-16 12:00, Mon 01-23 12:00): Sat 01-21 1 h + Mon 01-23 2 h = 3 h
    #     (Mon 01-16 10:00-12:00 ends where the week starts).
    #   day [Sun 12:00, Mon 12:00): 2 h.  hour [11:00, 12:00): 60 min.
    polls = polls_frame([("s", "2023-01-20 12:00", True)])
    hours = hours_frame([("s", MON, "10:00", "12:00"), ("s", SAT, "10:00", "11:00")])
    check(polls, hours, tz_frame(CHI), ts("2023-01-23 18:00"), {"s": ((60, 2, 3), (0, 0, 0))})


def test_store_without_rows_is_open_24x7() -> None:
    # No rows at all: open all week, whatever the timezone. T = 2023-01-23 18:00Z.
    # Polls active at T-48h, inactive at T-12h: switch at T-30h.
    #   week: up [T-168h, T-30h) = 138 h, down 30 h.  day: down 24 h.  hour: down 60 min.
    # "other" has rows; they must not leak into "x".
    polls = polls_frame(
        [
            ("x", "2023-01-21 18:00", True),
            ("x", "2023-01-23 06:00", False),
            ("other", "2023-01-23 18:00", True),
        ]
    )
    hours = hours_frame([("other", MON, "09:00", "10:00")])
    tz = tz_frame([("x", "Asia/Kolkata"), ("other", "UTC")])
    # "other": Mon 09:00-10:00 UTC: Mon 01-16's is before the week [01-16 18:00Z, ...); Mon 01-23's
    # is in the day and the week; the hour [17:00, 18:00) is closed.
    check(
        polls,
        hours,
        tz,
        ts("2023-01-23 18:00"),
        {"other": ((0, 1, 1), (0, 0, 0)), "x": ((0, 0, 138), (60, 24, 30))},
    )


def test_missing_empty_and_invalid_timezones_mean_chicago() -> None:
    # Every store: Mon 09:00-10:00 local, always active, as of Mon 01-23 16:00Z.
    # Chicago: 15:00-16:00Z -> hour [15:00, 16:00) 60 min, day 1 h, week 1 h (Mon 01-16's shift
    #   15:00-16:00Z ends where the week starts).
    # New York (control): 14:00-15:00Z -> hour 0, day 1, week 1.
    # UTC (control): 09:00-10:00Z -> hour 0, day 1, week 1.
    stores = ["chicago", "empty", "invalid", "missing", "nan", "none", "ny", "utc"]
    polls = polls_frame([(s, "2023-01-23 16:00", True) for s in stores])
    hours = hours_frame([(s, MON, "09:00", "10:00") for s in stores])
    tz = tz_frame(
        [
            ("chicago", "America/Chicago"),
            ("empty", ""),
            ("invalid", "Mars/Olympus_Mons"),
            ("nan", float("nan")),
            ("none", None),
            ("ny", "America/New_York"),
            ("utc", "UTC"),
        ]
    )
    as_chicago = ((60, 1, 1), (0, 0, 0))
    expected = {s: as_chicago for s in stores}
    expected["ny"] = expected["utc"] = ((0, 1, 1), (0, 0, 0))
    check(polls, hours, tz, ts("2023-01-23 16:00"), expected)
    # No timezone frame at all: every store is a Chicago store.
    check(polls, hours, None, ts("2023-01-23 16:00"), dict.fromkeys(stores, as_chicago))


def test_dst_spring_forward_new_york() -> None:
    # Sunday 2023-03-12, New York: 02:00 EST (07:00Z) jumps to 03:00 EDT; 02:00-03:00 local does
    # not exist. As of Mon 03-13 00:00Z (week [03-06 00:00Z, ...): the previous Sunday's rows,
    # around 03-05 06:00-09:00Z, are outside), always active:
    #   "a" 01:00-04:00 = 06:00Z .. 08:00Z = 2 real hours.
    #   "b" 02:15-02:45 lies in the gap: 0.
    #   "c" 01:00-03:00 = 06:00Z .. 07:00Z = 1 h.
    # The hour [23:00Z, 00:00Z) is closed for all.
    stores = ["a", "b", "c"]
    polls = polls_frame([(s, "2023-03-12 12:00", True) for s in stores])
    hours = hours_frame(
        [("a", SUN, "01:00", "04:00"), ("b", SUN, "02:15", "02:45"), ("c", SUN, "01:00", "03:00")]
    )
    tz = tz_frame([(s, "America/New_York") for s in stores])
    zero = (0, 0, 0)
    check(
        polls,
        hours,
        tz,
        ts("2023-03-13 00:00"),
        {"a": ((0, 2, 2), zero), "b": (zero, zero), "c": ((0, 1, 1), zero)},
    )
    # As of 03-12 07:30Z (03:30 EDT), "a": the hour [06:30Z, 07:30Z) = [01:30 EST, 03:30 EDT) is
    # all open (60 min); day [03-11 07:30Z, ...): 06:00Z-07:30Z = 1.5 h; week adds the previous
    # Sunday's 01:00-04:00 EST = 03-05 06:00Z-09:00Z cut at the window start 07:30Z: 1.5 h -> 3 h.
    polls = polls_frame([("a", "2023-03-12 07:00", True)])
    check(polls, hours, tz, ts("2023-03-12 07:30"), {"a": ((60, 1.5, 3), zero)})


def test_dst_spring_forward_store_with_no_business_time_in_range() -> None:
    # Store "b" alone: its only row (Sun 02:15-02:45 New York) falls in the spring-forward gap,
    # and the neighbouring Sundays are outside [T - 7d, T]. Nothing is open: all figures 0.
    polls = polls_frame([("b", "2023-03-12 12:00", True)])
    hours = hours_frame([("b", SUN, "02:15", "02:45")])
    tz = tz_frame([("b", "America/New_York")])
    zero = (0, 0, 0)
    check(polls, hours, tz, ts("2023-03-13 00:00"), {"b": (zero, zero)})


def test_dst_fall_back_new_york() -> None:
    # Sunday 2023-11-05, New York: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:00-02:00 local
    # happens twice. Always active.
    #   "a" 00:00-03:00 = 04:00Z (00:00 EDT) .. 08:00Z (03:00 EST) = 4 real hours.
    #   "b" 01:15-01:45 = 05:15Z-05:45Z (EDT) and 06:15Z-06:45Z (EST) = 1 h.
    # As of Mon 11-06 00:00Z: week [10-30 00:00Z, ...) excludes Sunday 10-29; hour closed.
    stores = ["a", "b"]
    polls = polls_frame([(s, "2023-11-05 12:00", True) for s in stores])
    hours = hours_frame([("a", SUN, "00:00", "03:00"), ("b", SUN, "01:15", "01:45")])
    tz = tz_frame([(s, "America/New_York") for s in stores])
    zero = (0, 0, 0)
    check(polls, hours, tz, ts("2023-11-06 00:00"), {"a": ((0, 4, 4), zero), "b": ((0, 1, 1), zero)})
    # As of 11-05 06:45Z (01:45 EST, the second time round):
    #   "a": hour [05:45Z, 06:45Z) all open = 60; day [11-04 06:45Z, ...): 04:00Z-06:45Z = 2.75 h;
    #     week adds Sun 10-29 00:00-03:00 EDT = 04:00Z-07:00Z cut at 06:45Z: 0.25 h -> 3 h.
    #   "b": hour [05:45Z, 06:45Z): 06:15Z-06:45Z = 30 min; day: both copies = 1 h; week: 10-29's
    #     05:15Z-05:45Z is before the window -> 1 h.
    polls = polls_frame([(s, "2023-11-05 06:00", True) for s in stores])
    check(polls, hours, tz, ts("2023-11-05 06:45"), {"a": ((60, 2.75, 3), zero), "b": ((30, 1, 1), zero)})


def test_half_hour_and_45_minute_offsets() -> None:
    # Each store: Mon 09:00-10:00 local, always active; each as-of T is 30 or 45 minutes into it:
    #   Asia/Kolkata +05:30: 03:30Z-04:30Z; T = 01-23 04:00Z -> hour 30 min, day 0.5 h,
    #     week 0.5 + (01-16 04:00Z-04:30Z) 0.5 = 1 h.
    #   America/St_Johns -03:30: 12:30Z-13:30Z; T = 13:00Z -> the same figures.
    #   Asia/Kathmandu +05:45: 03:15Z-04:15Z; T = 04:00Z -> hour 45, day 0.75, week 0.75 + 0.25 = 1.
    #   Pacific/Chatham +13:45 (summer): Sun 19:15Z-20:15Z; T = Sun 01-22 19:45Z -> hour 30,
    #     day 0.5, week 1.
    cases = [
        ("Asia/Kolkata", "2023-01-23 04:00", (30, 0.5, 1)),
        ("America/St_Johns", "2023-01-23 13:00", (30, 0.5, 1)),
        ("Asia/Kathmandu", "2023-01-23 04:00", (45, 0.75, 1)),
        ("Pacific/Chatham", "2023-01-22 19:45", (30, 0.5, 1)),
    ]
    for zone, as_of, up in cases:
        polls = polls_frame([("s", "2023-01-20 00:00", True)])
        hours = hours_frame([("s", MON, "09:00", "10:00")])
        check(polls, hours, tz_frame([("s", zone)]), ts(as_of), {"s": (up, (0, 0, 0))})


def test_lord_howe_half_hour_dst() -> None:
    # Australia/Lord_Howe: +11:00 in summer, +10:30 in winter; the change is 30 minutes.
    # Fall back Sun 2023-04-02 02:00 +11 (04-01 15:00Z) -> 01:30 +10:30: 01:30-02:00 local twice.
    #   "a" Sun 01:00-03:00 = 04-01 14:00Z (+11) .. 16:30Z (+10:30) = 2.5 h.
    #   "b" Sun 01:40-01:50 = 14:40Z-14:50Z and 15:10Z-15:20Z = 20 min = 0.33 h.
    # As of 04-01 20:00Z: day and week hold them (the previous Sunday's are 03-25 ~14:00Z, outside
    # the week [03-25 20:00Z, ...)); hour [19:00Z, 20:00Z) is closed.
    zero = (0, 0, 0)
    tz = tz_frame([("a", "Australia/Lord_Howe"), ("b", "Australia/Lord_Howe"), ("c", "Australia/Lord_Howe")])
    hours = hours_frame(
        [("a", SUN, "01:00", "03:00"), ("b", SUN, "01:40", "01:50"), ("c", SUN, "02:00", "03:00")]
    )
    polls = polls_frame([(s, "2023-03-30 00:00", True) for s in ["a", "b"]])
    check(
        polls, hours, tz, ts("2023-04-01 20:00"), {"a": ((0, 2.5, 2.5), zero), "b": ((0, 0.33, 0.33), zero)}
    )
    # As of 04-01 15:30Z (02:00 +10:30), "a": the hour [14:30Z, 15:30Z) is local 01:30-02:00 (+11)
    # then 01:30-02:00 (+10:30), all open: 60 min; day 14:00Z-15:30Z = 1.5 h; the week
    # [03-25 15:30Z, ...) also holds the tail of the previous Sunday's 01:00-03:00 +11
    # (03-25 14:00Z-16:00Z): 15:30Z-16:00Z = 0.5 h -> 2 h.
    check(polls.iloc[[0]], hours, tz, ts("2023-04-01 15:30"), {"a": ((60, 1.5, 2), zero)})
    # Spring forward Sun 2023-10-01 02:00 +10:30 (09-30 15:30Z) -> 02:30 +11: 02:00-02:30 missing.
    #   "c" Sun 02:00-03:00 = 09-30 15:30Z .. 16:00Z = 0.5 h. As of 09-30 20:00Z: day 0.5, week 0.5
    #   (previous Sunday's 02:00 +10:30 = 09-23 15:30Z is outside the week [09-23 20:00Z, ...)).
    polls = polls_frame([("c", "2023-09-29 00:00", True)])
    check(polls, hours, tz, ts("2023-09-30 20:00"), {"c": ((0, 0.5, 0.5), zero)})


def test_duplicate_polls_count_once_and_inactive_wins() -> None:
    # 24x7 store, T = 2023-01-23 18:00Z. Polls: T-4h active (twice), T-2h active / inactive /
    # active (disagreeing duplicates -> inactive). Switch at T-3h.
    #   week: up 165 h, down 3 h.  day: up 21, down 3.  hour: down 60.
    # (If active won, everything would be up.)
    polls = polls_frame(
        [
            ("s", "2023-01-23 16:00", True),
            ("s", "2023-01-23 14:00", True),
            ("s", "2023-01-23 16:00", False),
            ("s", "2023-01-23 14:00", True),
            ("s", "2023-01-23 16:00", True),
        ]
    )
    check(polls, hours_frame([]), tz_frame(CHI), ts("2023-01-23 18:00"), {"s": ((0, 21, 165), (60, 3, 3))})


def test_polls_after_as_of_are_ignored() -> None:
    # The worked example as of Mon 01-23 12:00 local (18:00Z), plus later polls: active at 18:06Z
    # (12:06 local) and three days later. They must change nothing: up 09:00-10:44:30.
    base = [("s", "2023-01-23 16:14", True), ("s", "2023-01-23 17:15", False)]
    later = [("s", "2023-01-23 18:06", True), ("s", "2023-01-26 15:00", True)]
    hours = hours_frame([("s", MON, "09:00", "12:00")])
    tz = tz_frame(CHI)
    expected = {"s": ((0, 1.74, 1.74), (60, 1.26, 1.26))}
    without = check(polls_frame(base), hours, tz, ts("2023-01-23 18:00"), expected)
    with_later = check(polls_frame(base + later), hours, tz, ts("2023-01-23 18:00"), expected)
    pd.testing.assert_frame_equal(without, with_later)
    # The same as-of among others in one reports_for call: still unchanged.
    many = reports_for(
        polls_frame(base + later),
        hours,
        tz,
        [ts("2023-01-23 18:00"), ts("2023-01-23 18:30")],
        with_business=True,
    )
    first = many[many["as_of"] == ts("2023-01-23 18:00")].drop(columns="as_of").reset_index(drop=True)
    pd.testing.assert_frame_equal(first, without)
    # Control: as of 18:30Z the 18:06Z poll is visible; the switch back to active is at the
    # midpoint 17:40:30Z (11:40:30 local). Up 09:00-10:44:30 + 11:40:30-12:00 = 2 h 04 min
    # = 2.0667 -> 2.07 h, down 3 - 2.07 = 0.93. Hour [11:30, 12:30) local: open 11:30-12:00,
    # up 19.5 min, down 10.5 min.
    check(
        polls_frame(base + later),
        hours,
        tz,
        ts("2023-01-23 18:30"),
        {"s": ((19.5, 2.07, 2.07), (10.5, 0.93, 0.93))},
    )


def test_poll_at_as_of_counts() -> None:
    # 24x7: active at T-2h, inactive exactly at T (which counts, <= T): switch at T-1h.
    #   hour: down 60.  day: up 23, down 1.  week: up 167, down 1.
    polls = polls_frame([("s", "2023-01-23 16:00", True), ("s", "2023-01-23 18:00", False)])
    check(polls, hours_frame([]), tz_frame(CHI), ts("2023-01-23 18:00"), {"s": ((0, 23, 167), (60, 1, 1))})


def test_before_first_and_after_last_poll() -> None:
    # 24x7, T = 2023-01-23 18:00Z.
    # "f": inactive at T-100h, active at T-90h: switch at T-95h. Before the first poll it is
    #   inactive: down [T-168h, T-95h) = 73 h; after the last poll active up to T: up 95 h.
    #   day: up 24.  hour: up 60.
    # "r": the reverse: up 73, down 95; day down 24; hour down 60.
    polls = polls_frame(
        [
            ("f", "2023-01-19 14:00", False),
            ("f", "2023-01-20 00:00", True),
            ("r", "2023-01-19 14:00", True),
            ("r", "2023-01-20 00:00", False),
        ]
    )
    check(
        polls,
        hours_frame([]),
        tz_frame([("f", "America/Chicago"), ("r", "America/Chicago")]),
        ts("2023-01-23 18:00"),
        {"f": ((60, 24, 95), (0, 0, 73)), "r": ((0, 0, 73), (60, 24, 95))},
    )


def test_store_with_polls_only_after_as_of_has_no_row() -> None:
    # "a" has a poll before T; "b" only after T; "c" has business hours but no polls at all.
    polls = polls_frame([("a", "2023-01-23 12:00", True), ("b", "2023-01-23 18:00:01", True)])
    hours = hours_frame([("c", MON, "09:00", "10:00")])
    report = check(polls, hours, None, ts("2023-01-23 18:00"), {"a": ((60, 24, 168), (0, 0, 0))})
    assert "b" not in set(report["store_id"])
    # One second later "b" appears: a single active poll at T, 24x7 -> all up.
    report = report_at(polls, hours, None, ts("2023-01-23 18:00:01"))
    assert list(report["store_id"]) == ["a", "b"]
    assert report.loc[1, ["uptime_last_hour", "uptime_last_day", "uptime_last_week"]].tolist() == [
        60,
        24,
        168,
    ]
    # As of before every poll: an empty report with the report's columns.
    empty = report_at(polls, hours, None, ts("2023-01-01 00:00"))
    assert len(empty) == 0
    assert list(empty.columns) == REPORT_COLUMNS


def test_default_as_of_is_latest_poll() -> None:
    # Latest poll: "a" inactive at 2023-01-23 18:00Z. So T = 18:00Z.
    # "a": 24x7, active at T-2h, inactive at T: switch T-1h -> hour down 60, day up 23 / down 1,
    #   week up 167 / down 1.
    # "b": 24x7, active at T-10h -> all up.
    polls = polls_frame(
        [("a", "2023-01-23 16:00", True), ("b", "2023-01-23 08:00", True), ("a", "2023-01-23 18:00", False)]
    )
    report = report_at(polls, hours_frame([]), None, with_business=True)
    expected = {"a": ((0, 23, 167), (60, 1, 1)), "b": ((60, 24, 168), (0, 0, 0))}
    assert_report(report, expected)
    explicit = check(polls, hours_frame([]), None, ts("2023-01-23 18:00"), expected)
    pd.testing.assert_frame_equal(report, explicit)


def test_end_23_59_59_means_midnight() -> None:
    # "day": Tue 00:00:00-23:59:59 is all of Tuesday. "late": Tue 23:00:00-23:59:59.
    # As of Wed 00:00 local (01-18 06:00Z), always active: the hour [Tue 23:00, 24:00) is 60 min
    # (read literally it would be 59 min 59 s = 59.98); "day" has 24 h in the day and the week.
    polls = polls_frame([("day", "2023-01-18 06:00", True), ("late", "2023-01-18 06:00", True)])
    hours = hours_frame([("day", TUE, "00:00:00", "23:59:59"), ("late", TUE, "23:00:00", "23:59:59")])
    tz = tz_frame([("day", "America/Chicago"), ("late", "America/Chicago")])
    check(
        polls,
        hours,
        tz,
        ts("2023-01-18 06:00"),
        {"day": ((60, 24, 24), (0, 0, 0)), "late": ((60, 1, 1), (0, 0, 0))},
    )


def test_rows_sorted_by_store_id_as_strings() -> None:
    # 24x7, all active: every store 60 / 24 / 168. Order is string order: "09" < "10" < "100" <
    # "1a" < "9", and the ids stay strings (leading zero kept).
    ids = ["9", "10", "100", "09", "1a"]
    polls = polls_frame([(s, "2023-01-23 12:00", True) for s in ids])
    all_up = ((60, 24, 168), (0, 0, 0))
    report = check(polls, hours_frame([]), None, ts("2023-01-23 18:00"), dict.fromkeys(sorted(ids), all_up))
    assert list(report["store_id"]) == ["09", "10", "100", "1a", "9"]
    assert all(type(s) is str for s in report["store_id"])
    many = reports_for(polls, hours_frame([]), None, [ts("2023-01-23 18:00"), ts("2023-01-23 17:00")])
    assert list(many["store_id"]) == ["09", "10", "100", "1a", "9"] * 2
    assert list(many["as_of"]) == [ts("2023-01-23 17:00")] * 5 + [ts("2023-01-23 18:00")] * 5


def test_store_ids_from_csv_keep_leading_zeros(tmp_path: Path) -> None:
    # "007" and "7" are different stores. "007": Mon 09:00-10:00 Chicago = 15:00Z-16:00Z, active;
    # as of Mon 01-23 16:00Z: hour 60, day 1, week 1 (Mon 01-16's shift ends at the week's start).
    # "7": no rows (24x7), inactive: hour down 60, day down 24, week down 168.
    (tmp_path / "status.csv").write_text(
        "store_id,status,timestamp_utc\n"
        "007,active,2023-01-23 15:30:00.000000 UTC\n"
        "7,inactive,2023-01-23 15:30:00 UTC\n"
        "0007,active,2023-01-24 00:00:00 UTC\n"
    )
    (tmp_path / "hours.csv").write_text(
        "store_id,day,start_time_local,end_time_local\n007,0,09:00:00,10:00:00\n"
    )
    (tmp_path / "tz.csv").write_text("store_id,timezone_str\n007,America/Chicago\n7,America/Chicago\n")
    polls = read_input(tmp_path / "status.csv", "status").valid
    hours = read_input(tmp_path / "hours.csv", "hours").valid
    tz = read_input(tmp_path / "tz.csv", "timezones").valid
    assert sorted(polls["store_id"]) == ["0007", "007", "7"]
    report = check(
        polls,
        hours,
        tz,
        ts("2023-01-23 16:00"),
        {"007": ((60, 1, 1), (0, 0, 0)), "7": ((0, 0, 0), (60, 24, 168))},
    )
    assert list(report["store_id"]) == ["007", "7"]


def _random_data(seed: int, n_stores: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    zones = ["America/New_York", "America/Chicago", "Asia/Kolkata", "Australia/Lord_Howe", "bad/zone", None]
    ids = [f"{i:03d}" for i in rng.choice(1000, n_stores, replace=False)]
    t0 = ts("2023-03-01 00:00").value // 1000
    span = 50 * 86_400 * 1_000_000
    n = 40 * n_stores
    polls = pd.DataFrame(
        {
            "store_id": pd.Series(rng.choice(ids, n), dtype=object),
            "timestamp_utc": pd.to_datetime(t0 + rng.integers(0, span, n), unit="us", utc=True),
            "is_active": rng.random(n) < 0.7,
        }
    )
    hour_rows = []
    for store in ids[: n_stores * 2 // 3]:
        for _ in range(rng.integers(1, 8)):
            hour_rows.append(
                (store, int(rng.integers(7)), int(rng.integers(86_400)), int(rng.integers(1, 86_401)))
            )
    hours = pd.DataFrame(hour_rows, columns=["store_id", "day_of_week", "start_seconds", "end_seconds"])
    tz = pd.DataFrame({"store_id": ids, "timezone_str": [zones[rng.integers(len(zones))] for _ in ids]})
    return polls, hours, tz


def test_reports_for_equals_report_at_per_as_of() -> None:
    # Hourly as-ofs across two DST-free days and a spring-forward Sunday, one as-of 40 days later
    # (beyond one prepared span), one before every poll and one duplicate.
    polls, hours, tz = _random_data(7, 12)
    as_ofs = [ts("2023-03-10 00:00") + pd.Timedelta(hours=h) for h in range(0, 72, 5)]
    as_ofs += [
        ts("2023-03-12 07:00"),
        ts("2023-04-19 12:34:56"),
        ts("2023-02-01 00:00"),
        ts("2023-03-12 07:00"),
    ]
    many = reports_for(polls, hours, tz, as_ofs, with_business=True)
    assert list(many["as_of"].drop_duplicates()) == sorted(
        {a for a in as_ofs if a >= polls["timestamp_utc"].min()}
    )
    for as_of in set(as_ofs):
        single = report_at(polls, hours, tz, as_of, with_business=True)
        part = many[many["as_of"] == as_of].drop(columns="as_of").reset_index(drop=True)
        if len(single) == 0:
            assert len(part) == 0
            continue
        # The store_id column's dtype (object or str) may differ between the two calls; the
        # values must not.
        pd.testing.assert_frame_equal(part.astype({"store_id": object}), single.astype({"store_id": object}))
