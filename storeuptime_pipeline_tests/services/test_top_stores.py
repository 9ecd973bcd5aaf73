"""The "worst stores" and "most outages" tables equal a full sort of the fleet, ties included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.services.reporting import worst_stores
from storeuptime_pipeline.services.reporting_outages import most_outages


def _fleet(seed: int, stores: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"store_id": [f"s{i:05d}" for i in rng.permutation(stores)]})
    for column in REPORT_COLUMNS[1:]:
        frame[column] = rng.integers(0, 4, stores).astype(float)  # few values: many ties at the cut
    frame["outages_last_hour"] = rng.integers(0, 2, stores)
    frame["outages_last_day"] = rng.integers(0, 3, stores)
    frame["outages_last_week"] = rng.integers(0, 3, stores)
    frame["longest_outage_last_week"] = rng.integers(0, 3, stores).astype(float)
    frame.insert(0, "as_of", pd.Timestamp("2023-01-25 10:00", tz="UTC"))
    return frame


@pytest.mark.parametrize("seed,stores", [(1, 5), (2, 40), (3, 3000)])
def test_top_tables_equal_a_full_sort(seed: int, stores: int) -> None:
    fleet = _fleet(seed, stores)
    worst = fleet.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(10)
    pd.testing.assert_frame_equal(worst_stores(fleet), worst[REPORT_COLUMNS])
    most = fleet.sort_values(
        ["outages_last_week", "longest_outage_last_week", "store_id"], ascending=[False, False, True]
    ).head(10)
    pd.testing.assert_frame_equal(
        most_outages(fleet), most[["store_id", *OUTAGE_SUMMARY_COLUMNS, "downtime_last_week"]]
    )
