"""Which input a file is, by the names the real data sets use.

The sensor, the ingest command and ``storeuptime report --data`` all classify files here (through
``storeuptime_pipeline.fileio.landing.scan_folder``), so a file dropped in the landing folder is
recognised the same way everywhere. Only name rules live here; looking at the folder does not.
"""

from __future__ import annotations

import fnmatch

from storeuptime_pipeline.core.inputs import KINDS, Kind

#: Lower-cased glob patterns per kind; the real files' names and their common renamings.
NAME_PATTERNS: dict[Kind, tuple[str, ...]] = {
    "status": ("store_status*.csv", "store status*.csv"),
    "hours": ("menu_hours*.csv", "menu hours*.csv", "business_hours*.csv"),
    "timezones": ("timezones*.csv", "bq-results*.csv", "store_timezones*.csv"),
}

#: Suffixes of a file still being written under a temporary name (``store_status.csv.part``). No
#: name pattern matches them (every pattern ends in ``.csv``); the landing scan uses them to say
#: that such a file is waiting for its rename rather than that it is no input.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


def classify(name: str) -> Kind | None:
    """The kind of input a file name stands for, or None for anything else."""
    lowered = name.lower()
    if lowered.startswith("."):
        return None
    for kind in KINDS:
        if any(fnmatch.fnmatchcase(lowered, pattern) for pattern in NAME_PATTERNS[kind]):
            return kind
    return None


def __getattr__(name: str) -> object:
    """``find_inputs`` and ``InputFiles`` moved to ``storeuptime_pipeline.fileio.landing`` (file-system I/O
    stays out of the engine); importing them from here still works."""
    if name in ("find_inputs", "InputFiles"):
        from storeuptime_pipeline.fileio import landing

        return getattr(landing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
