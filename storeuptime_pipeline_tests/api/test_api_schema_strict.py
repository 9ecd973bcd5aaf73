"""The conformance check can fail: a body with a stray key or without ``status`` is caught.

``test_api_schema.py`` passes when every response matches the OpenAPI document, which proves little
if the document accepts any object. Here the same app is wrapped so that its JSON bodies are
tampered with on the way out (a key added, ``status`` dropped), and schemathesis must reject each
one; and every published response model must say ``additionalProperties: false``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError

from storeuptime_pipeline_tests.api.test_api_schema import app_and_ids  # noqa: F401 (a fixture)

Body = dict[str, Any]
#: FastAPI's own 422 models are not ours to tighten.
FASTAPI_MODELS = {"HTTPValidationError", "ValidationError"}


def tampered(app: FastAPI, change: Callable[[Body], Body]) -> Callable:
    """An ASGI app that answers like ``app`` but passes every JSON object body through ``change``.

    The OpenAPI document itself is left alone, so schemathesis reads the real contract.
    """

    async def wrapped(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] == "/openapi.json":
            await app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = dict(start["headers"])
            if headers.get(b"content-type", b"").startswith(b"application/json"):
                data = json.loads(body)
                if isinstance(data, dict):
                    body = json.dumps(change(data)).encode()
            headers[b"content-length"] = str(len(body)).encode()
            await send({**start, "headers": list(headers.items())})
            await send({"type": "http.response.body", "body": body})

        await app(scope, receive, capture)

    return wrapped


def assert_conformance_fails(case: Any) -> None:
    """schemathesis raises a group of failures; one of them must be the response-schema check."""
    with pytest.raises(FailureGroup) as raised:
        case.call_and_validate()
    assert any(isinstance(failure, JsonSchemaError) for failure in raised.value.exceptions), raised.value


def with_extra_key(body: Body) -> Body:
    return {**body, "progress": 0.5}


def without_status(body: Body) -> Body:
    return {k: v for k, v in body.items() if k != "status"}


@pytest.mark.parametrize("change", [with_extra_key, without_status])
@pytest.mark.parametrize("status", ["Running", "Failed", "Complete"])
def test_a_report_body_off_the_document_fails_the_conformance_check(
    app_and_ids: tuple[FastAPI, dict[str, str]],  # noqa: F811
    status: str,
    change: Callable[[Body], Body],
) -> None:
    app, ids = app_and_ids
    schema = schemathesis.openapi.from_asgi("/openapi.json", tampered(app, change))
    operation = schema["/get_report/{report_id}"]["GET"]
    case = operation.Case(path_parameters={"report_id": ids[status]}, query={"format": "json"})
    assert_conformance_fails(case)


@pytest.mark.parametrize("change", [with_extra_key, without_status])
def test_a_health_body_off_the_document_fails_the_conformance_check(
    app_and_ids: tuple[FastAPI, dict[str, str]],  # noqa: F811
    change: Callable[[Body], Body],
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", tampered(app_and_ids[0], change))
    case = schema["/healthz"]["GET"].Case()
    assert_conformance_fails(case)


def test_the_untampered_app_passes_the_same_checks(app_and_ids: tuple[FastAPI, dict[str, str]]) -> None:  # noqa: F811
    """The control: the wrapper alone (no change) breaks nothing, so the failures above are the bodies'."""
    app, ids = app_and_ids
    schema = schemathesis.openapi.from_asgi("/openapi.json", tampered(app, lambda body: body))
    for status in ("Running", "Failed", "Complete"):
        operation = schema["/get_report/{report_id}"]["GET"]
        operation.Case(
            path_parameters={"report_id": ids[status]}, query={"format": "json"}
        ).call_and_validate()
    schema["/healthz"]["GET"].Case().call_and_validate()


def test_every_published_response_model_forbids_other_keys(
    app_and_ids: tuple[FastAPI, dict[str, str]],  # noqa: F811
) -> None:
    components = app_and_ids[0].openapi()["components"]["schemas"]
    ours = {name: schema for name, schema in components.items() if name not in FASTAPI_MODELS}
    assert {"RunningReport", "FailedReport", "CompleteReport", "Health", "ComponentHealth"} <= set(ours)
    loose = [name for name, schema in ours.items() if schema.get("additionalProperties") is not False]
    assert loose == []
    for name in ("RunningReport", "FailedReport", "CompleteReport", "Health"):
        assert "status" in components[name]["required"], name
