"""Schemathesis against the live API: the real GraphQL launcher, webserver, daemon and run workers.

``test_api_schema.py`` checks the document with a recording launcher (fast, every status reached on
purpose); here every generated trigger is a real Dagster run, so the whole path answers: positive
cases (valid requests: 200, or 429 once the queue is full) and negative ones (values outside the
document: must be rejected with a 4xx), with every schemathesis check, and no 5xx. Bounded: a few
examples per operation, and the runs they start are stopped with the deployment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from storeuptime_pipeline.api.app import create_app
from storeuptime_pipeline.api.server import serving
from storeuptime_pipeline.db.scratch import temporary_database
from storeuptime_pipeline.db.session import get_engine
from storeuptime_pipeline.generator.data import generate_dataset
from storeuptime_pipeline.services.loading import load_files
from storeuptime_pipeline_tests.dagster_server import DagsterStack, dagster_stack
from storeuptime_pipeline_tests.waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: Examples per operation and mode; each positive trigger starts a real report run.
EXAMPLES = {"/trigger_report": 5, "/get_report/{report_id}": 10, "/healthz": 2}


@dataclass
class LiveApi:
    url: str
    stack: DagsterStack


@pytest.fixture(scope="module")
def live_api(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    workdir = tmp_path_factory.mktemp("schema_live")
    data = generate_dataset(workdir / "data", stores=20, days=8, seed=2)
    with (
        temporary_database(admin_url, prefix="storeuptime_schema_live_") as url,
        dagster_stack(url, workdir / "stack", max_concurrent_runs=2) as stack,
        stack.instance() as instance,
    ):
        engine = get_engine(url)
        for kind, path in (
            ("timezones", data.timezones_path),
            ("hours", data.hours_path),
            ("status", data.status_path),
        ):
            load_files(engine, kind, [path])
        app = create_app(database_url=url, instance=instance, dagster_url=stack.url)
        with serving(app) as api:
            yield LiveApi(api, stack)


@pytest.fixture(scope="module")
def live_schema(live_api: LiveApi):
    return schemathesis.openapi.from_url(f"{live_api.url}/openapi.json")


def test_a_live_report_conforms_to_the_document_while_running_and_when_complete(
    live_api: LiveApi, live_schema
) -> None:
    """First in the module, so its run does not wait behind the generated triggers' runs."""
    trigger = live_schema["/trigger_report"]["POST"].Case()
    response = trigger.call_and_validate(timeout=60)
    assert response.status_code == 200, response.text
    report_id = response.json()["report_id"]

    get = live_schema["/get_report/{report_id}"]["GET"]
    seen: set[str] = set()

    def complete() -> bool:
        """Both formats checked against the document at every look, Running or Complete."""
        for fmt in ("csv", "json"):
            answer = get.Case(path_parameters={"report_id": report_id}, query={"format": fmt})
            status = _header(answer.call_and_validate(timeout=30), "X-Report-Status")
            seen.add(status)
        assert "Failed" not in seen, live_api.stack.log_tail()
        return "Complete" in seen

    wait_until(
        complete,
        120,
        "the live report to be Complete",
        details=lambda: f"statuses seen: {sorted(seen)}\n{live_api.stack.log_tail()}",
    )


@pytest.mark.parametrize("as_of", ["", "  ", "yesterday", "0999-12-31T00:00:00Z", "2023-02-30T00:00:00Z"])
def test_as_of_outside_its_pattern_is_422_on_the_live_stack(live_schema, as_of: str) -> None:
    """Negative cases schemathesis does not reliably draw (it never drew the empty string)."""
    case = live_schema["/trigger_report"]["POST"].Case(query={"as_of": as_of})
    response = case.call_and_validate(timeout=60)
    assert response.status_code == 422, (as_of, response.text)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("path", list(EXAMPLES))
def test_generated_requests_on_the_live_stack_get_documented_answers(
    live_schema, path: str, mode: GenerationMode
) -> None:
    (operation,) = [op for op in live_schema[path].values()]
    if mode is GenerationMode.NEGATIVE and not operation.definition.raw.get("parameters"):
        pytest.skip(f"{path} takes no input to get wrong")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[path],
        deadline=None,  # a live trigger goes through the webserver: seconds on a loaded machine
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case) -> None:
        case.call_and_validate(timeout=60)

    check()


def _header(response, name: str) -> str:
    """One header of a schemathesis response (its headers map lower-case names to lists)."""
    value = response.headers[name.lower()]
    return value[0] if isinstance(value, list) else value
