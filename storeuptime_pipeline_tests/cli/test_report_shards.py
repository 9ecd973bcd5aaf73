"""``storeuptime report --shards N`` and ``outages --shards N``: the same files and lines for every N."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

from storeuptime_pipeline.cli.main import main
from storeuptime_pipeline.core import sharded
from storeuptime_pipeline.core.outages import report_with_outages_at
from storeuptime_pipeline.core.report import report_at
from storeuptime_pipeline.fileio import status_chunks
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.report_csv import format_extended_csv, format_outages_csv, format_report_csv
from storeuptime_pipeline.generator.data import generate_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated files plus disagreeing duplicate polls, a bad row, an overnight hours row and a store
    with polls but neither hours nor a timezone."""
    ds = generate_dataset(tmp_path_factory.mktemp("shards"), stores=120, days=8, seed=5)
    status = ds.status_path.read_bytes().splitlines(keepends=True)
    dupes = [line.replace(b",active,", b",inactive,") for line in status[1::41] if b",active," in line]
    lonely = [b"zz-no-hours," + line.split(b",", 1)[1] for line in status[1::97]]
    ds.status_path.write_bytes(b"".join(status + dupes + lonely) + b"x,maybe,2023-01-22 12:00:00 UTC\n")
    with ds.hours_path.open("ab") as fh:
        fh.write(b"zz-overnight,6,22:00:00,02:00:00\n")  # Sunday 22:00 to Monday 02:00
    with ds.status_path.open("ab") as fh:
        fh.write(
            b"zz-overnight,inactive,2023-01-23 04:00:00 UTC\nzz-overnight,active,2023-01-23 07:00:00 UTC\n"
        )
    return ds.directory


def _frames(folder: Path):
    return tuple(
        read_input(folder / name, kind).valid
        for name, kind in (
            ("store_status.csv", "status"),
            ("menu_hours.csv", "hours"),
            ("timezones.csv", "timezones"),
        )
    )


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 0
    return re.sub(r"\(\d+\.\d s\)", "(T s)", capsys.readouterr().out)


@pytest.mark.parametrize(
    ("as_of", "counts"), [(None, (1, 3, 7)), ("2023-01-24 09:30:00", (1, 7))], ids=["latest poll", "as of"]
)
def test_every_shard_count_writes_the_unsharded_files_and_lines(
    data: Path,
    tmp_path: Path,
    as_of: str | None,
    counts: tuple[int, ...],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(status_chunks, "CHUNK_BYTES", 64 << 10)  # several chunks per file
    frames = _frames(data)
    unsharded = report_with_outages_at(*frames, as_of)
    expected = {
        "report": format_report_csv(report_at(*frames, as_of)),
        "extended": format_extended_csv(unsharded.report),
        "outages": format_outages_csv(unsharded.outages),
    }
    printed: dict[str, set[str]] = {name: set() for name in expected}
    for shards in counts:
        for name, command in (
            ("report", ["report"]),
            ("extended", ["report", "--extended"]),
            ("outages", ["outages"]),
        ):
            out = tmp_path / f"{name}_{shards}.csv"
            args = [*command, "--data", str(data), "--out", str(out), "--shards", str(shards)]
            printed[name].add(
                _run(args + (["--as-of", as_of] if as_of else []), capsys).replace(str(out), "OUT")
            )
            assert out.read_text() == expected[name], (name, shards)
    for name, lines in printed.items():
        assert len(lines) == 1, name  # the same lines for every shard count
        text = lines.pop()
        assert "1 x status is not active/inactive" in text
    assert "zz-overnight" in expected["report"] and "zz-no-hours" in expected["report"]


def test_the_spill_folder_is_removed_when_a_shard_fails(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen: list[Path] = []

    def failing(*args: object, **kwargs: object) -> None:
        seen.extend(scratch.iterdir())
        raise RuntimeError("a shard failed")

    monkeypatch.setattr(sharded, "shard_output", failing)
    with pytest.raises(RuntimeError, match="a shard failed"):
        main(["report", "--data", str(data), "--out", str(tmp_path / "r.csv"), "--shards", "3"])
    assert [p.name.startswith("storeuptime-shards-") for p in seen] == [True]
    assert list(scratch.iterdir()) == []


def test_a_shard_count_below_one_is_refused(data: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--shards must be at least 1, not 0"):
        main(["report", "--data", str(data), "--out", str(tmp_path / "r.csv"), "--shards", "0"])
