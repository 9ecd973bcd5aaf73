"""Loading input files into Postgres: read and validate everything first, then write in one transaction.

Kept apart from the Dagster assets so the same steps serve the assets, the CLI and the
benchmarks. A row that cannot be read is kept in ``rejected_rows`` with its line number and reason.
A file that cannot be read as a whole, or whose rejected share is over the limit (see
``quarantine``), writes nothing but its record (quarantined, with share and reason) and its
rejected rows; the call then raises :class:`FilesQuarantined` naming it.

Every load is a row in ``ingested_files``, a re-load of the same content too, so the history says
which snapshot is live: the newest row of the kind that is not quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.inputs import InputFileError, Kind
from storeuptime_pipeline.core.quarantine import (
    MAX_REJECTED_SHARE,
    Verdict,
    judge,
    quarantine_message,
    reject_share,
    unreadable,
)
from storeuptime_pipeline.core.reasons import empty_rejects
from storeuptime_pipeline.core.validation import ReadResult
from storeuptime_pipeline.db import file_records, poll_load, queries, reference_load, retention
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.landing import content_sha256

#: Snapshot kinds replace the table; polls append.
SNAPSHOT_KINDS: tuple[Kind, ...] = ("hours", "timezones")


class FilesQuarantined(Exception):
    """Raised after the load committed: these files were quarantined (the others, if any, loaded).

    ``loads`` holds every file of the call, loaded or not, so a caller can still describe them.
    """

    def __init__(self, loads: Sequence[FileLoad], quarantined: Sequence[FileLoad]) -> None:
        self.loads = list(loads)
        self.quarantined = list(quarantined)
        super().__init__("; ".join(quarantine_message(q.path.name, q.verdict) for q in quarantined))


@dataclass
class FileLoad:
    """What one file brought: the figures an operator reads in the materialization metadata."""

    path: Path
    kind: Kind
    size: int
    sha256: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rows_changed: int
    stores: int
    reject_reasons: dict[str, int]
    rejected_sample: pd.DataFrame
    preview: pd.DataFrame
    time_range: tuple[pd.Timestamp, pd.Timestamp] | None = None
    notes: dict[str, int] = field(default_factory=dict)
    verdict: Verdict = field(default_factory=lambda: Verdict(False, None))

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0

    @property
    def quarantined(self) -> bool:
        return self.verdict.quarantined


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 (the landing scan's rule, so the sensor and the load recognise the same content)."""
    return path.stat().st_size, content_sha256(path)


def _describe(
    path: Path, kind: Kind, result: ReadResult, size: int, sha: str, changed: int, verdict: Verdict
) -> FileLoad:
    valid = result.valid
    time_range = None
    if kind == "status" and len(valid) and not verdict.quarantined:
        time_range = (valid["timestamp_utc"].min(), valid["timestamp_utc"].max())
    return FileLoad(
        path=path,
        kind=kind,
        size=size,
        sha256=sha,
        rows_read=result.rows_read,
        rows_loaded=0 if verdict.quarantined else len(valid),
        rows_rejected=result.rows_rejected,  # superseded timezone rows are shown, not counted
        rows_changed=changed,
        stores=0 if verdict.quarantined else int(valid["store_id"].nunique()),
        reject_reasons=result.reject_summary(),
        rejected_sample=result.rejected.head(20),
        preview=valid.head(10),
        time_range=time_range,
        notes=dict(result.notes),
        verdict=verdict,
    )


def _read(path: Path, kind: Kind, accept_rejects: bool, limit: float) -> tuple[ReadResult, Verdict]:
    """Read and validate one file and judge it; a file unreadable as a whole is judged too."""
    try:
        result = read_input(path, kind)
    except InputFileError as exc:
        empty = pd.DataFrame({"store_id": pd.Series(dtype=object)})
        return ReadResult(kind, str(path), empty, empty_rejects(), 0), unreadable(exc.problem)
    verdict = judge(result.rows_read, result.rows_rejected, accept_rejects=accept_rejects, limit=limit)
    return result, verdict


def load_files(
    engine: Engine,
    kind: Kind,
    paths: Sequence[Path],
    *,
    accept_rejects: bool = False,
    limit: float = MAX_REJECTED_SHARE,
) -> list[FileLoad]:
    """Load files of one kind in a single transaction; for snapshots only the newest file counts.

    Every file is read, validated and judged before the transaction starts. A quarantined file
    writes only its record and rejected rows; the others load. If any file was quarantined, the
    transaction still commits (so the operator sees it) and :class:`FilesQuarantined` is raised.
    ``accept_rejects`` is the operator's override: over-limit files load anyway; content loaded
    before (so accepted then) is accepted again, e.g. when ``force`` re-loads it.
    """
    paths = [Path(p) for p in paths]
    keep_weeks = settings.retention_weeks() if kind == "status" else None  # a bad value fails before loading
    if kind in SNAPSHOT_KINDS and len(paths) > 1:
        paths = [max(paths, key=lambda p: (p.stat().st_mtime_ns, p.name))]
    digests = {p: file_digest(p) for p in paths}
    # Accepting is a decision about content: bytes loaded before (accepted then) are accepted again.
    seen = _loaded_digests(engine, kind, [sha for _, sha in digests.values()])
    read = []
    for path in paths:
        size, sha = digests[path]
        read.append((path, *_read(path, kind, accept_rejects or sha in seen, limit), size, sha))
    loads: list[FileLoad] = []
    with engine.begin() as conn:
        for path, result, verdict, size, sha in read:
            changed = 0
            if verdict.quarantined:
                pass  # nothing but the record below: no polls, no snapshot, no stores
            elif kind == "status":
                changed = poll_load.upsert_polls(conn, result.valid)
            elif kind == "hours":
                changed = reference_load.replace_business_hours(conn, result.valid)
            else:
                changed = reference_load.replace_timezones(conn, result.valid)
            load = _describe(path, kind, result, size, sha, changed, verdict)
            file_id = file_records.record_file(
                conn,
                kind=kind,
                name=path.name,
                size=size,
                sha256=sha,
                rows_read=load.rows_read,
                rows_loaded=load.rows_loaded,
                rows_rejected=load.rows_rejected,
                rows_changed=changed,
                quarantined=verdict.quarantined,
                reject_share=reject_share(load.rows_read, load.rows_rejected),
                reason=verdict.reason,
            )
            file_records.replace_rejected_rows(conn, file_id, path.name, result.rejected)
            loads.append(load)
    retention.drop_expired_weeks(engine, keep_weeks)  # committed polls; whole weeks past the setting
    quarantined = [load for load in loads if load.quarantined]
    if quarantined:
        raise FilesQuarantined(loads, quarantined)
    return loads


def already_loaded(engine: Engine, kind: Kind, paths: Sequence[Path]) -> set[Path]:
    """Files whose exact content was loaded before: polls need not be read again to change nothing.

    A quarantined record does not count: the same bytes dropped again are judged again (and load
    with ``accept_rejects``).
    """
    digests = {file_digest(Path(p))[1]: Path(p) for p in paths}
    return {digests[sha] for sha in _loaded_digests(engine, kind, list(digests))}


def _loaded_digests(engine: Engine, kind: Kind, digests: Sequence[str]) -> set[str]:
    """Which of these contents have a record of the kind that is not quarantined."""
    if not digests:
        return set()
    with engine.connect() as conn:
        return queries.loaded_digests(conn, kind, digests)


def live_file(engine: Engine, kind: Kind) -> dict[str, object] | None:
    """The record of the load that is live for ``kind``: its newest one that was not quarantined."""
    with engine.connect() as conn:
        return queries.live_file(conn, kind)
