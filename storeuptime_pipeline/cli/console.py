"""What several commands print or check the same way: skipped folder entries, ``--as-of``, masked URLs.

Light on purpose (no Dagster, no database driver): every command imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from storeuptime_pipeline.core.limits import InstantError, parse_as_of
from storeuptime_pipeline.fileio.landing import SkippedEntry


def print_skipped(skipped: Sequence[SkippedEntry]) -> None:
    """One line per entry of the folder that is not read, with the reason."""
    for entry in skipped:
        print(f"  {entry}")


def as_of_flag(value: str | None) -> pd.Timestamp | None:
    """``--as-of``, checked before any work: a typo costs one line, not a run and a trace."""
    if not value:
        return None
    try:
        return parse_as_of(value)
    except InstantError as exc:
        raise InstantError(f"--as-of: {exc}") from None


def redacted(url: str) -> str:
    """The database URL as the commands print it: the password masked."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
