"""The pandera models are the validation: every row the one reading path leaves out is a failure
case of its kind's model (or a row the CSV itself breaks), under the check named by its reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from storeuptime_pipeline.core.reasons import RejectReason
from storeuptime_pipeline.core.report import REPORT_COLUMNS
from storeuptime_pipeline.core.schemas import MODELS
from storeuptime_pipeline.fileio.csv_input import read_csv_strings, read_input
from storeuptime_pipeline.fileio.report_csv import format_report_csv

FILES = {
    "status": "store_id,status,timestamp_utc\n1,active,2023-01-22 12:09:39.38 UTC\n,active,2023-01-22 12:10:00 UTC\n"
    "2,Maybe,2023-01-22 12:10:00 UTC\n3,active,2023-02-30 10:00:00 UTC\n4,INACTIVE,2023-01-22T12:00:00Z\n"
    "5,bad,not a time\n",
    "hours": "store_id,dayOfWeek,start_time_local,end_time_local\n1,0,9:00,17:00\n1,-1,09:00,17:00\n1,2.0,09:00,24:00\n"
    "1,3,12:60,13:00\n1,4,10:00,24:01\n,5,10:00,11:00\n1,6,24:00,10:00\n",
    "timezones": "store_id,timezone_str\n1,Asia/Kolkata\n2,\n3,Not/AZone\n,America/Denver\n1,Europe/London\n",
}


@pytest.mark.parametrize("kind", ["status", "hours", "timezones"])
def test_every_rejected_row_is_a_failure_case_of_the_pandera_model(kind: str, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.csv"
    path.write_text(FILES[kind])
    result = read_input(path, kind)
    assert len(result.rejected) >= 1
    assert len(result.valid) + len(result.rejected) == result.rows_read
    # The model used directly, on the same string rows: its failure cases are the rejects.
    rows, structural = read_csv_strings(path, kind)
    with pytest.raises(pandera.errors.SchemaErrors) as caught:
        MODELS[kind].validate(rows, lazy=True)
    cases = caught.value.failure_cases
    lines = rows["line"].to_numpy()[cases["index"].astype(int)]
    failed = set(zip(lines, cases["column"], cases["check"], strict=True))
    ruled = result.rejected[
        ~result.rejected["line"].isin(structural["line"])
        & result.rejected["reason"].ne(RejectReason.SUPERSEDED)
    ]
    assert set(zip(ruled["line"], ruled["column"], ruled["reason"], strict=True)) <= failed
    assert set(ruled["line"]) == {line for line, _, _ in failed}
    assert np.isin(result.rejected["line"], rows["line"]).sum() == len(result.rejected) - len(structural)


def test_the_cli_prints_what_ingestion_reads(tmp_path: Path, capsys) -> None:
    """Both go through ``read_input``: the CLI's counts per reason are the ingested file's."""
    from storeuptime_pipeline.cli.main import main
    from storeuptime_pipeline.services import loading

    assert loading.read_input is read_input
    paths = {}
    for kind, name in (("status", "store_status.csv"), ("hours", "menu_hours.csv"), ("timezones", "tz.csv")):
        paths[kind] = tmp_path / name
        paths[kind].write_text(FILES[kind])
    command = ["report", *(x for kind, path in paths.items() for x in (f"--{kind}", str(path)))]
    assert main([*command, "--out", str(tmp_path / "report.csv")]) == 0
    printed = capsys.readouterr().out
    for kind, path in paths.items():
        for reason, count in read_input(path, kind).reject_summary().items():
            assert f"      {count:,} x {reason}\n" in printed


def test_hours_values_are_read_as_seconds(tmp_path: Path) -> None:
    path = tmp_path / "hours.csv"
    path.write_text(FILES["hours"])
    result = read_input(path, "hours")
    assert result.valid[["day_of_week", "start_seconds", "end_seconds"]].values.tolist() == [
        [0, 9 * 3600, 17 * 3600],
        [2, 9 * 3600, 86_400],
    ]
    assert result.rejected["line"].tolist() == [3, 5, 6, 7, 8]


def test_timezones_keep_the_last_row_of_a_store_and_count_invalid_names(tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text(FILES["timezones"])
    result = read_input(path, "timezones")
    rows = result.valid.set_index("store_id")["timezone"].to_dict()
    assert rows == {"1": "Europe/London", "2": "America/Chicago", "3": "America/Chicago"}
    assert result.notes == {"invalid_timezones": 1, "empty_timezones": 1}
    superseded = result.rejected[result.rejected["reason"] == "duplicate store_id: a later row wins"]
    assert superseded["line"].tolist() == [2]  # store 1's first row; its last row (line 6) wins


def test_report_csv_quotes_an_id_that_needs_it_and_prints_two_decimals() -> None:
    frame = pd.DataFrame({c: [1.0, 2.5] for c in REPORT_COLUMNS[1:]})
    frame.insert(0, "store_id", ["a,b", "007"])
    lines = format_report_csv(frame).splitlines()
    assert lines[0] == ",".join(REPORT_COLUMNS)
    assert lines[1] == '"a,b",1.00,1.00,1.00,1.00,1.00,1.00'
    assert lines[2] == "007,2.50,2.50,2.50,2.50,2.50,2.50"


def test_fast_and_lenient_timestamp_paths_read_the_same_instants() -> None:
    from storeuptime_pipeline.core.rules import parse_timestamps

    spelled = [
        "2023-01-22 12:09:39.388884 UTC",
        "2023-01-22 12:09:39 UTC",
        "2023-01-22 12:09:39.4726 UTC",
        "2023-01-22 12:09:39.8 UTC",
        "2023-01-22 00:00:00.000001 UTC",
        "2024-02-29 23:59:59.999999 UTC",
    ]
    fast, fast_bad = parse_timestamps(pd.Series(spelled, dtype="str"))
    slow, slow_bad = parse_timestamps(pd.Series([*spelled, "not a time", "2023-01-22"], dtype="str"))
    assert not fast_bad.any()
    assert slow_bad.tolist() == [False] * len(spelled) + [True, True]
    pd.testing.assert_series_equal(fast, slow.iloc[: len(spelled)])
    assert fast.iloc[2] == pd.Timestamp("2023-01-22 12:09:39.4726", tz="UTC")
    _, date_only_bad = parse_timestamps(pd.Series(["2023-01-22"] * 3, dtype="str"))
    assert date_only_bad.all()  # a date without a time of day is refused on the fast path too
