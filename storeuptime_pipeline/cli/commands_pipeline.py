"""``storeuptime ingest``, ``run``, ``demo`` and ``backfill``: the pipeline through Dagster's named jobs.

Each prepares the environment and migrates the schema once at its start
(``services.instance.prepare_and_migrate``), then runs the jobs in this process
(``cli.local_runs``) or, for ``backfill`` without ``--in-process``, through the webserver. This
module only prints: the figures come from the services and the runs' metadata.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from storeuptime_pipeline.cli.console import as_of_flag, print_skipped, redacted
from storeuptime_pipeline.fileio.landing import scan_folder

if TYPE_CHECKING:  # the CLI imports every command module at start: keep SQLAlchemy out until used
    from sqlalchemy import Engine


def _ingest_folder(folder: Path, *, accept_rejects: bool = False, force: bool = False) -> int:
    """Ingest every file of the folder through Dagster, one line per file; returns how many files.

    A failed file is one line on stderr with its cause; the others are still ingested, and the
    command then exits with status 1.
    """
    from storeuptime_pipeline.cli.local_runs import ingest_folder, landed_files

    print_skipped(scan_folder(folder).skipped)
    total = len(landed_files(folder))
    failed = 0
    steps = ingest_folder(folder, accept_rejects=accept_rejects, force=force)
    for done, step in enumerate(steps, start=1):
        name = step.file.path.name
        if step.error is not None:
            failed += 1
            error = step.error if step.error.startswith(f"{name} ") else f"{name}: {step.error}"
            print(f"[{done}/{total}] FAILED {error}", file=sys.stderr)
            continue
        meta = step.metadata
        if meta.get("skipped_already_loaded"):
            detail = "same content already loaded, skipped (--force loads it again)"
        else:
            detail = (
                f"{meta.get('rows_read', 0):,} rows read, {meta.get('rows_loaded', 0):,} loaded, "
                f"{meta.get('rows_rejected', 0):,} rejected, {meta.get('rows_changed', 0):,} changed"
            )
        print(f"[{done}/{total}] {name}: {detail} ({step.seconds:.1f} s, {_run_ref(step.run_id)})")
    if failed:
        raise SystemExit(1)
    return total


def cmd_ingest(args: argparse.Namespace) -> int:
    from storeuptime_pipeline import settings
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    prepare_and_migrate()
    folder = Path(args.data) if args.data else settings.data_dir()
    count = _ingest_folder(folder, accept_rejects=args.accept_rejects, force=args.force)
    print(f"Ingested {count} file(s) from {folder}")
    return 0


@functools.cache
def _ui_url() -> str | None:
    """The webserver's URL when one answers (checked once per command), for links to runs."""
    from storeuptime_pipeline.cli.local_runs import webserver_url

    return webserver_url()


def _run_ref(run_id: str) -> str:
    """``run <full id>``, plus its page in the Dagster UI when a webserver is up."""
    url = _ui_url()
    return f"run {run_id}" + (f" {url}/runs/{run_id}" if url else "")


def _on_demand(engine: Engine, as_of: str | None) -> tuple[pd.Timestamp, Path, str]:
    from storeuptime_pipeline.cli.local_runs import RunFailed, report_now

    try:
        return report_now(engine, as_of)
    except RunFailed as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(1) from None


def _print_summary(engine: Engine, csv_path: Path, as_of: pd.Timestamp) -> None:
    """Totals per window and the five stores with the most downtime, from the report as written.

    The figures are ``services.reporting``'s (``summary``, ``worst_stores``), on the CSV's rows.
    """
    from storeuptime_pipeline.db import queries
    from storeuptime_pipeline.services.reporting import summary, worst_stores

    report = pd.read_csv(csv_path, dtype={"store_id": str}).assign(as_of=as_of)
    with engine.connect() as conn:
        known, silent = queries.stores_without_polls(conn, as_of)
    totals = summary(report)
    why = (
        f" of {known:,} known; {silent:,} have no poll at or before {as_of.isoformat()}, so no row"
        if silent
        else ""
    )
    print(f"  stores: {totals['stores']:,}{why}")
    for window, unit in (("hour", "min"), ("day", "h"), ("week", "h")):
        up, down = totals[f"total_uptime_last_{window}"], totals[f"total_downtime_last_{window}"]
        share = up / (up + down) if up + down else 1.0
        print(f"  last {window:<4}: uptime {up:,.0f} {unit}, downtime {down:,.0f} {unit} ({share:.1%} up)")
    print("  most downtime in the last week:")
    for row in worst_stores(report, n=5).itertuples(index=False):
        print(f"    {row.store_id}: {row.downtime_last_week:.2f} h down, {row.uptime_last_week:.2f} h up")


def cmd_run(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.db.session import get_engine
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    as_of_flag(args.as_of)
    url = prepare_and_migrate()
    engine = get_engine(url)
    print(f"Database: {redacted(url)}")
    _ingest_folder(Path(args.data), accept_rejects=args.accept_rejects, force=args.force)
    as_of, csv_path, run_id = _on_demand(engine, args.as_of)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.extended:  # the stored rows with their outage summary, as `report --extended` writes them
        from storeuptime_pipeline.services.reporting_outages import extended_csv

        out.write_text(extended_csv(engine, as_of))
    elif out.resolve() != csv_path.resolve():
        out.write_bytes(csv_path.read_bytes())
    print(f"Report as of {as_of.isoformat()} ({_run_ref(run_id)}) -> {out}")
    _print_summary(engine, out, as_of)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """``make run``: database, demo data if the landing folder is empty, the whole pipeline, a summary."""
    from storeuptime_pipeline import settings
    from storeuptime_pipeline.db.session import get_engine
    from storeuptime_pipeline.generator.data import generate_dataset
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    url = prepare_and_migrate()
    folder = settings.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not scan_folder(folder).files:
        ds = generate_dataset(folder, stores=args.stores, days=8, seed=7)
        print(
            f"Landing folder was empty: generated a demo data set ({ds.stores:,} stores, {ds.polls:,} polls)"
        )
    print(f"Database: {redacted(url)}")
    print(f"Landing folder: {folder}")
    _ingest_folder(folder)
    engine = get_engine(url)
    as_of, csv_path, run_id = _on_demand(engine, None)
    print(f"\nReport as of {as_of.isoformat()} (Dagster {_run_ref(run_id)})")
    _print_summary(engine, csv_path, as_of)
    print(f"\nThe report CSV: {csv_path}")
    print(
        f"Every hourly report goes to {settings.reports_dir()} and Postgres (view published_uptime_report)."
    )
    print(f"See the runs in the Dagster UI: make dev, then open {settings.dagster_url()}/runs")
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.in_process:
        return _backfill_in_process(args.start, args.end)
    from storeuptime_pipeline import settings
    from storeuptime_pipeline.cli.backfill import BackfillError, launch_report_backfill

    url = args.dagster_url or settings.dagster_url()
    try:
        backfill_id = launch_report_backfill(url, args.start, args.end)
    except BackfillError as exc:
        print(f"storeuptime backfill: {exc}", file=sys.stderr)
        return 1
    print(
        f"backfill {backfill_id} launched: uptime_report {args.start} .. {args.end} in one run ({url}/overview/backfills)"
    )
    return 0


def _backfill_in_process(start: str, end: str) -> int:
    """One ``uptime_report_job`` run over the range, here: no webserver or daemon needed."""
    from storeuptime_pipeline.cli.local_runs import RunFailed, backfill_in_process
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    prepare_and_migrate()
    print(f"Backfilling uptime_report {start} .. {end} in one run, in this process")
    try:
        done = backfill_in_process(start, end)
    except RunFailed as exc:
        print(f"storeuptime backfill: {exc}", file=sys.stderr)
        return 1
    print(f"{done.partitions:,} partition(s) materialized in {done.seconds:.1f} s ({_run_ref(done.run_id)})")
    return 0
