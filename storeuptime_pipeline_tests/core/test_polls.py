"""Duplicate polls (core/polls.py): one poll per (store, instant), inactive winning, in key order."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from storeuptime_pipeline.core.polls import dedupe_coded, dedupe_polls
from storeuptime_pipeline.core.report import Timeline

#: "10" sorts before "2" (text, not numbers); "é" after every ASCII id (code point = UTF-8 byte order).
STORES = ["1", "2", "10", "é", "c7d8a0f0-3b5e-4a4c-9b1e-6c2f5d3e8a11"]


def _expected(store: list[str], micros: list[int], active: list[bool]) -> pd.Series:
    frame = pd.DataFrame({"store_id": store, "us": micros, "active": active})
    return frame.groupby(["store_id", "us"])["active"].all().sort_index()


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(STORES),
            st.one_of(
                st.integers(0, 5),  # a few distinct instants: many duplicates
                st.integers(-(2**61), 2**61),  # spans too wide for the packed sort key: lexsort path
            ),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_dedupe_equals_a_groupby_with_inactive_winning(rows: list[tuple[str, int, bool]]) -> None:
    store = [r[0] for r in rows]
    micros = [r[1] for r in rows]
    active = [r[2] for r in rows]
    got = dedupe_polls(pd.Series(store, dtype=object), np.array(micros, dtype=np.int64), np.array(active))
    expected = _expected(store, micros, active)
    assert got.store_ids[got.store].tolist() == expected.index.get_level_values(0).tolist()
    assert got.time.tolist() == expected.index.get_level_values(1).tolist()
    assert got.active.tolist() == expected.tolist()
    assert got.active.dtype == bool
    assert list(got.store_ids) == sorted(set(store))


def test_an_inactive_duplicate_wins_whichever_comes_first() -> None:
    for order in ([True, False, True], [False, True, True], [True, True, False]):
        got = dedupe_polls(pd.Series(["s", "s", "s"]), np.array([7, 7, 7]), np.array(order))
        assert got.time.tolist() == [7]
        assert got.active.tolist() == [False]


def test_no_polls_is_an_empty_result() -> None:
    got = dedupe_polls(pd.Series([], dtype=object), np.array([], dtype=np.int64), np.array([], dtype=bool))
    assert len(got.store_ids) == 0
    assert got.store.tolist() == got.time.tolist() == got.active.tolist() == []


def test_the_timeline_counts_a_duplicate_poll_once_and_bounds_each_store() -> None:
    t = pd.Timestamp("2023-01-24 12:00", tz="UTC")
    polls = pd.DataFrame(
        {
            "store_id": ["b", "a", "b", "a", "b"],
            "timestamp_utc": pd.DatetimeIndex([t, t, t, t + pd.Timedelta("1h"), t - pd.Timedelta("1h")]),
            "is_active": [True, True, False, True, True],
        }
    )
    timeline = Timeline.from_polls(polls)
    assert timeline.store_ids.tolist() == ["a", "b"]
    assert timeline.store.tolist() == [0, 0, 1, 1]
    assert timeline.active.tolist() == [True, True, True, False]
    assert timeline.first.tolist() == [0, 2, 4]
    assert timeline.latest() == t + pd.Timedelta("1h")


def test_a_span_wider_than_int64_takes_the_lexsort_path_without_overflow() -> None:
    low, high = -(2**63) + 10, 2**63 - 10  # max - min does not fit in int64
    got = dedupe_polls(
        pd.Series(["b", "a", "a", "b"]), np.array([high, low, high, low]), np.array([True, True, False, True])
    )
    assert got.store.tolist() == [0, 0, 1, 1]
    assert got.time.tolist() == [low, high, low, high]
    assert got.active.tolist() == [True, False, True, True]


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(STORES), st.integers(0, 5), st.booleans()),
        max_size=40,
    ),
    extra=st.lists(st.sampled_from(["zz", "0", "ü"]), max_size=3, unique=True),
    seed=st.integers(0, 2**16),
)
def test_coded_store_ids_dedupe_like_strings(
    rows: list[tuple[str, int, bool]], extra: list[str], seed: int
) -> None:
    """Codes into a dictionary in any order, with ids that have no poll (a shard's view of the file's
    dictionary), give dedupe_polls' result: the same ids in code-point order, the same polls."""
    store = [r[0] for r in rows]
    micros = np.array([r[1] for r in rows], dtype=np.int64)
    active = np.array([r[2] for r in rows], dtype=bool)
    categories = list(dict.fromkeys(STORES + extra))
    np.random.default_rng(seed).shuffle(categories)
    index = pd.Index(categories, dtype="str")
    codes = index.get_indexer(store).astype(np.int32)
    want = dedupe_polls(pd.Series(store, dtype="str"), micros, active)
    for got in (
        dedupe_coded(codes, index, micros, active),
        dedupe_polls(
            pd.Series(pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(index))), micros, active
        ),
    ):
        assert list(got.store_ids) == list(want.store_ids)
        np.testing.assert_array_equal(got.store, want.store)
        np.testing.assert_array_equal(got.time, want.time)
        np.testing.assert_array_equal(got.active, want.active)
