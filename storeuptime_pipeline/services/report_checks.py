"""The report's three checks, per as-of instant: figures from frames, no Dagster.

The assets turn each :class:`CheckOutcome` into an ``AssetCheckResult`` (on-demand report) or an
``AssetCheckEvaluation`` with its partition (hourly report); the arithmetic lives here so that it
has one owner, a test of its own, and no Dagster or SQL in it (:func:`check_outcomes` is pure;
:func:`report_check_outcomes` adds the one query it needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from storeuptime_pipeline.core.limits import time_limits
from storeuptime_pipeline.db import queries
from storeuptime_pipeline.services.reporting import invariant_violations
from storeuptime_pipeline.services.reporting_outages import (
    outage_invariant_violations,
    outage_violation_mask,
)

INVARIANT_CHECK = "uptime_plus_downtime_equals_business_time"
COVERAGE_CHECK = "every_polled_store_has_a_row"
OUTAGE_CHECK = "outages_add_up_to_downtime"


@dataclass(frozen=True)
class CheckOutcome:
    """One check of one as-of: its verdict and metadata (numbers, and sample rows as frames)."""

    name: str
    passed: bool
    metadata: dict[str, object] = field(default_factory=dict)


def report_check_outcomes(engine: Engine, report: pd.DataFrame) -> dict[pd.Timestamp, list[CheckOutcome]]:
    """:func:`check_outcomes` with each store's first poll inside the time limits read from Postgres."""
    with engine.connect() as conn:
        first = queries.first_polls(conn, time_limits().earliest)
    return check_outcomes(report, first)


def check_outcomes(report: pd.DataFrame, first_polls: pd.DataFrame) -> dict[pd.Timestamp, list[CheckOutcome]]:
    """The three checks for every as-of in ``report``, in as-of order, by array arithmetic.

    ``report`` holds the rows of one or more as-ofs with their business time and exact outage
    figures; ``first_polls`` is (store_id, first_poll): a store is expected in a report as of any
    instant at or after its first poll. Samples are frames without the ``as_of`` column.
    """
    violations = invariant_violations(report)
    outage_bad = pd.Series(outage_violation_mask(report)).groupby(report["as_of"].to_numpy()).sum()
    as_ofs = pd.DatetimeIndex(sorted(report["as_of"].unique()))
    expected = stores_expected(first_polls, as_ofs)
    actual = report.groupby("as_of").size().reindex(as_ofs, fill_value=0).to_numpy()
    bad = violations.groupby("as_of").size().reindex(as_ofs, fill_value=0)
    out: dict[pd.Timestamp, list[CheckOutcome]] = {}
    for i, as_of in enumerate(as_ofs):  # one pass over the instants (at most a backfill's hours)
        missing = int(max(expected[i] - actual[i], 0))
        sample = violations[violations["as_of"] == as_of] if bad.iloc[i] else violations.iloc[:0]
        out[as_of] = [
            CheckOutcome(
                INVARIANT_CHECK,
                passed=not bad.iloc[i],
                metadata={
                    "rows_checked": int(actual[i]),
                    "violations": int(bad.iloc[i]),
                    "sample": sample.drop(columns="as_of"),
                },
            ),
            CheckOutcome(
                COVERAGE_CHECK,
                passed=missing == 0,
                metadata={"stores_expected": int(expected[i]), "rows": int(actual[i]), "missing": missing},
            ),
            _outage_outcome(report, as_of, int(outage_bad.get(as_of, 0)), int(actual[i])),
        ]
    return out


def stores_expected(first_polls: pd.DataFrame, as_ofs: pd.DatetimeIndex) -> np.ndarray:
    """Per instant, how many stores have their first poll at or before it (one sorted search)."""
    first = np.sort(pd.DatetimeIndex(first_polls["first_poll"]).as_unit("us").asi8)
    return np.searchsorted(first, as_ofs.as_unit("us").asi8, side="right")


def _outage_outcome(report: pd.DataFrame, as_of: pd.Timestamp, bad: int, rows: int) -> CheckOutcome:
    """The outage invariant of one as-of; the sample is built only when some row breaks it."""
    sample = outage_invariant_violations(report[report["as_of"] == as_of]) if bad else None
    return CheckOutcome(
        OUTAGE_CHECK,
        passed=bad == 0,
        metadata={
            "rows_checked": rows,
            "violations": bad,
            **({"sample": sample.drop(columns=["as_of", "rows"])} if sample is not None else {}),
        },
    )
