"""Why a row is left out: one code per reason, like pandera's ``SchemaErrorReason``.

Each member's value is the exact text stored in ``rejected_rows.reason``, named by the pandera
check that rejects the row and printed by ``storeuptime report``, so changing a text here changes
all three at once, and nowhere else holds one. Two reasons carry a detail (the expected number of
fields, the configured time range): their value is a template that :meth:`RejectReason.text` fills.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import numpy as np
import pandas as pd

from storeuptime_pipeline.core.limits import STORE_ID_MAX_CHARS

#: The columns of a frame of rejected rows (the physical line, the column at fault, why, the text).
REJECT_COLUMNS = ["line", "column", "reason", "raw"]


class RejectReason(StrEnum):
    """A reason a row is rejected; a StrEnum so ``str()`` and f-strings give the stored text."""

    EMPTY_STORE_ID = "empty store_id"
    STORE_ID_CONTROL_CHARACTER = "control character in store_id"
    STORE_ID_TOO_LONG = f"store_id longer than {STORE_ID_MAX_CHARS} characters"
    UNREADABLE_TIMESTAMP = "unreadable timestamp"
    TIMESTAMP_OUT_OF_RANGE = "timestamp outside {range}"
    STATUS_NOT_ACTIVE_INACTIVE = "status is not active/inactive"
    DAY_NOT_0_TO_6 = "day of week is not an integer 0..6"
    IMPOSSIBLE_START_TIME = "impossible start time"
    IMPOSSIBLE_END_TIME = "impossible end time"
    TIMEZONE_CONTROL_CHARACTER = "control character in timezone_str"
    WRONG_FIELD_COUNT = "wrong number of fields (expected {expected})"
    EMPTY_ROW = "every field is empty"
    NOT_UTF8 = "not UTF-8 text"
    #: A timezones row whose store is listed again further down: kept out on purpose, not unreadable.
    SUPERSEDED = "duplicate store_id: a later row wins"

    def text(self, **detail: object) -> str:
        """The stored text: the value itself, or the template filled with its detail."""
        try:
            return str.format(self.value, **detail)
        except KeyError as missing:
            raise ValueError(f"{self.name} needs {missing} to name the reason") from None


#: Reasons that keep a row in ``rejected_rows`` for the record without counting it as unreadable:
#: they do not add to a file's reject share (a timezones file met in issue 8 listed 271 stores twice,
#: which would otherwise fail every load of it on the 1% limit).
NOT_COUNTED_REASONS = frozenset({RejectReason.SUPERSEDED.text()})


class Note(StrEnum):
    """Something noticed in rows that were kept: the value is the key in ``ReadResult.notes`` and
    in the ingest assets' metadata."""

    INVALID_TIMEZONES = "invalid_timezones"
    EMPTY_TIMEZONES = "empty_timezones"


def reject_rows(
    lines: np.ndarray, column: str | None, reason: str, raw: Iterable[str] | None = None
) -> pd.DataFrame:
    """Rejected rows of one reason (a text made by :meth:`RejectReason.text`); raw "" is filled later."""
    lines, text = np.asarray(lines, dtype=np.int64), str(reason)  # plain text, as stored
    raw_values = list(raw) if raw is not None else [""] * len(lines)
    return pd.DataFrame(
        {"line": lines, "column": [column] * len(lines), "reason": [text] * len(lines), "raw": raw_values},
        columns=REJECT_COLUMNS,
    )


def empty_rejects() -> pd.DataFrame:
    """No rejected rows, with the columns and dtypes of some."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "line" else object) for c in REJECT_COLUMNS})
