"""What a value must fit to be loaded: the store id length and the range of believable instants.

A value outside these limits is not merely odd: Postgres cannot index it (a store id of 3,000
characters exceeds a btree entry), or the report cannot compute with it (a poll in year 9999 makes
"as of the latest poll" a week that ends after the calendar does). Such a value is a rejected row
with a reason at reading time, and a report ignores the polls that were loaded before these limits
existed. The limits live here so the reading rules, the report and the as-of parsing agree.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Longest store id accepted, in characters. Real ids are 19-digit integers or 36-char UUIDs; 255
#: characters (at most 1,020 bytes of UTF-8) leave room for any id scheme while staying well under
#: the 2,704 bytes a Postgres btree entry (the ``stores`` primary key) can hold.
STORE_ID_MAX_CHARS = 255

MIN_POLL_TIME_ENV = "STOREUPTIME_MIN_POLL_TIME"
MAX_POLL_AHEAD_ENV = "STOREUPTIME_MAX_POLL_AHEAD"
DEFAULT_MIN_POLL_TIME = "2000-01-01"
DEFAULT_MAX_POLL_AHEAD = "1 day"


class InstantError(ValueError):
    """An instant (an as-of or a limit setting) that cannot be read or lies outside the limits."""


def to_utc(value: object) -> pd.Timestamp:
    """An instant as a UTC ``Timestamp`` at microsecond precision; naive means UTC.

    The one reading of an instant for the engine, the database and the API: text (ISO-like, a
    trailing `` UTC`` as in the status file accepted), ``datetime`` or ``Timestamp``. Naive means
    UTC because the column is ``timestamp_utc`` and as-ofs are UTC. Microseconds because that is
    what Postgres stores and what the engine's int64 keys hold: a finer instant could not be
    stored or computed with, and ``to_pydatetime`` would drop the rest with a warning.
    """
    text = value.strip().removesuffix(" UTC") if isinstance(value, str) else value
    ts = pd.Timestamp(text)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("us")


def _instant(text: str) -> pd.Timestamp:
    """An instant read from text, or an InstantError saying it is not one."""
    try:
        ts = to_utc(text)
    except (ValueError, TypeError, OverflowError):
        raise InstantError(f"{text!r} is not a date and time") from None
    if ts is pd.NaT:
        raise InstantError(f"{text!r} is not a date and time")
    return ts


@dataclass(frozen=True)
class TimeLimits:
    """Instants in [earliest, now + ahead] are believable; ``now`` is taken when checking."""

    earliest: pd.Timestamp
    ahead: pd.Timedelta

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TimeLimits:
        env = os.environ if environ is None else environ
        earliest_text = env.get(MIN_POLL_TIME_ENV) or DEFAULT_MIN_POLL_TIME
        ahead_text = env.get(MAX_POLL_AHEAD_ENV) or DEFAULT_MAX_POLL_AHEAD
        try:
            earliest = _instant(earliest_text)
        except InstantError:
            raise InstantError(
                f"{MIN_POLL_TIME_ENV}={earliest_text!r} is not a date and time (e.g. 2000-01-01)"
            ) from None
        try:
            ahead = pd.Timedelta(ahead_text)
        except (ValueError, TypeError):
            ahead = pd.NaT
        if ahead is pd.NaT or ahead < pd.Timedelta(0):
            raise InstantError(
                f"{MAX_POLL_AHEAD_ENV}={ahead_text!r} is not a duration >= 0 (e.g. '1 day', '36h')"
            )
        return cls(earliest.as_unit("us"), ahead)

    def latest(self, now: pd.Timestamp | None = None) -> pd.Timestamp:
        now = pd.Timestamp.now(tz="UTC") if now is None else now
        return (now + self.ahead).as_unit("us")

    def bounds_us(self, now: pd.Timestamp | None = None) -> tuple[int, int]:
        """[earliest, latest] as UTC epoch microseconds, for vectorized comparisons."""
        return _epoch_us(self.earliest), _epoch_us(self.latest(now))

    def describe(self) -> str:
        """The range as an operator configured it: ``2000-01-01 .. now + 1 day``."""
        earliest = self.earliest
        text = earliest.strftime("%Y-%m-%d") if earliest == earliest.normalize() else earliest.isoformat()
        return f"{text} .. now + {_duration(self.ahead)}"


def _epoch_us(ts: pd.Timestamp) -> int:
    return int(ts.tz_convert("UTC").tz_localize(None).as_unit("us").asm8.astype(np.int64))


def _duration(delta: pd.Timedelta) -> str:
    if delta == delta.floor("D"):
        days = delta.days
        return f"{days} day" if days == 1 else f"{days} days"
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return str(delta)


def time_limits() -> TimeLimits:
    """The limits configured in the environment (read on each call: cheap, and tests can set them)."""
    return TimeLimits.from_env()


def parse_as_of(value: object, limits: TimeLimits | None = None) -> pd.Timestamp:
    """A report instant given by a person: readable, and inside the limits, or an InstantError.

    A report as of year 9999 or 1900 cannot be right and, for the far future, cannot be computed;
    saying so in one line beats a failed run with a date-parsing trace.
    """
    if isinstance(value, pd.Timestamp | str):
        ts = _instant(value) if isinstance(value, str) else to_utc(value)
    else:
        ts = _instant(str(value))
    limits = limits or time_limits()
    if not limits.earliest <= ts <= limits.latest():
        raise InstantError(f"{ts.isoformat()} lies outside the accepted range {limits.describe()}")
    return ts
