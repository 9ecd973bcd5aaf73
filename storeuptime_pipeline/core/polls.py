"""Duplicate polls: one poll per (store, instant), and ``inactive`` wins when duplicates disagree.

A status file can report a store twice at one instant (a re-sent poll, two exports read as one).
The report counts such a poll once, and so does the database's primary key; both must also agree
on which status it had, or a report from Postgres would differ from ``storeuptime report`` on the
same files. So the rule has one owner, :func:`dedupe_polls`, used by the engine's timeline
(``core/report.py``) and by the poll load (``db/poll_load.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Packed sort keys stay below 2**62, clear of the int64 sign bit and of overflow in the shifts.
_PACKED_BITS = 62


@dataclass(frozen=True)
class UniquePolls:
    """Polls without duplicates, sorted by (store, time), the store as a code into ``store_ids``."""

    store_ids: pd.Index  # distinct store ids in code-point order (= the bytes of COLLATE "C")
    store: np.ndarray  # int64 code per poll, ascending
    time: np.ndarray  # int64 epoch microseconds, ascending within a store
    active: np.ndarray  # bool; False where any duplicate said inactive


def dedupe_polls(store_ids: pd.Series, micros: np.ndarray, active: np.ndarray) -> UniquePolls:
    """Unique (store, instant) polls in (store, time) order; among duplicates inactive wins.

    Store ids are factorized sorted: Python orders strings by code point, which is the byte order
    of their UTF-8 and so of the ``COLLATE "C"`` primary key, so the result is in the table's key
    order. A categorical column (``copyio``'s ``category`` read, the CLI's lean reader) is not
    factorized again: its integer codes are renumbered in that order (:func:`dedupe_coded`).
    """
    if isinstance(store_ids.dtype, pd.CategoricalDtype):
        return dedupe_coded(store_ids.cat.codes.to_numpy(), store_ids.cat.categories, micros, active)
    codes, uniques = pd.factorize(store_ids, sort=True)
    return _dedupe_sorted(np.asarray(codes, dtype=np.int64), pd.Index(uniques), micros, active)


def dedupe_coded(
    codes: np.ndarray, categories: pd.Index, micros: np.ndarray, active: np.ndarray
) -> UniquePolls:
    """:func:`dedupe_polls` for store ids given as integer codes into ``categories``.

    Why: a Python string per poll costs ~60 bytes and a hash per poll to factorize; codes cost 4
    and the renumbering works on the distinct ids only. ``categories`` may be in any order and
    may hold ids without polls here (a shard's polls use a subset of the file's dictionary): the
    result's ``store_ids`` are the ids used, in code-point order, like ``dedupe_polls``'.
    """
    codes = np.asarray(codes)
    if len(codes) and int(codes.min()) < 0:
        raise ValueError("a poll without a store id (categorical code -1)")
    used = np.flatnonzero(np.bincount(codes, minlength=len(categories))) if len(codes) else codes[:0]
    used_ids = categories.take(used)
    order = np.asarray(used_ids.argsort(), dtype=np.int64)  # code point = UTF-8 byte order
    local = np.zeros(len(categories), dtype=np.int64)
    local[used[order]] = np.arange(len(used), dtype=np.int64)
    return _dedupe_sorted(local[codes], used_ids.take(order), micros, active)


def _dedupe_sorted(
    codes: np.ndarray, uniques: pd.Index, micros: np.ndarray, active: np.ndarray
) -> UniquePolls:
    """The rule on codes that follow the sorted store ids.

    Sorting by (store, time, active) with False first puts an inactive duplicate at the head
    of its group, and keeping each group's head is the whole rule. When the three fit in one int64
    (always for realistic data: 14 bits of stores and 40 bits for a week of microseconds), one sort
    of that packed key replaces an argsort and three gathers; wider spans fall back to a lexsort.
    """
    micros = np.asarray(micros, dtype=np.int64)
    flag = np.asarray(active, dtype=bool).astype(np.int64)
    if len(codes) == 0:
        return UniquePolls(uniques, codes, micros, flag.astype(bool))
    offset = int(micros.min())
    time_bits = (int(micros.max()) - offset).bit_length()  # Python ints: no int64 overflow
    if len(uniques).bit_length() + time_bits + 1 <= _PACKED_BITS:
        key = (codes << (time_bits + 1)) | ((micros - offset) << 1) | flag
        del codes, micros, flag  # the packed key holds all three: free them before the sort
        key.sort()
        codes = key >> (time_bits + 1)
        micros = ((key >> 1) & ((1 << time_bits) - 1)) + offset
        flag = key & 1
        del key
    else:
        order = np.lexsort((flag, micros, codes))
        codes, micros, flag = codes[order], micros[order], flag[order]
    head = np.ones(len(codes), dtype=bool)
    head[1:] = (codes[1:] != codes[:-1]) | (micros[1:] != micros[:-1])
    if head.all():  # no duplicates (the usual case): no gathers
        return UniquePolls(uniques, codes, micros, flag.astype(bool))
    return UniquePolls(uniques, codes[head], micros[head], flag[head].astype(bool))
