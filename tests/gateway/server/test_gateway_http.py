"""The HTTP surface through the official openai SDK (sync and async) and raw HTTP:
error shapes and statuses, keys, /v1/models per tenant, residency, size limit, health,
readiness with unreachable upstreams, OpenAPI, and the tenancy hooks.

These requests are refused or answered before any provider is called (or, for the hook
cases, with a scripted in-test provider); upstream behaviour is covered end to end in
test_gateway_e2e.py with the real providers and wire formats.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import openai
import pytest
from gateway_support import FakeProvider, FakeRegistry, base_config, free_port

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.openapi import openapi_document
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.router.breaker import CircuitBreaker
from skyrelay.gateway.router.router import Router
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.testing.harness import OPS_HEADERS, ops_for_tests

KEYS = {"INT_KEY": "sk-int-0123456789", "EU_KEY": "sk-eu-abcdef", "PUB_KEY": "sk-pub-xyz"}
EU = ["aws:eu-central-1"]
US = ["aws:us-east-1"]
MSG = [{"role": "user", "content": "hello"}]


def config(endpoint: str = "http://127.0.0.1:9/v1"):
    return base_config(
        {"eu": {"processing": EU, "endpoint": endpoint},
         "us": {"processing": US, "endpoint": endpoint},
         "emb": {"processing": US, "kind": "embedding", "endpoint": endpoint}},
        {"mixed": {"targets": ["us", "eu"]}, "us-only": {"targets": ["us"]},
         "embed": {"targets": ["emb"], "kind": "embedding"}},
        tenants={"int": {"api_key": {"env": "INT_KEY"},
                         "routes": ["mixed", "us-only", "embed"],
                         "classification": "internal"},
                 "eu": {"api_key": {"env": "EU_KEY"}, "routes": ["mixed", "us-only"],
                        "classification": "eu-only"},
                 "pub": {"api_key": {"env": "PUB_KEY"}, "routes": ["mixed"],
                         "classification": "public"}},
        classifications={"public": {"allowed": ["any"], "processing_allowed": ["*"]},
                         "internal": {"allowed": ["us", "eu"], "processing_allowed": EU + US},
                         "eu-only": {"allowed": ["eu"], "processing_allowed": EU}})


class CountingHooks:
    """Records admit/finish calls; can refuse admission."""

    def __init__(self, refuse: GatewayError | None = None, finish_raises: bool = False):
        self.refuse = refuse
        self.finish_raises = finish_raises
        self.admitted: list[str] = []
        self.finished: list[tuple[str, int, str | None, bool]] = []
        self.usages: list[dict | None] = []

    async def admit(self, ctx):
        if self.refuse is not None:
            raise self.refuse
        self.admitted.append(ctx.request_id)

    async def finish(self, ctx):
        self.finished.append((ctx.request_id, ctx.status, ctx.error_code, ctx.admitted))
        self.usages.append(ctx.usage)
        if self.finish_raises:
            raise RuntimeError("metering store down")


@pytest.fixture
def gateway(run_server):
    provider = FakeProvider({"us": [None], "eu": [None], "emb": [{
        "object": "list", "model": "emb", "data": [{"object": "embedding", "index": 0,
                                                    "embedding": [0.1, 0.2]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2}}]})
    app = build_app(config(), providers=FakeRegistry(provider), environ=KEYS,
                    probe_interval=0, max_body=4096)
    server = run_server(app)
    server.provider = provider
    return server


def client(server, key=KEYS["INT_KEY"]):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=10)


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert "Traceback" not in response.text
    return body["error"]


def test_401_for_missing_or_unknown_key_never_echoes_it(gateway):
    with pytest.raises(openai.AuthenticationError) as info:
        client(gateway, "sk-wrong-secret-value").chat.completions.create(model="mixed",
                                                                         messages=MSG)
    assert info.value.status_code == 401
    assert info.value.body["code"] == "invalid_api_key"
    assert "sk-wrong-secret-value" not in info.value.response.text
    raw = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "mixed"})
    assert raw.status_code == 401 and error_of(raw)["type"] == "invalid_request_error"
    models = httpx.get(gateway.url + "/v1/models")
    assert models.status_code == 401


def test_api_key_header_authenticates_like_azure_clients(gateway):
    raw = httpx.get(gateway.url + "/v1/models", headers={"api-key": KEYS["PUB_KEY"]})
    assert raw.status_code == 200 and [m["id"] for m in raw.json()["data"]] == ["mixed"]


def test_models_list_is_per_tenant(gateway):
    assert [m.id for m in client(gateway).models.list()] == ["mixed", "us-only", "embed"]
    assert [m.id for m in client(gateway, KEYS["PUB_KEY"]).models.list()] == ["mixed"]
    model = client(gateway, KEYS["PUB_KEY"]).models.retrieve("mixed")
    assert model.id == "mixed" and model.object == "model"
    with pytest.raises(openai.NotFoundError):
        client(gateway, KEYS["PUB_KEY"]).models.retrieve("us-only")


def test_404_for_unknown_model_and_for_another_tenants_route_look_the_same(gateway):
    errors = []
    for model in ("no-such-model", "us-only"):
        with pytest.raises(openai.NotFoundError) as info:
            client(gateway, KEYS["PUB_KEY"]).chat.completions.create(model=model, messages=MSG)
        errors.append(info.value.body)
    assert [e["code"] for e in errors] == ["model_not_found", "model_not_found"]
    assert errors[0]["message"].replace("no-such-model", "X") \
        == errors[1]["message"].replace("us-only", "X")
    with pytest.raises(openai.NotFoundError) as kind:
        client(gateway).embeddings.create(model="mixed", input="x")
    assert kind.value.body["code"] == "model_not_supported"


def test_413_for_bodies_over_the_limit_declared_or_chunked(gateway):
    big = json.dumps({"model": "mixed", "messages": [{"role": "user",
                                                       "content": "x" * 10_000}]})
    declared = httpx.post(gateway.url + "/v1/chat/completions", content=big,
                          headers={"authorization": "Bearer " + KEYS["INT_KEY"]})
    assert declared.status_code == 413
    assert error_of(declared)["code"] == "request_too_large"

    def chunks():
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000].encode()

    chunked = httpx.post(gateway.url + "/v1/chat/completions", content=chunks(),
                         headers={"authorization": "Bearer " + KEYS["INT_KEY"]})
    assert chunked.status_code == 413 and error_of(chunked)["code"] == "request_too_large"
    assert gateway.provider.calls == []


def test_400_shapes_for_bad_requests(gateway):
    auth = {"authorization": "Bearer " + KEYS["INT_KEY"]}
    bad_json = httpx.post(gateway.url + "/v1/chat/completions", content=b"{nope",
                          headers=auth)
    assert bad_json.status_code == 400 and error_of(bad_json)["code"] == "invalid_json"
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(model="mixed", messages=[])
    assert info.value.body["param"] == "messages"
    not_object = httpx.post(gateway.url + "/v1/chat/completions", content=b"[1]",
                            headers=auth)
    assert not_object.status_code == 400


def test_unknown_path_and_wrong_method(gateway):
    missing = httpx.get(gateway.url + "/v1/nothing")
    assert missing.status_code == 404 and error_of(missing)["code"] == "unknown_url"
    wrong = httpx.get(gateway.url + "/v1/chat/completions")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed"


def test_residency_403_names_the_rule_and_the_header_cannot_widen(gateway):
    with pytest.raises(openai.PermissionDeniedError) as none:
        client(gateway, KEYS["EU_KEY"]).chat.completions.create(model="us-only", messages=MSG)
    assert none.value.body["code"] == "residency_violation"
    assert "eu-only" in none.value.body["message"]
    for wider in ("internal", "public"):
        with pytest.raises(openai.PermissionDeniedError) as info:
            client(gateway, KEYS["EU_KEY"]).chat.completions.create(
                model="mixed", messages=MSG,
                extra_headers={"x-skyrelay-classification": wider})
        assert info.value.body["code"] == "classification_not_allowed"
    assert gateway.provider.calls == []


def test_narrowing_classification_restricts_the_targets(gateway):
    c = client(gateway)
    default = c.chat.completions.with_raw_response.create(model="mixed", messages=MSG)
    narrowed = c.chat.completions.with_raw_response.create(
        model="mixed", messages=MSG, extra_headers={"x-skyrelay-classification": "eu-only"})
    assert default.headers["x-skyrelay-target"] == "us"
    assert narrowed.headers["x-skyrelay-target"] == "eu"
    assert narrowed.headers["x-skyrelay-attempts"] == "1"


def test_async_client_and_embeddings(gateway):
    async def go():
        async with openai.AsyncOpenAI(base_url=gateway.url + "/v1", api_key=KEYS["INT_KEY"],
                                      max_retries=0) as c:
            chat = await c.chat.completions.create(model="mixed", messages=MSG)
            emb = await c.embeddings.create(model="embed", input=["a b"])
            return chat, emb
    chat, emb = asyncio.run(go())
    assert chat.choices[0].message.content == "hi"
    assert emb.data[0].embedding == [0.1, 0.2]


def test_healthz_and_openapi(gateway):
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok"}
    served = httpx.get(gateway.url + "/openapi.json")
    committed = Path(__file__).resolve().parents[3] / "gateway" / "openapi.json"
    assert served.json() == json.loads(committed.read_text()) == openapi_document()
    from openapi_spec_validator import validate
    validate(served.json())
    paths = set(served.json()["paths"])
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/healthz",
            "/readyz"} <= paths


def test_readyz_reports_unreachable_upstreams_without_crashing(run_server):
    dead = free_port()  # nothing listens here
    cfg = config(f"http://127.0.0.1:{dead}/v1")
    registry = FakeRegistry(FakeProvider({}))
    # A long cool-down: the breakers the probe opened must still be open when the request
    # below is made, however busy the machine. With the default 1 s a request made more
    # than a second after the probe found the breaker half-open and reached the fake
    # provider (502; 3 of 50 runs on a loaded machine).
    router = Router(cfg, registry.for_target,
                    breaker_factory=lambda: CircuitBreaker(base_cooldown=3600.0))
    app = build_app(cfg, providers=registry, router=router, environ=KEYS,
                    probe_interval=60, probe_timeout=1, ops=ops_for_tests())
    server = run_server(app)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ready = httpx.get(server.url + "/readyz", headers=OPS_HEADERS)
        if ready.json()["upstreams"]["us"]["reachable"] is False:
            break
        time.sleep(0.05)
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready"
    assert body["unhealthy_upstreams"] == ["emb", "eu", "us"]
    assert body["upstreams"]["eu"]["state"] == "open"
    assert body["routes"]["mixed"] == {"ready": False, "healthy_targets": []}
    # requests meanwhile fail fast with 503 instead of calling an unreachable upstream
    with pytest.raises(openai.InternalServerError) as info:
        client(server).chat.completions.create(model="mixed", messages=MSG)
    assert info.value.status_code == 503
    assert info.value.response.headers["retry-after"]


def test_readyz_ready_when_upstreams_answer(run_server):
    # a listening socket is enough for the TCP probe
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        port = listener.getsockname()[1]
        app = build_app(config(f"http://127.0.0.1:{port}/v1"),
                        providers=FakeRegistry(FakeProvider({})), environ=KEYS,
                        probe_interval=60, probe_timeout=1, ops=ops_for_tests())
        server = run_server(app)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = httpx.get(server.url + "/readyz", headers=OPS_HEADERS)
            if ready.status_code == 200:
                break
            time.sleep(0.05)
        assert ready.status_code == 200 and ready.json()["unhealthy_upstreams"] == []
    finally:
        listener.close()


def test_hooks_admit_refusal_and_exactly_one_finish_per_request(run_server):
    hooks = CountingHooks(refuse=GatewayError(429, "Tenant over its request rate.",
                                              code="rate_limit_exceeded", retry_after=7))
    app = build_app(config(), providers=FakeRegistry(FakeProvider({"us": [None]})),
                    environ=KEYS, probe_interval=0, hooks=hooks)
    server = run_server(app)
    with pytest.raises(openai.RateLimitError) as info:
        client(server).chat.completions.create(model="mixed", messages=MSG)
    assert info.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="nope", messages=MSG)
    with pytest.raises(openai.AuthenticationError):
        client(server, "sk-bad").chat.completions.create(model="mixed", messages=MSG)
    wait_finished(hooks, 2)
    statuses = sorted((status, admitted) for _, status, _, admitted in hooks.finished)
    assert statuses == [(404, False), (429, False)]  # unauthenticated: no tenant, no record
    assert len({rid for rid, *_ in hooks.finished}) == 2


def test_failing_finish_hook_does_not_break_the_response(run_server):
    hooks = CountingHooks(finish_raises=True)
    provider = FakeProvider({"us": [KeyError("boom")], "eu": [None]})
    app = build_app(config(), providers=FakeRegistry(provider), environ=KEYS,
                    probe_interval=0, hooks=hooks)
    server = run_server(app)
    answer = client(server).chat.completions.with_raw_response.create(model="mixed",
                                                                      messages=MSG)
    assert answer.status_code == 200 and answer.headers["x-skyrelay-target"] == "eu"
    assert answer.headers["x-skyrelay-attempts"] == "2"
    wait_finished(hooks, 1)
    assert hooks.finished[0][1:] == (200, None, True)


# --- streams (the app's SSE framing; the real wire formats are in test_gateway_e2e.py) ----

def chunk(text=None, usage=None, choices=True):
    c = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": ([{"index": 0, "delta": {"content": text}, "finish_reason": None}]
                     if choices else [])}
    if usage is not None:
        c["usage"] = usage
    return c


USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def wait_finished(hooks, n, timeout=5.0):
    """``finish`` runs after the response went out: wait (bounded) until it has run n times."""
    end = time.monotonic() + timeout
    while len(hooks.finished) < n and time.monotonic() < end:
        time.sleep(0.01)
    assert len(hooks.finished) == n


def sse_events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]


def stream_server(run_server, script):
    provider = FakeProvider(script)
    hooks = CountingHooks()
    app = build_app(config(), providers=FakeRegistry(provider), environ=KEYS,
                    probe_interval=0, hooks=hooks)
    server = run_server(app)
    server.provider, server.hooks = provider, hooks
    return server


def post_stream(server, include_usage=None):
    body = {"model": "mixed", "messages": MSG, "stream": True}
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    return httpx.post(server.url + "/v1/chat/completions", json=body, timeout=10,
                      headers={"authorization": "Bearer " + KEYS["INT_KEY"]})


def test_usage_chunk_forwarded_only_when_asked(run_server):
    stream = [chunk("a"), chunk("b"), chunk(usage=USAGE, choices=False)]
    server = stream_server(run_server, {"us": [stream], "eu": [stream]})
    asked, not_asked = post_stream(server, True), post_stream(server, None)
    asked_events, plain_events = sse_events(asked), sse_events(not_asked)
    assert asked_events[-1] == plain_events[-1] == "[DONE]"
    assert json.loads(asked_events[-2])["usage"] == USAGE
    assert all("usage" not in json.loads(e) for e in plain_events[:-1])
    assert len(plain_events) == len(asked_events) - 1
    # both were metered with the upstream's usage, asked for or not
    wait_finished(server.hooks, 2)
    assert [f[1] for f in server.hooks.finished] == [200, 200]
    assert server.hooks.usages == [USAGE, USAGE]


def test_mid_stream_failure_ends_with_error_event_and_no_done(run_server):
    err = ProviderError("server", 500, "upstream dropped the stream", retryable=True)
    server = stream_server(run_server, {"us": [[chunk("a"), chunk("b"), err]],
                                        "eu": [[chunk("never")]]})
    response = post_stream(server)
    events = sse_events(response)
    assert response.status_code == 200 and response.headers["x-skyrelay-target"] == "us"
    assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events[:2]] == ["a", "b"]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_server" and error["type"] == "server_error"
    assert server.provider.calls == ["us"]  # bytes were sent: no fallback
    wait_finished(server.hooks, 1)
    assert server.hooks.finished[0][1:3] == (502, "upstream_server")


def test_openai_sdk_raises_on_the_mid_stream_error_event(run_server):
    err = ProviderError("connection", 502, "reset", retryable=True)
    server = stream_server(run_server, {"us": [[chunk("a"), err]], "eu": [[chunk("x")]]})
    got = []
    with pytest.raises(openai.APIError):
        for c in client(server).chat.completions.create(model="mixed", messages=MSG,
                                                        stream=True):
            got.append(c.choices[0].delta.content)
    assert got == ["a"]


def test_stream_error_before_first_chunk_is_a_json_error_not_sse(run_server):
    cf = ProviderError("content_filter", 400, "The prompt was filtered.",
                       code="content_filter")
    server = stream_server(run_server, {"us": [cf], "eu": [[chunk("x")]]})
    response = post_stream(server)
    assert response.status_code == 400
    assert error_of(response)["code"] == "content_filter"
    assert server.provider.calls == ["us"]


def test_client_disconnect_mid_stream_stops_reading_upstream(run_server):
    slow = [chunk("a")] + [x for i in range(200) for x in (0.02, chunk(str(i)))]
    server = stream_server(run_server, {"us": [slow], "eu": [slow]})
    with httpx.stream("POST", server.url + "/v1/chat/completions", timeout=10,
                      json={"model": "mixed", "messages": MSG, "stream": True},
                      headers={"authorization": "Bearer " + KEYS["INT_KEY"]}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break
    deadline = time.monotonic() + 5
    while not server.hooks.finished and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.hooks.finished and server.hooks.finished[0][1:3] == (499, "client_closed")
