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
import pyarrow as pa

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
    line = f"  {name}: {result.rows_read:,} rows read, {result.used:,} used, {left_out:,} left out"
    print(line)
    for reason, count in result.reject_summary().items():
        print(f"      {count:,} x {reason}")
    for note, count in result.notes.items():
        if count:
            print(f"      {count:,} x {_NOTE_TEXT.get(note, note)}")


def add_shards_flag(parser: argparse.ArgumentParser) -> None:
    """``--shards N`` of ``report`` and ``outages``."""
    parser.add_argument(
        "--shards",
        type=int,
        help="compute in N shards of stores (same output, memory bounded by a shard); "
        "default: 1 per 256 MiB of status files",
    )


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
    """``report`` (the report CSV, ``--extended`` with outage columns) and ``outages`` (the list).

    The status files are read in chunks into lean polls (``fileio.status_chunks``) and, with more
    than one shard, spilled per shard to a temporary folder (``fileio.shard_spill``); then each
    shard is computed alone and the rows are put together in the unsharded order
    (``core.sharded``): the files written are the same for every shard count.
    """
    from storeuptime_pipeline.core.report import Timeline
    from storeuptime_pipeline.core.sharded import (
        Output,
        combine_shards,
        default_shards,
        shard_output,
        split_frame_by_shard,
    )
    from storeuptime_pipeline.fileio.memory import release_freed_memory
    from storeuptime_pipeline.fileio.shard_spill import InMemoryPolls, ShardSpill
    from storeuptime_pipeline.fileio.status_chunks import StoreCodes, read_status_lean

    started = time.perf_counter()
    given_as_of = as_of_flag(args.as_of)
    status, hours, timezones = _report_inputs(args)
    shards = getattr(args, "shards", None)
    if shards is None:
        shards = default_shards(sum(p.stat().st_size for p in status if p.is_file()))
    if shards < 1:
        raise SystemExit(f"storeuptime {args.command}: --shards must be at least 1, not {shards}")
    output: Output = "outages" if args.command == "outages" else "extended" if args.extended else "report"
    # Arrow's buffers from malloc, so that release_freed_memory returns them between chunks too
    # (mimalloc keeps freed pages for reuse: ~40-80 MB more resident on the seed-sized file).
    pa.set_memory_pool(pa.system_memory_pool())
    print("Reading inputs")
    codes = StoreCodes(shards)
    with ShardSpill(shards) if shards > 1 else InMemoryPolls() as polls:
        status_results = [
            read_status_lean(p, codes, lambda chunk: polls.add(chunk, codes.shard)) for p in status
        ]
        hours_result = read_input(hours, "hours")
        tz_result = read_input(timezones, "timezones")
        for result in (*status_results, hours_result, tz_result):
            _print_read(result)
        if polls.count == 0:
            raise SystemExit(f"storeuptime {args.command}: no readable polls in the status file(s)")
        release_freed_memory()
        as_of = given_as_of
        if as_of is None:
            as_of = pd.Timestamp(polls.newest_us, unit="us", tz="UTC")
        hours_parts = split_frame_by_shard(hours_result.valid, shards)
        tz_parts = split_frame_by_shard(tz_result.valid, shards)
        frames = []
        for s in range(shards):
            part = polls.shard(s)
            if len(part) == 0:
                continue
            timeline = Timeline.from_codes(part.codes, codes.categories, part.micros, part.active)
            del part
            release_freed_memory()
            frames.append(shard_output(timeline, hours_parts[s], tz_parts[s], as_of, output))
            del timeline
            release_freed_memory()
    result = combine_shards(frames, output)
    out = Path(args.out)
    if output == "outages":
        from storeuptime_pipeline.fileio.report_csv import format_outages_csv

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(format_outages_csv(result))
        elapsed = time.perf_counter() - started
        stores = result["store_id"].nunique()
        print(
            f"Outages as of {as_of.isoformat()}: {len(result):,} in {stores:,} stores -> {out} ({elapsed:.1f} s)"
        )
        return 0
    if output == "extended":
        from storeuptime_pipeline.fileio.report_csv import format_extended_csv

        text = format_extended_csv(result)
    else:
        from storeuptime_pipeline.fileio.report_csv import format_report_csv

        text = format_report_csv(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    elapsed = time.perf_counter() - started
    print(f"Report as of {as_of.isoformat()}: {len(result):,} stores -> {out} ({elapsed:.1f} s)")
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
