"""Sharded == unsharded on the engine: split the input frames with shard_of, report each shard,
concatenate, sort; the CSV bytes (report, extended report, outage list) equal the unsharded ones.

Why this holds, and why it is worth a test: a store's figures depend only on its own polls, hours
and timezone, so a shard that holds all of a store's rows computes that store's rows exactly. What
could break it: anything in the engine that looks across stores (a fleet-wide default, a dedup
across ids, an order that is not by store_id), which this test would show as a byte difference.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from storeuptime_pipeline.core.outages import reports_with_outages_for
from storeuptime_pipeline.core.shards import shard_of
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_extended_csv, format_outages_csv
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.reporting import csv_texts

AS_OFS = [pd.Timestamp("2023-01-25 09:00", tz="UTC"), pd.Timestamp("2023-01-25 17:00", tz="UTC")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    folder: Path = tmp_path_factory.mktemp("shards")
    ds = generate_dataset(folder, stores=300, days=8, seed=5)
    return tuple(
        read_input(p, k).valid
        for p, k in ((ds.status_path, "status"), (ds.hours_path, "hours"), (ds.timezones_path, "timezones"))
    )  # type: ignore[return-value]


def _files(report: pd.DataFrame, outages: pd.DataFrame) -> dict[str, str]:
    """Every file a report run writes, per instant: the CSV, the extended CSV and the outage list."""
    out = {f"report {t}": text for t, text in csv_texts(report).items()}
    for t in AS_OFS:
        rows = report[report["as_of"] == t].drop(columns="as_of").reset_index(drop=True)
        out[f"extended {t}"] = format_extended_csv(rows)
        listed = outages[outages["as_of"] == t].drop(columns="as_of").reset_index(drop=True)
        out[f"outages {t}"] = format_outages_csv(listed)
    return out


@pytest.mark.parametrize("shards", [1, 3, 7])
def test_the_shards_concatenated_equal_the_unsharded_report_byte_for_byte(inputs, shards: int) -> None:
    polls, hours, timezones = inputs
    whole = reports_with_outages_for(polls, hours, timezones, AS_OFS)
    reports, lists = [], []
    for i in range(shards):
        part = reports_with_outages_for(
            polls[shard_of(polls["store_id"], shards) == i],
            hours[shard_of(hours["store_id"], shards) == i],
            timezones[shard_of(timezones["store_id"], shards) == i],
            AS_OFS,
        )
        assert shards == 1 or len(part.report) < len(whole.report)  # a shard is a part, not a copy
        reports.append(part.report)
        lists.append(part.outages)
    report = pd.concat(reports).sort_values(["as_of", "store_id"], kind="stable", ignore_index=True)
    outages = pd.concat(lists).sort_values(
        ["as_of", "store_id", "start_utc"], kind="stable", ignore_index=True
    )
    assert len(whole.report) > 500 and len(whole.outages) > 100
    sharded, unsharded = _files(report, outages), _files(whole.report, whole.outages)
    assert sharded.keys() == unsharded.keys()
    for name, text in unsharded.items():
        assert sharded[name].encode() == text.encode(), name
