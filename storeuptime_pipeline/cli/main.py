"""The ``storeuptime`` command: a thin shell over the engine, the database and the Dagster jobs.

This module is the parser and the dispatch; each command lives in a ``commands_*`` module by area
(files, db, pipeline, serve). Commands that need Dagster or the database import them lazily, so
``storeuptime report`` and ``storeuptime generate`` start fast and work without a database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from storeuptime_pipeline.cli.commands_db import cmd_db
from storeuptime_pipeline.cli.commands_files import add_shards_flag, cmd_generate, cmd_report
from storeuptime_pipeline.cli.commands_pipeline import cmd_backfill, cmd_demo, cmd_ingest, cmd_run
from storeuptime_pipeline.cli.commands_serve import cmd_api, cmd_dev
from storeuptime_pipeline.cli.worker import add_parser as add_worker_parser
from storeuptime_pipeline.core.inputs import InputFileError
from storeuptime_pipeline.core.limits import InstantError
from storeuptime_pipeline.db.errors import EmbeddedServerError, ReadBlocked, SchemaNotReady


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
    add_shards_flag(report)
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
    add_shards_flag(outages)
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

    api = sub.add_parser("api", help="serve the report API (trigger_report, get_report, healthz)")
    api.add_argument("--host", help="bind address (default $STOREUPTIME_API_HOST or 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default $STOREUPTIME_API_PORT or 8000)")
    api.add_argument(
        "--dagster-url",
        help="Dagster webserver that launches the runs (default $STOREUPTIME_DAGSTER_URL or http://127.0.0.1:3000)",
    )
    api.set_defaults(func=cmd_api)
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
    except (EmbeddedServerError, ReadBlocked, SchemaNotReady) as exc:
        print(f"storeuptime {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
