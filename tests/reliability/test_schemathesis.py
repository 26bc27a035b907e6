"""schemathesis against a real gateway: every operation of the committed OpenAPI document
(which ``GET /openapi.json`` serves) is fuzzed with schema-valid and schema-violating
requests, through uvicorn + httptools, the real providers and a healthy local upstream.

Checks on every response: no 5xx at all, the status code is documented for the operation,
the content type and body match the document (errors included), documented headers conform,
and no body carries a traceback or a Python exception repr. ``negative_data_rejection`` is
not among them on purpose: the gateway passes fields it does not read on to the provider
(the document says so with ``additionalProperties``), so an out-of-range value in such a
field is the upstream's to refuse, and the local upstream does not.

Bounded and deterministic: a fixed number of examples per operation, derandomized, no
example database, no deadline.
"""

from __future__ import annotations

import datetime
import io
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.openapi import openapi_json
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.server.app import GatewayApp
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.keys import HashedKeys, new_key
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import ServerThread, base_config
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

#: Examples per operation (positive and negative together).
EXAMPLES = 100
DOCUMENT = openapi_json()
TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
                   r"<(class|module|function) '|\b[A-Z]\w*(Error|Exception)\(")
MSG = [{"role": "user", "content": "hello"}]
CHAT = "/v1/chat/completions"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]



def narrowed(document: bytes, chat_route: str) -> dict[str, Any]:
    """The served document with ``model`` and the classification header narrowed to what
    this deployment defines: a random model name is only ever a 404 and a random
    classification a 400, so schema-valid cases reach the router and the upstreams, and
    schema-violating ones still try every other name. Chat goes to one route per schema:
    schemathesis' coverage phase builds its type-violating cases on one value only."""
    doc = orjson.loads(document)
    schemas = doc["components"]["schemas"]
    schemas["ChatCompletionRequest"]["properties"]["model"] = {"enum": [chat_route]}
    schemas["EmbeddingRequest"]["properties"]["model"] = {"enum": ["embed"]}
    schemas["ResponseRequest"]["properties"]["model"] = {"enum": [chat_route]}
    schemas["MessageRequest"]["properties"]["model"] = {"enum": ["bedrock"]}  # Claude only
    for name, path in doc["paths"].items():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "model":
                    parameter["schema"] = {"enum": ["chat", "bedrock", "embed"]}
                if parameter["name"] == "route":  # Azure-style deployment paths
                    parameter["schema"] = {
                        "enum": ["embed" if name.endswith("/embeddings") else chat_route]}
                if parameter["name"] == "x-skyrelay-classification":
                    parameter["schema"] = {"enum": ["public"]}
    return doc


#: Every operation, chat through the Bedrock route (the one with a request translation).
schema = schemathesis.openapi.from_dict(narrowed(DOCUMENT, "bedrock"))
#: Chat once more, through the OpenAI-compatible route (the request passed on as it is).
openai_chat = schemathesis.openapi.from_dict(narrowed(DOCUMENT, "chat")).include(
    operation_id="createChatCompletion")
for _schema in (schema, openai_chat):
    # The tenant key is sent by the test; generated credentials would only ever be 401s.
    _schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], with_security_parameters=False)



@dataclass
class Gateway:
    url: str
    headers: dict[str, str]
    out: io.BytesIO
    app: GatewayApp


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    key, stored = new_key()
    with pytest.MonkeyPatch.context() as mp, OpenAIUpstream(max_lifetime=300) as oai, \
            BedrockUpstream(max_lifetime=300) as bedrock:
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIDSCHEMATHESIS")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "schemathesis-secret")
        mp.delenv("AWS_PROFILE", raising=False)
        cfg = base_config(
            {"compat": {"model": "m-chat", "account": "local", "endpoint": oai.url + "/v1"},
             "claude": {"cloud": "bedrock", "model": "us.anthropic.claude-test-v1:0",
                        "endpoint": bedrock.url},
             "emb": {"kind": "embedding", "model": "m-emb", "account": "local",
                     "endpoint": oai.url + "/v1"}},
            {"chat": {"targets": ["compat"], "max_attempts": 1},
             "bedrock": {"targets": ["claude"], "max_attempts": 1},
             "embed": {"targets": ["emb"], "kind": "embedding", "max_attempts": 1}},
            tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["chat", "bedrock", "embed"],
                            "classification": "public", "requests_per_minute": 10**6,
                            "tokens_per_minute": 10**12, "monthly_budget": 10.0**9}})
        out = io.BytesIO()
        meter = Meter(stream=out)
        app = build_app(cfg, providers=ProviderRegistry(cfg, environ={}), probe_interval=0,
                        authenticator=HashedKeys(cfg, environ={"T1_KEY": stored}),
                        hooks=TenancyHooks(MemoryState(), meter))
        server = ServerThread(app).start()
        try:
            gw = Gateway(server.url, {"authorization": f"Bearer {key}", "api-key": key}, out,
                         app)
            # one call per route, so /readyz knows the upstreams answer (no background probes)
            for path, body in ((CHAT, {"model": "chat", "messages": MSG}),
                               (CHAT, {"model": "bedrock", "messages": MSG}),
                               ("/v1/embeddings", {"model": "embed", "input": "hi"})):
                response = httpx.post(gw.url + path, json=body, headers=gw.headers)
                assert response.status_code == 200, response.text
            assert httpx.get(gw.url + "/readyz").status_code == 200
            yield gw
        finally:
            server.stop()
            meter.close()


def test_the_fuzzed_document_is_the_one_the_gateway_serves(gateway: Gateway) -> None:
    served = httpx.get(gateway.url + "/openapi.json")
    assert served.status_code == 200 and served.content == DOCUMENT


def _response(status: int, content_type: str, body: bytes) -> httpx.Response:
    response = httpx.Response(status, headers={"content-type": content_type}, content=body,
                              request=httpx.Request("POST", "http://127.0.0.1" + CHAT))
    response.elapsed = datetime.timedelta(0)
    return response


_CHUNK = b'data: {"id":"c","object":"chat.completion.chunk","choices":[]}\n\n'
_ERROR = b'{"error":{"message":"m","type":"server_error","param":null,"code":"x"}}'


@pytest.mark.parametrize(("status", "content_type", "body", "conforms"), [
    (200, "text/event-stream; charset=utf-8", _CHUNK + b"data: [DONE]\n\n", True),
    (200, "text/event-stream; charset=utf-8", _CHUNK + b"data: " + _ERROR + b"\n\n", True),
    (200, "text/event-stream; charset=utf-8", b'data: {"nope": 1}\n\n', False),
    (200, "text/event-stream; charset=utf-8", b"data: hello\n\n", False),
    (200, "application/json", b'{"object": "chat.completion"}', False),
    (400, "application/json", _ERROR, True),
    (400, "application/json", b'{"detail": "bad"}', False),
    (400, "text/plain", b"bad", False),
    (418, "application/json", _ERROR, False),
    (500, "application/json", _ERROR, False),
    (503, "application/json", _ERROR, False),
], ids=["sse", "sse_error_end", "sse_bad_chunk", "sse_not_json", "json_incomplete",
        "error", "error_not_openai_shape", "error_not_json", "undocumented_status", "500", "503"])
def test_the_checks_tell_conforming_responses_from_broken_ones(
        status: int, content_type: str, body: bytes, conforms: bool) -> None:
    """The checks the fuzzing relies on do fail on the answers they exist to catch."""
    case = schema[CHAT]["POST"].Case(body={"model": "chat", "messages": MSG, "stream": True})
    if conforms:
        case.validate_response(_response(status, content_type, body), checks=CHECKS)
    else:
        with pytest.raises(FailureGroup):
            case.validate_response(_response(status, content_type, body), checks=CHECKS)
    assert TRACE.search('Traceback (most recent call last):\n  File "app.py", line 3')
    assert TRACE.search("RecursionError('maximum recursion depth exceeded')")


BOUNDED = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck), print_blob=False)


def call_and_check(case: Any, gateway: Gateway) -> None:
    """Send the case with the tenant key; every check, then no traceback in the body."""
    response = case.call_and_validate(base_url=gateway.url, headers=gateway.headers,
                                      checks=CHECKS, timeout=15)
    assert not TRACE.search(response.text), response.text[:500]


@schema.parametrize()
@BOUNDED
def test_gateway_conforms_to_its_openapi_document(case: Any, gateway: Gateway) -> None:
    call_and_check(case, gateway)


@openai_chat.parametrize()
@BOUNDED
def test_chat_through_the_openai_route_conforms(case: Any, gateway: Gateway) -> None:
    call_and_check(case, gateway)


def test_after_the_fuzzing_no_target_was_charged_and_nothing_was_5xx(gateway: Gateway) -> None:
    """Runs after the fuzzing (file order): bad requests are the client's fault, so no
    breaker may have counted one, and no usage record may carry a 5xx."""
    health = gateway.app.router.health()
    assert all(h["state"] == "closed" and h["consecutive_failures"] == 0
               for h in health.values()), health
    deadline = time.monotonic() + 5  # the meter writes from its own thread
    while time.monotonic() < deadline and not gateway.out.getvalue():
        time.sleep(0.02)
    records = [orjson.loads(line) for line in gateway.out.getvalue().splitlines()]
    assert records and not [r for r in records if r["Status"] >= 500]
