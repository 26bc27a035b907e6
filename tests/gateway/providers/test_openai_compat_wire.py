"""The Azure / OpenAI-compatible provider's wire format, auth and registry, over real HTTP."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from azure.core.credentials import AccessToken

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.openai_compat import (
    EntraTokenCache,
    OpenAICompatProvider,
    SSEParser,
    error_from_response,
    key_env_var,
    parse_retry_after,
)
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

KEY = "sk-upstream-test"
ENV = {"SKYRELAY_OPENAI_KEY_LOCAL": KEY, "SKYRELAY_AZURE_KEY_LOCAL": KEY}
REQUEST = {"model": "route", "messages": [{"role": "user", "content": "say hello please"}]}


def run(provider: OpenAICompatProvider,
        body: Callable[[OpenAICompatProvider, float], Awaitable[Any]]) -> Any:
    """Run ``body(provider, deadline)`` in a fresh loop and close the provider."""
    async def go() -> Any:
        try:
            return await body(provider, asyncio.get_running_loop().time() + 5)
        finally:
            await provider.aclose()

    return asyncio.run(go())


async def collect(provider: OpenAICompatProvider, target: TargetConfig,
                  request: dict[str, Any], deadline: float) -> list[dict[str, Any]]:
    return [c async for c in provider.chat_stream(target, request, deadline=deadline)]


async def _raw_post(url: str, body: dict[str, Any]) -> bytes:
    async with aiohttp.ClientSession() as session, session.post(
            url, json=body, headers={"api-key": KEY}) as resp:
        return await resp.read()


# --- JSON and SSE --------------------------------------------------------------------------


def test_chat_json_sets_model_and_never_sends_stream_options(openai_upstream: OpenAIUpstream,
                                                             oc_target: Any) -> None:
    target = oc_target("openai", model="upstream-model")
    request = {**REQUEST, "stream_options": {"include_usage": True}, "temperature": 0.2}
    answer = run(OpenAICompatProvider(environ=ENV),
                 lambda p, d: p.chat(target, request, deadline=d))
    assert answer["choices"][0]["message"]["content"] == "Hello from the upstream"
    assert answer["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    sent = orjson.loads(openai_upstream.requests[-1]["body"])
    assert sent["model"] == "upstream-model"
    assert sent["stream"] is False and "stream_options" not in sent
    assert sent["temperature"] == 0.2


def test_azure_stream_drops_empty_first_chunk_and_ends_with_usage(
        openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    target = oc_target("azure", model="gpt4o-eu")
    chunks = run(OpenAICompatProvider(environ=ENV),
                 lambda p, d: collect(p, target, {**REQUEST, "stream": True}, d))
    # the upstream really sends the prompt_filter_results chunk first ...
    raw = asyncio.run(_raw_post(openai_upstream.url + "/openai/deployments/gpt4o-eu/chat/"
                                "completions?api-version=2024-10-21",
                                {**REQUEST, "stream": True}))
    first = orjson.loads(raw.split(b"\n\n")[0].removeprefix(b"data: "))
    assert first["choices"] == [] and "prompt_filter_results" in first
    assert all(c["choices"] or c.get("usage") for c in chunks)  # ... and it was dropped
    assert not any("prompt_filter_results" in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "")
                   for c in chunks if c["choices"]) == "Hello from the upstream"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4,
                                   "total_tokens": 7}
    sent = openai_upstream.requests[0]  # the provider's request (the raw one came after)
    assert sent["query"] == {"api-version": "2024-10-21"}
    body = orjson.loads(sent["body"])
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_azure_api_version_is_configurable(openai_upstream: OpenAIUpstream,
                                           oc_target: Any) -> None:
    target = oc_target("azure", model="dep")
    registry = ProviderRegistry(environ={**ENV, "SKYRELAY_AZURE_API_VERSION": "2025-04-01"})

    async def go() -> None:
        try:
            await registry.for_target(target).chat(
                target, REQUEST, deadline=asyncio.get_running_loop().time() + 5)
        finally:
            await registry.aclose()

    asyncio.run(go())
    assert openai_upstream.requests[-1]["query"] == {"api-version": "2025-04-01"}
    with pytest.raises(ValueError, match="api-version"):
        OpenAICompatProvider(azure_api_version="2024-10-21&x=1")


def test_embeddings(openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    for cloud, path in (("openai", "/v1/embeddings"),
                        ("azure", "/openai/deployments/emb-dep/embeddings")):
        target = oc_target(cloud, model="emb-dep", kind="embedding")
        answer = run(OpenAICompatProvider(environ=ENV), lambda p, d, t=target: p.embeddings(
            t, {"model": "route", "input": ["first text", "second"]}, deadline=d))
        assert [d["index"] for d in answer["data"]] == [0, 1]
        assert answer["data"][0]["embedding"] != answer["data"][1]["embedding"]
        assert answer["usage"]["prompt_tokens"] == 3
        assert openai_upstream.hits[path] == 1
        assert orjson.loads(openai_upstream.requests[-1]["body"])["model"] == "emb-dep"


def test_deadline_already_passed_is_a_timeout_without_a_request(
        openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    async def go(p: OpenAICompatProvider, _: float) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await p.chat(oc_target("openai"), REQUEST,
                         deadline=asyncio.get_running_loop().time() - 1)
        return info.value

    err = run(OpenAICompatProvider(environ=ENV), go)
    assert (err.kind, err.status, err.retryable) == ("timeout", 504, True)
    assert sum(openai_upstream.hits.values()) == 0


def test_connections_are_pooled(openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    target = oc_target("openai")

    async def go(p: OpenAICompatProvider, d: float) -> int:
        for _ in range(5):
            await p.chat(target, REQUEST, deadline=d)
            await collect(p, target, {**REQUEST, "stream": True}, d)
        return p.http.idle_connections()

    idle = run(OpenAICompatProvider(environ=ENV), go)
    assert idle == 1
    assert openai_upstream.hits["/v1/chat/completions"] == 10
    assert len(openai_upstream.connections) == 1  # JSON and finished streams reuse it


# --- auth ----------------------------------------------------------------------------------


def test_azure_api_key_header(openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    target = oc_target("azure", model="dep", account="oai-eu-1")
    env = {"SKYRELAY_AZURE_KEY_OAI_EU_1": KEY}
    run(OpenAICompatProvider(environ=env), lambda p, d: p.chat(target, REQUEST, deadline=d))
    headers = openai_upstream.requests[-1]["headers"]
    assert headers["api-key"] == KEY
    assert "authorization" not in headers


def test_openai_bearer_key_and_none(openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    target = oc_target("openai", account="vllm.onprem")
    env = {"SKYRELAY_OPENAI_KEY_VLLM_ONPREM": KEY}
    run(OpenAICompatProvider(environ=env), lambda p, d: p.chat(target, REQUEST, deadline=d))
    headers = openai_upstream.requests[-1]["headers"]
    assert headers["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in headers

    async def no_key(p: OpenAICompatProvider, d: float) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await p.chat(target, REQUEST, deadline=d)
        return info.value

    err = run(OpenAICompatProvider(environ={}), no_key)  # the upstream requires a key
    assert (err.kind, err.status, err.retryable) == ("auth", 401, True)
    assert "authorization" not in openai_upstream.requests[-1]["headers"]


class FakeCredential:
    """Stands in for DefaultAzureCredential (the cloud itself); records threads and scopes."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.calls: list[tuple[str, int]] = []

    def get_token(self, *scopes: str) -> AccessToken:
        self.calls.append((scopes[0], threading.get_ident()))
        return AccessToken(f"entra-token-{len(self.calls)}", int(time.time() + self.lifetime))


def test_azure_entra_bearer_is_cached_and_fetched_off_the_loop(
        openai_upstream: OpenAIUpstream, oc_target: Any) -> None:
    target = oc_target("azure", model="dep", account="no-key-account")
    credential = FakeCredential(lifetime=3600)
    upstream = OpenAIUpstream(bearer_token="entra-token-1", max_lifetime=30).start()
    try:
        target = TargetConfig(**{**{f: getattr(target, f) for f in target.__slots__},
                                 "endpoint": upstream.url})
        loop_thread: list[int] = []

        async def go(p: OpenAICompatProvider, d: float) -> None:
            loop_thread.append(threading.get_ident())
            await asyncio.gather(*(p.chat(target, REQUEST, deadline=d) for _ in range(4)))
            await collect(p, target, {**REQUEST, "stream": True}, d)

        run(OpenAICompatProvider(environ={}, tokens=EntraTokenCache(lambda: credential)), go)
        assert len(credential.calls) == 1  # single flight, then cached
        scope, thread = credential.calls[0]
        assert scope == "https://cognitiveservices.azure.com/.default"
        assert thread != loop_thread[0]
        assert upstream.requests[-1]["headers"]["authorization"] == "Bearer entra-token-1"
        assert "api-key" not in upstream.requests[-1]["headers"]
        assert upstream.hits["/openai/deployments/dep/chat/completions"] == 5
    finally:
        upstream.stop()


def test_entra_token_is_refreshed_before_expiry() -> None:
    credential = FakeCredential(lifetime=200)  # inside the 300 s refresh margin

    async def go() -> list[str]:
        cache = EntraTokenCache(lambda: credential)
        deadline = asyncio.get_running_loop().time() + 5
        return [await cache.token(deadline), await cache.token(deadline)]

    assert asyncio.run(go()) == ["entra-token-1", "entra-token-2"]


def test_entra_failure_is_an_auth_error() -> None:
    class Broken:
        def get_token(self, *scopes: str) -> AccessToken:
            raise RuntimeError("no managed identity endpoint")

    async def go() -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await EntraTokenCache(Broken).token(asyncio.get_running_loop().time() + 5)
        return info.value

    err = asyncio.run(go())
    assert (err.kind, err.retryable) == ("auth", True)
    assert "no managed identity endpoint" in err.message


def test_key_env_var_names(oc_target: Any) -> None:
    assert key_env_var(oc_target("azure", account="oai-eu.1")) == "SKYRELAY_AZURE_KEY_OAI_EU_1"
    assert key_env_var(oc_target("openai", account="vllm")) == "SKYRELAY_OPENAI_KEY_VLLM"
    assert key_env_var(oc_target("openai", account="")) == "SKYRELAY_OPENAI_KEY_127_0_0_1"


def test_the_served_gateway_reads_upstream_keys_from_the_environ_it_is_given(
        oc_target: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``build_app(environ=...)`` (the worker's copy of its environment) reaches the
    providers: the key comes from that mapping, not from ``os.environ``."""
    from skyrelay.gateway.serve import build_providers

    target = oc_target("openai", account="vllm")
    monkeypatch.setenv("SKYRELAY_OPENAI_KEY_VLLM", "sk-from-os-environ")

    async def headers(environ: dict[str, str] | None) -> dict[str, str]:
        registry = build_providers(None, environ)  # type: ignore[arg-type]
        try:
            return await registry.for_target(target).headers(
                target, asyncio.get_running_loop().time() + 5)
        finally:
            await registry.aclose()

    given = asyncio.run(headers({"SKYRELAY_OPENAI_KEY_VLLM": "sk-given"}))
    assert given["authorization"] == "Bearer sk-given"
    assert "authorization" not in asyncio.run(headers({}))
    live = asyncio.run(headers(None))
    assert live["authorization"] == "Bearer sk-from-os-environ"


# --- parsing units ------------------------------------------------------------------------


def test_sse_parser_across_chunk_boundaries_crlf_and_comments() -> None:
    parser = SSEParser()
    stream = b': keep-alive\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: error\ndata: x\n\ndata: [DONE]'
    events: list[tuple[str, bytes]] = []
    for i in range(len(stream)):
        events += parser.feed(stream[i:i + 1])
    events += parser.close()
    assert events == [("message", b'{"a":\n1}'), ("error", b"x"), ("message", b"[DONE]")]
    with pytest.raises(ProviderError) as info:
        SSEParser().feed(b"HTTP/1.1 502 Bad Gateway\n")
    assert info.value.kind == "protocol"


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"x-ms-retry-after-ms": "1200"}) == 1.2
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "999999"}) == 3600.0
    http_date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 20 < (parse_retry_after({"retry-after": http_date}) or 0) <= 30


def test_content_filter_recognised_by_inner_code_only() -> None:
    raw = orjson.dumps({"error": {"code": "BadRequest", "message": "blocked",
                                  "innererror": {"code": "ResponsibleAIPolicyViolation"}}})
    err = error_from_response(400, {}, raw)
    assert (err.kind, err.status, err.code, err.retryable) == (
        "content_filter", 400, "content_filter", False)
    # the same code on a non-400 is not a refusal of the prompt
    assert error_from_response(500, {}, raw).kind == "server"
    other = error_from_response(404, {}, b"<html>not found</html>")
    assert (other.kind, other.retryable) == ("bad_request", False)
    assert "HTTP 404" in other.message


# --- registry -----------------------------------------------------------------------------


def test_registry_maps_clouds_and_isolates_a_missing_bedrock(
        oc_target: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ProviderRegistry(environ={})
    azure, openai_ = oc_target("azure"), oc_target("openai")
    assert registry.for_target(azure) is registry.for_target(openai_)
    assert isinstance(registry.for_target(azure), OpenAICompatProvider)
    bedrock = TargetConfig(**{**{f: getattr(azure, f) for f in azure.__slots__},
                              "cloud": "bedrock"})
    monkeypatch.setitem(sys.modules, "skyrelay.gateway.providers.bedrock", None)
    with pytest.raises(ProviderError) as info:
        registry.for_target(bedrock)
    assert (info.value.kind, info.value.retryable) == ("connection", True)
    assert "Bedrock provider is not available" in info.value.message
    unknown = TargetConfig(**{**{f: getattr(azure, f) for f in azure.__slots__},
                              "cloud": "gcp"})
    with pytest.raises(ProviderError):
        registry.for_target(unknown)
    asyncio.run(registry.aclose())


def test_oversized_answer_is_refused(openai_upstream: OpenAIUpstream, oc_target: Any,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from skyrelay.gateway.providers import openai_wire_io

    monkeypatch.setattr(openai_wire_io, "MAX_BODY_BYTES", 100)

    async def go(p: OpenAICompatProvider, d: float) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await p.chat(oc_target("openai"), REQUEST, deadline=d)
        return info.value

    err = run(OpenAICompatProvider(environ=ENV), go)
    assert (err.kind, err.retryable) == ("protocol", True)
    assert "exceeds 100 bytes" in err.message
