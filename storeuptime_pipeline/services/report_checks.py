"""The report's three checks, per as-of instant: figures from frames, no Dagster.

The assets turn each :class:`CheckOutcome` into an ``AssetCheckResult`` (on-demand report) or an
``AssetCheckEvaluation`` with its partition (hourly report); the arithmetic lives here so that it
has one owner, a test of its own, and no Dagster or SQL in it (:func:`check_outcomes` is pure;
:func:`report_check_outcomes` adds the one query it needs).
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class CheckParts:
    """What one shard's report contributes to its checks: only the rows that break an invariant.

    The checks need the business time and exact outage figures, which are not stored; so each shard
    keeps, from its in-memory report, the (normally empty) rows that break a rule, and the publish
    step combines the shards' parts with the stored row counts (:func:`combine_outcomes`). Small by
    construction: a shard that breaks nothing contributes two empty frames.
    """

    invariant: pd.DataFrame  # invariant_violations() rows: as_of, report and business columns
    outage_bad: pd.Series  # rows breaking the outage invariant, per as_of (only as-ofs with any)
    outage_sample: pd.DataFrame  # up to 10 such rows per as_of, in store order, units as the report's


def check_parts(report: pd.DataFrame) -> CheckParts:
    """The parts of ``report`` (one shard's rows of one or more as-ofs, in (as_of, store_id) order)."""
    bad = outage_violation_mask(report)
    as_of = report["as_of"].to_numpy()
    outage_bad = pd.Series(bad).groupby(as_of).sum()
    sample = outage_invariant_violations(report.loc[bad] if bad.any() else report.iloc[:0]).drop(
        columns="rows"
    )
    return CheckParts(invariant_violations(report), outage_bad[outage_bad > 0], sample)


def report_check_outcomes(engine: Engine, report: pd.DataFrame) -> dict[pd.Timestamp, list[CheckOutcome]]:
    """:func:`check_outcomes` with each store's first poll inside the time limits read from Postgres."""
    return check_outcomes(report, read_first_polls(engine))


def read_first_polls(engine: Engine) -> pd.DataFrame:
    """Each store's first poll inside the time limits: when a store starts to be expected in a report."""
    with engine.connect() as conn:
        return queries.first_polls(conn, time_limits().earliest)


def check_outcomes(report: pd.DataFrame, first_polls: pd.DataFrame) -> dict[pd.Timestamp, list[CheckOutcome]]:
    """The three checks for every as-of in ``report``, in as-of order, by array arithmetic.

    ``report`` holds the rows of one or more as-ofs with their business time and exact outage
    figures; ``first_polls`` is (store_id, first_poll): a store is expected in a report as of any
    instant at or after its first poll. Samples are frames without the ``as_of`` column.
    """
    return combine_outcomes([check_parts(report)], report.groupby("as_of").size(), first_polls)


def combine_outcomes(
    parts: Sequence[CheckParts], rows: pd.Series, first_polls: pd.DataFrame
) -> dict[pd.Timestamp, list[CheckOutcome]]:
    """The three checks of every as-of in ``rows`` (report rows per as-of, > 0) from the shards' parts.

    Equal to :func:`check_outcomes` on the shards' reports concatenated: counts add up, and the
    samples are the shards' rows merged back into store order (the outage sample cut to 10 again).
    """
    violations = _merged([p.invariant for p in parts])
    outage_bad = pd.concat([p.outage_bad for p in parts]).groupby(level=0).sum() if parts else pd.Series()
    outage_sample = _merged([p.outage_sample for p in parts])
    as_ofs = pd.DatetimeIndex(sorted(rows.index[rows.to_numpy() > 0]))
    expected = stores_expected(first_polls, as_ofs)
    actual = rows.reindex(as_ofs, fill_value=0).to_numpy()
    bad = violations.groupby("as_of").size().reindex(as_ofs, fill_value=0)
    out: dict[pd.Timestamp, list[CheckOutcome]] = {}
    for i, as_of in enumerate(as_ofs):  # one pass over the instants (at most a backfill's hours)
        missing = int(max(expected[i] - actual[i], 0))
        sample = violations[violations["as_of"] == as_of] if bad.iloc[i] else violations.iloc[:0]
        outage_count = int(outage_bad.get(as_of, 0))
        outage_meta: dict[str, object] = {"rows_checked": int(actual[i]), "violations": outage_count}
        if outage_count:
            mine = outage_sample[outage_sample["as_of"] == as_of].head(10)
            outage_meta["sample"] = mine.drop(columns="as_of").reset_index(drop=True)
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
            CheckOutcome(OUTAGE_CHECK, passed=outage_count == 0, metadata=outage_meta),
        ]
    return out


def _merged(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The shards' rows in one frame in (as_of, store_id) order, as one unsharded report has them."""
    if len(frames) == 1:
        return frames[0]
    merged = pd.concat(frames, ignore_index=True)
    return merged.sort_values(["as_of", "store_id"], kind="stable", ignore_index=True)


def stores_expected(first_polls: pd.DataFrame, as_ofs: pd.DatetimeIndex) -> np.ndarray:
    """Per instant, how many stores have their first poll at or before it (one sorted search)."""
    first = np.sort(pd.DatetimeIndex(first_polls["first_poll"]).as_unit("us").asi8)
    return np.searchsorted(first, as_ofs.as_unit("us").asi8, side="right")
