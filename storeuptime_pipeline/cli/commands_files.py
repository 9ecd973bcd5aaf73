"""``storeuptime report``, ``outages`` and ``generate``: straight from and to CSV files, no database.

They import only the core, the file readers and the generator (lazily), so they start fast and
work on a machine without Postgres.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from storeuptime_pipeline.cli.console import as_of_flag, print_skipped
from storeuptime_pipeline.core.inputs import DEFAULT_TIMEZONE
from storeuptime_pipeline.core.reasons import Note
from storeuptime_pipeline.core.validation import ReadResult
from storeuptime_pipeline.fileio.csv_input import read_input
from storeuptime_pipeline.fileio.landing import find_inputs

_NOTE_TEXT: dict[Note, str] = {
    Note.INVALID_TIMEZONES: f"invalid timezone name ({DEFAULT_TIMEZONE} used)",
    Note.EMPTY_TIMEZONES: f"empty timezone ({DEFAULT_TIMEZONE} used)",
}


def _print_read(result: ReadResult) -> None:
    name = Path(result.path).name
    left_out = len(result.rejected)
    line = f"  {name}: {result.rows_read:,} rows read, {len(result.valid):,} used, {left_out:,} left out"
    print(line)
    for reason, count in result.reject_summary().items():
        print(f"      {count:,} x {reason}")
    for note, count in result.notes.items():
        if count:
            print(f"      {count:,} x {_NOTE_TEXT.get(note, note)}")


def _read_all(status: Sequence[Path], hours: Path, timezones: Path) -> tuple[pd.DataFrame, ...]:
    status_results = [read_input(p, "status") for p in status]
    hours_result = read_input(hours, "hours")
    tz_result = read_input(timezones, "timezones")
    for result in (*status_results, hours_result, tz_result):
        _print_read(result)
    polls = pd.concat([r.valid for r in status_results], ignore_index=True)
    return polls, hours_result.valid, tz_result.valid


def _report_inputs(args: argparse.Namespace) -> tuple[Sequence[Path], Path, Path]:
    """The input files of ``report`` and ``outages``: --data DIR or all of --status/--hours/--timezones."""
    if args.data:
        inputs = find_inputs(args.data)
        print_skipped(inputs.skipped)
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
                f"storeuptime {args.command}: give --data DIR, or all of --status, --hours, --timezones (missing {', '.join(missing)})"
            )
        status, hours, timezones = [Path(p) for p in args.status], Path(args.hours), Path(args.timezones)
    return status, hours, timezones


def cmd_report(args: argparse.Namespace) -> int:
    """``report`` (the report CSV, ``--extended`` with outage columns) and ``outages`` (the list)."""
    from storeuptime_pipeline.core.report import newest_poll, report_at
    from storeuptime_pipeline.fileio.report_csv import format_report_csv

    started = time.perf_counter()
    given_as_of = as_of_flag(args.as_of)
    status, hours, timezones = _report_inputs(args)
    print("Reading inputs")
    polls, hours_frame, tz_frame = _read_all(status, hours, timezones)
    if len(polls) == 0:
        raise SystemExit(f"storeuptime {args.command}: no readable polls in the status file(s)")
    as_of = given_as_of if given_as_of is not None else newest_poll(polls)
    out = Path(args.out)
    if args.command == "outages":
        from storeuptime_pipeline.core.outages import report_with_outages_at
        from storeuptime_pipeline.fileio.report_csv import format_outages_csv

        outages = report_with_outages_at(polls, hours_frame, tz_frame, as_of).outages
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(format_outages_csv(outages))
        elapsed = time.perf_counter() - started
        stores = outages["store_id"].nunique()
        print(
            f"Outages as of {as_of.isoformat()}: {len(outages):,} in {stores:,} stores -> {out} ({elapsed:.1f} s)"
        )
        return 0
    if args.extended:
        from storeuptime_pipeline.core.outages import report_with_outages_at
        from storeuptime_pipeline.fileio.report_csv import format_extended_csv

        report = report_with_outages_at(polls, hours_frame, tz_frame, as_of, with_list=False).report
        text = format_extended_csv(report)
    else:
        report = report_at(polls, hours_frame, tz_frame, as_of)
        text = format_report_csv(report)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    elapsed = time.perf_counter() - started
    print(f"Report as of {as_of.isoformat()}: {len(report):,} stores -> {out} ({elapsed:.1f} s)")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.generator.data import generate_dataset

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
