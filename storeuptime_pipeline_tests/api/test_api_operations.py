"""What an operator of the API relies on besides the two routes: /docs offline, /healthz honest.

/docs must load on a machine without internet: every script and stylesheet it references is served
by the API itself. /healthz must answer 503 naming the failing component when the webserver that
starts the runs is down, since every trigger answers 503 then.
"""

from __future__ import annotations

import re

import pytest
from dagster import DagsterInstance
from fastapi.testclient import TestClient

from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.launcher import GraphQLLauncher
from storeuptime_pipeline.db import migrate
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline_tests.dagster_server import free_port

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

_ASSET_URL = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url\s*:\s*['"]([^'"]+)['"]""")


def _referenced(html: str) -> list[str]:
    return [a or b for a, b in _ASSET_URL.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_api_itself(page: str) -> None:
    # No database is touched by the documentation pages: a URL nobody listens on is enough.
    app = create_app(database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none")
    with TestClient(app) as client:
        response = client.get(page)
        assert response.status_code == 200
        html = response.text
        assert "http://" not in html and "https://" not in html, f"{page} references another host"
        urls = _referenced(html)
        scripts = [u for u in urls if u.endswith(".js")]
        assert scripts, f"{page} references no script: {urls}"
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by the API"
            asset = client.get(url)
            assert asset.status_code == 200, f"{url} answered {asset.status_code}"
            assert asset.content, f"{url} is empty"
        assert max(len(client.get(u).content) for u in scripts) > 100_000  # the real bundle, not a stub


def test_healthz_is_503_naming_the_webserver_when_it_is_down(database_url: str) -> None:
    nobody = GraphQLLauncher(f"http://127.0.0.1:{free_port()}")
    with DagsterInstance.ephemeral() as instance:
        app = create_app(database_url=database_url, instance=instance, launcher=nobody)
        with TestClient(app) as client:
            response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"]["ok"] and body["dagster_instance"]["ok"]
    assert body["dagster_webserver"] == {"ok": False, "detail": "unreachable (ConnectionError)"}


def test_an_unmigrated_database_is_503_naming_db_init_until_it_is_migrated(admin_url: str) -> None:
    """The app never migrates (``storeuptime api`` does before serving): on a database nobody migrated
    it answers 503 with the one line saying what to run, and answers normally once that was run,
    without a restart."""
    nobody = GraphQLLauncher(f"http://127.0.0.1:{free_port()}")
    with (
        temporary_database(admin_url, prefix="storeuptime_unmigrated_") as url,
        DagsterInstance.ephemeral() as instance,
    ):
        app = create_app(database_url=url, instance=instance, launcher=nobody)
        with TestClient(app) as client:
            trigger = client.post("/trigger_report")
            assert trigger.status_code == 503
            assert trigger.text == (
                f"the database has no storeuptime schema yet (this code needs revision "
                f"{migrate.head_revision()}): run `storeuptime db init`"
            )
            assert client.get(f"/get_report/{'0' * 32}").status_code == 503
            health = client.get("/healthz").json()
            assert health["database"] == {"ok": False, "detail": trigger.text}
            assert health["dagster_instance"]["ok"]  # only the database is not ready
            assert migrate.current_revision(url) is None  # asking did not migrate it

            migrate.upgrade(url)  # what `storeuptime db init` does
            assert client.get(f"/get_report/{'0' * 32}").status_code == 404
            assert client.get("/healthz").json()["database"] == {"ok": True, "detail": "reachable"}
