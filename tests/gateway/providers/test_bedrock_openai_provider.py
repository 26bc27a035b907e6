"""Bedrock's OpenAI-compatible endpoint (``/openai/v1``) over real HTTP against a local
runtime: the paths the AWS docs give, SigV4 for service ``bedrock`` or a Bedrock API key as
a bearer token, the target's model in every body, and failures classified for the router."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.hub.request import API_RESPONSES, Request
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock_openai import BedrockOpenAIProvider
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.testing.bedrock_openai_upstream import (
    TEXT,
    USAGE_CHAT,
    BedrockOpenAIUpstream,
)

KEY = "bedrock-api-key-for-tests-0001"
MSG = [{"role": "user", "content": "hi"}]


def responses_request(stream: bool = False) -> Request:
    native = {"model": "route", "input": "hi", "stream": stream}
    return Request("chat", API_RESPONSES, "route", {"messages": MSG}, stream=stream,
                   native=native)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def target(url: str, *, key_env: str = "") -> TargetConfig:
    """A gpt-oss target; with ``key_env``, authenticated by the Bedrock API key there."""
    return TargetConfig(key="bedrock:us-west-2/gpt-oss", cloud="bedrock", kind="chat",
                        region="us-west-2", model="openai.gpt-oss-120b-1:0", endpoint=url,
                        price=TargetPrice(0.15, 0.6), processing=frozenset({"aws:us-west-2"}),
                        api="openai", api_key={"env": key_env} if key_env else None)


def run(body: Callable[[BedrockOpenAIProvider], Awaitable[Any]],
        environ: dict[str, str] | None = None) -> Any:
    async def main() -> Any:
        http = HttpClient()
        try:
            return await body(BedrockOpenAIProvider(http, environ=environ or {}))
        finally:
            await http.aclose()
    return asyncio.run(main())


def deadline() -> float:
    return asyncio.get_running_loop().time() + 5.0


def test_chat_is_sigv4_signed_for_bedrock_on_the_openai_path() -> None:
    with BedrockOpenAIUpstream() as up:
        t = target(up.url)
        value = run(lambda p: p.chat(t, {"model": "route", "messages": MSG},
                                     deadline=deadline()))
        assert value["choices"][0]["message"]["content"] == "".join(TEXT)
        assert value["usage"] == USAGE_CHAT
        assert up.paths == ["/openai/v1/chat/completions"]
        assert up.auth == ["AWS4-HMAC-SHA256"]
        assert up.bodies[0]["model"] == "openai.gpt-oss-120b-1:0"  # the target's, not the route


def test_chat_stream_asks_for_usage_and_yields_it_last() -> None:
    async def body(p: BedrockOpenAIProvider) -> list[dict[str, Any]]:
        return [c async for c in p.chat_stream(t, {"messages": MSG, "stream": True},
                                               deadline=deadline())]
    with BedrockOpenAIUpstream() as up:
        t = target(up.url)
        chunks = run(body)
        assert up.bodies[0]["stream"] is True
        assert up.bodies[0]["stream_options"] == {"include_usage": True}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"])
    assert text == "".join(TEXT)
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE_CHAT


def test_api_key_auth_sends_the_bearer_key_from_the_spec_variable() -> None:
    with BedrockOpenAIUpstream(api_key=KEY) as up:
        t = target(up.url, key_env="BEDROCK_KEY_US_WEST")
        result = run(lambda p: p.passthrough(t, responses_request(), deadline=deadline()),
                     environ={"BEDROCK_KEY_US_WEST": KEY})
        assert up.paths == ["/openai/v1/responses"]
        assert up.auth == ["Bearer"]
        # the client's body, with the target's model; the upstream is told not to store it
        assert up.bodies[0] == {"model": "openai.gpt-oss-120b-1:0", "input": "hi",
                                "stream": False, "store": False}
    assert result.api == API_RESPONSES and result.body["object"] == "response"
    assert result.body["output"][0]["content"][0]["text"] == "".join(TEXT)
    assert result.usage == {"prompt_tokens": 11, "completion_tokens": 3,
                            "prompt_tokens_details": {"cached_tokens": 0}}


def test_missing_api_key_variable_is_an_auth_fault_naming_it() -> None:
    with BedrockOpenAIUpstream(api_key=KEY) as up:
        t = target(up.url, key_env="BEDROCK_KEY_US_WEST")
        with pytest.raises(ProviderError) as caught:
            run(lambda p: p.chat(t, {"messages": MSG}, deadline=deadline()))
        assert up.paths == []  # nothing was sent without a credential
    assert caught.value.kind == "auth" and caught.value.retryable
    assert "BEDROCK_KEY_US_WEST" in caught.value.message


def test_wrong_key_is_refused_and_never_echoed() -> None:
    with BedrockOpenAIUpstream(api_key=KEY) as up:
        t = target(up.url, key_env="K")
        with pytest.raises(ProviderError) as caught:
            run(lambda p: p.chat(t, {"messages": MSG}, deadline=deadline()),
                environ={"K": "wrong-key-0000000000"})
    assert caught.value.kind == "auth" and caught.value.status == 403
    assert "wrong-key" not in caught.value.message


def test_responses_stream_reaches_completed_with_usage() -> None:
    async def body(p: BedrockOpenAIProvider) -> list[Any]:
        return [e async for e in p.passthrough_stream(t, responses_request(True),
                                                      deadline=deadline())]
    with BedrockOpenAIUpstream() as up:
        t = target(up.url)
        events = run(body)
        assert up.bodies[0]["stream"] is True
    names = [e.name for e in events]
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert [e.usage for e in events[:-1]] == [None] * (len(events) - 1)
    assert events[-1].usage["prompt_tokens"] == 11
    assert sum(e.delivered_chars for e in events) == len("".join(TEXT))


def test_throttling_is_a_rate_limit_with_retry_after() -> None:
    with BedrockOpenAIUpstream() as up:
        up.fault("throttle")
        t = target(up.url)
        with pytest.raises(ProviderError) as caught:
            run(lambda p: p.chat(t, {"messages": MSG}, deadline=deadline()))
    assert (caught.value.kind, caught.value.status, caught.value.retry_after) == (
        "rate_limit", 429, 1.0)


def test_embeddings_are_refused_as_a_client_error() -> None:
    with BedrockOpenAIUpstream() as up:
        t = target(up.url)
        with pytest.raises(ProviderError) as caught:
            run(lambda p: p.embeddings(t, {"input": "x"}, deadline=deadline()))
    assert caught.value.kind == "bad_request" and not caught.value.retryable
