"""Per-store sorted search without a per-store loop.

Every store's events (polls, status boundaries, business intervals) live in one flat array
sorted by (store, time). Folding the store code into a single int64 key, store * stride + time,
turns "search within this store" into one global ``np.searchsorted``. The time axis is a clipped
range [lo, hi] in microseconds, so the key cannot overflow as long as stores * stride < 2**62;
callers split longer ranges (``max_span_us``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_KEY_LIMIT = 2**62


@dataclass(frozen=True)
class KeySpace:
    """The mapping (store, time) -> int64 key for times in [lo - 1, hi + 1] microseconds."""

    lo: int
    hi: int
    n_stores: int

    @property
    def stride(self) -> int:
        return self.hi - self.lo + 3

    def __post_init__(self) -> None:
        if self.n_stores * self.stride >= _KEY_LIMIT:
            raise OverflowError("time range too long for one pass; split the as-of instants")

    def key(self, store: np.ndarray, time_us: np.ndarray) -> np.ndarray:
        """Times outside the range are clipped just outside it, which keeps counts right."""
        # In place on one new array: these keys are built for every poll, several times a pass.
        key = np.clip(np.asarray(time_us, dtype=np.int64), self.lo - 1, self.hi + 1)
        key -= self.lo - 1
        key += np.multiply(store, self.stride, dtype=np.int64)
        return key


def max_span_us(n_stores: int) -> int:
    """The longest [lo, hi] range a KeySpace accepts for this many stores."""
    return _KEY_LIMIT // max(n_stores, 1) - 4


def group_starts(sorted_codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Index of each group's first element in an array sorted by group code (n_groups + 1 bounds)."""
    return np.searchsorted(sorted_codes, np.arange(n_groups + 1), side="left")
