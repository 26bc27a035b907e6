"""End to end: openai SDK -> gateway with hashed keys, Redis-backed limits and budgets and
metering -> the real Azure/OpenAI provider -> a local upstream. One usage record per
request, keys never echoed, Redis away -> 503 and /readyz says so, back -> recovered."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.keys import HashedKeys, new_key
from skyrelay.gateway.tenancy.state_redis import RedisState
from skyrelay.gateway.testing.harness import OPS_HEADERS, ServerThread, base_config, ops_for_tests
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

MSG = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def stack(redis_server: Any) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream() as upstream:
        cfg = base_config(
            {"compat": {"cloud": "openai", "model": "m-b", "account": "local",
                        "endpoint": upstream.url + "/v1"}},
            {"chat": {"targets": ["compat"], "max_attempts": 1}},
            tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["chat"],
                            "classification": "public", "requests_per_minute": 5}})
        out = io.BytesIO()
        meter = Meter(stream=out)
        hooks = TenancyHooks(RedisState(redis_server.url), meter)
        app = build_app(cfg, providers=ProviderRegistry(cfg, environ={}), probe_interval=0,
                        authenticator=HashedKeys(cfg, environ={"T1_KEY": stored}), hooks=hooks,
                        ops=ops_for_tests())
        server = ServerThread(app).start()
        try:
            yield {"key": key, "stored": stored, "url": server.url, "out": out, "meter": meter,
                   "upstream": upstream, "redis": redis_server}
        finally:
            server.stop()
            meter.close()


def _records(s: dict[str, Any], n: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5  # finish runs after the response is sent
    while time.monotonic() < deadline and len(s["out"].getvalue().splitlines()) < n:
        time.sleep(0.02)
    return [json.loads(line) for line in s["out"].getvalue().splitlines()]


def test_records_limits_and_no_key_leaks(stack: dict[str, Any],
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = openai.OpenAI(base_url=stack["url"] + "/v1", api_key=stack["key"], max_retries=0)
    ok = client.chat.completions.create(model="chat", messages=MSG)
    assert ok.choices[0].message.content
    stack["upstream"].fault("500")
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="chat", messages=MSG)
    assert failed.value.status_code >= 500
    bad = httpx.post(stack["url"] + "/v1/chat/completions",
                     headers={"authorization": "Bearer " + stack["key"][:-2] + "zz"},
                     json={"model": "chat", "messages": MSG})
    assert bad.status_code == 401 and stack["key"][:12] not in bad.text
    # rpm is 5: three more pass, the sixth request of the minute is refused with Retry-After.
    for _ in range(3):
        client.chat.completions.create(model="chat", messages=MSG)
    limited = httpx.post(stack["url"] + "/v1/chat/completions",
                         headers={"authorization": "Bearer " + stack["key"]},
                         json={"model": "chat", "messages": MSG})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    records = _records(stack, 6)
    assert len(records) == 6  # 5 admitted or refused by limits + 1 upstream failure; 401 none
    outcomes = [r["Outcome"] for r in records]
    assert outcomes.count("success") == 4 and outcomes.count("error") == 1
    assert outcomes.count("refused") == 1
    assert all(r["Tenant"] == "t1" for r in records)
    metrics = httpx.get(stack["url"] + "/metrics", headers=OPS_HEADERS).text
    assert ('skyrelay_requests_total{outcome="success",route="chat",target="compat",'
            'tenant="t1"} 4.0') in metrics
    for text in (stack["out"].getvalue().decode(), metrics, limited.text, bad.text,
                 caplog.text):
        assert stack["key"] not in text and stack["stored"] not in text


def test_redis_away_fails_closed_then_recovers(stack: dict[str, Any]) -> None:
    client = openai.OpenAI(base_url=stack["url"] + "/v1", api_key=stack["key"], max_retries=0)
    client.chat.completions.create(model="chat", messages=MSG)
    stack["redis"].stop()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="chat", messages=MSG)
    assert info.value.status_code == 503
    assert info.value.body["code"] == "state_unavailable"  # type: ignore[index]
    ready = httpx.get(stack["url"] + "/readyz", headers=OPS_HEADERS)
    assert ready.status_code == 503 and ready.json()["state_store"] == "unreachable"
    hits_before = sum(stack["upstream"].hits.values())
    stack["redis"].start()
    for _ in range(50):
        ready = httpx.get(stack["url"] + "/readyz", headers=OPS_HEADERS)
        if ready.json().get("state_store") == "ok":
            break
        time.sleep(0.1)
    assert client.chat.completions.create(model="chat", messages=MSG).choices
    assert sum(stack["upstream"].hits.values()) == hits_before + 1  # the refused one never went
    assert len(_records(stack, 3)) == 3
