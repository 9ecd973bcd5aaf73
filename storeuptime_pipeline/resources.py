"""Dagster resources: the database, the landing folder and the reports folder.

They hold no credentials: the database resource asks ``db.config`` (environment or embedded
server), and the folders default to the settings, so a test can hand in a temporary folder or a
throw-away database by constructing the resource with a value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import database_url, normalize_url
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.engine.files import classify
from storeuptime_pipeline.engine.reading import Kind

_migrated: set[str] = set()


class DatabaseResource(ConfigurableResource):
    """The project database; migrations are applied once per process before first use."""

    url: str = Field(default="", description="SQLAlchemy URL; empty = STOREUPTIME_DATABASE_URL or embedded")

    def resolved_url(self) -> str:
        return normalize_url(self.url) if self.url else database_url()

    def engine(self) -> Engine:
        url = self.resolved_url()
        if url not in _migrated:
            migrate.upgrade(url)
            _migrated.add(url)
        return get_engine(url)


@dataclass(frozen=True)
class LandedFile:
    """A regular file in the landing folder that names one of the inputs."""

    path: Path
    kind: Kind
    size: int
    mtime_ns: int

    @property
    def run_key(self) -> str:
        return f"{self.path.name}:{self.size}:{self.mtime_ns}"


class LandingFolderResource(ConfigurableResource):
    """The folder where new CSV files are dropped."""

    path: str = Field(default="", description="folder; empty = STOREUPTIME_DATA_DIR or data/incoming")

    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else settings.data_dir().resolve()

    def scan(self) -> list[LandedFile]:
        """Input files directly inside the folder; links leading outside it and non-files are ignored."""
        folder = self.folder()
        if not folder.is_dir():
            return []
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                kind = classify(entry.name)
                if kind is None:
                    continue
                target = Path(entry.path).resolve()
                if target.parent != folder or not target.is_file():
                    continue
                stat = target.stat()
                found.append(LandedFile(Path(entry.path), kind, stat.st_size, stat.st_mtime_ns))
        return sorted(found, key=lambda f: (f.mtime_ns, f.path.name))

    def files(self, kind: Kind, names: list[str] | None = None) -> list[Path]:
        """Files of one kind: the named ones (which must be in the folder) or all of them."""
        landed = [f for f in self.scan() if f.kind == kind]
        if not names:
            return [f.path for f in landed]
        by_name = {f.path.name: f.path for f in landed}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise FileNotFoundError(f"not a {kind} file in the landing folder: {', '.join(missing)}")
        return [by_name[n] for n in names]


class ReportsFolderResource(ConfigurableResource):
    """Where report CSV files are written."""

    path: str = Field(default="", description="folder; empty = STOREUPTIME_REPORTS_DIR or reports/")

    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else settings.reports_dir().resolve()
