"""Dagster resources: the database, the landing folder and the reports folder.

They hold no credentials: the database resource asks ``db.config`` (environment or embedded
server), and the folders default to the settings, so a test can hand in a temporary folder or a
throw-away database by constructing the resource with a value.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.inputs import Kind
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import database_url, normalize_url
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.fileio.landing import FolderScan, LandedFile, scan_folder

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


class LandingFolderResource(ConfigurableResource):
    """The folder where new CSV files are dropped."""

    path: str = Field(default="", description="folder; empty = STOREUPTIME_DATA_DIR or data/incoming")

    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else settings.data_dir().resolve()

    def survey(self) -> FolderScan:
        """The input files and the skipped entries with their reasons; a missing folder holds nothing."""
        folder = self.folder()
        if not folder.is_dir():
            return FolderScan(folder, (), ())
        return scan_folder(folder)

    def scan(self) -> list[LandedFile]:
        """The input files directly inside the folder, oldest first (see ``landing.scan_folder``)."""
        return list(self.survey().files)

    def files(self, kind: Kind, names: list[str] | None = None) -> list[Path]:
        """Files of one kind: the named ones (which must be in the folder) or all of them."""
        survey = self.survey()
        landed = [f for f in survey.files if f.kind == kind]
        if not names:
            return [f.path for f in landed]
        by_name = {f.path.name: f.path for f in landed}
        skipped = {s.name: s for s in survey.skipped}
        missing = [str(skipped[n]) if n in skipped else n for n in names if n not in by_name]
        if missing:
            raise FileNotFoundError(f"not a {kind} file in the landing folder: {', '.join(missing)}")
        return [by_name[n] for n in names]


class ReportsFolderResource(ConfigurableResource):
    """Where report CSV files are written."""

    path: str = Field(default="", description="folder; empty = STOREUPTIME_REPORTS_DIR or reports/")

    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else settings.reports_dir().resolve()
