"""``storeuptime api``: serve the report API with uvicorn (and :func:`serving` for tests).

The environment (database, DAGSTER_HOME) is prepared here, before uvicorn imports the app, so the
API reads the same Dagster instance as the webserver and the daemon started by ``storeuptime dev``
or docker-compose.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``storeuptime api`` on the CLI's subparsers (imports nothing heavy: the CLI stays fast)."""
    parser = sub.add_parser("api", help="serve the report API (trigger_report, get_report, healthz)")
    parser.add_argument("--host", help="bind address (default $STOREUPTIME_API_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default $STOREUPTIME_API_PORT or 8000)")
    parser.add_argument(
        "--dagster-url",
        help="Dagster webserver that launches the runs (default $STOREUPTIME_DAGSTER_URL or http://127.0.0.1:3000)",
    )
    parser.set_defaults(func=cmd_api)
    return parser


def cmd_api(args: argparse.Namespace) -> int:
    import uvicorn

    from storeuptime_pipeline import settings
    from storeuptime_pipeline.api.app import create_app
    from storeuptime_pipeline.api.http_limits import uvicorn_options
    from storeuptime_pipeline.services.instance import prepare_environment

    default_host, default_port = settings.api_bind()
    host, port = args.host or default_host, args.port or default_port
    url = prepare_environment()
    app = create_app(database_url=url, dagster_url=args.dagster_url or settings.dagster_url())
    print(f"Report API on http://{host}:{port} (docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options())
    return 0


@contextmanager
def serving(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout_seconds: float = 30,
    header_timeout: float | None = None,
    max_connections: int | None = None,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yields its base URL; stops it at exit.

    For tests and the load benchmark: a real HTTP server (real sockets, real concurrency) in the
    same process, so the app's collaborators (a test database, a recording launcher) stay in reach.
    ``port=0`` lets the OS pick a free port. The connection limits are the production ones
    (``http_limits``, from the settings unless given).
    """
    import uvicorn

    from storeuptime_pipeline.api.http_limits import uvicorn_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port = sock.getsockname()[1]
    options = {**uvicorn_options(header_timeout, max_connections), "timeout_keep_alive": 30}
    config = uvicorn.Config(app, log_level="warning", access_log=False, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout_seconds)
        sock.close()
