"""Starting the report API: :func:`serve` (``storeuptime api``) and :func:`serving` (tests, benchmarks).

The environment (database, DAGSTER_HOME) is prepared and the schema migrated here, before uvicorn
imports the app, so the API reads the same Dagster instance as the webserver and the daemon
started by ``storeuptime dev`` or docker-compose. The command-line flags are the CLI's
(``cli/main.py``); this module only starts the server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def serve(host: str | None = None, port: int | None = None, dagster_url: str | None = None) -> None:
    """Serve the API until stopped; None = the setting (STOREUPTIME_API_HOST/_PORT, _DAGSTER_URL)."""
    import uvicorn

    from storeuptime_pipeline import settings
    from storeuptime_pipeline.api.app import create_app
    from storeuptime_pipeline.api.http_limits import uvicorn_options
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    default_host, default_port = settings.api_bind()
    host, port = host or default_host, port or default_port
    url = prepare_and_migrate()
    app = create_app(database_url=url, dagster_url=dagster_url or settings.dagster_url())
    print(f"Report API on http://{host}:{port} (docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info", **uvicorn_options())


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
