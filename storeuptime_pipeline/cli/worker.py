"""``storeuptime worker``: a Celery worker that executes the steps of runs (STOREUPTIME_EXECUTOR=celery).

It prepares the environment as every other command does (``services.instance.prepare_environment``:
the same Postgres and DAGSTER_HOME), so the steps it runs read and write the project's database and
record their events in the same Dagster instance; then it consumes the ``dagster`` queue of the
broker the runs submit to (defs/executor.py). SIGTERM and SIGINT are Celery's warm shutdown: the
worker takes no new step, finishes the one it runs, and exits 0; a second SIGINT stops it at once.

Also here: the few lines ``storeuptime dev --workers N`` needs, so the dev command only calls them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

#: Celery fills in %h (the host name): names stay unique across machines and containers.
DEFAULT_NAME = "storeuptime-{pid}@%h"
#: Broker connection attempts before the command gives up with a one-line reason.
_CONNECT_RETRIES = 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser(
        "worker",
        help="a Celery worker running the steps of runs (with STOREUPTIME_EXECUTOR=celery)",
    )
    worker.add_argument(
        "--name",
        help="worker name, unique per host (default storeuptime-<pid>); @<host> is appended unless given",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="steps at once (processes; default 1: a report step may use much memory, add workers instead)",
    )
    worker.add_argument(
        "--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="Celery log level"
    )
    worker.set_defaults(func=cmd_worker)


def node_name(name: str | None) -> str:
    """The Celery node name: ``NAME@%h`` (Celery expands %h), or the default with this process's pid."""
    if not name:
        return DEFAULT_NAME.format(pid=os.getpid())
    return name if "@" in name else f"{name}@%h"


def cmd_worker(args: argparse.Namespace) -> int:
    from storeuptime_pipeline.defs.executor import CELERY_QUEUE, celery_app, redacted
    from storeuptime_pipeline.services.instance import prepare_environment

    if args.concurrency < 1:
        raise SystemExit("storeuptime worker: --concurrency must be at least 1")
    prepare_environment()
    app = celery_app()
    broker = redacted(app.conf.broker_url)
    try:  # a worker that cannot reach Redis would retry forever, logging errors: say why and stop
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=_CONNECT_RETRIES, interval_start=0.5, interval_step=0.5)
    except Exception as exc:  # kombu raises OperationalError, or the transport's own error
        print(
            f"storeuptime worker: the Celery broker {broker} does not answer ({exc}); start Redis "
            "or set STOREUPTIME_CELERY_BROKER",
            file=sys.stderr,
        )
        return 1
    argv = [
        "worker",
        f"--hostname={node_name(args.name)}",
        f"--concurrency={args.concurrency}",
        f"--queues={CELERY_QUEUE}",
        "--prefetch-multiplier=1",
        f"--loglevel={args.loglevel}",
        # No start-up exchange with the other workers (mingle) nor their heartbeats (gossip): steps do
        # not need them, and mingle adds about a second to every start.
        "--without-mingle",
        "--without-gossip",
    ]
    app.worker_main(argv)
    return 0


def dev_worker_commands(count: int) -> list[list[str]]:
    """``storeuptime dev --workers N``: turn the Celery executor on for the processes dev starts after
    this (the code server, its run workers, the API) and return the commands of N workers named
    dev-1, dev-2, ... for dev's supervisor, which starts and stops them with the rest.
    """
    if count <= 0:
        return []
    from storeuptime_pipeline import settings

    os.environ[settings.EXECUTOR_ENV] = "celery"
    command = [str(Path(sys.executable).parent / "storeuptime"), "worker", "--loglevel", "WARNING"]
    print(f"Celery executor: {count} worker(s) on {settings.celery_broker()}")
    return [[*command, "--name", f"dev-{i}"] for i in range(1, count + 1)]
