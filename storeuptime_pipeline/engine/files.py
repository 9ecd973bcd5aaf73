"""Which input a file is, by the names the real data sets use.

The sensor, the ingest command and ``storeuptime report --data`` all classify files here, so a
file dropped in the landing folder is recognised the same way everywhere.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from storeuptime_pipeline.engine.reading import KINDS, InputFileError, Kind

#: Lower-cased glob patterns per kind; the real files' names and their common renamings.
NAME_PATTERNS: dict[Kind, tuple[str, ...]] = {
    "status": ("store_status*.csv", "store status*.csv"),
    "hours": ("menu_hours*.csv", "menu hours*.csv", "business_hours*.csv"),
    "timezones": ("timezones*.csv", "bq-results*.csv", "store_timezones*.csv"),
}

#: Names of files still being written by whoever drops them.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


def classify(name: str) -> Kind | None:
    """The kind of input a file name stands for, or None for anything else."""
    lowered = name.lower()
    if lowered.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES):
        return None
    for kind in KINDS:
        if any(fnmatch.fnmatchcase(lowered, pattern) for pattern in NAME_PATTERNS[kind]):
            return kind
    return None


@dataclass(frozen=True)
class InputFiles:
    """The files of one data set: every status file (polls append) and one snapshot of each other."""

    status: tuple[Path, ...]
    hours: Path
    timezones: Path


def find_inputs(directory: str | Path) -> InputFiles:
    """Find the three inputs in a folder; a missing or ambiguous snapshot is a clear error."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputFileError(directory, "not a folder")
    found: dict[Kind, list[Path]] = {kind: [] for kind in KINDS}
    for path in sorted(directory.iterdir()):
        kind = classify(path.name)
        if kind is not None and path.is_file():
            found[kind].append(path)
    for kind in KINDS:
        if not found[kind]:
            patterns = " or ".join(NAME_PATTERNS[kind])
            raise InputFileError(directory, f"no {kind} file found (looked for {patterns})")
    for kind in ("hours", "timezones"):
        if len(found[kind]) > 1:
            names = ", ".join(p.name for p in found[kind])
            raise InputFileError(directory, f"more than one {kind} file ({names}); keep one snapshot")
    return InputFiles(status=tuple(found["status"]), hours=found["hours"][0], timezones=found["timezones"][0])
