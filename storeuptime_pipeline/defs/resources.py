"""Dagster resources: the database, the landing folder, the reports folder and the report steps' IO manager.

They hold no credentials: the database resource asks ``db.config`` (environment or embedded
server), and the folders default to the settings, so a test can hand in a temporary folder or a
throw-away database by constructing the resource with a value. A field left at ``None`` (or the
empty string that older run configs and ``definitions.resources()`` pass) means "from the
environment"; the environment is read when the resource is used, not when the definitions load.

No side effects: the database resource never migrates. It checks the schema revision once per
run or sensor tick and fails with one line naming ``storeuptime db init``; the schema is brought to
head where an environment is prepared (``services.instance.prepare_and_migrate``).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from dagster import ConfigurableIOManager, ConfigurableResource, Failure, InputContext, OutputContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from storeuptime_pipeline import settings
from storeuptime_pipeline.core.inputs import Kind
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import database_url, normalize_url
from storeuptime_pipeline.db.errors import SchemaNotReady
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.fileio.landing import FolderScan, LandedFile, scan_folder


class DatabaseResource(ConfigurableResource):
    """The project database, whose schema must already be at head (this resource does not migrate)."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the project database; None: STOREUPTIME_DATABASE_URL, "
        "else the embedded server under STOREUPTIME_HOME (started on demand)",
    )
    # Per resource instance, that is per run or sensor tick: the revision is read once, not per query.
    _schema_checked: bool = PrivateAttr(default=False)

    def resolved_url(self) -> str:
        return normalize_url(self.url) if self.url else database_url()

    def engine(self) -> Engine:
        """The pooled engine; the first call checks the schema revision (a read, never a migration)."""
        engine = get_engine(self.resolved_url())
        if not self._schema_checked:
            try:
                migrate.require_head(engine)
            except SchemaNotReady as exc:
                raise Failure(description=str(exc)) from None
            self._schema_checked = True
        return engine


class LandingFolderResource(ConfigurableResource):
    """The folder where new CSV files are dropped."""

    path: str | None = Field(
        default=None, description="landing folder; None: STOREUPTIME_DATA_DIR, else data/incoming"
    )

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

    path: str | None = Field(
        default=None, description="reports folder; None: STOREUPTIME_REPORTS_DIR, else reports/"
    )

    def folder(self) -> Path:
        return Path(self.path).expanduser().resolve() if self.path else settings.reports_dir().resolve()


class ReportStepsIOManager(ConfigurableIOManager):
    """Values the report's steps hand each other (shard numbers, shard outcomes: kilobytes), pickled
    under the reports folder.

    Why not Dagster's default ``fs_io_manager``: it writes under DAGSTER_HOME, which each container of
    docker-compose has for itself, so a Celery worker could not read what the planning step wrote.
    The reports folder is shared by every process that runs report steps anyway (they write the CSVs).
    Files live in ``<reports>/.steps/<run id>/``; the rows themselves never pass through here (the
    shards write them to Postgres unpublished, ``db/report_stage.py``).
    """

    path: str | None = Field(
        default=None, description="reports folder; None: STOREUPTIME_REPORTS_DIR, else reports/"
    )

    def _file(self, identifier: list[str]) -> Path:
        folder = ReportsFolderResource(path=self.path).folder() / ".steps"
        return folder.joinpath(*identifier).with_suffix(".pickle")

    def handle_output(self, context: OutputContext, obj: object) -> None:
        path = self._file(context.get_identifier())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        tmp.replace(path)

    def load_input(self, context: InputContext) -> object:
        return pickle.loads(self._file(context.upstream_output.get_identifier()).read_bytes())
