"""The storeuptime command as a user runs it: report from CSVs, errors, and the whole pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.generator.data import generate_dataset

REAL = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "N-NeelPatel__store-monitoring"
BIN = Path(sys.executable).parent


def test_report_prints_left_out_rows_per_file_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "store_status.csv").write_text(
        "store_id,status,timestamp_utc\n1,active,2023-01-22 12:00:00 UTC\n2,maybe,2023-01-22 12:00:00 UTC\n"
        "3,active,yesterday\n"
    )
    (tmp_path / "Menu hours.csv").write_text(
        "store_id,dayOfWeek,start_time_local,end_time_local\n1,9,09:00,10:00\n"
    )
    (tmp_path / "bq-results-2023.csv").write_text("store_id,timezone_str\n1,Nowhere/Land\n")
    out = tmp_path / "report.csv"
    assert main(["report", "--data", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "store_status.csv: 3 rows read, 1 used, 2 left out" in printed
    assert "1 x status is not active/inactive" in printed and "1 x unreadable timestamp" in printed
    assert "Menu hours.csv: 1 rows read, 0 used, 1 left out" in printed
    assert "1 x invalid timezone name (America/Chicago used)" in printed
    report = pd.read_csv(out, dtype={"store_id": str})
    assert list(report.columns) == REPORT_COLUMNS
    assert list(report["store_id"]) == ["1"]
    assert report["uptime_last_hour"].tolist() == [60.0]  # no usable hours row -> 24x7


def test_missing_column_is_a_clear_error_naming_file_and_column(tmp_path: Path, capsys) -> None:
    (tmp_path / "store_status.csv").write_text("store_id,timestamp_utc\n1,2023-01-22 12:00:00 UTC\n")
    (tmp_path / "menu_hours.csv").write_text("store_id,day,start_time_local,end_time_local\n")
    (tmp_path / "timezones.csv").write_text("store_id,timezone_str\n1,America/Denver\n")
    assert main(["report", "--data", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert "store_status.csv" in err and "missing required column(s) status" in err


def test_data_folder_must_hold_one_snapshot_of_each_kind(tmp_path: Path, capsys) -> None:
    for name in ("store_status.csv", "timezones.csv"):
        (tmp_path / name).write_text("x,y\n")
    assert main(["report", "--data", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert "no hours file found" in capsys.readouterr().err
    (tmp_path / "menu_hours_a.csv").write_text("x,y\n")
    (tmp_path / "business_hours_b.csv").write_text("x,y\n")
    assert main(["report", "--data", str(tmp_path), "--out", str(tmp_path / "r.csv")]) == 2
    assert "more than one hours file" in capsys.readouterr().err


@pytest.mark.skipif(not REAL.is_dir(), reason="shared/realdata not present")
def test_report_on_the_real_hours_and_timezones_reports_every_polled_store(tmp_path: Path) -> None:
    ids = pd.concat(
        [
            pd.read_csv(REAL / "menu_hours.csv", dtype=str)["store_id"],
            pd.read_csv(REAL / "timezones.csv", dtype=str)["store_id"],
        ]
    ).drop_duplicates()
    ds = generate_dataset(
        tmp_path / "gen", stores=len(ids), days=8, seed=3, store_ids=list(ids), edge_cases=False
    )
    out = tmp_path / "report.csv"
    code = main(
        [
            "report",
            "--status",
            str(ds.status_path),
            "--hours",
            str(REAL / "menu_hours.csv"),
            "--timezones",
            str(REAL / "timezones.csv"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = pd.read_csv(out, dtype={"store_id": str})
    polled = pd.read_csv(ds.status_path, dtype={"store_id": str})["store_id"].unique()
    assert sorted(report["store_id"]) == sorted(polled)
    assert len(report) > 13_000
    for window, limit in (("hour", 60), ("day", 24), ("week", 168)):
        total = report[f"uptime_last_{window}"] + report[f"downtime_last_{window}"]
        assert (total <= limit + 1e-9).all() and (report[f"uptime_last_{window}"] >= 0).all()


def test_run_through_dagster_is_byte_identical_to_report(admin_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    ds = generate_dataset(data, stores=120, days=8, seed=5)
    reference = tmp_path / "reference.csv"
    assert main(["report", "--data", str(data), "--out", str(reference)]) == 0
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
            [str(BIN / "storeuptime"), "run", "--data", str(data), "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert out.read_bytes() == reference.read_bytes()
        assert f"Report as of {ds.end.isoformat()}" in done.stdout
        # Fewer report rows than stores in the files is explained (the planted never-polled store).
        assert f"have no poll at or before {ds.end.isoformat()}, so no row" in done.stdout
        assert "[3/3] store_status.csv" in done.stdout
        as_of = "2023-01-24 12:00:00"
        assert main(["report", "--data", str(data), "--out", str(reference), "--as-of", as_of]) == 0
        again = subprocess.run(
            [str(BIN / "storeuptime"), "run", "--data", str(data), "--out", str(out), "--as-of", as_of],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert again.returncode == 0, again.stderr[-3000:]
        assert "same content already loaded, skipped" in again.stdout
        assert out.read_bytes() == reference.read_bytes()
