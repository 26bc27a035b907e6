"""``POST /v1/messages`` with the official ``anthropic`` SDK against the gateway process,
passed through to Claude on the local Bedrock runtime (InvokeModel and
InvokeModelWithResponseStream with the Anthropic body): text, system, images, tool use,
streaming events, ``x-api-key``/``anthropic-version``/``anthropic-beta``, fallback before
the first byte, metering, errors in Anthropic's shape, and a 400 for routes without
Claude."""

from __future__ import annotations

import base64
import json
from typing import Any

import anthropic
import httpx
import pytest

from .conftest import Gateway

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


def client(gw: Gateway, **kw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.key, max_retries=0, **kw)


def test_create_passes_the_body_through_to_invoke_model(gw: Gateway) -> None:
    raw = client(gw).messages.with_raw_response.create(
        model="claude", max_tokens=64, system="Be brief.", extra_body={"temperature": 0.5},
        messages=[{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": PNG}}]}])
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == "Hello from Claude"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 4)
    path = f"/model/{'us.anthropic.claude-sonnet-4-20250514-v1:0'}/invoke"
    assert gw.bedrock.hits[path] >= 1
    body = gw.bedrock.bodies[-1]
    # Bedrock's body: the client's fields, its version, no model (it is in the path)
    assert body["anthropic_version"] == "bedrock-2023-05-31" and "model" not in body
    assert body["system"] == "Be brief." and body["max_tokens"] == 64
    assert body["temperature"] == 0.5
    assert body["messages"][0]["content"][1]["source"]["data"] == PNG
    records = gw.proc.wait_records(0, ready=lambda rs: any(
        r["RequestId"] == raw.headers["x-request-id"] for r in rs))
    record = next(r for r in records if r["RequestId"] == raw.headers["x-request-id"])
    # input 9 + 3 cache reads, as billed; output 4
    assert (record["InputTokens"], record["OutputTokens"]) == (12, 4)


def test_stream_events_reach_the_sdk_helper(gw: Gateway) -> None:
    with client(gw).messages.stream(model="claude", max_tokens=64, messages=[
            {"role": "user", "content": "hi"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello from Claude"
    assert final.usage.output_tokens == 4 and final.stop_reason == "end_turn"
    assert gw.bedrock.hits[
        "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke-with-response-stream"] >= 1


def test_raw_stream_is_the_messages_event_sequence(gw: Gateway) -> None:
    answer = httpx.post(gw.url + "/v1/messages", timeout=10,
                        headers={"x-api-key": gw.key, "anthropic-version": "2023-06-01"},
                        json={"model": "claude", "max_tokens": 10, "stream": True,
                              "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    names = [line[7:] for line in answer.text.splitlines() if line.startswith("event: ")]
    assert names == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert "amazon-bedrock-invocationMetrics" not in answer.text  # Bedrock's own, not Claude's


def test_tool_use_with_streamed_input_json(gw: Gateway) -> None:
    tools: Any = [{"name": "get_weather", "description": "weather",
                   "input_schema": {"type": "object",
                                    "properties": {"city": {"type": "string"}}}}]
    message = client(gw).messages.create(model="claude-tools", max_tokens=64, tools=tools,
                                         messages=[{"role": "user", "content": "Paris?"}])
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use" and block.input == {"city": "Paris"}
    with client(gw).messages.stream(model="claude-tools", max_tokens=64, tools=tools,
                                    messages=[{"role": "user", "content": "Paris?"}]) as s:
        final = s.get_final_message()
    assert final.content[0].type == "tool_use"
    assert final.content[0].input == {"city": "Paris"}
    assert gw.bedrock_tools.bodies[-1]["tools"] == tools


def test_beta_header_goes_into_the_body(gw: Gateway) -> None:
    client(gw).messages.create(model="claude", max_tokens=5,
                               messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"anthropic-beta": "a-beta,b-beta"})
    assert gw.bedrock.bodies[-1]["anthropic_beta"] == ["a-beta", "b-beta"]


def test_fallback_before_the_first_byte(gw: Gateway) -> None:
    gw.bedrock.fault("throttle")
    raw = client(gw).messages.with_raw_response.create(
        model="claude-fallback", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().content[0].text == "Hello from Claude"  # type: ignore[union-attr]
    assert raw.headers["x-skyrelay-attempts"] == "2"
    assert raw.headers["x-skyrelay-target"] == "claude-b"


def test_route_without_claude_is_a_400_in_anthropic_shape(gw: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(model="nova", max_tokens=5,
                                   messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "Claude" in body["error"]["message"] and "nova" in body["error"]["message"]


@pytest.mark.parametrize("field", ["metadata", "service_tier", "mcp_servers", "bogus"])
def test_fields_bedrock_cannot_take_are_refused_by_name(gw: Gateway, field: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(model="claude", max_tokens=5,
                                   messages=[{"role": "user", "content": "hi"}],
                                   extra_body={field: {"user_id": "u"} if field == "metadata"
                                               else "x"})
    assert f"'{field}'" in str(caught.value)


def test_structured_output_config_reaches_claude_that_has_it_and_is_refused_elsewhere(
        gw: Gateway) -> None:
    """output_config.format is Bedrock's InvokeModel structured output for Claude models the
    catalog marks structured_output; on Sonnet 4 it would change nothing silently, so 400."""
    schema = {"type": "json_schema", "schema": {
        "type": "object", "properties": {"answer": {"type": "string"}},
        "required": ["answer"], "additionalProperties": False}}
    asked = {"output_config": {"format": schema}}
    message = client(gw).messages.create(
        model="claude-structured", max_tokens=32, extra_body=asked,
        messages=[{"role": "user", "content": "Answer in JSON."}])
    assert gw.bedrock.bodies[-1]["output_config"] == {"format": schema}
    assert json.loads(message.content[0].text) == {"answer": "Hello from Bedrock"}
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(gw).messages.create(model="claude", max_tokens=32, extra_body=asked,
                                   messages=[{"role": "user", "content": "Answer in JSON."}])
    assert "'output_config'" in str(caught.value) and "structured outputs" in str(caught.value)


def test_wrong_key_is_an_authentication_error(gw: Gateway) -> None:
    bad = anthropic.Anthropic(base_url=gw.url, api_key="sk-not-a-tenant", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model="claude", max_tokens=5,
                            messages=[{"role": "user", "content": "hi"}])
    body = caught.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "authentication_error"


def test_invalid_body_is_a_400_naming_the_field(gw: Gateway) -> None:
    answer = httpx.post(gw.url + "/v1/messages", timeout=10, headers={"x-api-key": gw.key},
                        json={"model": "claude", "messages": [{"role": "user",
                                                               "content": "hi"}]})
    assert answer.status_code == 400
    assert "max_tokens" in answer.json()["error"]["message"]


def test_tenant_limits_apply_to_messages(gw: Gateway) -> None:
    limited = anthropic.Anthropic(base_url=gw.url, api_key=gw.limited_key, max_retries=0)
    answers = []
    for _ in range(3):
        try:
            limited.messages.create(model="claude", max_tokens=5,
                                    messages=[{"role": "user", "content": "hi"}])
            answers.append(200)
        except anthropic.RateLimitError as err:
            answers.append(err.status_code)
            body = err.body
            assert isinstance(body, dict) and body["error"]["type"] == "rate_limit_error"
    assert answers == [200, 200, 429]


def test_residency_applies_to_messages(gw: Gateway) -> None:
    eu = anthropic.Anthropic(base_url=gw.url, api_key=gw.eu_key, max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError):
        eu.messages.create(model="claude", max_tokens=5,  # us.* profile: US regions
                           messages=[{"role": "user", "content": "hi"}])


def test_stream_failing_midway_ends_with_an_anthropic_error_event(gw: Gateway) -> None:
    gw.bedrock.fault("exception")  # a throttlingException frame after two chunks
    with pytest.raises(anthropic.APIStatusError) as caught, client(gw).messages.stream(
            model="claude", max_tokens=5,
            messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert "throttling" in body["error"]["message"].lower()
