"""Headers and errors like OpenAI's, checked with the official ``openai`` SDK and its retry
behaviour: x-ratelimit-* from the tenant's limits, x-request-id on every response, budget
exhaustion that the SDK does not retry, 429 with Retry-After when every target cools down
after upstream 429s, and the upstream's ``param`` kept."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.testing.harness import ServerThread, base_config, ops_for_tests
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

KEY, POOR = "sk-headers-0123456789", "sk-poor-0123456789"
MSG = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gw() -> Iterator[dict[str, Any]]:
    with OpenAIUpstream(max_lifetime=120.0) as up:
        cfg = base_config(
            {"a": {"endpoint": up.url + "/v1", "model": "m-a"},
             "b": {"endpoint": up.url + "/v1", "model": "m-b"},
             "c": {"endpoint": up.url + "/v1", "model": "m-c"}},
            {"chat": {"targets": ["a"]}, "pair": {"targets": ["b", "c"], "max_attempts": 2},
             "solo": {"targets": ["c"], "max_attempts": 1}},
            tenants={"rich": {"api_key": {"env": "H_KEY"}, "routes": ["chat", "pair", "solo"],
                              "classification": "public", "requests_per_minute": 50,
                              "tokens_per_minute": 100000},
                     "poor": {"api_key": {"env": "P_KEY"}, "routes": ["chat"],
                              "classification": "public", "monthly_budget": 0.0}})
        hooks = TenancyHooks(MemoryState(), Meter(stream=io.BytesIO()))
        app = build_app(cfg, environ={"H_KEY": KEY, "P_KEY": POOR}, hooks=hooks,
                        probe_interval=0, ops=ops_for_tests())
        server = ServerThread(app).start()
        try:
            yield {"url": server.url, "up": up}
        finally:
            server.stop()


def counting_client(gw: dict[str, Any], key: str = KEY, retries: int = 2
                    ) -> tuple[openai.OpenAI, list[str]]:
    sent: list[str] = []
    http = httpx.Client(event_hooks={"request": [lambda r: sent.append(r.url.path)]})
    return openai.OpenAI(base_url=gw["url"] + "/v1", api_key=key, max_retries=retries,
                         http_client=http), sent


def test_ratelimit_headers_follow_the_tenants_limits(gw: dict[str, Any]) -> None:
    c, _ = counting_client(gw)
    first = c.chat.completions.with_raw_response.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    second = c.chat.completions.with_raw_response.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    h1, h2 = first.headers, second.headers
    assert h1["x-ratelimit-limit-requests"] == "50"
    assert h1["x-ratelimit-limit-tokens"] == "100000"
    assert int(h2["x-ratelimit-remaining-requests"]) == \
        int(h1["x-ratelimit-remaining-requests"]) - 1
    assert int(h2["x-ratelimit-remaining-tokens"]) < 100000
    assert h2["x-ratelimit-reset-requests"].endswith("s")


def test_x_request_id_on_every_response(gw: dict[str, Any]) -> None:
    url = gw["url"]
    auth = {"authorization": f"Bearer {KEY}"}
    for method, path, headers, status in (
            ("GET", "/v1/models", auth, 200), ("GET", "/v1/models/chat", auth, 200),
            ("GET", "/v1/models/nope", auth, 404), ("GET", "/nowhere", {}, 404),
            ("GET", "/v1/chat/completions", auth, 405), ("GET", "/v1/models", {}, 401),
            ("GET", "/healthz", {}, 200)):
        r = httpx.request(method, url + path, headers=headers)
        assert r.status_code == status, path
        assert r.headers["x-request-id"], path
    ids = {httpx.get(url + "/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3  # the gateway's own, one per request


def test_budget_exhaustion_is_not_retried_by_the_sdk(gw: dict[str, Any]) -> None:
    c, sent = counting_client(gw, POOR, retries=3)
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="chat", messages=MSG)  # type: ignore[arg-type]
    assert info.value.code == "insufficient_quota"
    assert info.value.response.headers["x-should-retry"] == "false"
    assert len(sent) == 1  # max_retries=3, and still one request: the SDK obeyed


def test_every_target_cooling_after_upstream_429s_is_429_with_retry_after(
        gw: dict[str, Any]) -> None:
    up: OpenAIUpstream = gw["up"]
    up.fault("429:30", model="m-c")
    c, sent = counting_client(gw, retries=0)
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="solo", messages=MSG)  # type: ignore[arg-type]
    hits = sum(up.hits.values())
    with pytest.raises(openai.RateLimitError) as info:  # the target is cooling down now
        c.chat.completions.create(model="solo", messages=MSG)  # type: ignore[arg-type]
    assert sum(up.hits.values()) == hits  # the upstream was not called again
    assert info.value.code == "rate_limit_exceeded"
    assert 25 <= int(info.value.response.headers["retry-after"]) <= 30
    assert "x-should-retry" not in info.value.response.headers


def test_the_upstreams_param_is_kept(gw: dict[str, Any]) -> None:
    gw["up"].fault("400", model="m-a")
    c, _ = counting_client(gw, retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        c.chat.completions.create(model="chat", messages=MSG, temperature=5)  # type: ignore[arg-type]
    assert info.value.param == "temperature"
    assert info.value.code == "invalid_value"
