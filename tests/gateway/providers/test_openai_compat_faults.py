"""Every upstream fault of the local OpenAI server becomes the right ProviderError, over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.openai_compat import OpenAICompatProvider
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

ENV = {"SKYRELAY_OPENAI_KEY_LOCAL": "sk-upstream-test",
       "SKYRELAY_AZURE_KEY_LOCAL": "sk-upstream-test"}
REQUEST = {"model": "route", "messages": [{"role": "user", "content": "say hello"}]}

# fault -> (kind, status, retryable, retry_after), identical for JSON and streams
CASES: dict[str, tuple[str, int, bool, float | None]] = {
    "429:7": ("rate_limit", 429, True, 7.0),
    "429ms:1500": ("rate_limit", 429, True, 1.5),
    "500": ("server", 500, True, None),
    "503:3": ("server", 503, True, 3.0),
    "400": ("bad_request", 400, False, None),
    "401": ("auth", 401, True, None),
    "content_filter": ("content_filter", 400, False, None),
    "content_filter:slow": ("content_filter", 400, False, None),
    "reset_before_headers": ("connection", 502, True, None),
    "reset_after_headers": ("connection", 502, True, None),
    "cut_stream": ("connection", 502, True, None),
    "invalid_json": ("protocol", 502, True, None),
    "invalid_sse": ("protocol", 502, True, None),
    "stall": ("timeout", 504, True, None),
    "delay:5": ("timeout", 504, True, None),
}


async def _run(provider: OpenAICompatProvider, target: TargetConfig, stream: bool,
               timeout: float) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    if stream:
        return [c async for c in provider.chat_stream(target, REQUEST, deadline=deadline)]
    return await provider.chat(target, REQUEST, deadline=deadline)


def _fault_then_ok(target: TargetConfig, stream: bool,
                   timeout: float) -> tuple[ProviderError, Any]:
    """One call that meets the queued fault, then one that must succeed on the same pool."""
    async def go() -> tuple[ProviderError, Any]:
        provider = OpenAICompatProvider(environ=ENV)
        try:
            with pytest.raises(ProviderError) as info:
                await _run(provider, target, stream, timeout)
            return info.value, await _run(provider, target, stream, 5.0)
        finally:
            await provider.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("fault", list(CASES))
def test_fault_maps_to_provider_error(openai_upstream: OpenAIUpstream, oc_target: Any,
                                      fault: str, stream: bool) -> None:
    kind, status, retryable, retry_after = CASES[fault]
    timeout = 0.6 if kind == "timeout" else 5.0
    openai_upstream.fault(fault)
    err, recovered = _fault_then_ok(oc_target("openai"), stream, timeout)
    assert (err.kind, err.status, err.retryable) == (kind, status, retryable), err
    assert err.retry_after == retry_after
    assert err.unreachable is False  # the upstream was reached: one request failed
    assert openai_upstream.pending_faults() == 0
    assert openai_upstream.hits["/v1/chat/completions"] == 2
    if stream:
        assert "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in recovered if c["choices"]) == "Hello from the upstream"
    else:
        assert recovered["choices"][0]["message"]["content"] == "Hello from the upstream"


def test_content_filter_keeps_azure_message_and_code(openai_upstream: OpenAIUpstream,
                                                     oc_target: Any) -> None:
    openai_upstream.fault("content_filter")
    err, _ = _fault_then_ok(oc_target("azure", model="gpt4o-dep"), False, 5.0)
    assert err.code == "content_filter"
    assert "content management policy" in err.message
    assert openai_upstream.hits["/openai/deployments/gpt4o-dep/chat/completions"] == 2


def test_bad_request_passes_the_upstream_message(openai_upstream: OpenAIUpstream,
                                                 oc_target: Any) -> None:
    openai_upstream.fault("400:Invalid value for 'top_p': must be at most 1.")
    err, _ = _fault_then_ok(oc_target("openai"), False, 5.0)
    assert err.message == "Invalid value for 'top_p': must be at most 1."
    assert err.code == "invalid_value"


def test_error_event_inside_a_started_stream(openai_upstream: OpenAIUpstream,
                                             oc_target: Any) -> None:
    openai_upstream.fault("stream_error")

    async def go() -> tuple[list[dict[str, Any]], ProviderError]:
        provider = OpenAICompatProvider(environ=ENV)
        got: list[dict[str, Any]] = []
        try:
            with pytest.raises(ProviderError) as info:
                async for chunk in provider.chat_stream(
                        oc_target("openai"), REQUEST,
                        deadline=asyncio.get_running_loop().time() + 5):
                    got.append(chunk)
            return got, info.value
        finally:
            await provider.aclose()

    got, err = asyncio.run(go())
    assert len(got) == 1 and got[0]["choices"][0]["delta"]["role"] == "assistant"
    assert (err.kind, err.retryable) == ("server", True)
    assert "server had an error" in err.message


def test_cut_stream_after_chunks_raises_after_yielding_them(openai_upstream: OpenAIUpstream,
                                                            oc_target: Any) -> None:
    openai_upstream.fault("cut_stream:3")

    async def go() -> tuple[int, ProviderError]:
        provider = OpenAICompatProvider(environ=ENV)
        count = 0
        try:
            with pytest.raises(ProviderError) as info:
                async for _ in provider.chat_stream(
                        oc_target("openai"), REQUEST,
                        deadline=asyncio.get_running_loop().time() + 5):
                    count += 1
            return count, info.value
        finally:
            await provider.aclose()

    count, err = asyncio.run(go())
    assert count == 3
    assert err.kind == "connection"


def test_faults_keyed_by_model_hit_only_that_deployment(openai_upstream: OpenAIUpstream,
                                                        oc_target: Any) -> None:
    openai_upstream.fault("500", model="dep-b")

    async def go() -> tuple[dict[str, Any], ProviderError]:
        provider = OpenAICompatProvider(environ=ENV)
        deadline = asyncio.get_running_loop().time() + 5
        try:
            ok = await provider.chat(oc_target("azure", model="dep-a"), REQUEST,
                                     deadline=deadline)
            with pytest.raises(ProviderError) as info:
                await provider.chat(oc_target("azure", model="dep-b"), REQUEST,
                                    deadline=deadline)
            return ok, info.value
        finally:
            await provider.aclose()

    ok, err = asyncio.run(go())
    assert ok["model"] == "dep-a"
    assert err.kind == "server"


def test_unreachable_upstream_is_a_connection_error(oc_target: Any) -> None:
    target = oc_target("openai")
    dead = TargetConfig(**{**{f: getattr(target, f) for f in target.__slots__},
                           "endpoint": "http://127.0.0.1:9/v1"})

    async def go() -> ProviderError:
        provider = OpenAICompatProvider(environ=ENV)
        try:
            with pytest.raises(ProviderError) as info:
                await provider.chat(dead, REQUEST,
                                    deadline=asyncio.get_running_loop().time() + 5)
            return info.value
        finally:
            await provider.aclose()

    err = asyncio.run(go())
    assert (err.kind, err.status, err.retryable) == ("connection", 502, True)


def test_a_refused_connection_is_unreachable(oc_target: Any) -> None:
    """A port nobody listens on: the provider says so, and the breaker will open at once."""
    from skyrelay.gateway.testing.harness import free_port

    target = oc_target("openai")
    closed = dataclasses.replace(target, endpoint=f"http://127.0.0.1:{free_port()}/v1")

    async def go() -> ProviderError:
        provider = OpenAICompatProvider(environ=ENV)
        try:
            with pytest.raises(ProviderError) as info:
                await _run(provider, closed, False, 2.0)
            return info.value
        finally:
            await provider.aclose()

    err = asyncio.run(go())
    assert err.kind == "connection" and err.unreachable is True
