"""The shard hash: fixed values (it names stored shards), even spread, and no per-process salt."""

import subprocess
import sys

import numpy as np
import pytest

from storeuptime_pipeline.core.shards import shard_of, store_hash


def _fnv1a(text: str) -> int:
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def _fnv1a_fmix32(text: str) -> int:
    """The hash written out byte by byte, independently of the vectorized version."""
    h = _fnv1a(text)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


IDS = ["", "a", "ab", "8419537941919820732", "00017c6a-7a77-4a95-bb2d-40647868aff8", "é-store", "x" * 70]


def test_the_vectorized_hash_equals_the_byte_by_byte_definition() -> None:
    assert store_hash(IDS).tolist() == [_fnv1a_fmix32(s) for s in IDS]


def test_known_values_do_not_change() -> None:
    # Stored in stores.shard_hash: a change here would silently move stores between shards.
    assert store_hash(["a"]).tolist() == [0x1A80B1B3]
    assert _fnv1a("a") == 0xE40C292C and _fnv1a("foobar") == 0xBF9CF968  # published FNV-1a vectors
    assert _fnv1a_fmix32("a") == 0x1A80B1B3


def test_the_hash_is_the_same_in_another_process() -> None:
    code = (
        "from storeuptime_pipeline.core.shards import store_hash; print(store_hash(['abc', 'xyz']).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(store_hash(["abc", "xyz"]).tolist())


def test_shards_are_even_for_sequential_ids() -> None:
    ids = [f"store-{i:06d}" for i in range(70_000)]
    counts = np.bincount(shard_of(ids, 7), minlength=7)
    assert counts.min() > 0.95 * 10_000 and counts.max() < 1.05 * 10_000


def test_one_shard_holds_everything_and_zero_shards_is_refused() -> None:
    assert set(shard_of(IDS, 1).tolist()) == {0}
    with pytest.raises(ValueError, match="at least 1"):
        shard_of(IDS, 0)
