"""The ``storeuptime`` command: a thin shell over the engine, the database and the Dagster jobs.

Commands that need Dagster or the database import them lazily, so ``storeuptime report`` and
``storeuptime generate`` start fast and work without a database.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd

from storeuptime_pipeline.api.server import add_parser as add_api_parser
from storeuptime_pipeline.cli.worker import add_parser as add_worker_parser
from storeuptime_pipeline.cli.worker import start_dev_workers
from storeuptime_pipeline.core.limits import InstantError, parse_as_of
from storeuptime_pipeline.core.reading import InputFileError, ReadResult, read_input
from storeuptime_pipeline.db.errors import EmbeddedServerError
from storeuptime_pipeline.fileio.landing import SkippedEntry, find_inputs, scan_folder

_NOTE_TEXT = {
    "invalid_timezones": "invalid timezone name (America/Chicago used)",
    "empty_timezones": "empty timezone (America/Chicago used)",
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


def _print_skipped(skipped: Sequence[SkippedEntry]) -> None:
    """One line per entry of the folder that is not read, with the reason."""
    for entry in skipped:
        print(f"  {entry}")


def _read_all(status: Sequence[Path], hours: Path, timezones: Path) -> tuple[pd.DataFrame, ...]:
    status_results = [read_input(p, "status") for p in status]
    hours_result = read_input(hours, "hours")
    tz_result = read_input(timezones, "timezones")
    for result in (*status_results, hours_result, tz_result):
        _print_read(result)
    polls = pd.concat([r.valid for r in status_results], ignore_index=True)
    return polls, hours_result.valid, tz_result.valid


def _as_of_arg(value: str | None) -> pd.Timestamp | None:
    """``--as-of``, checked before any work: a typo costs one line, not a run and a trace."""
    if not value:
        return None
    try:
        return parse_as_of(value)
    except InstantError as exc:
        raise InstantError(f"--as-of: {exc}") from None


def _report_inputs(args: argparse.Namespace) -> tuple[Sequence[Path], Path, Path]:
    """The input files of ``report`` and ``outages``: --data DIR or all of --status/--hours/--timezones."""
    if args.data:
        inputs = find_inputs(args.data)
        _print_skipped(inputs.skipped)
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
    from storeuptime_pipeline.core.report import compute_report, format_csv, latest_poll

    started = time.perf_counter()
    given_as_of = _as_of_arg(args.as_of)
    status, hours, timezones = _report_inputs(args)
    print("Reading inputs")
    polls, hours_frame, tz_frame = _read_all(status, hours, timezones)
    if len(polls) == 0:
        raise SystemExit(f"storeuptime {args.command}: no readable polls in the status file(s)")
    as_of = given_as_of if given_as_of is not None else latest_poll(polls)
    out = Path(args.out)
    if args.command == "outages":
        from storeuptime_pipeline.core.outages import compute_report_with_outages, format_outages_csv

        outages = compute_report_with_outages(polls, hours_frame, tz_frame, as_of).outages
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(format_outages_csv(outages))
        elapsed = time.perf_counter() - started
        stores = outages["store_id"].nunique()
        print(
            f"Outages as of {as_of.isoformat()}: {len(outages):,} in {stores:,} stores -> {out} ({elapsed:.1f} s)"
        )
        return 0
    if args.extended:
        from storeuptime_pipeline.core.outages import compute_report_with_outages, format_extended_csv

        report = compute_report_with_outages(polls, hours_frame, tz_frame, as_of, with_list=False).report
        text = format_extended_csv(report)
    else:
        report = compute_report(polls, hours_frame, tz_frame, as_of)
        text = format_csv(report)
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


def cmd_db(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.db import embedded, migrate
    from storeuptime_pipeline.db.config import database_url

    if args.action == "init":
        return _db_init()
    if args.action == "stop":
        stopped = embedded.stop()
        print("embedded Postgres stopped" if stopped else "embedded Postgres was not running")
    elif args.action == "status":
        st = embedded.status()
        print(f"embedded Postgres in {st.pgdata}: {'running' if st.running else 'stopped'}")
    else:
        url = database_url()
        if args.action == "upgrade":
            migrate.upgrade(url)
            print(f"schema at revision {migrate.current_revision(url)}")
        else:
            print(url if args.show_password else _redacted(url))
    return 0


def _db_init() -> int:
    """Create the embedded data folder if missing (also where one existed before), then migrate."""
    import os

    from storeuptime_pipeline.db import embedded, migrate
    from storeuptime_pipeline.db.config import DATABASE_URL_ENV, normalize_url

    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    url = normalize_url(configured) if configured else embedded.ensure_running(create=True)
    migrate.upgrade(url)
    where = _redacted(url) if configured else f"embedded Postgres in {embedded.pgdata_dir()}"
    print(f"{where}: schema at revision {migrate.current_revision(url)}")
    return 0


def _ingest_folder(folder: Path, *, accept_rejects: bool = False, force: bool = False) -> int:
    """Ingest every file of the folder through Dagster, one line per file; returns how many files.

    A failed file is one line on stderr with its cause; the others are still ingested, and the
    command then exits with status 1.
    """
    from storeuptime_pipeline.cli.local_runs import ingest_folder, landed_files

    _print_skipped(scan_folder(folder).skipped)
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
    from storeuptime_pipeline.services.instance import prepare_environment

    prepare_environment()
    folder = Path(args.data) if args.data else _settings().data_dir()
    count = _ingest_folder(folder, accept_rejects=args.accept_rejects, force=args.force)
    print(f"Ingested {count} file(s) from {folder}")
    return 0


def _settings():
    from storeuptime_pipeline import settings

    return settings


@functools.cache
def _ui_url() -> str | None:
    """The webserver's URL when one answers (checked once per command), for links to runs."""
    from storeuptime_pipeline.cli.local_runs import webserver_url

    return webserver_url()


def _run_ref(run_id: str) -> str:
    """``run <full id>``, plus its page in the Dagster UI when a webserver is up."""
    url = _ui_url()
    return f"run {run_id}" + (f" {url}/runs/{run_id}" if url else "")


def _on_demand(as_of: str | None) -> tuple[pd.Timestamp, Path, str]:
    from storeuptime_pipeline.cli.local_runs import RunFailed, report_now

    try:
        return report_now(as_of)
    except RunFailed as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(1) from None


def _print_summary(csv_path: Path, as_of: pd.Timestamp) -> None:
    from storeuptime_pipeline.cli.local_runs import stores_without_polls

    report = pd.read_csv(csv_path, dtype={"store_id": str})
    known, silent = stores_without_polls(as_of)
    why = (
        f" of {known:,} known; {silent:,} have no poll at or before {as_of.isoformat()}, so no row"
        if silent
        else ""
    )
    print(f"  stores: {len(report):,}{why}")
    for window, unit in (("hour", "min"), ("day", "h"), ("week", "h")):
        up, down = report[f"uptime_last_{window}"].sum(), report[f"downtime_last_{window}"].sum()
        share = up / (up + down) if up + down else 1.0
        print(f"  last {window:<4}: uptime {up:,.0f} {unit}, downtime {down:,.0f} {unit} ({share:.1%} up)")
    worst = report.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(5)
    print("  most downtime in the last week:")
    for row in worst.itertuples(index=False):
        print(f"    {row.store_id}: {row.downtime_last_week:.2f} h down, {row.uptime_last_week:.2f} h up")


def cmd_run(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.services.instance import prepare_environment

    _as_of_arg(args.as_of)
    url = prepare_environment()
    print(f"Database: {_redacted(url)}")
    _ingest_folder(Path(args.data), accept_rejects=args.accept_rejects, force=args.force)
    as_of, csv_path, run_id = _on_demand(args.as_of)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.extended:  # the stored rows with their outage summary, as `report --extended` writes them
        from storeuptime_pipeline.db.session import get_engine
        from storeuptime_pipeline.services.reporting_outages import extended_csv

        out.write_text(extended_csv(get_engine(url), as_of))
    elif out.resolve() != csv_path.resolve():
        out.write_bytes(csv_path.read_bytes())
    print(f"Report as of {as_of.isoformat()} ({_run_ref(run_id)}) -> {out}")
    _print_summary(out, as_of)
    return 0


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_demo(args: argparse.Namespace) -> int:
    """``make run``: database, demo data if the landing folder is empty, the whole pipeline, a summary."""
    from storeuptime_pipeline.generator.data import generate_dataset
    from storeuptime_pipeline.services.instance import prepare_environment

    settings = _settings()
    url = prepare_environment()
    folder = settings.data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not scan_folder(folder).files:
        ds = generate_dataset(folder, stores=args.stores, days=8, seed=7)
        print(
            f"Landing folder was empty: generated a demo data set ({ds.stores:,} stores, {ds.polls:,} polls)"
        )
    print(f"Database: {_redacted(url)}")
    print(f"Landing folder: {folder}")
    _ingest_folder(folder)
    as_of, csv_path, run_id = _on_demand(None)
    print(f"\nReport as of {as_of.isoformat()} (Dagster {_run_ref(run_id)})")
    _print_summary(csv_path, as_of)
    print(f"\nThe report CSV: {csv_path}")
    print(f"Every hourly report goes to {settings.reports_dir()} and the uptime_report table.")
    print(f"See the runs in the Dagster UI: make dev, then open {settings.dagster_url()}/runs")
    return 0


#: `dagster dev` warns that it is superseded by `dg dev` (package dagster-dg-cli, not installed: it
#: brings ~27 more packages), which runs the very same `dev_command_impl`; nothing to act on, so hidden.
_DEV_WARNING_FILTER = "ignore:Function `dev_command` is superseded"


def dev_ports(ui_port: int | None, api_port: int | None) -> tuple[int, int, str]:
    """The UI port, the API port and the webserver URL the API launches through, consistent.

    Flags win over STOREUPTIME_UI_PORT / STOREUPTIME_API_PORT; the URL follows the UI port unless
    STOREUPTIME_DAGSTER_URL is set, and a local URL on another port than the UI's is refused (the
    API would launch every run into nowhere and answer 503).
    """
    settings = _settings()
    ui = ui_port or settings.ui_port()
    api = api_port or settings.api_bind()[1]
    configured = os.environ.get(settings.DAGSTER_GRAPHQL_URL_ENV)
    url = (configured or f"http://127.0.0.1:{ui}").rstrip("/")
    if configured and settings.is_local_url(url) and urlsplit(url).port != ui:
        raise SystemExit(
            f"storeuptime dev: {settings.DAGSTER_GRAPHQL_URL_ENV}={configured} but the UI listens on port {ui}; "
            f"set only {settings.UI_PORT_ENV} (the URL follows it) or make the two agree"
        )
    return ui, api, url


def cmd_dev(args: argparse.Namespace) -> int:
    """``make dev``: the Dagster UI and daemon (dagster dev) and the report API, until Ctrl-C or SIGTERM."""
    import signal
    import subprocess

    from storeuptime_pipeline.db.embedded import HOME_ENV, project_root
    from storeuptime_pipeline.services.instance import prepare_environment

    settings = _settings()
    ui_port, api_port, dagster_url = dev_ports(args.port, args.api_port)
    prepare_environment()
    settings.data_dir().mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(project_root())  # dagster dev runs in DAGSTER_HOME, not here
    os.environ[settings.DAGSTER_GRAPHQL_URL_ENV] = dagster_url
    bin_dir = Path(sys.executable).parent
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "storeuptime_pipeline.definitions"]
    workers = start_dev_workers(args.workers)  # with --workers: STOREUPTIME_EXECUTOR=celery from here on
    dev_env = dict(os.environ)
    dev_env["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), _DEV_WARNING_FILTER])
    )
    # Started in DAGSTER_HOME: run from a folder holding another dagster.yaml (the project's), dagster
    # dev warns that that file is ignored; DAGSTER_HOME holds the copy actually used.
    dagster_dev = [str(bin_dir / "dagster"), "dev", *target, "-h", "127.0.0.1", "-p", str(ui_port)]
    api = [str(bin_dir / "storeuptime"), "api", "--host", "127.0.0.1", "--port", str(api_port)]
    procs = [
        subprocess.Popen(dagster_dev, start_new_session=True, env=dev_env, cwd=os.environ["DAGSTER_HOME"]),
        subprocess.Popen(api, start_new_session=True),
    ]
    procs += workers

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a SIGTERM (service manager, kill) cleans up like Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    print(f"Dagster UI: http://127.0.0.1:{ui_port}   API: http://127.0.0.1:{api_port}/docs")
    print(f"Drop CSV files into {settings.data_dir()}; Ctrl-C stops everything.")
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.in_process:
        return _backfill_in_process(args.start, args.end)
    from storeuptime_pipeline.cli.backfill import BackfillError, launch_report_backfill

    url = args.dagster_url or _settings().dagster_url()
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
    from storeuptime_pipeline.services.instance import prepare_environment

    prepare_environment()
    print(f"Backfilling uptime_report {start} .. {end} in one run, in this process")
    try:
        done = backfill_in_process(start, end)
    except RunFailed as exc:
        print(f"storeuptime backfill: {exc}", file=sys.stderr)
        return 1
    print(f"{done.partitions:,} partition(s) materialized in {done.seconds:.1f} s ({_run_ref(done.run_id)})")
    return 0


def _verbose_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print Dagster's run log (with traces) on the console"
    )


def _add_ingest_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accept-rejects",
        action="store_true",
        help="load files with more than 1%% of their rows rejected anyway (default: quarantine them)",
    )
    parser.add_argument(
        "--force", action="store_true", help="load status files again even if their content was loaded"
    )
    _verbose_flag(parser)


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
    report.add_argument(
        "--extended",
        action="store_true",
        help="append outages_last_hour,outages_last_day,outages_last_week,longest_outage_last_week",
    )
    report.set_defaults(func=cmd_report)

    outages = sub.add_parser("outages", help="list every outage of the last week straight from the CSV files")
    outages.add_argument("--data", help="folder holding the three input files under their usual names")
    outages.add_argument("--status", nargs="+", help="status file(s); several are read as one")
    outages.add_argument("--hours", help="business hours file")
    outages.add_argument("--timezones", help="timezones file")
    outages.add_argument("--out", required=True, help="where to write the outage list CSV")
    outages.add_argument(
        "--as-of", help="report instant (UTC unless an offset is given); default: latest poll"
    )
    outages.set_defaults(func=cmd_report)

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

    db = sub.add_parser(
        "db",
        help="the database: init (create the embedded one), upgrade the schema, print its URL, stop",
    )
    db.add_argument("action", choices=["init", "upgrade", "url", "status", "stop"])
    db.add_argument("--show-password", action="store_true", help="`db url`: print the password unmasked")
    db.set_defaults(func=cmd_db)

    ingest = sub.add_parser("ingest", help="load the CSV files of a folder into Postgres through Dagster")
    ingest.add_argument("--data", help="folder of CSV files (default: the landing folder)")
    _add_ingest_flags(ingest)
    ingest.set_defaults(func=cmd_ingest)

    run = sub.add_parser("run", help="the whole pipeline through Dagster: ingest a folder, then the report")
    run.add_argument("--data", required=True, help="folder of CSV files")
    run.add_argument("--out", required=True, help="where to write the report CSV")
    run.add_argument("--as-of", help="report instant (UTC unless an offset is given); default: latest poll")
    _add_ingest_flags(run)
    run.add_argument("--extended", action="store_true", help="append the four outage columns (as `report`)")
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="what `make run` does: demo data if needed, pipeline, summary")
    demo.add_argument("--stores", type=int, default=2000, help="stores in the generated demo data set")
    _verbose_flag(demo)
    demo.set_defaults(func=cmd_demo)

    backfill = sub.add_parser(
        "backfill",
        help="backfill hourly report partitions in one run (through the webserver, or --in-process)",
    )
    backfill.add_argument(
        "--from", dest="start", required=True, help="first partition, e.g. 2023-01-18-00:00"
    )
    backfill.add_argument("--to", dest="end", required=True, help="last partition, e.g. 2023-01-25-17:00")
    backfill.add_argument(
        "--dagster-url", help="webserver (default STOREUPTIME_DAGSTER_URL or 127.0.0.1:3000)"
    )
    backfill.add_argument(
        "--in-process",
        action="store_true",
        help="run the range here as one run of uptime_report_job (no webserver or daemon needed)",
    )
    _verbose_flag(backfill)
    backfill.set_defaults(func=cmd_backfill)

    dev = sub.add_parser("dev", help="the Dagster UI + daemon and the report API (what `make dev` runs)")
    dev.add_argument("--port", type=int, help="Dagster UI port (default $STOREUPTIME_UI_PORT or 3000)")
    dev.add_argument("--api-port", type=int, help="report API port (default $STOREUPTIME_API_PORT or 8000)")
    dev.add_argument(
        "--workers",
        type=int,
        default=0,
        help="also start N Celery workers (sets STOREUPTIME_EXECUTOR=celery)",
    )
    dev.set_defaults(func=cmd_dev)

    add_api_parser(sub)
    add_worker_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "verbose", False):
        from storeuptime_pipeline.cli.local_runs import show_run_logs

        show_run_logs(True)
    try:
        return int(args.func(args) or 0)
    except (InputFileError, InstantError) as exc:
        print(f"storeuptime {args.command}: {exc}", file=sys.stderr)
        return 2
    except EmbeddedServerError as exc:
        print(f"storeuptime {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
