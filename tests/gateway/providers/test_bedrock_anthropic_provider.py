"""Claude on Bedrock with the Anthropic body (InvokeModel and InvokeModelWithResponseStream)
over real HTTP against the local runtime: the body Bedrock requires, the base64 ``chunk``
frames decoded into Messages events, usage read as it accumulates, and failures (a body
Bedrock refuses, an exception frame, a cut stream) classified for the router."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.doors.anthropic_messages import DOOR
from skyrelay.gateway.hub.request import API_MESSAGES, PathParams
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock import BedrockProvider
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream

CLAUDE = "eu.anthropic.claude-sonnet-4-20250514-v1:0"
BODY = {"model": "claude", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def target(url: str) -> TargetConfig:
    return TargetConfig(key="bedrock:eu-west-1/claude", cloud="bedrock", kind="chat",
                        region="eu-west-1", model=CLAUDE, endpoint=url,
                        price=TargetPrice(3, 15), processing=frozenset({"aws:eu-west-1"}))


def run(body: Callable[[BedrockProvider], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        http = HttpClient()
        try:
            return await body(BedrockProvider(http))
        finally:
            await http.aclose()
    return asyncio.run(main())


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5.0


def test_invoke_sends_the_bedrock_body_and_reads_usage() -> None:
    request = DOOR.parse(dict(BODY), PathParams(extra={"anthropic-beta": "x-1"}))
    with BedrockUpstream() as up:
        t = target(up.url)
        result = run(lambda p: p.passthrough(t, request, deadline=deadline()))
        assert up.bodies[-1] == {"max_tokens": 20, "messages": BODY["messages"],
                                 "anthropic_version": "bedrock-2023-05-31",
                                 "anthropic_beta": ["x-1"]}
        assert up.hits[f"/model/{CLAUDE}/invoke"] == 1
    assert result.api == API_MESSAGES and result.body["content"][0]["text"] == "Hello from Claude"
    assert result.usage == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16,
                            "prompt_tokens_details": {"cached_tokens": 3}}


def test_stream_events_carry_the_usage_so_far() -> None:
    request = DOOR.parse({**BODY, "stream": True}, PathParams())

    async def body(p: BedrockProvider) -> list[Any]:
        return [e async for e in p.passthrough_stream(t, request, deadline=deadline())]
    with BedrockUpstream() as up:
        t = target(up.url)
        events = run(body)
    assert [e.name for e in events][0] == "message_start"
    assert events[-1].name == "message_stop" and events[-1].data == {"type": "message_stop"}
    start, delta = events[0], next(e for e in events if e.name == "message_delta")
    assert start.usage["completion_tokens"] == 1  # what message_start reports
    assert delta.usage == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16,
                           "prompt_tokens_details": {"cached_tokens": 3}}
    assert sum(e.delivered_chars for e in events) == len("Hello from Claude")


def test_a_body_bedrock_refuses_is_the_clients_error() -> None:
    request = DOOR.parse(dict(BODY), PathParams())
    request.native = {**BODY, "metadata": {"user_id": "u"}}  # what the table would refuse
    with BedrockUpstream() as up:
        t = target(up.url)
        with pytest.raises(ProviderError) as caught:
            run(lambda p: p.passthrough(t, request, deadline=deadline()))
    assert caught.value.kind == "bad_request" and not caught.value.retryable
    assert "metadata" in caught.value.message


@pytest.mark.parametrize(("fault", "kind"), [("exception", "rate_limit"),
                                             ("cut", "connection")])
def test_stream_failures_are_classified(fault: str, kind: str) -> None:
    request = DOOR.parse({**BODY, "stream": True}, PathParams())

    async def body(p: BedrockProvider) -> list[Any]:
        return [e async for e in p.passthrough_stream(t, request, deadline=deadline())]
    with BedrockUpstream() as up:
        up.fault(fault)
        t = target(up.url)
        with pytest.raises(ProviderError) as caught:
            run(body)
    assert caught.value.kind == kind and caught.value.retryable
