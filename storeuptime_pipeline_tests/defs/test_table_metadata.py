"""Dagster's metadata conventions on every table asset: what the catalog reads.

Definition metadata (table name, column schema, owners, tags) is checked against the definitions and
against the real Postgres tables; runtime metadata (row counts, tables rather than Markdown) against
a real ingest and report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, TableMetadataValue, TableSchema, materialize
from sqlalchemy import Engine, text

from storeuptime_pipeline.definitions import defs, resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.generator.data import generate_dataset

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
ASSET_NAMES = ["store_status", "business_hours", "store_timezones", "uptime_report", "on_demand_report"]


def _spec(name: str):
    return defs.resolve_asset_graph().get(AssetKey(name))


@pytest.mark.parametrize("name", ASSET_NAMES)
def test_every_table_asset_names_its_table_schema_owners_and_tags(name: str, clean_db: Engine) -> None:
    node = _spec(name)
    schema = node.metadata["dagster/column_schema"].schema
    assert isinstance(schema, TableSchema)
    table = node.metadata["dagster/table_name"].text
    assert table.startswith("public.")
    with clean_db.connect() as conn:
        columns = conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t ORDER BY ordinal_position"
            ),
            {"t": table.removeprefix("public.")},
        ).scalars()
        assert [c.name for c in schema.columns] == list(columns)  # the schema is the real table's
    assert all(c.description for c in schema.columns)
    assert node.owners == ["team:storeuptime"]
    assert {"domain", "layer"} <= set(node.tags)


def test_report_value_columns_carry_their_unit() -> None:
    columns = {
        c.name: c.description for c in _spec("uptime_report").metadata["dagster/column_schema"].schema.columns
    }
    assert "minutes" in columns["downtime_last_hour"] and "hours" in columns["downtime_last_week"]


@pytest.fixture
def materialized(clean_db: Engine, database_url: str, tmp_path: Path):
    landing = tmp_path / "incoming"
    generate_dataset(landing, stores=80, days=2, seed=4)
    with (landing / "store_status.csv").open("a") as fh:
        fh.write("oops,not-a-status,yesterday\n")  # one rejected row
    res = resources(database_url=database_url, landing=str(landing), reports=str(tmp_path / "reports"))
    with DagsterInstance.ephemeral() as instance:
        ingest = materialize(ALL, selection=[a.key for a in INGEST_ASSETS], instance=instance, resources=res)
        report = materialize(ALL, selection=["on_demand_report"], instance=instance, resources=res)
    assert ingest.success and report.success
    return ingest, report


def test_materializations_carry_row_counts_and_tables(materialized, clean_db: Engine) -> None:
    ingest, report = materialized
    for name, table in (
        ("store_status", "store_status"),
        ("business_hours", "business_hours"),
        ("store_timezones", "stores"),
    ):
        meta = ingest.asset_materializations_for_node(name)[0].metadata
        with clean_db.connect() as conn:
            assert (
                meta["dagster/row_count"].value
                == conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            )
        assert isinstance(meta["preview"], TableMetadataValue) and meta["preview"].records
        assert isinstance(meta["reject_reasons"], TableMetadataValue)
    status = ingest.asset_materializations_for_node("store_status")[0].metadata
    assert isinstance(status["rejected_sample"], TableMetadataValue) and status["rejected_sample"].records
    on_demand = report.asset_materializations_for_node("on_demand_report")[0].metadata
    worst = on_demand["worst_stores_last_week"]
    assert isinstance(worst, TableMetadataValue)
    assert "downtime_last_week_h" in [c.name for c in worst.schema.columns]
    assert on_demand["dagster/row_count"].value == on_demand["stores_reported"].value > 0


def test_warning_checks_report_counts_and_a_sample_table(materialized) -> None:
    ingest, _ = materialized
    hours = next(
        e for e in ingest.get_asset_check_evaluations() if e.check_name == "polled_stores_have_hours"
    )
    assert not hours.passed  # about a fifth of generated stores have no hours
    flagged = hours.metadata["flagged_stores"].value
    assert 0 < flagged < hours.metadata["polled_stores"].value
    sample = hours.metadata["sample"]
    assert isinstance(sample, TableMetadataValue) and 0 < len(sample.records) <= min(flagged, 10)
    assert f"{flagged:,} of" in hours.description
