"""``storeuptime db``: create the embedded database, migrate, print the URL, status, stop.

``db init`` and ``db upgrade`` are the explicit migrations an operator runs (the other commands
that work on the database migrate at their start; nothing migrates on first use).
"""

from __future__ import annotations

import argparse
import os

from storeuptime_pipeline.cli.console import redacted


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
            print(url if args.show_password else redacted(url))
    return 0


def _db_init() -> int:
    """Create the embedded data folder if missing (also where one existed before), then migrate."""
    from storeuptime_pipeline.db import embedded, migrate
    from storeuptime_pipeline.db.config import DATABASE_URL_ENV, normalize_url

    configured = os.environ.get(DATABASE_URL_ENV, "").strip()
    url = normalize_url(configured) if configured else embedded.ensure_running(create=True)
    migrate.upgrade(url)
    where = redacted(url) if configured else f"embedded Postgres in {embedded.pgdata_dir()}"
    print(f"{where}: schema at revision {migrate.current_revision(url)}")
    return 0
