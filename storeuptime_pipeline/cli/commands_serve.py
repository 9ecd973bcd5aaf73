"""``storeuptime dev`` (the Dagster UI and daemon plus the report API) and ``storeuptime api``.

Both prepare the environment and migrate the schema once before anything starts; ``dev`` then
runs its children under :mod:`storeuptime_pipeline.cli.supervisor` until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

#: `dagster dev` warns that it is superseded by `dg dev` (package dagster-dg-cli, not installed: it
#: brings ~27 more packages), which runs the very same `dev_command_impl`; nothing to act on, so hidden.
_DEV_WARNING_FILTER = "ignore:Function `dev_command` is superseded"


def dev_ports(ui_port: int | None, api_port: int | None) -> tuple[int, int, str]:
    """The UI port, the API port and the webserver URL the API launches through, consistent.

    Flags win over STOREUPTIME_UI_PORT / STOREUPTIME_API_PORT; the URL follows the UI port unless
    STOREUPTIME_DAGSTER_URL is set, and a local URL on another port than the UI's is refused (the
    API would launch every run into nowhere and answer 503).
    """
    from storeuptime_pipeline import settings

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
    from storeuptime_pipeline import settings
    from storeuptime_pipeline.cli.supervisor import Child, supervise
    from storeuptime_pipeline.cli.worker import dev_worker_commands
    from storeuptime_pipeline.db.embedded import HOME_ENV, project_root
    from storeuptime_pipeline.services.instance import prepare_and_migrate

    ui_port, api_port, dagster_url = dev_ports(args.port, args.api_port)
    prepare_and_migrate()  # before the daemon's runs and the sensors, which only check the schema
    settings.data_dir().mkdir(parents=True, exist_ok=True)
    os.environ[HOME_ENV] = str(project_root())  # dagster dev runs in DAGSTER_HOME, not here
    os.environ[settings.DAGSTER_GRAPHQL_URL_ENV] = dagster_url
    bin_dir = Path(sys.executable).parent
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "storeuptime_pipeline.definitions"]
    workers = dev_worker_commands(args.workers)  # with --workers: STOREUPTIME_EXECUTOR=celery from here on
    dev_env = dict(os.environ)
    dev_env["PYTHONWARNINGS"] = ",".join(
        filter(None, [os.environ.get("PYTHONWARNINGS"), _DEV_WARNING_FILTER])
    )
    # Started in DAGSTER_HOME: run from a folder holding another dagster.yaml (the project's), dagster
    # dev warns that that file is ignored; DAGSTER_HOME holds the copy actually used.
    dagster_dev = [str(bin_dir / "dagster"), "dev", *target, "-h", "127.0.0.1", "-p", str(ui_port)]
    api = [str(bin_dir / "storeuptime"), "api", "--host", "127.0.0.1", "--port", str(api_port)]
    children = [Child(dagster_dev, env=dev_env, cwd=os.environ["DAGSTER_HOME"]), Child(api)]
    children += [Child(worker) for worker in workers]

    def started() -> None:
        print(f"Dagster UI: http://127.0.0.1:{ui_port}   API: http://127.0.0.1:{api_port}/docs")
        print(f"Drop CSV files into {settings.data_dir()}; Ctrl-C stops everything.")

    supervise(children, started=started)
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    """``storeuptime api``: migrate, then serve until stopped (flags win over the settings)."""
    from storeuptime_pipeline.api.server import serve

    serve(host=args.host, port=args.port, dagster_url=args.dagster_url)
    return 0
