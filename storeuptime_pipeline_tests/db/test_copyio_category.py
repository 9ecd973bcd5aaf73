"""``copy_out_frame``'s ``category`` type: store ids as codes into distinct strings, same engine result."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

from storeuptime_pipeline.core.polls import dedupe_polls
from storeuptime_pipeline.db.copyio import copy_out_frame

QUERY = """
SELECT id, t FROM (VALUES ('b', 3), ('a', 1), ('b', 2), ('é', 5), ('10', 4), ('a', 0), (NULL, 6)) AS v(id, t)
ORDER BY t
"""


def test_category_reads_codes_and_distinct_ids_and_dedupes_like_text(db_conn: Connection) -> None:
    text = copy_out_frame(db_conn, QUERY, None, {"id": "str", "t": "int64"})
    coded = copy_out_frame(db_conn, QUERY, None, {"id": "category", "t": "int64"})
    assert isinstance(coded["id"].dtype, pd.CategoricalDtype)
    assert sorted(coded["id"].cat.categories) == ["10", "a", "b", "é"]
    assert (
        coded["id"].astype(object).where(coded["id"].notna(), None).tolist()
        == text["id"].astype(object).where(text["id"].notna(), None).tolist()
    )
    rows = text["id"].notna().to_numpy()
    micros, active = text["t"].to_numpy()[rows], np.ones(rows.sum(), dtype=bool)
    want = dedupe_polls(text["id"][rows].reset_index(drop=True), micros, active)
    got = dedupe_polls(coded["id"][rows].reset_index(drop=True), micros, active)
    assert list(got.store_ids) == list(want.store_ids) == ["10", "a", "b", "é"]
    np.testing.assert_array_equal(got.store, want.store)
    np.testing.assert_array_equal(got.time, want.time)


def test_category_of_an_empty_result_is_still_categorical(db_conn: Connection) -> None:
    frame = copy_out_frame(db_conn, "SELECT 'x'::text AS id WHERE false", None, {"id": "category"})
    assert len(frame) == 0 and isinstance(frame["id"].dtype, pd.CategoricalDtype)
