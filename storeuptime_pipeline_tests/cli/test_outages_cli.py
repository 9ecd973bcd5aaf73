"""``storeuptime report --extended`` and ``storeuptime outages`` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.core.outages import (
    EXTENDED_COLUMNS,
    OUTAGE_COLUMNS,
    report_with_outages_at,
)
from storeuptime_pipeline.core.report import report_at
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_report_csv
from storeuptime_pipeline.generator.data import GeneratedDataset, generate_dataset

AS_OF = "2023-01-24 09:30:00"


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return generate_dataset(tmp_path_factory.mktemp("data"), stores=400, days=8, seed=7)


def frames(ds: GeneratedDataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return (
        read_input(ds.status_path, "status").valid,
        read_input(ds.hours_path, "hours").valid,
        read_input(ds.timezones_path, "timezones").valid,
    )


@pytest.mark.parametrize("as_of", [None, AS_OF])
def test_report_without_extended_is_unchanged(
    ds: GeneratedDataset, tmp_path: Path, as_of: str | None
) -> None:
    """Byte for byte what the report path wrote before outages existed: the engine's format_report_csv."""
    out = tmp_path / "report.csv"
    args = ["report", "--data", str(ds.directory), "--out", str(out)]
    assert main(args + (["--as-of", as_of] if as_of else [])) == 0
    expected = format_report_csv(report_at(*frames(ds), as_of))
    assert out.read_bytes() == expected.encode()


def test_report_extended_appends_the_four_columns(ds: GeneratedDataset, tmp_path: Path) -> None:
    plain, extended = tmp_path / "plain.csv", tmp_path / "extended.csv"
    common = ["--data", str(ds.directory), "--as-of", AS_OF]
    assert main(["report", *common, "--out", str(plain)]) == 0
    assert main(["report", *common, "--out", str(extended), "--extended"]) == 0
    plain_lines = plain.read_text().splitlines()
    extended_lines = extended.read_text().splitlines()
    assert extended_lines[0] == ",".join(EXTENDED_COLUMNS)
    assert extended_lines[0].endswith(
        ",outages_last_hour,outages_last_day,outages_last_week,longest_outage_last_week"
    )
    # The seven report columns are the plain report's bytes, row for row.
    assert len(extended_lines) == len(plain_lines)
    for p, e in zip(plain_lines[1:], extended_lines[1:], strict=True):
        assert e.rsplit(",", 4)[0] == p
        hour, day, week, longest = e.split(",")[7:]
        assert hour.isdigit() and day.isdigit() and week.isdigit()
        assert len(longest.split(".")[1]) == 2
        assert int(hour) <= int(day) <= int(week)
    table = pd.read_csv(extended, dtype={"store_id": str})
    engine = report_with_outages_at(*frames(ds), AS_OF, with_list=False).report
    pd.testing.assert_frame_equal(
        table[EXTENDED_COLUMNS[7:]], engine[EXTENDED_COLUMNS[7:]].reset_index(drop=True), check_dtype=False
    )
    assert (table["outages_last_week"] > 0).sum() > 100


def test_outages_lists_every_outage_sorted(ds: GeneratedDataset, tmp_path: Path, capsys) -> None:
    listed, extended = tmp_path / "outages.csv", tmp_path / "extended.csv"
    assert main(["outages", "--data", str(ds.directory), "--as-of", AS_OF, "--out", str(listed)]) == 0
    assert "Outages as of 2023-01-24T09:30:00+00:00:" in capsys.readouterr().out
    assert (
        main(["report", "--data", str(ds.directory), "--as-of", AS_OF, "--extended", "--out", str(extended)])
        == 0
    )
    text = listed.read_text()
    assert text.splitlines()[0] == "store_id,start_utc,end_utc,start_local,business_hours,ongoing"
    table = pd.read_csv(listed, dtype={"store_id": str, "start_utc": str})
    assert list(table.columns) == OUTAGE_COLUMNS
    keys = list(zip(table["store_id"], table["start_utc"], strict=True))
    assert keys == sorted(keys)
    assert set(table["ongoing"].astype(str)) <= {"True", "False"}
    assert (table["business_hours"] > 0).all()
    assert (table["start_utc"] >= "2023-01-17T09:30:00Z").all()
    assert (table["end_utc"] <= "2023-01-24T09:30:00Z").all()
    assert table["ongoing"].astype(bool).eq(table["end_utc"] == "2023-01-24T09:30:00Z").all()
    # One row per outage: as many rows per store as the extended report's week count.
    report = pd.read_csv(extended, dtype={"store_id": str}).set_index("store_id")
    counts = table.groupby("store_id").size()
    assert (report.loc[counts.index, "outages_last_week"] == counts).all()
    assert report.loc[report.index.difference(counts.index), "outages_last_week"].eq(0).all()
    # The three-file form writes the same bytes.
    again = tmp_path / "again.csv"
    files = [
        "--status",
        str(ds.status_path),
        "--hours",
        str(ds.hours_path),
        "--timezones",
        str(ds.timezones_path),
    ]
    assert main(["outages", *files, "--as-of", AS_OF, "--out", str(again)]) == 0
    assert again.read_bytes() == listed.read_bytes()


def test_outages_says_which_inputs_are_missing(tmp_path: Path) -> None:
    with pytest.raises(
        SystemExit, match=r"storeuptime outages: give --data DIR.*missing --hours, --timezones"
    ):
        main(["outages", "--status", str(tmp_path / "s.csv"), "--out", str(tmp_path / "o.csv")])
