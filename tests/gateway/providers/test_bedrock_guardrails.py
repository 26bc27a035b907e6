"""Guardrails on Converse calls (issue 20: one content filter, both clouds).

A tenant or route that names a content filter gets that filter's Bedrock guardrail on every
Converse / ConverseStream call, with the id and version the gateway config carries for the
target's region; the body is checked against botocore's bedrock-runtime input shapes. An
intervention is answered as Azure answers its content filter: a blocked prompt is a 400
``content_filter`` error, a blocked answer ends with ``finish_reason: content_filter``.
The local Bedrock runtime (gateway/testing/bedrock_upstream.py) plays the guardrail.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from typing import Any

import botocore.session
import openai
import pytest
from botocore.validate import ParamValidator

from skyrelay.gateway.config import GatewayConfig, TargetConfig, TargetPrice
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock import BedrockProvider
from skyrelay.gateway.providers.bedrock_guardrails import choose, use_guardrails
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.testing.bedrock_upstream import (
    BLOCK_ANSWER,
    BLOCK_PROMPT,
    BLOCKED_TEXT,
    BedrockUpstream,
)
from skyrelay.gateway.testing.harness import ServerThread, base_config_dict

GUARDRAIL_ID = "a1b2c3d4e5f6"
TENANT_KEY = "sk-guardrail-tenant-key"
MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
RUNTIME = botocore.session.get_session().get_service_model("bedrock-runtime")


def validate(operation: str, body: dict[str, Any]) -> None:
    """Raise when ``body`` (plus the path's modelId) breaks botocore's input shape."""
    report = ParamValidator().validate({"modelId": MODEL, **body},
                                       RUNTIME.operation_model(operation).input_shape)
    if report.has_errors():
        raise AssertionError(report.generate_report())


def config_dict(bedrock_url: str, *, tenant_filter: str | None = "strict",
                route_filter: str | None = None,
                guardrails: dict[str, Any] | None = None) -> dict[str, Any]:
    doc = base_config_dict(
        {"bedrock-g": {"cloud": "bedrock", "model": MODEL, "region": "us-east-1",
                       "endpoint": bedrock_url}},
        {"chat": {"targets": ["bedrock-g"], "max_attempts": 1}})
    if tenant_filter:
        doc["tenants"]["t1"]["content_filter"] = tenant_filter
    if route_filter:
        doc["routes"]["chat"]["content_filter"] = route_filter
    doc["guardrails"] = guardrails if guardrails is not None else {
        "strict": {"us-east-1": {"identifier": GUARDRAIL_ID, "version": "3"}},
        "lenient": {"us-east-1": {"identifier": "ffff00001111", "version": "1"}}}
    return doc


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDGUARDRAILTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def up() -> Iterator[BedrockUpstream]:
    with BedrockUpstream(guardrails={GUARDRAIL_ID: "3"}) as server:
        yield server


def target(url: str) -> TargetConfig:
    return TargetConfig(key="bedrock-g", cloud="bedrock", kind="chat", region="us-east-1",
                        model=MODEL, endpoint=url, price=TargetPrice(3, 15),
                        processing=frozenset({"aws:us-east-1"}))


def call(cfg: GatewayConfig, url: str, text: str, *, stream: bool = False,
         tenant: str = "t1", route: str = "chat") -> Any:
    async def main() -> Any:
        http = HttpClient()
        try:
            use_guardrails(cfg, tenant, route)  # what the request pipeline does
            provider = BedrockProvider(http)
            deadline = asyncio.get_running_loop().time() + 10
            request = {"messages": [{"role": "user", "content": text}], "max_tokens": 20}
            if stream:
                return [c async for c in provider.chat_stream(target(url), request,
                                                              deadline=deadline)]
            return await provider.chat(target(url), request, deadline=deadline)
        finally:
            await http.aclose()
    return asyncio.run(main())


def test_the_tenants_filter_becomes_a_valid_converse_guardrail_config(
        up: BedrockUpstream) -> None:
    cfg = GatewayConfig.from_dict(config_dict(up.url))
    out = call(cfg, up.url, "hello")
    assert out["choices"][0]["finish_reason"] == "stop"
    (body,) = up.bodies
    assert body["guardrailConfig"] == {"guardrailIdentifier": GUARDRAIL_ID,
                                       "guardrailVersion": "3", "trace": "enabled"}
    validate("Converse", body)


def test_the_stream_config_is_a_valid_guardrail_stream_configuration(
        up: BedrockUpstream) -> None:
    cfg = GatewayConfig.from_dict(config_dict(up.url))
    chunks = call(cfg, up.url, "hello", stream=True)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"]) == "Hello from Bedrock"
    (body,) = up.bodies
    assert body["guardrailConfig"]["streamProcessingMode"] == "sync"
    validate("ConverseStream", body)
    with pytest.raises(AssertionError, match="streamProcessingMode"):
        validate("Converse", body)  # the non-stream shape has no such member


def test_a_broken_guardrail_config_fails_the_service_model() -> None:
    # The oracle is real: a version Bedrock's pattern refuses ("DRAFT" or digits only).
    broken = {"messages": [{"role": "user", "content": [{"text": "x"}]}],
              "guardrailConfig": {"guardrailIdentifier": GUARDRAIL_ID,
                                  "guardrailVersion": 3, "trace": "on"}}
    with pytest.raises(AssertionError, match="guardrailVersion|trace"):
        validate("Converse", broken)


def test_a_blocked_prompt_is_a_content_filter_error(up: BedrockUpstream) -> None:
    cfg = GatewayConfig.from_dict(config_dict(up.url))
    with pytest.raises(ProviderError) as info:
        call(cfg, up.url, f"please {BLOCK_PROMPT}")
    err = info.value
    assert (err.kind, err.status, err.code, err.retryable) == (
        "content_filter", 400, "content_filter", False)
    assert "strict" in err.message


def test_a_blocked_answer_finishes_with_content_filter(up: BedrockUpstream) -> None:
    cfg = GatewayConfig.from_dict(config_dict(up.url))
    out = call(cfg, up.url, f"tell me {BLOCK_ANSWER}")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "content_filter"
    assert choice["message"]["content"] == BLOCKED_TEXT
    chunks = call(cfg, up.url, f"tell me {BLOCK_PROMPT}", stream=True)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "content_filter"


def test_no_filter_no_guardrail_and_the_tenant_wins_over_the_route(
        up: BedrockUpstream) -> None:
    plain = GatewayConfig.from_dict(config_dict(up.url, tenant_filter=None))
    call(plain, up.url, f"x {BLOCK_PROMPT}")  # no guardrail: the model answers
    assert "guardrailConfig" not in up.bodies[-1]
    both = GatewayConfig.from_dict(config_dict(up.url, tenant_filter="strict",
                                               route_filter="lenient"))
    chosen = choose(both, "t1", "chat")
    assert chosen is not None and chosen.filter == "strict"
    route_only = GatewayConfig.from_dict(config_dict(up.url, tenant_filter=None,
                                                     route_filter="lenient"))
    chosen = choose(route_only, "t1", "chat")
    assert chosen is not None and chosen.filter == "lenient"


def test_a_filtered_call_without_a_guardrail_in_the_region_fails_closed(
        up: BedrockUpstream) -> None:
    cfg = GatewayConfig.from_dict(config_dict(up.url, guardrails={}))
    with pytest.raises(ProviderError) as info:
        call(cfg, up.url, "hello")
    assert (info.value.kind, info.value.code) == ("auth", "guardrail_not_configured")
    assert up.bodies == []  # nothing unfiltered reached the model


def test_through_the_gateway_with_the_openai_sdk(up: BedrockUpstream) -> None:
    # The pipeline chooses the guardrail (tenant t1 names "strict"); the official client
    # sees Azure's content-filter answers.
    from skyrelay.gateway.providers.registry import ProviderRegistry
    from skyrelay.gateway.serve import build_app

    cfg = GatewayConfig.from_dict(config_dict(up.url))
    app = build_app(cfg, providers=ProviderRegistry(cfg, environ={}),
                    environ={"T1_KEY": TENANT_KEY}, probe_interval=0)
    server = ServerThread(app).start()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=TENANT_KEY,
                               max_retries=0, timeout=15)
        ok = client.chat.completions.create(model="chat", messages=[
            {"role": "user", "content": "hello"}])
        assert ok.choices[0].message.content == "Hello from Bedrock"
        assert up.bodies[-1]["guardrailConfig"]["guardrailIdentifier"] == GUARDRAIL_ID
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="chat", messages=[
                {"role": "user", "content": BLOCK_PROMPT}])
        assert info.value.code == "content_filter"
        blocked = client.chat.completions.create(model="chat", messages=[
            {"role": "user", "content": BLOCK_ANSWER}])
        assert blocked.choices[0].finish_reason == "content_filter"
    finally:
        server.stop()


def test_the_derived_config_carries_the_filters_the_spec_names(default_spec: Any) -> None:
    from skyrelay.views.gateway_config import gateway_config

    doc = gateway_config(default_spec, "eu-central-1")
    named = {n: t["content_filter"] for n, t in doc["tenants"].items() if "content_filter" in t}
    assert named == {t.name: t.content_filter for t in default_spec.tenants
                     if t.content_filter}
    assert named, "the default spec applies a content filter to some tenant"
    cfg = GatewayConfig.from_dict(copy.deepcopy(doc))
    assert cfg.extra["content_filters"]["tenants"] == named
