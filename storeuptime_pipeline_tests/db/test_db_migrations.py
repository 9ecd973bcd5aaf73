"""Migrations: empty -> head, idempotent, concurrent-safe, and identical to the models."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.models import metadata
from storeuptime_pipeline.db.scratch import temporary_database


@pytest.fixture
def empty_url(admin_url: str) -> Iterator[str]:
    with temporary_database(admin_url, prefix="storeuptime_mig_") as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_packaged_migrations_are_found_without_an_ini_file() -> None:
    assert (migrate.MIGRATIONS_DIR / "env.py").is_file()
    assert migrate.head_revision() == "0006_report_generations"


def test_upgrade_from_empty_to_head_then_again_is_a_no_op(empty_url: str) -> None:
    assert migrate.current_revision(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current_revision(empty_url) == migrate.head_revision()
    tables = _tables(empty_url)
    assert set(metadata.tables) | {migrate.VERSION_TABLE} == tables

    migrate.upgrade(empty_url)  # second call: nothing to do, nothing fails
    assert migrate.current_revision(empty_url) == migrate.head_revision()
    assert _tables(empty_url) == tables


def test_concurrent_upgrades_serialize_on_the_advisory_lock(empty_url: str) -> None:
    """Separate processes, like Dagster run workers starting together on a fresh database."""
    code = "import sys; from storeuptime_pipeline.db import migrate; migrate.upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, empty_url], stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(proc.wait(120), proc.stderr.read() if proc.stderr else "") for proc in procs]
    assert [rc for rc, _ in results] == [0, 0], results
    assert migrate.current_revision(empty_url) == migrate.head_revision()


def test_concurrent_upgrades_from_threads(empty_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrate.upgrade(empty_url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert migrate.current_revision(empty_url) == migrate.head_revision()


def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "target_metadata": metadata,
                    "version_table": migrate.VERSION_TABLE,
                    "include_object": migrate.include_object,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            assert compare_metadata(context, metadata) == []

            # compare_metadata ignores CHECK constraints and collations: check those directly.
            checks = set(
                conn.execute(
                    text(
                        "SELECT conname FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace"
                    )
                ).scalars()
            )
            expected = {
                str(c.name)
                for table in metadata.tables.values()
                for c in table.constraints
                if c.__class__.__name__ == "CheckConstraint"
            }
            assert checks == expected
            collations = dict(
                conn.execute(
                    text(
                        "SELECT table_name, collation_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' AND column_name = 'store_id'"
                    )
                ).all()
            )
            assert collations == dict.fromkeys(
                (
                    "stores",
                    "business_hours",
                    "store_status",
                    "uptime_report",
                    "outages",
                    "published_uptime_report",
                    "published_outages",
                ),
                "C",
            )
    finally:
        engine.dispose()


def test_a_schema_difference_would_be_detected(empty_url: str) -> None:
    """Guards the comparison above against passing vacuously."""
    migrate.upgrade(empty_url)
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_store_status_timestamp_utc")
            conn.exec_driver_sql("ALTER TABLE report_generations ALTER COLUMN generation TYPE integer")
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "target_metadata": metadata,
                    "version_table": migrate.VERSION_TABLE,
                    "include_object": migrate.include_object,
                    "compare_type": True,
                },
            )
            kinds = {
                diff[0][0] if isinstance(diff, list) else diff[0]
                for diff in compare_metadata(context, metadata)
            }
        assert {"add_index", "modify_type"} <= kinds
    finally:
        engine.dispose()


def test_other_tables_in_the_database_are_left_alone(empty_url: str) -> None:
    """Dagster keeps its storage (and its own alembic_version) in the same database."""
    engine = create_engine(empty_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('dagster-rev')")
            conn.exec_driver_sql("CREATE TABLE runs (id int)")
        migrate.upgrade(empty_url)
        with engine.connect() as conn:
            assert (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "dagster-rev"
            )
        assert {"runs", "alembic_version"} <= _tables(empty_url)
        assert migrate.current_revision(empty_url) == migrate.head_revision()
    finally:
        engine.dispose()


def test_nothing_migrates_on_use_an_unmigrated_database_stops_a_run_in_one_line(empty_url: str) -> None:
    """The database resource only reads the revision: a run on a database nobody migrated fails
    with the line naming the command, and the database is left as it was."""
    from dagster import DagsterInstance, materialize

    from storeuptime_pipeline.cli.local_runs import failure_message
    from storeuptime_pipeline.definitions import resources
    from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
    from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS

    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [*INGEST_ASSETS, *REPORT_ASSETS],
            selection=["on_demand_report"],
            instance=instance,
            resources=resources(database_url=empty_url),
            raise_on_error=False,
        )
    assert not result.success
    assert failure_message(result) == (
        f"the database has no storeuptime schema yet (this code needs revision {migrate.head_revision()}): "
        "run `storeuptime db init`"
    )
    assert migrate.current_revision(empty_url) is None
    assert _tables(empty_url) == set()


def test_schema_problems_say_which_command_fixes_them() -> None:
    head = migrate.head_revision()
    assert migrate.schema_problem(head) is None
    assert migrate.schema_problem(None).endswith("run `storeuptime db init`")
    behind = migrate.schema_problem("0001")
    assert behind == (
        f"the database schema is at revision 0001, this code needs {head}: "
        "run `storeuptime db init` (or `storeuptime db upgrade`)"
    )
    ahead = migrate.schema_problem("9999_from_the_future")
    assert "which this code does not know" in ahead and "a newer version of storeuptime migrated it" in ahead
