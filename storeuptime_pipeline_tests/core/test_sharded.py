"""Store shards in the engine (core/sharded.py): for every shard count, the files the unsharded engine writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from storeuptime_pipeline.core.outages import report_with_outages_at
from storeuptime_pipeline.core.report import report_at
from storeuptime_pipeline.core.sharded import CodedPolls, default_shards, output_in_shards, split_by_shard
from storeuptime_pipeline.core.shards import shard_of
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_extended_csv, format_outages_csv, format_report_csv
from storeuptime_pipeline.generator.data import generate_dataset

Frames = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> Frames:
    """A small generated fleet plus the cases a shard could get wrong: disagreeing duplicate polls,
    an overnight hours row, and stores with polls but no hours or timezone row."""
    ds = generate_dataset(tmp_path_factory.mktemp("sharded"), stores=240, days=8, seed=11)
    polls = read_input(ds.status_path, "status").valid
    hours = read_input(ds.hours_path, "hours").valid
    tz = read_input(ds.timezones_path, "timezones").valid
    dupes = polls.iloc[::37].copy()
    dupes["is_active"] = ~dupes["is_active"]
    ids = sorted(polls["store_id"].unique())
    overnight_store = ids[5]
    hours = pd.concat(
        [
            hours[hours["store_id"] != overnight_store],
            pd.DataFrame(
                {
                    "store_id": [overnight_store] * 7,
                    "day_of_week": np.arange(7, dtype=np.int16),
                    "start_seconds": np.full(7, 22 * 3600, dtype=np.int32),
                    "end_seconds": np.full(7, 2 * 3600, dtype=np.int32),
                }
            ),
        ],
        ignore_index=True,
    )
    lonely = polls[polls["store_id"] == ids[9]].assign(store_id="zz-no-hours-no-timezone")
    polls = pd.concat([polls, dupes, lonely], ignore_index=True)
    hours = hours[hours["store_id"] != ids[9]]
    tz = tz[tz["store_id"] != ids[9]]
    assert polls.duplicated(["store_id", "timestamp_utc"]).sum() > 100
    return polls, hours.reset_index(drop=True), tz.reset_index(drop=True)


@pytest.mark.parametrize("shards", [1, 3, 7])
@pytest.mark.parametrize("as_of", [None, "2023-01-24 09:30:00"])
def test_sharded_files_equal_the_unsharded_ones(frames: Frames, shards: int, as_of: str | None) -> None:
    assert format_report_csv(output_in_shards(*frames, as_of, shards)) == format_report_csv(
        report_at(*frames, as_of)
    )
    unsharded = report_with_outages_at(*frames, as_of)
    extended = output_in_shards(*frames, as_of, shards, "extended")
    assert format_extended_csv(extended) == format_extended_csv(unsharded.report)
    listed = output_in_shards(*frames, as_of, shards, "outages")
    assert len(listed) > 50
    assert format_outages_csv(listed) == format_outages_csv(unsharded.outages)


def test_a_shard_split_keeps_each_stores_polls_together_and_in_order() -> None:
    ids = pd.Index(["a", "b", "c", "d", "e"], dtype="str")
    codes = np.array([4, 0, 1, 4, 2, 3, 0], dtype=np.int32)
    polls = CodedPolls(codes, np.arange(7, dtype=np.int64), np.ones(7, dtype=bool))
    parts = split_by_shard(polls, shard_of(ids, 3), 3)
    assert sum(len(p) for p in parts) == 7
    for s, part in enumerate(parts):
        assert set(shard_of(ids[part.codes], 3)) <= {s}
        assert list(part.micros) == sorted(part.micros)


def test_default_shards_follow_the_status_size() -> None:
    assert default_shards(0) == 1
    assert default_shards(101_447_120) == 1  # the seed-sized file
    assert default_shards(1_014_056_447) == 4  # ten times that


def test_a_file_with_no_poll_at_or_before_the_as_of_has_no_rows_for_any_shard_count(frames: Frames) -> None:
    for shards in (1, 3):
        assert len(output_in_shards(*frames, "2000-01-02", shards)) == 0
