"""Temporary names (``store_status.csv.part``): what the ``PARTIAL_SUFFIXES`` guard means.

No name pattern matches such a file (every pattern ends in ``.csv``), so the guard never decides
whether a file is read; it decides what the operator is told. An input under a temporary name is
"still being written: read once renamed to ...", logged at info level by the sensor (the expected
case of the copy-then-rename drop), instead of being mistaken for a stray, misnamed CSV (a
warning) or passed over in silence. These tests pin that meaning, and that real input names are
classified exactly as before.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from storeuptime_pipeline.fileio.landing import InputFileError, find_inputs, scan_folder
from storeuptime_pipeline.fileio.names import PARTIAL_SUFFIXES, classify

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
STATUS = "store_id,status,timestamp_utc\n1,active,2023-01-25 10:00:00 UTC\n"
HOURS = "store_id,day,start_time_local,end_time_local\n1,0,09:00:00,17:00:00\n"
TIMEZONES = "store_id,timezone_str\n1,America/New_York\n"

#: Names of the real data sets and their common renamings, with the kind each must stay.
REAL_NAMES = {
    "store_status.csv": "status",
    "store status.csv": "status",
    "Store_Status_0125.CSV": "status",
    "menu_hours.csv": "hours",
    "Menu hours.csv": "hours",
    "business_hours.csv": "hours",
    "timezones.csv": "timezones",
    "store_timezones.csv": "timezones",
    "bq-results-20230125-202210-1674678181880.csv": "timezones",
}


@pytest.mark.parametrize("upper", [False, True], ids=["lower", "UPPER"])
@pytest.mark.parametrize("suffix", [".tmp", ".part", ".partial", ".crdownload", ".swp"])
@pytest.mark.parametrize("name", ["store_status_0125.csv", "Menu hours.csv", "bq-results-2023.csv"])
def test_an_input_under_a_temporary_name_waits_for_its_rename(
    tmp_path: Path, name: str, suffix: str, upper: bool
) -> None:
    partial = name + (suffix.upper() if upper else suffix)
    (tmp_path / partial).write_text(STATUS)
    scan = scan_folder(tmp_path)
    assert scan.files == ()
    (skipped,) = scan.skipped
    assert skipped.temporary
    assert (
        str(skipped)
        == f"{partial}: skipped, temporary name, still being written: read once renamed to {name}"
    )

    (tmp_path / partial).rename(tmp_path / name)
    (taken,) = scan_folder(tmp_path).files
    assert (taken.path.name, taken.kind) == (name, classify(name))
    assert scan_folder(tmp_path).skipped == ()


@pytest.mark.parametrize("name", ["notes.csv.part", "store_status.txt.tmp", "report.part", "data.csv.swp"])
def test_a_temporary_name_over_no_input_name_is_not_mentioned(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(STATUS)
    scan = scan_folder(tmp_path)
    assert scan.files == () and scan.skipped == ()


def test_real_input_names_are_inputs_and_never_temporary(tmp_path: Path) -> None:
    for name, kind in REAL_NAMES.items():
        assert classify(name) == kind, name
        (tmp_path / name).write_text(STATUS)
    scan = scan_folder(tmp_path)
    assert {f.path.name: f.kind for f in scan.files} == REAL_NAMES
    assert scan.skipped == ()


def test_a_data_set_whose_status_file_is_still_being_written_says_so(tmp_path: Path) -> None:
    (tmp_path / "store_status.csv.part").write_text(STATUS)
    (tmp_path / "menu_hours.csv").write_text(HOURS)
    (tmp_path / "timezones.csv").write_text(TIMEZONES)
    with pytest.raises(InputFileError, match=re.escape("read once renamed to store_status.csv")):
        find_inputs(tmp_path)
    done = subprocess.run(
        [str(BIN / "storeuptime"), "report", "--data", str(tmp_path), "--out", str(tmp_path / "out.csv")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "no status file found" in done.stderr + done.stdout
    assert "store_status.csv.part: skipped, temporary name, still being written" in done.stderr + done.stdout


def test_the_readme_lists_the_temporary_suffixes_the_scan_knows() -> None:
    line = next(line for line in README.read_text().splitlines() if line.startswith("- **Temporary names**"))
    assert set(re.findall(r"`(\.[a-z]+)`", line)) == set(PARTIAL_SUFFIXES)
