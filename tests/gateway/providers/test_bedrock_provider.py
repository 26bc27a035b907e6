"""The Bedrock provider against a local runtime speaking Converse JSON and the binary
ConverseStream event-stream framing, over real HTTP; and the translation rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock import BedrockProvider
from skyrelay.gateway.providers.bedrock_translate import to_converse
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream, stream_events

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def target(url: str, model: str = "us.anthropic.claude-sonnet-4-v1:0") -> TargetConfig:
    return TargetConfig(key="bedrock:us-east-1/m", cloud="bedrock", kind="chat",
                        region="us-east-1", model=model, endpoint=url,
                        price=TargetPrice(3, 15), processing=frozenset({"aws:us-east-1"}))


def run(body: Callable[[BedrockProvider], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        http = HttpClient()
        try:
            return await body(BedrockProvider(http))
        finally:
            await http.aclose()
    return asyncio.run(main())


def deadline(seconds: float = 5.0) -> float:
    return asyncio.get_running_loop().time() + seconds


@pytest.fixture
def up() -> Iterator[BedrockUpstream]:
    with BedrockUpstream() as server:
        yield server


async def _collect(p: BedrockProvider, t: TargetConfig, req: dict[str, Any],
                   secs: float = 5.0) -> list[dict[str, Any]]:
    return [c async for c in p.chat_stream(t, req, deadline=deadline(secs))]


def test_frames_decode_with_botocore() -> None:
    buf = EventStreamBuffer()
    for frame in stream_events(tools=True):
        buf.add_data(frame)
    messages = list(buf)
    assert [m.headers[":event-type"] for m in messages][:2] == ["messageStart",
                                                                 "contentBlockStart"]
    assert json.loads(messages[-1].payload)["usage"]["outputTokens"] == 3


def test_converse_json(up: BedrockUpstream) -> None:
    out = run(lambda p: p.chat(target(up.url), {"messages": MSG, "max_tokens": 50},
                               deadline=deadline()))
    assert out["choices"][0]["message"]["content"] == "Hello from Bedrock"
    assert out["choices"][0]["finish_reason"] == "stop"
    # prompt tokens include the cache reads (7 + 2)
    assert out["usage"] == {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                            "prompt_tokens_details": {"cached_tokens": 2}}
    assert up.bodies[0]["inferenceConfig"] == {"maxTokens": 50}
    assert up.hits["/model/us.anthropic.claude-sonnet-4-v1:0/converse"] == 1


def test_stream_text_and_usage(up: BedrockUpstream) -> None:
    chunks = run(lambda p: _collect(p, target(up.url), {"messages": MSG}))
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Hello from Bedrock"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_tool_calls_streamed_and_not() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with BedrockUpstream(tools=True) as up:
        plain = run(lambda p: p.chat(target(up.url), {"messages": MSG, "tools": tools},
                                     deadline=deadline()))
        chunks = run(lambda p: _collect(p, target(up.url), {"messages": MSG, "tools": tools}))
    calls = plain["choices"][0]["message"]["tool_calls"]
    assert [c["id"] for c in calls] == ["tu-1", "tu-2"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert plain["choices"][0]["finish_reason"] == "tool_calls"
    # Reassemble the streamed parallel tool calls by index, as the openai SDK does.
    built: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or []:
                slot = built.setdefault(call["index"], {"name": "", "args": ""})
                slot["name"] += call.get("function", {}).get("name") or ""
                slot["args"] += call.get("function", {}).get("arguments") or ""
    assert {i: (b["name"], json.loads(b["args"])) for i, b in built.items()} == {
        0: ("get_weather", {"city": "Paris"}), 1: ("get_time", {"tz": "CET"})}
    assert up.bodies[0]["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


@pytest.mark.parametrize(("fault", "kind", "status", "retryable"), [
    ("throttle", "rate_limit", 429, True),
    ("500", "server", 500, True),
    ("503", "server", 503, True),
    ("reset", "connection", 502, True),
])
def test_http_faults(up: BedrockUpstream, fault: str, kind: str, status: int,
                     retryable: bool) -> None:
    up.fault(fault)
    with pytest.raises(ProviderError) as info:
        run(lambda p: p.chat(target(up.url), {"messages": MSG}, deadline=deadline()))
    err = info.value
    assert (err.kind, err.status, err.retryable) == (kind, status, retryable)
    if fault == "throttle":
        assert err.retry_after == 2.0


@pytest.mark.parametrize(("fault", "kind"), [
    ("exception", "rate_limit"), ("badcrc", "protocol"), ("cut", "connection"),
    ("stall", "timeout")])
def test_stream_faults_after_the_first_chunks(up: BedrockUpstream, fault: str,
                                              kind: str) -> None:
    up.fault(fault)
    seen: list[dict[str, Any]] = []

    async def body(p: BedrockProvider) -> None:
        async for chunk in p.chat_stream(target(up.url), {"messages": MSG},
                                         deadline=deadline(1.5)):
            seen.append(chunk)

    with pytest.raises(ProviderError) as info:
        run(body)
    assert info.value.kind == kind
    assert seen, "the failure came after the stream had started"


def test_embeddings(up: BedrockUpstream) -> None:
    out = run(lambda p: p.embeddings(target(up.url, "amazon.titan-embed-text-v2:0"),
                                     {"input": ["a b", "c"]}, deadline=deadline()))
    assert [d["index"] for d in out["data"]] == [0, 1] and out["usage"]["prompt_tokens"] == 3


def test_missing_credentials_is_a_retryable_auth_error(monkeypatch: pytest.MonkeyPatch,
                                                       up: BedrockUpstream,
                                                       tmp_path: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ProviderError) as info:
        run(lambda p: p.chat(target(up.url), {"messages": MSG}, deadline=deadline()))
    assert info.value.kind == "auth" and info.value.retryable
    assert up.hits.total() == 0


def test_gateway_end_to_end_tool_calls_with_the_openai_sdk() -> None:
    """openai SDK -> gateway -> Bedrock provider -> local runtime, streamed and not."""

    import openai

    from skyrelay.gateway.providers.registry import ProviderRegistry
    from skyrelay.gateway.serve import build_app
    from skyrelay.gateway.testing.harness import ServerThread, base_config

    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    with BedrockUpstream(tools=True) as up:
        cfg = base_config({"br": {"cloud": "bedrock", "model": "us.anthropic.claude-v1:0",
                                  "region": "us-east-1", "endpoint": up.url}},
                          {"claude": {"targets": ["br"]}})
        app = build_app(cfg, providers=ProviderRegistry(cfg, environ={}), probe_interval=0,
                        environ={"T1_KEY": "sk-bedrock-e2e"})
        server = ServerThread(app).start()
        try:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key="sk-bedrock-e2e",
                                   max_retries=0)
            plain = client.chat.completions.create(model="claude", messages=MSG, tools=tools)
            calls = plain.choices[0].message.tool_calls
            assert [c.function.name for c in calls] == ["get_weather", "get_time"]
            stream = client.chat.completions.create(model="claude", messages=MSG, tools=tools,
                                                    stream=True,
                                                    stream_options={"include_usage": True})
            args: dict[int, str] = {}
            usage = None
            for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    for call in choice.delta.tool_calls or []:
                        args[call.index] = args.get(call.index, "") + (
                            call.function.arguments or "")
            assert {i: json.loads(a) for i, a in args.items()} == {
                0: {"city": "Paris"}, 1: {"tz": "CET"}}
            assert usage is not None and usage.prompt_tokens == 9
        finally:
            server.stop()


def test_translation_rules() -> None:
    body = to_converse({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a"}, {"role": "user", "content": "b"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "f", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "tool", "tool_call_id": "c2", "content": "43"},
    ], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none",
        "stop": "END", "temperature": 0.2})
    assert body["system"] == [{"text": "be brief"}]
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert len(body["messages"][0]["content"]) == 2  # merged user turns
    assert body["messages"][1]["content"][0]["toolUse"]["input"] == {"x": 1}
    assert len(body["messages"][2]["content"]) == 2  # merged tool results
    # tool_choice none still sends toolConfig because the history holds tool blocks
    assert "toolChoice" not in body["toolConfig"]
    assert body["inferenceConfig"] == {"stopSequences": ["END"], "temperature": 0.2}
    for bad in ({"messages": [{"role": "assistant", "content": "x"}]},
                {"messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
                {"messages": [{"role": "user", "content": "x"}, {"role": "assistant",
                 "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "{"}}]}]}):
        with pytest.raises(ProviderError) as info:
            to_converse(bad)
        assert info.value.status == 400
