"""The commands no other test runs, in process, each on a throw-away database: generate, db, demo,
backfill (in process, and its one-line failures), and that the database commands migrate once at
their start (nothing migrates on first use any more).

In process so that what they print is checked line by line and counted by in-process coverage;
the environment they export (``prepare_environment`` writes ``os.environ``) is set first through
``monkeypatch``, which restores it afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storeuptime_pipeline import settings
from storeuptime_pipeline.cli import commands_pipeline
from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.config import DATABASE_URL_ENV, dagster_storage_env
from storeuptime_pipeline.db.embedded import HOME_ENV, pgdata_dir
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.instance import DAGSTER_HOME_ENV
from storeuptime_pipeline_tests.dagster_server import free_port

RUN_ID = re.compile(r"run ([0-9a-f-]{36})")


@pytest.fixture
def project(admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A project folder, landing and reports folders, and an empty database nobody migrated."""
    with temporary_database(admin_url, prefix="storeuptime_cmds_") as url:
        for name, value in {
            DATABASE_URL_ENV: url,
            **dagster_storage_env(url),
            HOME_ENV: str(tmp_path),
            DAGSTER_HOME_ENV: str(tmp_path / "dagster_home"),
            settings.DATA_DIR_ENV: str(tmp_path / "landing"),
            settings.REPORTS_DIR_ENV: str(tmp_path / "reports"),
            # Nobody listens there: no UI links in the output, and `backfill` fails in one line.
            settings.DAGSTER_GRAPHQL_URL_ENV: f"http://127.0.0.1:{free_port()}",
        }.items():
            monkeypatch.setenv(name, value)
        commands_pipeline._ui_url.cache_clear()
        yield url
        commands_pipeline._ui_url.cache_clear()


def test_generate_writes_the_generators_bytes_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main(["generate", "--out", str(out), "--stores", "40", "--days", "2", "--seed", "4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    ds = generate_dataset(tmp_path / "direct", stores=40, days=2, seed=4)
    head = f"Generated 40 stores, {ds.polls:,} polls ({ds.start} .. {ds.end}) in "
    assert printed[0].startswith(head) and re.fullmatch(r"\d+\.\d s", printed[0].removeprefix(head))
    assert printed[1:] == [
        f"  {out / name}" for name in ("store_status.csv", "menu_hours.csv", "timezones.csv")
    ]
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        assert (out / name).read_bytes() == (ds.directory / name).read_bytes()

    ids = tmp_path / "ids.csv"
    ids.write_text("store_id,other\n 7 ,x\n8,y\n7,z\n")
    assert (
        main(["generate", "--out", str(tmp_path / "own"), "--stores", "5", "--store-ids-from", str(ids)]) == 0
    )
    assert "Generated 2 stores" in capsys.readouterr().out  # ids stripped and deduplicated, first come
    assert set(pd.read_csv(tmp_path / "own" / "timezones.csv", dtype=str)["store_id"]) <= {"7", "8"}


def test_db_commands_on_a_configured_database(
    project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    url = make_url(project).set(password="s3cret").render_as_string(hide_password=False)  # trust: ignored
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    masked = make_url(url).render_as_string(hide_password=True)
    head = migrate.head_revision()

    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out == f"{masked}\n"
    assert "s3cret" not in masked
    assert main(["db", "url", "--show-password"]) == 0
    assert capsys.readouterr().out == f"{url}\n"

    assert migrate.current_revision(url) is None
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"schema at revision {head}\n"
    assert migrate.current_revision(url) == head
    assert main(["db", "init"]) == 0  # a configured database: migrated (again: nothing to do), not created
    assert capsys.readouterr().out == f"{masked}: schema at revision {head}\n"

    # The embedded server of this (empty) project folder: described and "stopped" without starting it.
    assert main(["db", "status"]) == 0
    assert capsys.readouterr().out == f"embedded Postgres in {pgdata_dir(tmp_path)}: stopped\n"
    assert main(["db", "stop"]) == 0
    assert capsys.readouterr().out == "embedded Postgres was not running\n"
    assert not pgdata_dir(tmp_path).exists()


@pytest.mark.timeout(400)
def test_demo_migrates_at_its_start_then_backfill_runs_in_process(
    project: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert migrate.current_revision(project) is None
    assert main(["demo", "--stores", "60"]) == 0
    printed = capsys.readouterr().out
    assert migrate.current_revision(project) == migrate.head_revision()  # the command's own, explicit step
    (generated,) = re.findall(r"generated a demo data set \(60 stores, ([\d,]+) polls\)", printed)
    assert f"Landing folder: {tmp_path / 'landing'}" in printed
    assert all(f"[{i}/3] " in printed for i in (1, 2, 3))
    (csv_line,) = [line for line in printed.splitlines() if line.startswith("The report CSV: ")]
    csv_path = Path(csv_line.removeprefix("The report CSV: "))
    assert csv_path.parent == tmp_path / "reports"

    # The summary says what the CSV holds (summed and ranked here, independently of the CLI's code).
    report = pd.read_csv(csv_path, dtype={"store_id": str})
    as_of = re.search(r"Report as of (\S+) \(Dagster run", printed).group(1)
    engine = get_engine(project)
    with engine.connect() as conn:
        known = conn.execute(text("SELECT count(*) FROM stores")).scalar_one()
    assert (
        f"  stores: {len(report):,} of {known:,} known; {known - len(report):,} have no poll at or before {as_of}"
        in printed
    )
    up, down = report["uptime_last_week"].sum(), report["downtime_last_week"].sum()
    assert f"  last week: uptime {up:,.0f} h, downtime {down:,.0f} h ({up / (up + down):.1%} up)" in printed
    ranked = report.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(5)
    listed = printed.split("  most downtime in the last week:\n")[1].splitlines()[:5]
    assert listed == [
        f"    {r.store_id}: {r.downtime_last_week:.2f} h down, {r.uptime_last_week:.2f} h up"
        for r in ranked.itertuples()
    ]
    assert generated and len(report) <= 60

    # A second demo finds the landing folder full and its contents loaded: nothing generated, nothing new.
    assert main(["demo"]) == 0
    again = capsys.readouterr().out
    assert "generated a demo data set" not in again
    assert "[3/3] store_status.csv: same content already loaded, skipped" in again

    # Two hourly partitions before the data's end, in one run in this process.
    assert main(["backfill", "--in-process", "--from", "2023-01-24-00:00", "--to", "2023-01-24-01:00"]) == 0
    done = capsys.readouterr().out
    assert done.startswith("Backfilling uptime_report 2023-01-24-00:00 .. 2023-01-24-01:00 in one run")
    assert re.search(r"^2 partition\(s\) materialized in \d+\.\d s \(run [0-9a-f-]{36}\)$", done, re.M), done
    with engine.connect() as conn:
        hours = conn.execute(
            text("SELECT count(DISTINCT as_of) FROM published_uptime_report WHERE as_of IN (:a, :b)"),
            {
                "a": pd.Timestamp("2023-01-24 01:00", tz="UTC"),
                "b": pd.Timestamp("2023-01-24 02:00", tz="UTC"),
            },
        ).scalar_one()
    assert hours == 2


def test_backfill_failures_are_one_line_and_exit_1(project: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["backfill", "--in-process", "--from", "2023-01-24-00:30", "--to", "2023-01-24-01:00"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "storeuptime backfill: --from 2023-01-24-00:30 is not an uptime_report partition (hourly, "
        f"YYYY-MM-DD-HH:00, {settings.partitions_start()} .. " + err[0].rsplit(" .. ", 1)[1]
    ]
    assert main(["backfill", "--in-process", "--from", "2023-01-24-02:00", "--to", "2023-01-24-01:00"]) == 1
    assert (
        capsys.readouterr().err
        == "storeuptime backfill: --from 2023-01-24-02:00 is after --to 2023-01-24-01:00\n"
    )

    # Through the webserver (the default): none answers at STOREUPTIME_DAGSTER_URL.
    assert main(["backfill", "--from", "2023-01-24-00:00", "--to", "2023-01-24-01:00"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"storeuptime backfill: the Dagster webserver at {settings.dagster_url()} did not answer"
    )
    assert line.endswith("is `make dev` running?")
