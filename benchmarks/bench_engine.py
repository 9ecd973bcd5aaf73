"""Engine benchmark: CSV load, one report, 168 hourly reports, peak memory (issue 2 targets)."""

from __future__ import annotations

import pandas as pd
from common import dataset, peak_rss_mb, timed

from storeuptime_pipeline.engine.reading import read_input
from storeuptime_pipeline.engine.report import compute_report, compute_reports

TARGETS = {"load": 2.0, "one report": 1.5, "168 hourly reports": 30.0}


def main() -> None:
    ds = dataset()
    print(f"data set: {ds.stores:,} stores, {ds.polls:,} polls, {ds.start} .. {ds.end}")
    t: dict[str, float] = {}
    with timed("load", t):
        polls = read_input(ds.status_path, "status").valid
        hours = read_input(ds.hours_path, "hours").valid
        tz = read_input(ds.timezones_path, "timezones").valid
    with timed("one report", t):
        report = compute_report(polls, hours, tz)
    last_hour = ds.end.floor("h")
    as_ofs = list(pd.date_range(end=last_hour, periods=168, freq="h"))
    with timed("168 hourly reports", t):
        many = compute_reports(polls, hours, tz, as_ofs)
    for label, seconds in t.items():
        verdict = "ok" if seconds <= TARGETS[label] else "OVER TARGET"
        print(f"{label:>20}: {seconds:6.2f} s   (target <= {TARGETS[label]:.1f} s) {verdict}")
    peak = peak_rss_mb()
    print(
        f"{'peak memory':>20}: {peak:6.0f} MB  (target <= 1024 MB) {'ok' if peak <= 1024 else 'OVER TARGET'}"
    )
    print(f"rows: one report {len(report):,}; 168 reports {len(many):,}")


if __name__ == "__main__":
    main()
