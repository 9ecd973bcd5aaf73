"""The ``storeuptime`` command: a thin shell over the engine, the database and the Dagster jobs.

Commands that need Dagster or the database import them lazily, so ``storeuptime report`` and
``storeuptime generate`` start fast and work without a database.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from storeuptime_pipeline.engine.files import find_inputs
from storeuptime_pipeline.engine.reading import InputFileError, ReadResult, read_input


def _print_read(result: ReadResult, out=sys.stdout) -> None:
    name = Path(result.path).name
    left_out = len(result.rejected)
    line = f"  {name}: {result.rows_read:,} rows read, {len(result.valid):,} used, {left_out:,} left out"
    print(line, file=out)
    for reason, count in result.reject_summary().items():
        print(f"      {count:,} x {reason}", file=out)
    for note, count in result.notes.items():
        if count:
            print(f"      {count:,} x {note.replace('_', ' ')}", file=out)


def _read_all(status: Sequence[Path], hours: Path, timezones: Path) -> tuple[pd.DataFrame, ...]:
    status_results = [read_input(p, "status") for p in status]
    hours_result = read_input(hours, "hours")
    tz_result = read_input(timezones, "timezones")
    for result in (*status_results, hours_result, tz_result):
        _print_read(result)
    if tz_result.notes.get("invalid_timezones"):
        print(f"  note: {tz_result.notes['invalid_timezones']} invalid timezone names -> America/Chicago")
    polls = pd.concat([r.valid for r in status_results], ignore_index=True)
    return polls, hours_result.valid, tz_result.valid


def cmd_report(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.engine.report import compute_report, format_csv, latest_poll, to_utc_timestamp

    started = time.perf_counter()
    if args.data:
        inputs = find_inputs(args.data)
        status, hours, timezones = inputs.status, inputs.hours, inputs.timezones
    else:
        missing = [
            flag
            for flag, v in (
                ("--status", args.status),
                ("--hours", args.hours),
                ("--timezones", args.timezones),
            )
            if not v
        ]
        if missing:
            raise SystemExit(
                f"storeuptime report: give --data DIR, or all of --status, --hours, --timezones (missing {', '.join(missing)})"
            )
        status, hours, timezones = [Path(p) for p in args.status], Path(args.hours), Path(args.timezones)
    print("Reading inputs")
    polls, hours_frame, tz_frame = _read_all(status, hours, timezones)
    if len(polls) == 0:
        raise SystemExit("storeuptime report: no readable polls in the status file(s)")
    as_of = to_utc_timestamp(args.as_of) if args.as_of else latest_poll(polls)
    report = compute_report(polls, hours_frame, tz_frame, as_of)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(format_csv(report))
    elapsed = time.perf_counter() - started
    print(f"Report as of {as_of.isoformat()}: {len(report):,} stores -> {out} ({elapsed:.1f} s)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.generate import generate_dataset

    store_ids = None
    if args.store_ids_from:
        ids = pd.read_csv(args.store_ids_from, dtype=str, usecols=["store_id"])["store_id"]
        store_ids = list(dict.fromkeys(ids.str.strip()))
    started = time.perf_counter()
    ds = generate_dataset(
        args.out, stores=args.stores, days=args.days, seed=args.seed, end=args.end, store_ids=store_ids
    )
    elapsed = time.perf_counter() - started
    print(f"Generated {ds.stores:,} stores, {ds.polls:,} polls ({ds.start} .. {ds.end}) in {elapsed:.1f} s")
    for path in (ds.status_path, ds.hours_path, ds.timezones_path):
        print(f"  {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storeuptime", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    report = sub.add_parser("report", help="compute the report straight from the CSV files (no database)")
    report.add_argument("--data", help="folder holding the three input files under their usual names")
    report.add_argument("--status", nargs="+", help="status file(s); several are read as one")
    report.add_argument("--hours", help="business hours file")
    report.add_argument("--timezones", help="timezones file")
    report.add_argument("--out", required=True, help="where to write the report CSV")
    report.add_argument(
        "--as-of", help="report instant (UTC unless an offset is given); default: latest poll"
    )
    report.set_defaults(func=cmd_report)

    gen = sub.add_parser("generate", help="write a realistic synthetic data set in the real file formats")
    gen.add_argument("--out", required=True, help="folder to write the three CSV files into")
    gen.add_argument("--stores", type=int, default=1000)
    gen.add_argument("--days", type=int, default=8)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--end", default="2023-01-25 18:13:22.479220+00:00", help="latest poll instant (UTC)")
    gen.add_argument(
        "--store-ids-from", help="take store ids from this CSV's store_id column (e.g. real hours)"
    )
    gen.set_defaults(func=cmd_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputFileError as exc:
        print(f"storeuptime {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
