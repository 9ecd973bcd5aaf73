"""The CLI's failures as an operator sees them: one line per failed file with the real cause, a
non-zero exit, no Dagster trace unless ``--verbose``; ``--accept-rejects`` and ``--force`` work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from storeuptime_pipeline.db.scratch import temporary_database

BIN = Path(sys.executable).parent
STATUS_HEADER = "store_id,status,timestamp_utc\n"


def _polls(n: int, hour: int) -> list[str]:
    return [f"s{i % 7},active,2023-01-22 {hour:02d}:{i % 60:02d}:{i // 60:02d} UTC" for i in range(n)]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "timezones.csv").write_text("store_id,timezone_str\ns1,America/Denver\n")
    (data / "menu_hours.csv").write_text(
        "store_id,day,start_time_local,end_time_local\n"
        + "".join(f"s{i},{d},09:00,17:00\n" for i in range(3) for d in ("Monday", "Tuesday", "Friday"))
    )
    bad = [f"s9,active,not a time {i}" for i in range(10)]
    (data / "store_status.csv").write_text(STATUS_HEADER + "\n".join(_polls(200, 10) + bad) + "\n")
    (data / "store_status_ok.csv").write_text(STATUS_HEADER + "\n".join(_polls(50, 12)) + "\n")
    return data


@pytest.mark.timeout(300)
def test_failed_files_are_one_line_each_with_their_cause(
    admin_url: str, tmp_path: Path, folder: Path
) -> None:
    with temporary_database(admin_url, prefix="storeuptime_clierr_") as url:
        env = {
            **os.environ,
            "STOREUPTIME_DATABASE_URL": url,
            "STOREUPTIME_HOME": str(tmp_path),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
            "STOREUPTIME_REPORTS_DIR": str(tmp_path / "reports"),
        }
        shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(BIN / "storeuptime"), *args], env=env, capture_output=True, text=True, timeout=240
            )

        def polls() -> int:
            engine = create_engine(url, poolclass=NullPool)
            try:
                with engine.connect() as conn:
                    return conn.execute(text("SELECT count(*) FROM store_status")).scalar_one()
            finally:
                engine.dispose()

        # `run`: two quarantined files, two good ones; no report is made from a partial load.
        out = tmp_path / "report.csv"
        done = cli("run", "--data", str(folder), "--out", str(out))
        assert done.returncode == 1
        # Each line ends with the failed run's full id, so the operator can open it in the UI.
        errors = [re.sub(r" \(run [0-9a-f-]{36}\)$", "", line) for line in done.stderr.splitlines()]
        assert all(re.search(r"\(run [0-9a-f-]{36}\)$", line) for line in done.stderr.splitlines())
        assert errors == [
            "[2/4] FAILED menu_hours.csv quarantined, none of its rows were loaded: 9 of 9 rows rejected "
            "(100.00%, limit 1%); fix the file and drop it again, or load it anyway with accept_rejects "
            "(storeuptime ingest --accept-rejects)",
            "[3/4] FAILED store_status.csv quarantined, none of its rows were loaded: 10 of 210 rows "
            "rejected (4.76%, limit 1%); fix the file and drop it again, or load it anyway with "
            "accept_rejects (storeuptime ingest --accept-rejects)",
        ], done.stderr
        assert "[4/4] store_status_ok.csv: 50 rows read, 50 loaded" in done.stdout
        assert not out.exists() and polls() == 50

        # The deliberate override loads the readable rows; --force reads loaded files again.
        done = cli("ingest", "--data", str(folder), "--accept-rejects", "--force")
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        assert "[3/4] store_status.csv: 210 rows read, 200 loaded, 10 rejected, 200 changed" in done.stdout
        assert "[4/4] store_status_ok.csv: 50 rows read, 50 loaded, 0 rejected, 0 changed" in done.stdout
        assert polls() == 250

        # An error the pipeline did not foresee (here the database refuses the write): its root
        # cause in one line, not Dagster's wrapper; the trace only with --verbose.
        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'tablespace is read-only for this test'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse AFTER INSERT ON store_status FOR EACH STATEMENT EXECUTE FUNCTION refuse()"
            )
        engine.dispose()
        (folder / "store_status_new.csv").write_text(STATUS_HEADER + "\n".join(_polls(5, 14)) + "\n")
        done = cli("ingest", "--data", str(folder))
        assert done.returncode == 1
        (line,) = done.stderr.splitlines()
        assert line.startswith("[4/5] FAILED store_status_new.csv: RaiseException: tablespace is read-only")
        assert re.search(r"\(--verbose shows the trace\) \(run [0-9a-f-]{36}\)$", line), line
        assert "DagsterExecutionStepExecutionError" not in done.stderr
        assert polls() == 250

        verbose = cli("ingest", "--data", str(folder), "--verbose")
        assert verbose.returncode == 1
        assert "Stack Trace" in verbose.stderr or "Traceback" in verbose.stderr
        assert any(
            line.startswith("[4/5] FAILED store_status_new.csv: RaiseException")
            for line in verbose.stderr.splitlines()
        )
