"""The landing-folder scan: which entries are input files to read, and why every other one is not.

One scan serves the sensor, ``storeuptime ingest`` and ``storeuptime report --data``, so an entry is
taken or skipped for the same reason everywhere. It is file-system I/O, so it lives beside the
engine rather than in it (the engine only knows the name rules, ``engine.files.classify``).

A folder is shared with whoever drops files into it, so no single entry may stop the scan: a link
that loops, dangles or leads outside the folder, a FIFO (opening it would block), a socket, a
device, an unreadable or empty file, a name with a line break or one that is not UTF-8 is skipped
with a reason, and the scan goes on with the next entry.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from storeuptime_pipeline.core.inputs import KINDS, InputFileError, Kind
from storeuptime_pipeline.fileio.names import NAME_PATTERNS, PARTIAL_SUFFIXES, classify

_INPUT_NAMES = ", ".join(patterns[0] for patterns in NAME_PATTERNS.values())


@dataclass(frozen=True)
class LandedFile:
    """A readable, non-empty regular file in the landing folder that names one of the inputs."""

    path: Path
    kind: Kind
    size: int
    mtime_ns: int

    @property
    def run_key(self) -> str:
        """Name, size and modification time: a rewritten file is a new version, an untouched one is not."""
        return f"{self.path.name}:{self.size}:{self.mtime_ns}"


@dataclass(frozen=True)
class SkippedEntry:
    """An entry of the landing folder that is not read, and why (said once to the operator).

    ``temporary`` marks the expected case, a file under a temporary name still being written.
    """

    name: str
    reason: str
    temporary: bool = False

    @property
    def shown(self) -> str:
        return printable(self.name)

    def __str__(self) -> str:
        return f"{self.shown}: skipped, {self.reason}"


@dataclass(frozen=True)
class FolderScan:
    """The input files of a folder (oldest first) and the entries skipped (by name)."""

    folder: Path
    files: tuple[LandedFile, ...]
    skipped: tuple[SkippedEntry, ...]


def printable(name: str) -> str:
    """A name safe to print on one line: line breaks, control characters and undecodable bytes escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def _name_problem(name: str) -> str | None:
    if any(not c.isprintable() for c in name):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return "name is not valid UTF-8"
        return "name contains a line break or another non-printable character"
    return None


def _partial_of(name: str) -> str | None:
    """``store_status.csv.part`` -> ``store_status.csv``: an input still being written under a temporary name."""
    lowered = name.lower()
    for suffix in PARTIAL_SUFFIXES:
        if lowered.endswith(suffix) and classify(name[: -len(suffix)]) is not None:
            return name[: -len(suffix)]
    return None


_NOT_A_FILE = {
    stat.S_IFDIR: "a folder, not a file",
    stat.S_IFIFO: "a named pipe (FIFO), not a file",
    stat.S_IFSOCK: "a socket, not a file",
    stat.S_IFCHR: "a device, not a file",
    stat.S_IFBLK: "a device, not a file",
}


def _link_problem(path: str, folder: str) -> str | None:
    """Why a symbolic link is not followed, or None when it leads to an entry inside the folder."""
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "link loops (following it never reaches a file)"
        if exc.errno == errno.ENOENT:
            return "link leads nowhere (its target does not exist)"
        return f"link cannot be followed ({exc.strerror})"
    if os.path.dirname(target) != folder and not target.startswith(folder + os.sep):
        return "link leads outside the landing folder"
    return None


def _examine(entry: os.DirEntry[str], folder: str) -> LandedFile | SkippedEntry | None:
    """One entry: an input file, a skipped entry with its reason, or None for a name that is no input."""
    name = entry.name
    if name.startswith("."):
        return None  # hidden: editors' and sync tools' scratch files
    problem = _name_problem(name)
    if problem:
        return SkippedEntry(name, problem)
    kind = classify(name)
    if kind is None:
        complete = _partial_of(name)
        if complete is not None:
            return SkippedEntry(
                name, f"temporary name, still being written: read once renamed to {complete}", temporary=True
            )
        if name.lower().endswith(".csv"):
            return SkippedEntry(name, f"not an input name (expected {_INPUT_NAMES}, ...)")
        return None
    if entry.is_symlink():
        problem = _link_problem(entry.path, folder)
        if problem:
            return SkippedEntry(name, problem)
    try:
        st = os.stat(entry.path)  # follows a link (already known to stay inside)
    except OSError as exc:
        return SkippedEntry(name, f"cannot be examined ({exc.strerror})")
    if not stat.S_ISREG(st.st_mode):
        return SkippedEntry(name, _NOT_A_FILE.get(stat.S_IFMT(st.st_mode), "not a regular file"))
    try:
        # Non-blocking: if the entry was swapped for a FIFO since the stat, opening cannot hang.
        fd = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            return SkippedEntry(name, "cannot be read (permission denied)")
        return SkippedEntry(name, f"cannot be opened ({exc.strerror})")
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if not stat.S_ISREG(st.st_mode):
        return SkippedEntry(name, _NOT_A_FILE.get(stat.S_IFMT(st.st_mode), "not a regular file"))
    if st.st_size == 0:
        return SkippedEntry(name, "the file is empty (0 bytes)")
    return LandedFile(Path(entry.path), kind, st.st_size, st.st_mtime_ns)


def scan_folder(folder: str | Path) -> FolderScan:
    """Every entry directly inside ``folder``, each taken or skipped on its own.

    Only a folder that cannot be listed at all raises (``InputFileError``); entries that vanish or
    fail while being looked at are skipped with the error as their reason.
    """
    folder = Path(folder).expanduser()
    real = os.path.realpath(folder)
    if not os.path.isdir(real):
        raise InputFileError(folder, "not a folder")
    files: list[LandedFile] = []
    skipped: list[SkippedEntry] = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    found = _examine(entry, real)
                except OSError as exc:  # e.g. removed between listing and looking
                    found = SkippedEntry(entry.name, f"cannot be examined ({exc.strerror})")
                if isinstance(found, LandedFile):
                    files.append(found)
                elif found is not None:
                    skipped.append(found)
    except OSError as exc:
        raise InputFileError(folder, f"cannot be listed ({exc.strerror})") from None
    files.sort(key=lambda f: (f.mtime_ns, f.path.name))
    skipped.sort(key=lambda s: s.name)
    return FolderScan(folder, tuple(files), tuple(skipped))


def content_sha256(path: Path) -> str:
    """The file's sha256, as ``ingested_files`` records it: a file is known by its content, not its name."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class InputFiles:
    """The files of one data set: every status file (polls append) and one snapshot of each other."""

    status: tuple[Path, ...]
    hours: Path
    timezones: Path
    skipped: tuple[SkippedEntry, ...] = ()


def _kind_of_skipped(name: str) -> Kind | None:
    return classify(name) or classify(_partial_of(name) or "")


def find_inputs(directory: str | Path) -> InputFiles:
    """The three inputs of a folder, through the landing scan; a missing or ambiguous snapshot is a clear error."""
    scan = scan_folder(directory)
    found: dict[Kind, list[Path]] = {kind: [] for kind in KINDS}
    for file in sorted(scan.files, key=lambda f: f.path.name):
        found[file.kind].append(file.path)
    for kind in KINDS:
        if not found[kind]:
            patterns = " or ".join(NAME_PATTERNS[kind])
            why = "; ".join(str(s) for s in scan.skipped if _kind_of_skipped(s.name) == kind)
            raise InputFileError(
                directory, f"no {kind} file found (looked for {patterns})" + (f"; {why}" if why else "")
            )
    for kind in ("hours", "timezones"):
        if len(found[kind]) > 1:
            names = ", ".join(p.name for p in found[kind])
            raise InputFileError(directory, f"more than one {kind} file ({names}); keep one snapshot")
    return InputFiles(
        status=tuple(found["status"]),
        hours=found["hours"][0],
        timezones=found["timezones"][0],
        skipped=scan.skipped,
    )
