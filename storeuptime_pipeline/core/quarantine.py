"""The quarantine rule: when a file is kept out of the tables instead of loaded.

A file whose rows are mostly unreadable is more likely a wrong export (a day column written as
``Tuesday``, a shifted column) than a good file with a few bad lines, and loading its readable rest
would silently change every report (an hours snapshot with no usable rows would make every store
open 24x7). So such a file writes nothing: it is recorded in ``ingested_files`` as quarantined,
with its share and reason, and its rejected rows are kept for the operator. Kept apart from
``loading`` (which imports pandera) so the assets can name the limit without that import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

#: A file with more than this share of its rows rejected is quarantined (unless accepted).
MAX_REJECTED_SHARE: Final = 0.01


@dataclass(frozen=True)
class Verdict:
    """Whether a file is quarantined, and the reason recorded with it (also for an accepted file)."""

    quarantined: bool
    reason: str | None
    #: Whether ``accept_rejects`` would load it (not for a file that cannot be read at all).
    can_accept: bool = True


def reject_share(rows_read: int, rows_rejected: int) -> float | None:
    """Rejected rows over rows read; None for a file without rows (nothing to share)."""
    return rows_rejected / rows_read if rows_read else None


def judge(
    rows_read: int, rows_rejected: int, *, accept_rejects: bool = False, limit: float = MAX_REJECTED_SHARE
) -> Verdict:
    """Apply the rule to one readable file; ``accept_rejects`` loads it anyway and says so.

    A snapshot whose rows were all rejected is over any limit below 100%, so it never empties its
    table by accident; one without data rows is not readable at all (see :func:`unreadable`).
    """
    share = reject_share(rows_read, rows_rejected)
    if share is None or share <= limit:
        return Verdict(False, None)
    problem = f"{rows_rejected:,} of {rows_read:,} rows rejected ({share:.2%}, limit {limit:.0%})"
    if accept_rejects:
        return Verdict(False, f"loaded with accept_rejects: {problem}")
    return Verdict(True, problem)


def unreadable(problem: str) -> Verdict:
    """A file that cannot be read as a whole (no header, not CSV, missing column)."""
    return Verdict(True, problem, can_accept=False)


def quarantine_message(name: str, verdict: Verdict) -> str:
    """One line: which file, why, that nothing was written, and what to do."""
    advice = "fix the file and drop it again"
    if verdict.can_accept:
        advice += ", or load it anyway with accept_rejects (storeuptime ingest --accept-rejects)"
    return f"{name} quarantined, none of its rows were loaded: {verdict.reason}; {advice}"
