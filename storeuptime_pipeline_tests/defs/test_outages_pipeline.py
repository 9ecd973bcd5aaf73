"""Outages in the pipeline: stored with the report rows in one transaction, checked, and read back
byte-identical to ``storeuptime report --extended`` / ``storeuptime outages`` (real Postgres)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize
from sqlalchemy import text

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.core.outages import OUTAGE_SUMMARY_COLUMNS, reports_with_outages_for
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.definitions import resources
from storeuptime_pipeline.defs.assets.ingest import INGEST_ASSETS
from storeuptime_pipeline.defs.assets.report import REPORT_ASSETS
from storeuptime_pipeline.defs.checks import INGEST_CHECKS
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_extended_csv
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.reporting_outages import extended_csv, outages_csv

ALL = [*INGEST_ASSETS, *INGEST_CHECKS, *REPORT_ASSETS]
TABLES = (
    "stores, business_hours, store_status, ingested_files, rejected_rows, uptime_report, report_runs, outages"
)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def loaded(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    engine = get_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    landing = tmp_path_factory.mktemp("incoming")
    reports = tmp_path_factory.mktemp("reports")
    ds = generate_dataset(landing, stores=150, days=9, seed=11)
    res = resources(database_url=database_url, landing=str(landing), reports=str(reports))
    with DagsterInstance.ephemeral() as instance:
        assert materialize(
            ALL, selection=[a.key for a in INGEST_ASSETS], instance=instance, resources=res
        ).success
    inputs = tuple(read_input(p, k).valid for p, k in [(ds.status_path, "status"), (ds.hours_path, "hours")])
    inputs += (read_input(ds.timezones_path, "timezones").valid,)
    return {"engine": engine, "res": res, "landing": landing, "inputs": inputs}


def _run(loaded: dict, **kwargs):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL, selection=["uptime_report"], instance=instance, resources=loaded["res"], **kwargs
        )
    assert result.success
    return result


def _cli(loaded: dict, tmp_path: Path, command: str, as_of: str, *extra: str) -> bytes:
    out = tmp_path / f"{command}.csv"
    assert main([command, "--data", str(loaded["landing"]), "--as-of", as_of, "--out", str(out), *extra]) == 0
    return out.read_bytes()


def _stored_outages(loaded: dict, as_of: pd.Timestamp) -> int:
    with loaded["engine"].connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM published_outages WHERE as_of = :t"), {"t": as_of}
        ).scalar_one()


def test_a_partition_stores_summary_and_list_byte_identical_to_the_cli(loaded: dict, tmp_path: Path) -> None:
    result = _run(loaded, partition_key="2023-01-25-09:00")
    as_of = pd.Timestamp("2023-01-25 10:00", tz="UTC")
    assert extended_csv(loaded["engine"], as_of).encode() == _cli(
        loaded, tmp_path, "report", "2023-01-25 10:00", "--extended"
    )
    assert outages_csv(loaded["engine"], as_of).encode() == _cli(
        loaded, tmp_path, "outages", "2023-01-25 10:00"
    )
    engine_result = reports_with_outages_for(*loaded["inputs"], [as_of])
    assert _stored_outages(loaded, as_of) == len(engine_result.outages) > 20
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["outages_add_up_to_downtime"] is True
    meta = result.asset_materializations_for_node("uptime_report")[0].metadata
    table = meta["most_outages_last_week"].value
    top = engine_result.report.sort_values(
        ["outages_last_week", "longest_outage_last_week", "store_id"], ascending=[False, False, True]
    ).iloc[0]
    # A Dagster table (TableMetadataValue): the store with most outages first, its counts as columns.
    assert [c.name for c in table.schema.columns][:2] == ["store_id", "outages_last_hour"]
    assert table.records[0].data["store_id"] == top["store_id"]
    assert table.records[0].data["outages_last_week"] == top["outages_last_week"]


#: 30 hours: more than one engine chunk of instants, so the list is streamed into the transaction.
RANGE = {
    "dagster/asset_partition_range_start": "2023-01-23-18:00",
    "dagster/asset_partition_range_end": "2023-01-24-23:00",
}


def test_a_range_run_stores_every_hour_and_a_rerun_replaces_them(loaded: dict) -> None:
    as_ofs = list(pd.date_range("2023-01-23 19:00", periods=30, freq="h", tz="UTC"))
    _run(loaded, tags=RANGE)
    expected = reports_with_outages_for(*loaded["inputs"], as_ofs)
    counts = expected.outages.groupby("as_of").size()
    for t in as_ofs:
        assert _stored_outages(loaded, t) == counts.get(t, 0)
        want = expected.report[expected.report["as_of"] == t].drop(columns="as_of").reset_index(drop=True)
        assert extended_csv(loaded["engine"], t) == format_extended_csv(want)
    _run(loaded, partition_key="2023-01-24-05:00")  # one hour again: its rows are replaced, not added
    assert _stored_outages(loaded, as_ofs[11]) == counts[as_ofs[11]]


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("kind", ["partition", "streamed range"])
def test_a_failed_write_leaves_report_rows_and_outages_as_they_were(
    loaded: dict, monkeypatch: pytest.MonkeyPatch, kind: str, shards: int
) -> None:
    """The outage list is written before the report rows: a failure at the end of the write must
    undo it too. One shard publishes in its own transaction; more shards stage, then publish."""
    which = {"partition_key": "2023-01-25-03:00"} if kind == "partition" else {"tags": RANGE}
    _run(loaded, **which)
    as_of = pd.Timestamp("2023-01-25 04:00" if kind == "partition" else "2023-01-24 04:00", tz="UTC")
    with loaded["engine"].begin() as conn:
        conn.execute(text("UPDATE outages SET business_hours = 99 WHERE as_of = :t"), {"t": as_of})
        conn.execute(text("UPDATE uptime_report SET outages_last_week = 99 WHERE as_of = :t"), {"t": as_of})
    before_outages, before_report = _stored_outages(loaded, as_of), extended_csv(loaded["engine"], as_of)

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setenv("STOREUPTIME_REPORT_SHARDS", str(shards))
    # The publishing transaction's last statement (the shard's own for one shard, the publish step's
    # for more): both lists are replaced by then, and must be undone.
    monkeypatch.setattr("storeuptime_pipeline.db.report_stage.clear_run", broken)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL,
            selection=["uptime_report"],
            instance=instance,
            resources=loaded["res"],
            raise_on_error=False,
            **which,
        )
    assert not result.success
    assert _stored_outages(loaded, as_of) == before_outages
    assert extended_csv(loaded["engine"], as_of) == before_report
    with loaded["engine"].connect() as conn:
        kept = conn.execute(
            text("SELECT min(business_hours) FROM published_outages WHERE as_of = :t"), {"t": as_of}
        )
        assert kept.scalar_one() == 99


def test_on_demand_report_has_outages_too(loaded: dict, tmp_path: Path) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            ALL,
            selection=["on_demand_report"],
            instance=instance,
            resources=loaded["res"],
            run_config={
                "ops": {"on_demand_report": {"config": {"report_id": "x1", "as_of": "2023-01-24 12:34:56"}}}
            },
        )
    assert result.success
    as_of = pd.Timestamp("2023-01-24 12:34:56", tz="UTC")
    assert extended_csv(loaded["engine"], as_of).encode() == _cli(
        loaded, tmp_path, "report", "2023-01-24 12:34:56", "--extended"
    )
    report = pd.read_csv(tmp_path / "report.csv")
    assert list(report.columns[-4:]) == OUTAGE_SUMMARY_COLUMNS


def test_run_extended_is_byte_identical_to_report_extended(admin_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    generate_dataset(data, stores=120, days=8, seed=5)
    reference = tmp_path / "reference.csv"
    as_of = "2023-01-24 12:00:00"
    assert main(["report", "--data", str(data), "--out", str(reference), "--as-of", as_of, "--extended"]) == 0
    with temporary_database(admin_url) as url:
        env = {
            **os.environ,
            "STOREUPTIME_DATABASE_URL": url,
            "STOREUPTIME_HOME": str(tmp_path),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "STOREUPTIME_REPORTS_DIR": str(tmp_path / "reports"),
        }
        shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")
        out = tmp_path / "piped.csv"
        done = subprocess.run(
            [
                str(BIN / "storeuptime"),
                "run",
                "--data",
                str(data),
                "--out",
                str(out),
                "--as-of",
                as_of,
                "--extended",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert out.read_bytes() == reference.read_bytes()
