"""The one validation path: a file's string rows in, the core's frame of that input and its rejects out.

``storeuptime report`` and the ingestion into Postgres both read a file through
:func:`validate_input` (``fileio.csv_input.read_input`` calls it after reading the CSV), so the
rows kept, the values read and the reasons given are the same whichever reads it. A row that
cannot be read is never fatal: it is left out and returned with its physical line number and a
reason. Only a file that makes no sense as a whole (timezones columns swapped) raises here; the
file-level problems (missing, empty, not CSV, a required column missing) are the reader's.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from storeuptime_pipeline.core.inputs import SECONDS_PER_DAY, InputFileError, Kind
from storeuptime_pipeline.core.reasons import (
    NOT_COUNTED_REASONS,
    Note,
    RejectReason,
    empty_rejects,
    reject_rows,
)
from storeuptime_pipeline.core.rules import clean_text, filled_text, resolve_timezones


@dataclass
class ReadResult:
    """The readable rows of one file, the rows left out, and what was noticed on the way."""

    kind: Kind
    path: str
    valid: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    notes: dict[str, int] = field(default_factory=dict)
    #: Rows used when ``valid`` is not kept (a status file read lean went to a sink chunk by chunk).
    rows_used: int | None = None

    @property
    def used(self) -> int:
        """Rows used: what the CLI prints as "used"."""
        return len(self.valid) if self.rows_used is None else self.rows_used

    def reject_summary(self) -> dict[str, int]:
        """How many rows were left out for each reason, most frequent first."""
        counts = self.rejected["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    @property
    def rows_rejected(self) -> int:
        """Rows left out because they could not be used: what a file's reject share counts.

        A superseded row (a store listed again later in a snapshot) is in ``rejected`` so the
        operator sees it, but it is the file saying what it means, not a broken row.
        """
        return int((~self.rejected["reason"].isin(NOT_COUNTED_REASONS)).sum())


def _kept(values: pd.Series, ok: np.ndarray) -> pd.Series:
    return values[ok].reset_index(drop=True)


def assemble(
    kind: Kind, frame: pd.DataFrame, parsed: dict[str, pd.Series], ok: np.ndarray
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The core's frame of one input from its parsed columns; returns (valid rows, notes)."""
    if kind == "status":
        valid = pd.DataFrame(
            {
                "store_id": _kept(parsed["store_id"], ok),
                "timestamp_utc": _kept(parsed["timestamp_utc"], ok),
                "is_active": _kept(parsed["status"], ok).astype(bool),
            }
        )
        return valid, {}
    if kind == "hours":
        valid = pd.DataFrame(
            {
                "store_id": _kept(parsed["store_id"], ok),
                "day_of_week": _kept(parsed["day_of_week"], ok).astype("int16"),
                "start_seconds": _kept(parsed["start_time_local"], ok).astype("int32"),
                "end_seconds": _kept(parsed["end_time_local"], ok).astype("int32"),
            }
        )
        # An end of 00:00 closes at midnight: the same instant as 24:00, kept as one spelling.
        valid.loc[valid["end_seconds"].eq(0), "end_seconds"] = SECONDS_PER_DAY
        return valid, {}
    given = frame["timezone_str"][ok].map(clean_text).to_numpy()
    used, defaulted, invalid = resolve_timezones(pd.Series(given, dtype=object))
    valid = pd.DataFrame(
        {
            "store_id": _kept(parsed["store_id"], ok),
            "timezone_str": np.where(given == "", None, given),
            "timezone": used.to_numpy(),
            "timezone_defaulted": defaulted.to_numpy(),
        }
    )
    notes = {
        Note.INVALID_TIMEZONES.value: int(invalid.sum()),
        Note.EMPTY_TIMEZONES.value: int((defaulted & ~invalid).sum()),
    }
    return valid, notes


def superseded_rows(
    frame: pd.DataFrame, parsed: dict[str, pd.Series], ok: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """A store listed twice in a timezones snapshot keeps its last row: the later line is the newer word.

    The earlier rows are left out as ``RejectReason.SUPERSEDED`` so ``rejected_rows`` shows them,
    not only a count; returns the narrowed mask of rows to use and those rejects.
    """
    kept = np.flatnonzero(ok)
    earlier = parsed["store_id"].iloc[kept].duplicated(keep="last").to_numpy()
    if not earlier.any():
        return ok, empty_rejects()
    ok = ok.copy()
    ok[kept[earlier]] = False
    return ok, reject_rows(frame["line"].to_numpy()[kept[earlier]], "store_id", RejectReason.SUPERSEDED)


@cache
def _zone_names() -> pa.Array:
    return pa.array(sorted(zoneinfo.available_timezones()), pa.string())


def _is_zone_name(values: pd.Series) -> np.ndarray:
    text = pc.utf8_trim_whitespace(filled_text(values))
    return pc.is_in(text, value_set=_zone_names()).to_numpy(zero_copy_only=False)


def check_not_swapped(source: str, frame: pd.DataFrame) -> None:
    """Refuse a timezones file whose columns hold each other's values (store ids under timezone_str).

    Read as given, such a file would reset every real store to America/Chicago and invent a store
    per zone name; no row is individually wrong, so only the file as a whole can say it.
    """
    n = len(frame)
    if n == 0:
        return
    id_is_zone = _is_zone_name(frame["store_id"])
    if id_is_zone.sum() * 2 <= n or _is_zone_name(frame["timezone_str"]).sum() * 2 >= n:
        return
    ids = frame["store_id"]
    example = clean_text(ids[id_is_zone].iloc[0])
    raise InputFileError(
        source,
        f"the columns look swapped: {int(id_is_zone.sum()):,} of {n:,} store_id values are timezone names "
        f"(e.g. {example!r}) and most timezone_str values are not; the header must name the columns "
        "in the file's order (store_id,timezone_str)",
    )


def validate_input(kind: Kind, rows: pd.DataFrame, structural: pd.DataFrame, source: str) -> ReadResult:
    """Validate one file's rows through its pandera model; the CLI's and ingestion's only path.

    ``rows`` holds the file's fields as strings under canonical column names with a ``line``
    column; ``structural`` the rows the reader already left out (wrong number of fields, empty,
    not UTF-8). The rejects come back sorted by line, with ``raw`` empty where only the file
    holds the line's text (the reader fills it in). Raises InputFileError for swapped timezones.
    """
    # pandera takes ~0.3 s to import: only a command that reads a file pays for it.
    from storeuptime_pipeline.core.schemas import validate_rows

    rows_read = len(rows) + len(structural)
    if kind == "timezones":
        check_not_swapped(source, rows)
    parsed, ok, rejects = validate_rows(kind, rows)
    superseded = empty_rejects()
    if kind == "timezones":
        ok, superseded = superseded_rows(rows, parsed, ok)
    valid, notes = assemble(kind, rows, parsed, ok)
    parts = [df for df in (structural, rejects, superseded) if len(df)]
    if not parts:
        rejected = empty_rejects()
    else:
        rejected = (
            pd.concat(parts, ignore_index=True).sort_values("line", kind="stable").reset_index(drop=True)
        )
    return ReadResult(
        kind=kind, path=source, valid=valid, rejected=rejected, rows_read=rows_read, notes=notes
    )
