"""The landing folder cannot be jammed: every entry that is not a readable input file is skipped with
its reason, and the files beside it are still taken, by the sensor, ``storeuptime ingest`` and
``storeuptime report --data`` alike (one scan serves all three)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import build_sensor_context, instance_for_test
from sqlalchemy import text

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.defs.resources import DatabaseResource, LandingFolderResource
from storeuptime_pipeline.defs.sensors import landing_folder_sensor
from storeuptime_pipeline.fileio.landing import find_inputs, scan_folder

BIN = Path(sys.executable).parent
STATUS = (
    "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n2,inactive,2023-01-25 10:05:00 UTC\n"
)
HOURS = "store_id,day,start_time_local,end_time_local\n1,0,09:00:00,17:00:00\n"
TIMEZONES = "store_id,timezone_str\n1,America/New_York\n"


def _jam(folder: Path) -> dict[str, str]:
    """Every kind of entry that must not stop a scan, named as an input; returns name -> reason."""
    (folder / "store_status_loop.csv").symlink_to("store_status_loop.csv")
    (folder / "store_status_ping.csv").symlink_to("store_status_pong.csv")
    (folder / "store_status_pong.csv").symlink_to("store_status_ping.csv")
    (folder / "store_status_dangling.csv").symlink_to("store_status_gone.csv")
    (folder / "store_status_passwd.csv").symlink_to("/etc/passwd")
    os.mkfifo(folder / "store_status_fifo.csv")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "store_status_sock.csv"))
    sock.close()
    (folder / "store_status_empty.csv").write_bytes(b"")
    (folder / "store_status_new\nline.csv").write_text(STATUS)
    (folder / "store_status_dir.csv").mkdir()
    (folder / "store_status_late.csv.part").write_text(STATUS)
    (folder / "status.csv").write_text(STATUS)
    return {
        "store_status_loop.csv": "link loops",
        "store_status_ping.csv": "link loops",
        "store_status_pong.csv": "link loops",
        "store_status_dangling.csv": "link leads nowhere",
        "store_status_passwd.csv": "link leads outside the landing folder",
        "store_status_fifo.csv": "named pipe (FIFO)",
        "store_status_sock.csv": "a socket",
        "store_status_empty.csv": "the file is empty (0 bytes)",
        "store_status_new\nline.csv": "line break",
        "store_status_dir.csv": "a folder",
        "store_status_late.csv.part": "temporary name, still being written: read once renamed to store_status_late.csv",
        "status.csv": "not an input name",
    }


def test_every_jamming_entry_is_skipped_with_its_reason_and_the_good_files_are_taken(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    expected = _jam(folder)
    (folder / "store_status.csv").write_text(STATUS)
    (folder / "menu_hours.csv").write_text(HOURS)
    (folder / "timezones.csv").write_text(TIMEZONES)
    (folder / "store_status_alias.csv").symlink_to("store_status.csv")  # inside the folder: followed
    (folder / "notes.txt").write_text("no input, no csv: not mentioned")

    scan = scan_folder(folder)
    assert sorted(f.path.name for f in scan.files) == [
        "menu_hours.csv",
        "store_status.csv",
        "store_status_alias.csv",
        "timezones.csv",
    ]
    reasons = {s.name: s.reason for s in scan.skipped}
    assert reasons.keys() == expected.keys()
    for name, reason in expected.items():
        assert reason in reasons[name], name
    assert [s.name for s in scan.skipped if s.temporary] == ["store_status_late.csv.part"]
    shown = {str(s) for s in scan.skipped}
    assert (
        "store_status_new\\nline.csv: skipped, name contains a line break or another non-printable character"
        in shown
    )
    assert all("\n" not in line for line in shown)

    # The resource the sensor and the ingest assets use, and find_inputs (report --data), agree.
    assert [f.path.name for f in LandingFolderResource(path=str(folder)).scan()] == [
        f.path.name for f in scan.files
    ]
    inputs = find_inputs(folder)
    assert [p.name for p in inputs.status] == ["store_status.csv", "store_status_alias.csv"]
    assert inputs.skipped == scan.skipped


def test_find_inputs_is_still_importable_from_the_engine() -> None:
    from storeuptime_pipeline.fileio.names import InputFiles
    from storeuptime_pipeline.fileio.names import find_inputs as from_engine

    assert from_engine is find_inputs and InputFiles.__module__ == "storeuptime_pipeline.fileio.landing"


@contextlib.contextmanager
def _unprivileged() -> Iterator[None]:
    """Run the block as ``nobody`` when the tests run as root (root reads a mode-000 file)."""
    if os.geteuid() != 0:
        yield
        return
    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)
    os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_an_unreadable_file_is_skipped_and_the_others_are_taken() -> None:
    folder = Path(tempfile.mkdtemp(prefix="storeuptime_unreadable_"))  # traversable by nobody
    try:
        folder.chmod(0o755)
        (folder / "store_status_locked.csv").write_text(STATUS)
        (folder / "store_status_locked.csv").chmod(0o000)
        (folder / "store_status.csv").write_text(STATUS)
        (folder / "store_status.csv").chmod(0o644)
        with _unprivileged():
            scan = scan_folder(folder)
        assert [f.path.name for f in scan.files] == ["store_status.csv"]
        assert [(s.name, s.reason) for s in scan.skipped] == [
            ("store_status_locked.csv", "cannot be read (permission denied)")
        ]
    finally:
        shutil.rmtree(folder)


def test_report_data_never_follows_a_link_outside_the_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "store_status.csv").write_text(STATUS)
    (tmp_path / "menu_hours.csv").write_text(HOURS)
    (tmp_path / "timezones.csv").symlink_to("/etc/passwd")
    out = tmp_path / "out" / "report.csv"
    assert main(["report", "--data", str(tmp_path), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "root:" not in captured.out + captured.err
    assert "no timezones file found" in captured.err
    assert "timezones.csv: skipped, link leads outside the landing folder" in captured.err

    (tmp_path / "timezones_real.csv").write_text(TIMEZONES)
    assert main(["report", "--data", str(tmp_path), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "root:" not in captured.out + captured.err
    assert "  timezones.csv: skipped, link leads outside the landing folder" in captured.out
    assert out.read_text().splitlines()[1].startswith("1,")


@pytest.mark.timeout(300)
def test_storeuptime_ingest_loads_the_good_file_beside_a_symlink_loop(admin_url: str, tmp_path: Path) -> None:
    data = tmp_path / "incoming"
    data.mkdir()
    (data / "store_status.csv").write_text(STATUS)
    (data / "store_status_loop.csv").symlink_to("store_status_loop.csv")
    os.mkfifo(data / "store_status_fifo.csv")
    (data / "store_status_empty.csv").write_bytes(b"")
    with temporary_database(admin_url) as url:
        env = {
            **os.environ,
            "STOREUPTIME_DATABASE_URL": url,
            "STOREUPTIME_HOME": str(tmp_path),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
        shutil.copy(Path(__file__).resolve().parents[2] / "dagster.yaml", tmp_path / "dagster.yaml")
        done = subprocess.run(
            [str(BIN / "storeuptime"), "ingest", "--data", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Traceback" not in done.stderr
        lines = done.stdout.splitlines()
        assert "  store_status_loop.csv: skipped, link loops (following it never reaches a file)" in lines
        assert "  store_status_fifo.csv: skipped, a named pipe (FIFO), not a file" in lines
        assert "  store_status_empty.csv: skipped, the file is empty (0 bytes)" in lines
        assert any(line.startswith("[1/1] store_status.csv: 2 rows read, 2 loaded") for line in lines)
        with get_engine(url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM store_status")).scalar_one() == 2
            names = conn.execute(text("SELECT name FROM ingested_files")).scalars().all()
        assert names == ["store_status.csv"]


def _tick(folder: Path, cursor: str | None, instance, database_url: str):
    context = build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "landing": LandingFolderResource(path=str(folder)),
            "database": DatabaseResource(url=database_url),
        },
    )
    result = landing_folder_sensor(context)
    return result.run_requests or [], result.cursor


def test_the_sensor_requests_the_good_file_beside_a_symlink_loop_and_logs_the_loop_once(
    clean_db, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    monkeypatch.setenv("STOREUPTIME_FILE_SETTLE_SECONDS", "0")
    folder = tmp_path / "incoming"
    folder.mkdir()
    _jam(folder)
    (folder / "store_status.csv").write_text(STATUS)
    requested = []
    cursor = None
    with instance_for_test() as instance:
        for _ in range(3):
            requests, cursor = _tick(folder, cursor, instance, database_url)
            requested += [r.tags["storeuptime/file"] for r in requests]
    assert requested == ["store_status.csv"]
    logged = capfd.readouterr().err.splitlines()  # the sensor's context.log
    loop_lines = [line for line in logged if "store_status_loop.csv" in line]
    assert len(loop_lines) == 1, loop_lines
    assert "skipped, link loops" in loop_lines[0]
