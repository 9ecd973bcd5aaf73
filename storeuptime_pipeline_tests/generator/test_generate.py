"""Tests for the synthetic input generator.

The generator stands in for the real 1.8M-row status file in every larger test, so these tests pin
what the rest of the suite relies on: the real file formats, the poll density, the shuffled row
order, and that every planted edge case is really in the files and findable by store id.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from storeuptime_pipeline.generator.data import EDGE_CASE_KINDS, GeneratedDataset, generate_dataset

STORES, DAYS = 300, 8
STATUS_LINE = re.compile(r"\d{1,19},(active|inactive),\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{0,5}[1-9])? UTC")
HMS = re.compile(r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d|24:00:00")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return generate_dataset(tmp_path_factory.mktemp("gen"), stores=STORES, days=DAYS, seed=7)


@pytest.fixture(scope="module")
def status(dataset: GeneratedDataset) -> pd.DataFrame:
    frame = pd.read_csv(dataset.status_path, dtype=str)
    frame["ts"] = pd.to_datetime(frame["timestamp_utc"].str.removesuffix(" UTC"), format="ISO8601", utc=True)
    return frame


@pytest.fixture(scope="module")
def hours(dataset: GeneratedDataset) -> pd.DataFrame:
    return pd.read_csv(dataset.hours_path, dtype={"store_id": str, "day": int}, keep_default_na=False)


@pytest.fixture(scope="module")
def timezones(dataset: GeneratedDataset) -> pd.DataFrame:
    return pd.read_csv(dataset.timezones_path, dtype=str, keep_default_na=False)


def _file_bytes(ds: GeneratedDataset) -> list[bytes]:
    return [path.read_bytes() for path in (ds.status_path, ds.hours_path, ds.timezones_path)]


def _is_iana(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# --- determinism ----------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    first = generate_dataset(tmp_path / "a", stores=80, days=2, seed=11)
    again = generate_dataset(tmp_path / "b", stores=80, days=2, seed=11)
    other = generate_dataset(tmp_path / "c", stores=80, days=2, seed=12)
    assert _file_bytes(first) == _file_bytes(again)
    assert first.edge_cases == again.edge_cases
    assert all(a != c for a, c in zip(_file_bytes(first), _file_bytes(other), strict=True))


# --- formats --------------------------------------------------------------------------------------


def test_headers_are_exactly_the_real_ones(dataset: GeneratedDataset) -> None:
    first_lines = [path.read_text().split("\n", 1)[0] for path in (dataset.status_path, dataset.hours_path)]
    assert first_lines == ["store_id,status,timestamp_utc", "store_id,day,start_time_local,end_time_local"]
    assert dataset.timezones_path.read_text().startswith("store_id,timezone_str\n")
    assert dataset.status_path.name == "store_status.csv"


def test_every_status_line_matches_the_real_format(dataset: GeneratedDataset) -> None:
    lines = dataset.status_path.read_text().splitlines()[1:]
    assert len(lines) == dataset.polls
    bad = [line for line in lines if not STATUS_LINE.fullmatch(line)]
    assert bad == []


def test_fractions_vary_in_length_and_some_are_missing(status: pd.DataFrame) -> None:
    digits = status["timestamp_utc"].str.extract(r"\.(\d+) UTC$")[0].str.len()
    no_fraction = digits.isna().mean()
    assert 0.005 <= no_fraction <= 0.05
    assert digits.value_counts(normalize=True)[6] > 0.8
    assert {4, 5} <= set(digits.dropna().astype(int))


def test_hours_and_timezone_values_are_well_formed(hours: pd.DataFrame, timezones: pd.DataFrame) -> None:
    assert hours["day"].between(0, 6).all()
    for column in ("start_time_local", "end_time_local"):
        assert hours[column].map(lambda text: HMS.fullmatch(text) is not None).all()
    assert timezones["store_id"].is_unique
    assert hours["store_id"].str.fullmatch(r"\d{1,19}").all()


def test_store_ids_are_unique_63_bit_integers(dataset: GeneratedDataset, status, hours, timezones) -> None:
    ids = pd.Index(pd.concat([status["store_id"], hours["store_id"], timezones["store_id"]]).unique())
    assert len(ids) == dataset.stores == STORES
    assert ids.str.fullmatch(r"[1-9]\d{0,18}").all()
    assert (ids.astype("uint64") < 2**63).all()
    assert (ids.str.len() == 19).mean() > 0.75


# --- range and density ----------------------------------------------------------------------------


def test_latest_poll_is_exactly_end(dataset: GeneratedDataset, status: pd.DataFrame) -> None:
    assert dataset.end == pd.Timestamp("2023-01-25 18:13:22.479220", tz="UTC")
    assert status["ts"].max() == dataset.end
    assert (status["timestamp_utc"] == "2023-01-25 18:13:22.47922 UTC").sum() == 1
    assert status["ts"].min() >= dataset.start == dataset.end - pd.Timedelta(days=DAYS)


def test_about_point_seven_polls_per_store_hour(dataset: GeneratedDataset, status: pd.DataFrame) -> None:
    per_store_hour = len(status) / (dataset.stores * DAYS * 24)
    assert 0.55 <= per_store_hour <= 0.8


def test_polls_cluster_early_in_the_utc_hour(status: pd.DataFrame) -> None:
    assert (status["ts"].dt.minute < 15).mean() > 0.6


def test_inactive_share_is_sane_and_comes_in_runs(status: pd.DataFrame) -> None:
    inactive = status["status"] == "inactive"
    assert 0.08 <= inactive.mean() <= 0.2
    ordered = status.sort_values(["store_id", "ts"])
    flag = (ordered["status"] == "inactive").astype(int)
    run_id = (flag.diff() != 0).cumsum()
    longest = flag.groupby([ordered["store_id"], run_id]).sum().max()
    assert longest >= 4


def test_rows_are_not_grouped_by_store_nor_sorted_by_time(status: pd.DataFrame) -> None:
    same_as_previous = (status["store_id"] == status["store_id"].shift()).mean()
    assert same_as_previous < 0.05
    assert not status["ts"].is_monotonic_increasing
    # ... but roughly by time: neighbouring rows are often within minutes of each other.
    assert (status["ts"].diff().abs() < pd.Timedelta(minutes=10)).mean() > 0.3


def test_polling_gaps_sparse_and_late_stores_exist(dataset: GeneratedDataset, status: pd.DataFrame) -> None:
    per_store = status.groupby("store_id")["ts"]
    assert (per_store.size() <= 3).any()
    longest_gap = per_store.apply(lambda ts: ts.sort_values().diff().max())
    assert (longest_gap >= pd.Timedelta(hours=6)).sum() >= 10
    assert (per_store.min() > dataset.start + pd.Timedelta(days=2)).sum() >= 2


def test_real_world_distributions(dataset: GeneratedDataset, status, hours, timezones) -> None:
    all_ids = set(status["store_id"]) | set(hours["store_id"]) | set(timezones["store_id"])
    assert 0.15 <= 1 - hours["store_id"].nunique() / len(all_ids) <= 0.3
    rows_per_day = hours.groupby(["store_id", "day"]).size()
    assert 0.08 <= (rows_per_day >= 2).mean() <= 0.25
    days_listed = hours.groupby("store_id")["day"].nunique()
    assert 0.1 <= (days_listed < 7).mean() <= 0.3
    all_day = (hours["start_time_local"] == "00:00:00") & (hours["end_time_local"] == "23:59:59")
    assert 0.01 <= all_day.mean() <= 0.1
    zone_share = timezones["timezone_str"].value_counts(normalize=True)
    assert 0.5 <= zone_share["America/New_York"] <= 0.7
    assert 0.15 <= zone_share["America/Los_Angeles"] <= 0.33


# --- edge cases -----------------------------------------------------------------------------------


def _rows(frame: pd.DataFrame, store_id: str) -> pd.DataFrame:
    return frame[frame["store_id"] == store_id]


def _pairs(frame: pd.DataFrame) -> set[tuple[int, str, str]]:
    return set(zip(frame["day"], frame["start_time_local"], frame["end_time_local"], strict=True))


EdgeCheck = Callable[[str, pd.DataFrame, pd.DataFrame, pd.DataFrame, GeneratedDataset], bool]

EDGE_CHECKS: dict[str, EdgeCheck] = {
    "overnight": lambda sid, st, hr, tz, ds: (
        _rows(hr, sid)["end_time_local"] < _rows(hr, sid)["start_time_local"]
    ).all(),
    "split_shift": lambda sid, st, hr, tz, ds: set(_rows(hr, sid).groupby("day").size()) == {1, 2, 3},
    "overlapping": lambda sid, st, hr, tz, ds: (
        {(0, "09:00:00", "17:00:00"), (0, "12:00:00", "20:00:00")} <= _pairs(_rows(hr, sid))
    ),
    "all_day": lambda sid, st, hr, tz, ds: (
        _pairs(_rows(hr, sid)) == {(d, "00:00:00", "23:59:59") for d in range(7)}
    ),
    "end_2400": lambda sid, st, hr, tz, ds: (_rows(hr, sid)["end_time_local"] == "24:00:00").all(),
    "partial_week": lambda sid, st, hr, tz, ds: set(_rows(hr, sid)["day"]) == {0, 1, 2, 3, 4},
    "hours_no_timezone": lambda sid, st, hr, tz, ds: len(_rows(hr, sid)) > 0 and len(_rows(tz, sid)) == 0,
    "empty_timezone": lambda sid, st, hr, tz, ds: list(_rows(tz, sid)["timezone_str"]) == [""],
    "invalid_timezone": lambda sid, st, hr, tz, ds: (
        list(_rows(tz, sid)["timezone_str"]) == ["Mars/Olympus_Mons"]
    ),
    "tz_asia_kolkata": lambda sid, st, hr, tz, ds: list(_rows(tz, sid)["timezone_str"]) == ["Asia/Kolkata"],
    "tz_america_st_johns": lambda sid, st, hr, tz, ds: (
        list(_rows(tz, sid)["timezone_str"]) == ["America/St_Johns"]
    ),
    "tz_pacific_chatham": lambda sid, st, hr, tz, ds: (
        list(_rows(tz, sid)["timezone_str"]) == ["Pacific/Chatham"]
    ),
    "tz_australia_lord_howe": lambda sid, st, hr, tz, ds: (
        list(_rows(tz, sid)["timezone_str"]) == ["Australia/Lord_Howe"]
    ),
    "tz_europe_london": lambda sid, st, hr, tz, ds: list(_rows(tz, sid)["timezone_str"]) == ["Europe/London"],
    "duplicate_polls": lambda sid, st, hr, tz, ds: (
        _rows(st, sid).duplicated(["timestamp_utc", "status"]).sum() == 2
        and _rows(st, sid).duplicated("timestamp_utc").sum() == 2
    ),
    "conflicting_duplicate": lambda sid, st, hr, tz, ds: (
        _rows(st, sid).duplicated("timestamp_utc").sum() == 1
        and _rows(st, sid).groupby("timestamp_utc")["status"].nunique().max() == 2
    ),
    "single_poll": lambda sid, st, hr, tz, ds: len(_rows(st, sid)) == 1,
    "late_start": lambda sid, st, hr, tz, ds: (
        len(_rows(st, sid)) > 10
        and _rows(st, sid)["ts"].min() >= ds.start + pd.Timedelta(hours=DAYS * 12 - 1)
    ),
    "no_polls": lambda sid, st, hr, tz, ds: len(_rows(st, sid)) == 0 and len(_rows(tz, sid)) == 1,
    "always_inactive": lambda sid, st, hr, tz, ds: (
        len(_rows(st, sid)) > 10 and (_rows(st, sid)["status"] == "inactive").all()
    ),
    "status_only": lambda sid, st, hr, tz, ds: (
        len(_rows(st, sid)) > 10 and len(_rows(hr, sid)) == 0 and len(_rows(tz, sid)) == 0
    ),
}


def test_every_edge_kind_is_planted_on_its_own_store(dataset: GeneratedDataset) -> None:
    assert set(dataset.edge_cases) == set(EDGE_CASE_KINDS) == set(EDGE_CHECKS)
    assert len(set(dataset.edge_cases.values())) == len(EDGE_CASE_KINDS)


@pytest.mark.parametrize("kind", sorted(EDGE_CHECKS))
def test_edge_case_is_in_the_files(kind: str, dataset: GeneratedDataset, status, hours, timezones) -> None:
    assert EDGE_CHECKS[kind](dataset.edge_cases[kind], status, hours, timezones, dataset)


def test_random_scheme_alone_is_tame(tmp_path: Path) -> None:
    """Without edge cases the files look like the real ones: no odd rows a loader must special-case."""
    ds = generate_dataset(tmp_path, stores=STORES, days=2, seed=3, edge_cases=False)
    st = pd.read_csv(ds.status_path, dtype=str)
    hr = pd.read_csv(ds.hours_path, dtype=str)
    tz = pd.read_csv(ds.timezones_path, dtype=str, keep_default_na=False)
    assert ds.edge_cases == {}
    assert not st.duplicated(["store_id", "timestamp_utc"]).any()
    assert (hr["start_time_local"] < hr["end_time_local"]).all()
    assert tz["timezone_str"].map(_is_iana).all()
    assert set(tz["timezone_str"]) <= {
        "America/New_York",
        "America/Los_Angeles",
        "America/Chicago",
        "America/Phoenix",
        "America/Denver",
        "America/Detroit",
        "America/Indiana/Indianapolis",
        "America/Edmonton",
        "Asia/Beirut",
        "America/Boise",
        "Pacific/Honolulu",
    }


def test_edge_timezones_are_real_except_the_invalid_ones(timezones: pd.DataFrame) -> None:
    invalid = set(timezones.loc[~timezones["timezone_str"].map(_is_iana), "timezone_str"])
    assert invalid == {"", "Mars/Olympus_Mons"}


# --- arguments ------------------------------------------------------------------------------------


def test_given_store_ids_are_used_deduplicated_and_capped(tmp_path: Path) -> None:
    given = [str(10**18 + i) for i in range(50)]
    ds = generate_dataset(tmp_path, stores=30, days=1, store_ids=given + given[:10], edge_cases=False)
    st = pd.read_csv(ds.status_path, dtype=str)
    hr = pd.read_csv(ds.hours_path, dtype=str)
    used = set(st["store_id"]) | set(hr["store_id"])
    assert ds.stores == 30
    assert used <= set(given[:30])
    assert len(used) > 20


def test_end_is_converted_to_utc_and_bounds_the_polls(tmp_path: Path) -> None:
    end = pd.Timestamp("2023-01-25 10:00:00", tz="America/Los_Angeles")
    ds = generate_dataset(tmp_path, stores=40, days=1, end=end)
    st = pd.read_csv(ds.status_path, dtype=str)
    assert ds.end == pd.Timestamp("2023-01-25 18:00:00", tz="UTC")
    assert st["timestamp_utc"].max() == "2023-01-25 18:00:00 UTC"
    assert ds.start == pd.Timestamp("2023-01-24 18:00:00", tz="UTC")
    assert np.all(st["timestamp_utc"].to_numpy() >= "2023-01-24 18:00:00 UTC")


@pytest.mark.parametrize("kwargs", [{"stores": 0}, {"days": 0}, {"store_ids": []}])
def test_bad_arguments_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, **kwargs)
