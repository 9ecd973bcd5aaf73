"""Loading input files into Postgres: read and validate everything first, then write in one transaction.

Kept apart from the Dagster assets so the same steps serve the assets, the CLI and the
benchmarks. A file that cannot be read as a whole raises before anything is written; a row
that cannot be read is kept in ``rejected_rows`` with its line number and reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select

from storeuptime_pipeline.db import bulk
from storeuptime_pipeline.db.models import IngestedFile
from storeuptime_pipeline.engine.reading import Kind, ReadResult
from storeuptime_pipeline.schemas import read_validated

#: Snapshot kinds replace the table; polls append.
SNAPSHOT_KINDS: tuple[Kind, ...] = ("hours", "timezones")


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

    @property
    def reject_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256: a file loaded twice is recognised by its content, not its name."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


def _describe(path: Path, kind: Kind, result: ReadResult, size: int, sha: str, changed: int) -> FileLoad:
    valid = result.valid
    time_range = None
    if kind == "status" and len(valid):
        time_range = (valid["timestamp_utc"].min(), valid["timestamp_utc"].max())
    return FileLoad(
        path=path,
        kind=kind,
        size=size,
        sha256=sha,
        rows_read=result.rows_read,
        rows_loaded=len(valid),
        rows_rejected=result.rows_rejected,  # superseded timezone rows are shown, not counted
        rows_changed=changed,
        stores=int(valid["store_id"].nunique()),
        reject_reasons=result.reject_summary(),
        rejected_sample=result.rejected.head(20),
        preview=valid.head(10),
        time_range=time_range,
        notes=dict(result.notes),
    )


def load_files(engine: Engine, kind: Kind, paths: Sequence[Path]) -> list[FileLoad]:
    """Load files of one kind in a single transaction; for snapshots only the newest file counts.

    Every file is read and validated before the transaction starts, so a bad file fails the
    whole load and leaves every table as it was.
    """
    paths = [Path(p) for p in paths]
    if kind in SNAPSHOT_KINDS and len(paths) > 1:
        paths = [max(paths, key=lambda p: (p.stat().st_mtime_ns, p.name))]
    read = [(p, read_validated(p, kind), *file_digest(p)) for p in paths]
    loads: list[FileLoad] = []
    with engine.begin() as conn:
        for path, result, size, sha in read:
            if kind == "status":
                changed = bulk.upsert_polls(conn, result.valid)
            elif kind == "hours":
                changed = bulk.replace_business_hours(conn, result.valid)
            else:
                changed = bulk.replace_timezones(conn, result.valid)
            load = _describe(path, kind, result, size, sha, changed)
            file_id = bulk.record_file(
                conn,
                kind=kind,
                name=path.name,
                size=size,
                sha256=sha,
                rows_read=load.rows_read,
                rows_loaded=load.rows_loaded,
                rows_rejected=load.rows_rejected,
                rows_changed=changed,
            )
            bulk.replace_rejected_rows(conn, file_id, path.name, result.rejected)
            loads.append(load)
    return loads


def already_loaded(engine: Engine, kind: Kind, paths: Sequence[Path]) -> set[Path]:
    """Files whose exact content was loaded before: polls need not be read again to change nothing."""
    digests = {file_digest(Path(p))[1]: Path(p) for p in paths}
    if not digests:
        return set()
    with engine.connect() as conn:
        rows = conn.execute(
            select(IngestedFile.sha256).where(
                IngestedFile.kind == kind, IngestedFile.sha256.in_(list(digests))
            )
        )
        return {digests[sha] for (sha,) in rows}
