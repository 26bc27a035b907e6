"""Bad input against a real gateway (uvicorn + httptools on loopback, real providers, hashed
keys, tenancy and metering): malformed JSON, bodies over the limit, wrong types, unknown
models, bad keys and header tricks. Every answer is a 4xx in OpenAI's error shape (or, for
bytes the HTTP parser refuses, uvicorn's plain 400 and a closed connection), never a 5xx or
a traceback; no key is echoed; no header is injected; and the server keeps serving.

Wire-level tricks go over raw sockets because httpx refuses to send them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.server.app import (
    DEFAULT_MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    GatewayApp,
)
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.keys import HashedKeys, new_key
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import ServerThread, base_config
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

EU = ["aws:eu-central-1"]
US = ["aws:us-east-1"]
MSG = [{"role": "user", "content": "hello there"}]
UPSTREAM_KEY = "sk-upstream-never-shown"
CHAT = "/v1/chat/completions"
#: What a Python traceback or exception repr looks like in a body.
TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|"
                   r"<(class|module|function) '|\b[A-Z]\w*(Error|Exception)\(")
#: The ids the gateway makes itself: a per-process hex prefix and a hex counter.
OWN_ID = re.compile(r"^[0-9a-f]{12}-[0-9a-f]+$")


@dataclass
class Gateway:
    """The running stack and what the tests look at."""

    url: str
    port: int
    key: str
    stored: str
    eu_key: str
    eu_stored: str
    out: io.BytesIO
    app: GatewayApp
    oai: OpenAIUpstream
    bedrock: BedrockUpstream

    def hits(self, model: str) -> int:
        """Requests the OpenAI upstream received for ``model``."""
        return sum(1 for r in self.oai.requests
                   if json.loads(r["body"] or b"{}").get("model") == model)

    def upstream_total(self) -> int:
        """Requests both upstreams received."""
        return sum(self.oai.hits.values()) + sum(self.bedrock.hits.values())


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    key, stored = new_key()
    eu_key, eu_stored = new_key()
    with pytest.MonkeyPatch.context() as mp, OpenAIUpstream(api_key=UPSTREAM_KEY) as oai, \
            BedrockUpstream() as bedrock:
        mp.setenv("AWS_ACCESS_KEY_ID", "AKIDBADINPUT")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "bad-input-secret")
        mp.delenv("AWS_PROFILE", raising=False)
        roomy = {"requests_per_minute": 10**6, "tokens_per_minute": 10**9,
                 "monthly_budget": 10.0**6}
        cfg = base_config(
            {"oai-us": {"model": "m-us", "account": "local", "endpoint": oai.url + "/v1",
                        "processing": US},
             "oai-eu": {"model": "m-eu", "account": "local", "endpoint": oai.url + "/v1",
                        "processing": EU, "region": "eu-central-1"},
             "bedrock-us": {"cloud": "bedrock", "model": "us.anthropic.claude-test-v1:0",
                            "endpoint": bedrock.url, "processing": US},
             "emb": {"kind": "embedding", "model": "m-emb", "account": "local",
                     "endpoint": oai.url + "/v1", "processing": US}},
            {"mixed": {"targets": ["oai-us", "oai-eu"], "max_attempts": 2},
             "bedrock": {"targets": ["bedrock-us"], "max_attempts": 1},
             "embed": {"targets": ["emb"], "kind": "embedding"}},
            tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["mixed", "bedrock", "embed"],
                            "classification": "public", **roomy},
                     "eu": {"api_key": {"env": "EU_KEY"}, "routes": ["mixed"],
                            "classification": "eu-only", **roomy}},
            classifications={"public": {"allowed": ["any"], "processing_allowed": ["*"]},
                             "eu-only": {"allowed": ["eu"], "processing_allowed": EU}})
        out = io.BytesIO()
        meter = Meter(stream=out)
        app = build_app(cfg, providers=ProviderRegistry(
                            cfg, environ={"SKYRELAY_OPENAI_KEY_LOCAL": UPSTREAM_KEY}),
                        authenticator=HashedKeys(cfg, environ={"T1_KEY": stored,
                                                               "EU_KEY": eu_stored}),
                        hooks=TenancyHooks(MemoryState(), meter), probe_interval=0)
        server = ServerThread(app).start()
        try:
            yield Gateway(server.url, server.port, key, stored, eu_key, eu_stored, out, app,
                          oai, bedrock)
        finally:
            server.stop()
            meter.close()


# --- helpers --------------------------------------------------------------------------------


def assert_clean(text: str) -> None:
    """No traceback, exception repr or upstream credential in a response."""
    assert not TRACE.search(text), text[:500]
    assert UPSTREAM_KEY not in text


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-shaped error response with ``status``."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/json"
    assert_clean(response.text)
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str)
    return error


def post(gw: Gateway, body: bytes | dict[str, Any], *, key: str | None = None,
         path: str = CHAT, headers: dict[str, str] | None = None) -> httpx.Response:
    """POST ``body`` (bytes as they are, a dict as JSON) with the t1 key unless told."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"authorization": f"Bearer {key or gw.key}", "content-type": "application/json",
            **(headers or {})}
    return httpx.post(gw.url + path, content=content, headers=sent, timeout=15)


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Send raw bytes, read until the server closes; ``(bytes read, closed by server)``."""
    received = []
    closed = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # the server may answer and close before taking everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            received.append(chunk)
    return b"".join(received), closed


def parse_response(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """``(status, headers, body)`` of one raw HTTP/1.1 response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ")[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").lower(), value.decode("latin-1").strip()))
    return status, headers, body


def wire(header_lines: bytes, body: bytes, *, path: bytes = CHAT.encode(),
         key: str | None = None, gw: Gateway | None = None) -> bytes:
    """A raw POST with ``header_lines`` (each ending in CRLF) and ``Connection: close``."""
    auth = f"Authorization: Bearer {key or (gw.key if gw else '')}\r\n".encode()
    return (b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth
            + b"Content-Type: application/json\r\n" + header_lines
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


def chat_body(model: str = "mixed", **extra: Any) -> bytes:
    return json.dumps({"model": model, "messages": MSG, **extra}).encode()


def assert_serving(gw: Gateway) -> None:
    """A normal request still succeeds: the server is not wedged."""
    ok = post(gw, {"model": "mixed", "messages": MSG})
    assert ok.status_code == 200, ok.text
    assert ok.json()["choices"][0]["message"]["content"]


def assert_not_5xx_or_injected(raw: bytes, closed: bool) -> int | None:
    """A raw answer is a 4xx/2xx (or nothing and a closed connection), with no header made
    from the attacker's bytes; returns the status, None when the server just closed."""
    if not raw:
        assert closed, "the server neither answered nor closed the connection"
        return None
    status, headers, body = parse_response(raw)
    assert status < 500, raw[:500]
    names = {name for name, _ in headers}
    assert not names & {"set-cookie", "x-evil", "x-injected"}, headers
    assert not any("evil" in value.lower() for _, value in headers), headers
    assert_clean(body.decode("utf-8", "replace"))
    return status


# --- malformed JSON -------------------------------------------------------------------------

MALFORMED = {
    "empty": b"",
    "truncated": b'{"model": "mixed", "messages": [{"role": "user", "content": "hi"',
    "trailing_garbage": chat_body() + b"}",
    "array": b'[{"model": "mixed"}]',
    "string": b'"model"',
    "number": b"42",
    "null": b"null",
    "invalid_utf8": b'{"model": "mixed\xff\xfe", "messages": []}',
    "lone_surrogate": b'{"model": "\\ud800", "messages": [{"role": "user", "content": "x"}]}',
    "nan": b'{"model": "mixed", "messages": [], "temperature": NaN}',
    "infinity": b'{"model": "mixed", "messages": [], "temperature": Infinity}',
    "float_overflow": b'{"model": "mixed", "messages": [], "temperature": 1e400}',
    "single_quotes": b"{'model': 'mixed'}",
    "utf16": '{"model": "mixed"}'.encode("utf-16"),
    "nested_100k_arrays": b"[" * 100_000 + b"]" * 100_000,
    "nested_100k_in_content": (b'{"model": "mixed", "messages": [{"role": "user", '
                               b'"content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_json_is_400_invalid_json(gw: Gateway, kind: str) -> None:
    before = gw.upstream_total()
    error = error_of(post(gw, MALFORMED[kind]), 400)
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json", error
    assert gw.upstream_total() == before


def _nested(levels: int) -> bytes:
    """A chat body whose total JSON nesting is exactly ``levels`` (body object included)."""
    inner = levels - 3  # {  "messages": [  {  ... "metadata": <inner levels> }
    return (b'{"model": "mixed", "messages": [{"role": "user", "content": "x", "metadata": '
            + b"[" * inner + b"]" * inner + b"}]}")


def test_nesting_the_providers_cannot_forward_is_refused_not_a_5xx(gw: Gateway) -> None:
    """orjson parses 1024 levels but serialises 254: a body in between used to fail every
    target of its route (502, breakers charged) or, deeper, recurse out of the estimator
    (500). It is now the client's 400, and the deepest forwardable body still goes through."""
    deepest = post(gw, _nested(MAX_JSON_DEPTH))
    assert deepest.status_code == 200, deepest.text
    for levels in (MAX_JSON_DEPTH + 1, 300, 999, 1024):
        error = error_of(post(gw, _nested(levels)), 400)
        assert error["code"] == "invalid_json" and "deep" in error["message"]
    for route in ("mixed", "bedrock"):
        body = (b'{"model": "%s", "messages": [{"role": "user", "content": "x", "extra": '
                % route.encode() + b"{\"a\": " * 600 + b"1" + b"}" * 600 + b"}]}")
        assert error_of(post(gw, body), 400)["code"] == "invalid_json"
    health = gw.app.router.health()
    assert all(h["consecutive_failures"] == 0 for h in health.values()), health


# --- size limit -----------------------------------------------------------------------------


def test_declared_length_over_the_limit_is_413_before_the_body_is_sent(gw: Gateway) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + gw.key.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (DEFAULT_MAX_BODY + 1))
    raw, closed = exchange(gw.port, head)  # no body at all: the answer may not wait for it
    status, headers, body = parse_response(raw)
    assert status == 413 and closed
    assert ("connection", "close") in headers
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large" and str(DEFAULT_MAX_BODY) in error["message"]
    huge, closed = exchange(gw.port, head.replace(b"%d" % (DEFAULT_MAX_BODY + 1),
                                                  b"99999999999999999999"))
    assert assert_not_5xx_or_injected(huge, closed) in (None, 400, 413)


def test_chunked_body_growing_past_the_limit_is_413(gw: Gateway) -> None:
    prefix = b'{"model": "mixed", "messages": [{"role": "user", "content": "'
    piece = b"x" * 65536

    def chunks() -> Iterator[bytes]:
        yield prefix
        for _ in range(DEFAULT_MAX_BODY // len(piece) + 2):  # past the limit, then stop
            yield piece

    before = gw.upstream_total()
    response = httpx.post(gw.url + CHAT, content=chunks(), timeout=30,
                          headers={"authorization": f"Bearer {gw.key}",
                                   "content-type": "application/json"})
    assert "content-length" not in response.request.headers  # it really was chunked
    assert error_of(response, 413)["code"] == "request_too_large"
    assert gw.upstream_total() == before
    assert_serving(gw)


def test_body_of_exactly_the_limit_passes_the_size_check(gw: Gateway) -> None:
    start = b'{"model": "no-such-route", "messages": [{"role": "user", "content": "'
    end = b'"}]}'
    body = start + b"y" * (DEFAULT_MAX_BODY - len(start) - len(end)) + end
    assert len(body) == DEFAULT_MAX_BODY
    assert error_of(post(gw, body), 404)["code"] == "model_not_found"  # not 413
    assert error_of(post(gw, body[:-4] + b'y"}]}'), 413)["code"] == "request_too_large"


# --- wrong types ----------------------------------------------------------------------------

#: (name, fields replacing the valid request's, param the 400 names)
WRONG_TYPES = [
    ("model_number", {"model": 5}, "model"),
    ("model_null", {"model": None}, "model"),
    ("model_empty", {"model": ""}, "model"),
    ("model_array", {"model": ["mixed"]}, "model"),
    ("messages_string", {"messages": "hello"}, "messages"),
    ("messages_object", {"messages": {"role": "user"}}, "messages"),
    ("messages_empty", {"messages": []}, "messages"),
    ("message_string", {"messages": ["hello"]}, "messages[0]"),
    ("message_no_role", {"messages": [{"content": "x"}]}, "messages[0]"),
    ("message_role_number", {"messages": [{"role": 1, "content": "x"}]}, "messages[0]"),
    ("content_number", {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ("content_object", {"messages": [{"role": "user", "content": {"text": "x"}}]},
     "messages[0].content"),
    ("content_part_string", {"messages": [{"role": "user", "content": ["x"]}]},
     "messages[0].content"),
    ("tool_calls_string", {"messages": [*MSG, {"role": "assistant", "tool_calls": "x"}]},
     "messages[1].tool_calls"),
    ("tool_call_function_string", {"messages": [*MSG, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": "f"}]}]}, "messages[1].tool_calls"),
    ("stream_string", {"stream": "yes"}, "stream"),
    ("stream_number", {"stream": 1}, "stream"),
    ("stream_options_string", {"stream_options": "usage"}, "stream_options"),
    ("max_tokens_string", {"max_tokens": "10"}, "max_tokens"),
    ("max_tokens_float", {"max_tokens": 1.5}, "max_tokens"),
    ("max_tokens_huge", {"max_tokens": 1e30}, "max_tokens"),
    ("max_tokens_bool", {"max_tokens": True}, "max_tokens"),
    ("max_tokens_object", {"max_tokens": {}}, "max_tokens"),
    ("max_completion_tokens_string", {"max_completion_tokens": "5"},
     "max_completion_tokens"),
    ("n_string", {"n": "2"}, "n"),
    ("n_float", {"n": 2.5}, "n"),
    ("temperature_string", {"temperature": "hot"}, "temperature"),
    ("temperature_bool", {"temperature": False}, "temperature"),
    ("temperature_array", {"temperature": [1]}, "temperature"),
    ("top_p_string", {"top_p": "0.5"}, "top_p"),
    ("presence_penalty_string", {"presence_penalty": "x"}, "presence_penalty"),
    ("stop_number", {"stop": 5}, "stop"),
    ("stop_array_of_numbers", {"stop": [1, 2]}, "stop"),
    ("tools_string", {"tools": "search"}, "tools"),
    ("tools_of_strings", {"tools": ["search"]}, "tools[0]"),
    ("tool_function_string", {"tools": [{"type": "function", "function": "f"}]}, "tools[0]"),
    ("tool_choice_number", {"tool_choice": 1}, "tool_choice"),
]


@pytest.mark.parametrize("route", ["mixed", "bedrock"])
@pytest.mark.parametrize(("fields", "param"), [(f, p) for _, f, p in WRONG_TYPES],
                         ids=[name for name, _, _ in WRONG_TYPES])
def test_wrong_types_are_400_naming_the_field(gw: Gateway, route: str, fields: dict[str, Any],
                                              param: str) -> None:
    before = gw.upstream_total()
    body = {"model": route, "messages": MSG, **fields}
    error = error_of(post(gw, body), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert gw.upstream_total() == before  # refused before any upstream was asked


BEDROCK_UNTRANSLATABLE = [
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
    {"tool_choice": {"type": "function"}, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object"}}}]},
    {"messages": [*MSG, {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": 5}}]}]},
]


@pytest.mark.parametrize("fields", BEDROCK_UNTRANSLATABLE, ids=["image_url_string",
                                                                "tool_choice_no_function",
                                                                "arguments_number"])
def test_requests_bedrock_cannot_translate_are_400_and_do_not_trip_the_breaker(
        gw: Gateway, fields: dict[str, Any]) -> None:
    """Shapes the gateway does not check itself used to raise inside the Converse translation,
    which the router took for a provider bug: 502 and a breaker failure, so three such
    requests from one tenant took the Bedrock target away from everyone (503)."""
    for _ in range(4):
        error = error_of(post(gw, {"model": "bedrock", "messages": MSG, **fields}), 400)
        assert error["type"] == "invalid_request_error"
    assert gw.app.router.health()["bedrock-us"]["consecutive_failures"] == 0
    ok = post(gw, {"model": "bedrock", "messages": MSG})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]


EMBEDDING_WRONG = [({"input": 5}, "input"), ({"input": None}, "input"),
                   ({"input": {}}, "input"), ({"input": []}, "input"),
                   ({"input": [{"text": "x"}]}, "input"), ({"input": [1.5]}, "input"),
                   ({"model": 7}, "model")]


@pytest.mark.parametrize(("fields", "param"), EMBEDDING_WRONG,
                         ids=[f"{p}-{json.dumps(f)}" for f, p in EMBEDDING_WRONG])
def test_embedding_wrong_types_are_400(gw: Gateway, fields: dict[str, Any], param: str) -> None:
    error = error_of(post(gw, {"model": "embed", "input": "hi", **fields},
                          path="/v1/embeddings"), 400)
    assert error["param"] == param


def test_valid_values_next_to_the_type_checks_still_pass(gw: Gateway) -> None:
    body = {"model": "mixed", "messages": [
        {"role": "system", "content": None},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "max_tokens": 5, "max_completion_tokens": None, "n": 1, "temperature": 0,
        "top_p": 0.5, "stop": ["\n"], "tools": [], "tool_choice": "auto",
        "stream_options": None, "stream": False}
    assert post(gw, body).status_code == 200
    embed = post(gw, {"model": "embed", "input": [[1, 2], [3]]}, path="/v1/embeddings")
    assert embed.status_code == 200 and len(embed.json()["data"]) == 2


# --- unknown model --------------------------------------------------------------------------


def test_unknown_model_is_404_in_openais_shape(gw: Gateway) -> None:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-nope", messages=MSG)  # type: ignore[arg-type]
    assert info.value.body == {  # what OpenAI answers for a model that does not exist
        "message": "The model `gpt-nope` does not exist or you do not have access to it.",
        "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    # another tenant's route answers exactly like one that does not exist
    other = error_of(post(gw, chat_body("bedrock"), key=gw.eu_key), 404)
    assert other["code"] == "model_not_found" and "does not exist" in other["message"]
    wrong_kind = error_of(post(gw, chat_body("embed")), 404)
    assert wrong_kind["code"] == "model_not_supported" and wrong_kind["param"] == "model"
    long_name = "m" * 5000
    shown = error_of(post(gw, chat_body(long_name)), 404)["message"]
    assert len(shown) < 400 and long_name not in shown
    for path in ("/v1/models/gpt-nope", "/v1/models/%00%ff%0d%0a", "/v1/models/" + "z" * 3000):
        got = httpx.get(gw.url + path, headers={"authorization": f"Bearer {gw.key}"})
        assert error_of(got, 404)["code"] == "model_not_found"


# --- keys -----------------------------------------------------------------------------------


def _bad_credentials(gw: Gateway) -> dict[str, dict[str, str]]:
    key = gw.key
    return {
        "missing": {},
        "bare_scheme": {"authorization": "Bearer"},
        "no_scheme": {"authorization": key},
        "basic": {"authorization": "Basic " + key},
        "wrong_key": {"authorization": "Bearer " + new_key()[0]},
        "prefix": {"authorization": "Bearer " + key[:-1]},
        "suffix": {"authorization": "Bearer " + key[1:]},
        "longer": {"authorization": "Bearer " + key + "x"},
        "last_char_changed": {"authorization": "Bearer " + key[:-1]
                              + ("A" if key[-1] != "A" else "B")},
        "very_long": {"authorization": "Bearer " + key * 200},
        "stored_hash_as_key": {"authorization": "Bearer " + gw.stored},
        "api_key_wrong": {"api-key": key[:-2]},
        "api_key_hash": {"api-key": gw.stored},
        "lowercase_bearer_wrong": {"authorization": "bearer " + key[:-1]},
        "key_twice": {"authorization": "Bearer " + key + " " + key},
    }


def test_bad_keys_are_401_and_nothing_of_the_key_is_echoed(
        gw: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    before = gw.upstream_total()
    secret = gw.key.rsplit("-", 1)[1]  # the 256-bit part
    for name, headers in _bad_credentials(gw).items():
        for method, path in (("POST", CHAT), ("POST", "/v1/embeddings"), ("GET", "/v1/models"),
                             ("GET", "/v1/models/mixed")):
            response = httpx.request(method, gw.url + path, headers=headers,
                                     content=chat_body(), timeout=10)
            error = error_of(response, 401)
            assert error["code"] == "invalid_api_key", name
            seen = response.text + repr(response.headers.multi_items())
            for value in headers.values():
                for token in value.split():
                    assert token.lower() in ("bearer", "basic") or token not in seen, name
            assert secret not in seen and gw.stored not in seen, (name, path)
            assert gw.stored.split("$")[-1] not in seen
    assert gw.upstream_total() == before
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert secret not in logged and gw.stored.split("$")[-1] not in logged


def test_the_real_key_works_in_every_accepted_form(gw: Gateway) -> None:
    """Bearer (any case of the scheme, RFC 9110) and Azure's ``api-key`` header."""
    for headers in ({"authorization": f"Bearer {gw.key}"}, {"authorization": f"bearer {gw.key}"},
                    {"authorization": f"BEARER  {gw.key}"}, {"api-key": gw.key}):
        response = httpx.post(gw.url + CHAT, content=chat_body(), timeout=10,
                              headers={**headers, "content-type": "application/json"})
        assert response.status_code == 200, (headers, response.text)


# --- headers --------------------------------------------------------------------------------


def test_classification_header_cannot_widen_residency(gw: Gateway) -> None:
    """Tenant ``eu`` is ``eu-only``; route ``mixed`` prefers a US target. Asking for ``public``
    (or a spelling of it) is refused, never routed to the US target."""
    us_before = gw.hits("m-us")
    served = post(gw, chat_body(), key=gw.eu_key)
    assert served.status_code == 200 and served.headers["x-skyrelay-target"] == "oai-eu"
    for wanted, status, code in (("public", 403, "classification_not_allowed"),
                                 ("PUBLIC", 400, "classification_unknown"),
                                 ("*", 400, "classification_unknown"),
                                 ("public, eu-only", 400, "classification_unknown"),
                                 ("x" * 10_000, 400, "classification_unknown")):
        error = error_of(post(gw, chat_body(), key=gw.eu_key,
                              headers={"x-skyrelay-classification": wanted}), status)
        assert error["code"] == code, (wanted, error)
        assert len(error["message"]) < 600
    narrow = post(gw, chat_body(), key=gw.eu_key, headers={"x-skyrelay-classification": "eu-only"})
    assert narrow.headers["x-skyrelay-target"] == "oai-eu"
    # two classification headers: whichever wins, the request is never routed wider
    for order in (("eu-only", "public"), ("public", "eu-only")):
        response = httpx.post(gw.url + CHAT, content=chat_body(), timeout=10, headers=[
            ("authorization", f"Bearer {gw.eu_key}"), ("content-type", "application/json"),
            *[("x-skyrelay-classification", v) for v in order]])
        assert response.status_code in (200, 403), response.text
        if response.status_code == 200:
            assert response.headers["x-skyrelay-target"] == "oai-eu"
    assert gw.hits("m-us") == us_before
    # a public tenant may narrow: the EU target serves although the US one comes first
    narrowed = post(gw, chat_body(), headers={"x-skyrelay-classification": "eu-only"})
    assert narrowed.headers["x-skyrelay-target"] == "oai-eu"


def test_unknown_classification_is_400_naming_the_header(gw: Gateway) -> None:
    error = error_of(post(gw, chat_body(), headers={"x-skyrelay-classification": "secret"}), 400)
    assert error["param"] == "x-skyrelay-classification"
    assert error["code"] == "classification_unknown"
    raw, closed = exchange(gw.port, wire(b"X-Skyrelay-Classification: caf\xe9\xff\r\n",
                                         chat_body(), gw=gw))
    assert assert_not_5xx_or_injected(raw, closed) == 400


#: Header lines an attacker may try; the HTTP parser must refuse or keep them inert.
WIRE_TRICKS = {
    "bare_cr_request_id": b"X-Request-Id: abc\rSet-Cookie: evil=1\r\n",
    "bare_lf_request_id": b"X-Request-Id: abc\nSet-Cookie: evil=1\r\n",
    "obs_fold_request_id": b"X-Request-Id: abc\r\n Set-Cookie: evil=1\r\n",
    "nul_request_id": b"X-Request-Id: ab\x00c\r\n",
    "bare_cr_classification": b"X-Skyrelay-Classification: eu-only\rX-Evil: 1\r\n",
    "bare_lf_authorization": b"Authorization: Bearer x\nX-Evil: 1\r\n",
    "space_before_colon": b"X-Request-Id : abc\r\n",
    "content_length_and_chunked": b"Transfer-Encoding: chunked\r\n",
    "header_without_colon": b"X-Evil\r\n",
    "control_char_in_name": b"X-Ev\x01il: 1\r\n",
}


@pytest.mark.parametrize("trick", sorted(WIRE_TRICKS))
def test_wire_level_header_tricks_are_refused_without_injection(gw: Gateway,
                                                                trick: str) -> None:
    before = gw.upstream_total()
    raw, closed = exchange(gw.port, wire(WIRE_TRICKS[trick], chat_body(), gw=gw))
    status = assert_not_5xx_or_injected(raw, closed)
    assert status in (None, 400), raw[:300]
    assert closed
    assert gw.upstream_total() == before


def test_request_id_is_echoed_only_when_it_is_safe(gw: Gateway) -> None:
    good = post(gw, chat_body(), headers={"x-request-id": "client-id_42"})
    assert good.headers["x-client-request-id"] == "client-id_42"  # echoed apart
    assert OWN_ID.match(good.headers["x-request-id"])  # the record's id is the gateway's
    for unsafe in (b"abc%0d%0aSet-Cookie:%20evil=1", b"abc def", b"caf\xe9", b"a" * 129,
                   b"../../etc/passwd", b"{\"a\":1}", b"id\tevil"):
        raw, closed = exchange(gw.port, wire(b"X-Request-Id: " + unsafe + b"\r\n",
                                             chat_body(), gw=gw))
        assert assert_not_5xx_or_injected(raw, closed) == 200
        _, headers, _ = parse_response(raw)
        ids = [v for k, v in headers if k == "x-request-id"]
        assert len(ids) == 1 and OWN_ID.match(ids[0]), (unsafe, ids)
        assert not [v for k, v in headers if k == "x-client-request-id"], unsafe
    # what the meter recorded carries only the gateway's own ids: no log-line injection
    records = _records(gw, lambda rs: any(r["ClientRequestId"] == "client-id_42" for r in rs))
    assert any(r["RequestId"] == good.headers["x-request-id"] for r in records)
    assert not any("evil" in r["RequestId"] or "\n" in r["RequestId"] for r in records)
    assert not any("evil" in (r["ClientRequestId"] or "") for r in records)


@pytest.mark.parametrize("size", [64 * 1024, 1024 * 1024])
def test_oversized_header_is_431_and_the_server_keeps_serving(gw: Gateway, size: int) -> None:
    for name in (b"X-Big", b"Authorization", b"X-Skyrelay-Classification"):
        raw, closed = exchange(gw.port, wire(name + b": " + b"a" * size + b"\r\n",
                                             chat_body(), gw=gw), timeout=15)
        status = assert_not_5xx_or_injected(raw, closed)
        assert status in (None, 400, 431), raw[:300]
        if status == 431:
            error = json.loads(parse_response(raw)[2])["error"]
            assert error["code"] == "request_header_fields_too_large"
            assert str(MAX_HEADER_BYTES) in error["message"]
    assert_serving(gw)


def test_many_headers_over_the_limit_are_431_and_under_it_fine(gw: Gateway) -> None:
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 20) for i in range(5000))
    raw, closed = exchange(gw.port, wire(many, chat_body(), gw=gw), timeout=15)
    assert assert_not_5xx_or_injected(raw, closed) in (None, 431)
    some = b"".join(b"X-H%d: v\r\n" % i for i in range(100))
    raw, closed = exchange(gw.port, wire(some, chat_body(), gw=gw))
    assert assert_not_5xx_or_injected(raw, closed) == 200
    health = httpx.get(gw.url + "/healthz", headers={"x-big": "a" * (MAX_HEADER_BYTES + 1)})
    assert error_of(health, 431)["code"] == "request_header_fields_too_large"


def test_odd_requests_on_the_wire(gw: Gateway) -> None:
    """Unknown method, bad versions, absolute-form target, a path with encoded NUL/CRLF."""
    for request in (b"BREW /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
                    b"GET /healthz\r\n\r\n",
                    b"GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\n"
                    b"Connection: close\r\n\r\n",
                    b"GET /v1/models/%00%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: Bearer " + gw.key.encode() + b"\r\nConnection: close\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS hello
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        raw, closed = exchange(gw.port, request)
        assert_not_5xx_or_injected(raw, closed)
    assert_serving(gw)


# --- afterwards -----------------------------------------------------------------------------


def _records(gw: Gateway, ready: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The usage records so far, once ``ready(records)`` holds (finish runs after the
    response is sent; the meter writes from its own thread)."""
    deadline = time.monotonic() + timeout
    while True:
        records = [json.loads(line) for line in gw.out.getvalue().splitlines()]
        if ready(records) or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_afterwards_the_server_serves_and_nothing_leaked_into_the_records(gw: Gateway) -> None:
    assert_serving(gw)
    stream = httpx.post(gw.url + CHAT, content=chat_body(stream=True), timeout=10,
                        headers={"authorization": f"Bearer {gw.key}",
                                 "x-request-id": "last-one"})
    assert stream.status_code == 200 and stream.text.rstrip().endswith("data: [DONE]")
    records = _records(gw, lambda rs: any(r["ClientRequestId"] == "last-one" for r in rs))
    assert any(r["ClientRequestId"] == "last-one"
               and r["RequestId"] == stream.headers["x-request-id"] for r in records)
    emf = gw.out.getvalue().decode()
    for secret in (gw.key, gw.stored, gw.eu_key, gw.eu_stored, UPSTREAM_KEY):
        assert secret not in emf
    assert not any(r["Status"] >= 500 for r in records), [
        r for r in records if r["Status"] >= 500]
    health = gw.app.router.health()
    assert all(h["state"] == "closed" for h in health.values()), health
