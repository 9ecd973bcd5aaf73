"""The invariant on a data set of the real size: 14k stores, ~1.7M polls, every window of every row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.report import WINDOWS, report_at, reports_for
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline_tests.reference import business_mismatches

LIMITS = {"hour": 60.0, "day": 24.0, "week": 168.0}


def _assert_invariant(report: pd.DataFrame) -> None:
    for name, _length, _unit in WINDOWS:
        up = report[f"uptime_last_{name}"].to_numpy()
        down = report[f"downtime_last_{name}"].to_numpy()
        business = report[f"business_last_{name}"].to_numpy()
        # Exact in hundredths: the figures are 2-decimal numbers, compared as integers of cents.
        assert np.array_equal(np.round(up * 100) + np.round(down * 100), np.round(business * 100)), name
        assert (up >= 0).all() and (down >= 0).all(), name
        assert (business <= LIMITS[name] + 1e-9).all(), name


def test_invariant_holds_on_the_14k_store_data_set(tmp_path: Path) -> None:
    ds = generate_dataset(tmp_path, stores=14_000, days=8, seed=42)
    polls = read_input(ds.status_path, "status").valid
    hours = read_input(ds.hours_path, "hours").valid
    tz = read_input(ds.timezones_path, "timezones").valid
    assert len(polls) > 1_500_000
    report = report_at(polls, hours, tz, with_business=True)
    assert len(report) == polls["store_id"].nunique()
    _assert_invariant(report)
    as_ofs = list(pd.date_range(end=ds.end.floor("h"), periods=24, freq="h"))
    hourly = reports_for(polls, hours, tz, as_ofs, with_business=True)
    _assert_invariant(hourly)
    # Against business time computed apart (a per-second walk of local time), not the engine's own:
    # a random sample of rows, and every row of the planted edge-case stores (overnight rows, DST
    # and half-hour zones, no hours, no timezone row), which a random sample would seldom meet;
    # over the last three hours only, as the walk costs ~0.05 s per (timezone, instant).
    recent = hourly[hourly["as_of"].isin(as_ofs[-3:])]
    assert recent["store_id"].isin(list(ds.edge_cases.values())).sum() >= 3 * 15
    problems = business_mismatches(recent, hours, tz, sample=150, seed=42, always=ds.edge_cases.values())
    assert not problems, "\n".join(problems[:10])
    always_open = report[~report["store_id"].isin(hours["store_id"])]
    assert len(always_open) > 1000
    assert (always_open["business_last_week"] == 168.0).all()  # no hours: open 24x7
