"""The three input files: their kinds, the columns each must have, and the defaults they imply.

The one owner of these names: the reading rules, the pandera models, the file reader, the
database models and the report all import them from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["status", "hours", "timezones"]
KINDS: tuple[Kind, ...] = ("status", "hours", "timezones")

#: The timezone of a store whose timezone is missing, empty or not an IANA name.
DEFAULT_TIMEZONE = "America/Chicago"
SECONDS_PER_DAY = 86_400

#: Canonical column names of each file, in the order the core expects them.
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "status": ("store_id", "status", "timestamp_utc"),
    "hours": ("store_id", "day_of_week", "start_time_local", "end_time_local"),
    "timezones": ("store_id", "timezone_str"),
}


class InputFileError(ValueError):
    """Raised when a whole file cannot be read: the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{Path(path).name}: {problem}")
