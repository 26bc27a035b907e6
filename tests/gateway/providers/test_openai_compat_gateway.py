"""End to end: the official openai SDK -> the real gateway -> this provider -> the local
Azure/OpenAI upstream, over loopback HTTP (no fakes between the SDK and the wire)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.testing.harness import ServerThread, base_config
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

TENANT_KEY = "sk-tenant-e2e"
UPSTREAM_KEY = "sk-upstream-test"
MSG = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def gateway(openai_upstream: OpenAIUpstream) -> Iterator[tuple[openai.OpenAI, OpenAIUpstream]]:
    """A gateway whose route ``chat`` tries Azure deployment ``dep-a`` then model ``m-b``."""
    cfg = base_config(
        {"azure-a": {"cloud": "azure", "model": "dep-a", "account": "acct-a",
                     "endpoint": openai_upstream.url + "/", "api": "classic"},
         "compat-b": {"cloud": "openai", "model": "m-b", "account": "local",
                      "endpoint": openai_upstream.url + "/v1"},
         "emb": {"cloud": "azure", "kind": "embedding", "model": "emb-dep",
                 "account": "acct-a", "endpoint": openai_upstream.url, "api": "classic"}},
        {"chat": {"targets": ["azure-a", "compat-b"], "max_attempts": 2},
         "fast": {"targets": ["azure-a", "compat-b"], "max_attempts": 2,
                  "timeout_seconds": 2.0},
         "embed": {"targets": ["emb"], "kind": "embedding"}})
    registry = ProviderRegistry(cfg, environ={"SKYRELAY_AZURE_KEY_ACCT_A": UPSTREAM_KEY,
                                              "SKYRELAY_OPENAI_KEY_LOCAL": UPSTREAM_KEY})
    app = build_app(cfg, providers=registry, environ={"T1_KEY": TENANT_KEY}, probe_interval=0)
    server = ServerThread(app).start()
    try:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key=TENANT_KEY,
                               max_retries=0, timeout=20)
        yield client, openai_upstream
    finally:
        server.stop()


def test_json_and_stream_through_the_gateway(gateway: Any) -> None:
    client, upstream = gateway
    answer = client.chat.completions.with_raw_response.create(model="chat", messages=MSG)
    assert answer.headers["x-skyrelay-target"] == "azure-a"
    assert answer.parse().choices[0].message.content == "Hello from the upstream"

    stream = client.chat.completions.create(model="chat", messages=MSG, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the upstream"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert upstream.hits["/openai/deployments/dep-a/chat/completions"] == 2

    emb = client.embeddings.create(model="embed", input=["a b c"])
    assert len(emb.data[0].embedding) == 8 and emb.usage.prompt_tokens == 3


def test_azure_429_falls_back_to_the_compatible_upstream(gateway: Any) -> None:
    client, upstream = gateway
    upstream.fault("429:30", model="dep-a")
    stream = client.chat.completions.with_raw_response.create(model="chat", messages=MSG,
                                                              stream=True)
    assert stream.headers["x-skyrelay-target"] == "compat-b"
    assert stream.headers["x-skyrelay-attempts"] == "2"
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text == "Hello from the upstream"
    assert upstream.hits["/v1/chat/completions"] == 1


def test_azure_content_filter_is_a_400_without_fallback(gateway: Any) -> None:
    client, upstream = gateway
    upstream.fault("content_filter", model="dep-a")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="chat", messages=MSG)
    assert info.value.code == "content_filter"
    assert "content management policy" in info.value.message
    assert upstream.hits["/v1/chat/completions"] == 0  # no fallback on a refusal


@pytest.mark.parametrize("fault", ["reset_before_headers", "stall", "500"])
def test_stream_falls_back_before_its_first_byte(gateway: Any, fault: str) -> None:
    client, upstream = gateway
    upstream.fault(fault, model="dep-a")
    stream = client.chat.completions.with_raw_response.create(model="fast", messages=MSG,
                                                              stream=True)
    assert stream.headers["x-skyrelay-target"] == "compat-b"
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text == "Hello from the upstream"
    assert upstream.hits["/openai/deployments/dep-a/chat/completions"] == 1


def test_stream_cut_after_chunks_ends_with_an_error_not_a_success(gateway: Any) -> None:
    client, upstream = gateway
    upstream.fault("cut_stream:3", model="dep-a")  # empty Azure chunk, role, first word
    stream = client.chat.completions.create(model="chat", messages=MSG, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError, match="failed after it started"):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "Hello"
    assert upstream.hits["/v1/chat/completions"] == 0  # bytes were sent: no fallback


def test_async_sdk_concurrent_streams_and_json(gateway: Any) -> None:
    client, upstream = gateway
    async_client = openai.AsyncOpenAI(base_url=str(client.base_url), api_key=TENANT_KEY,
                                      max_retries=0, timeout=20)

    async def one_stream() -> str:
        stream = await async_client.chat.completions.create(model="chat", messages=MSG,
                                                            stream=True)
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    async def go() -> list[str]:
        try:
            texts = await asyncio.gather(*(one_stream() for _ in range(8)))
            answer = await async_client.chat.completions.create(model="chat", messages=MSG)
            return [*texts, answer.choices[0].message.content or ""]
        finally:
            await async_client.close()

    assert asyncio.run(go()) == ["Hello from the upstream"] * 9
    assert upstream.hits["/openai/deployments/dep-a/chat/completions"] == 9
