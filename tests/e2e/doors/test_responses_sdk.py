"""``POST /v1/responses`` with the official ``openai`` SDK (sync and async) against the
gateway process: translated to Bedrock Converse, passed through to Bedrock's
OpenAI-compatible endpoint and to Azure OpenAI v1; state and untranslatable fields refused
with a 400 naming them; every request metered once with the upstream's usage."""

from __future__ import annotations

import asyncio
from typing import Any

import botocore.session
import httpx
import openai
import pytest
from botocore.validate import ParamValidator

from .conftest import Gateway

_CONVERSE = botocore.session.get_session().get_service_model(
    "bedrock-runtime").operation_model("Converse").input_shape


def valid_converse(body: dict[str, Any]) -> None:
    """The Converse request the gateway sent is valid by botocore's service model."""
    report = ParamValidator().validate({"modelId": "m", **body}, _CONVERSE)
    assert not report.has_errors(), report.generate_report()


def client(gw: Gateway, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.key, max_retries=0, **kw)


def record_of(gw: Gateway, request_id: str) -> dict[str, Any]:
    records = gw.proc.wait_records(0, ready=lambda rs: any(
        r["RequestId"] == request_id for r in rs))
    found = [r for r in records if r["RequestId"] == request_id]
    assert len(found) == 1, (request_id, gw.proc.logs()[-2000:])
    return found[0]


def test_create_on_converse_translates_instructions_and_reports_usage(gw: Gateway) -> None:
    raw = client(gw).responses.with_raw_response.create(
        model="nova", instructions="Answer briefly.", input="Say hello",
        max_output_tokens=50, temperature=0.3)
    response = raw.parse()
    assert response.output_text == "Hello from Bedrock"
    assert response.status == "completed" and response.object == "response"
    assert response.usage is not None
    # Converse usage 7 input + 2 cache reads, 3 output (the local runtime's)
    assert (response.usage.input_tokens, response.usage.output_tokens) == (9, 3)
    assert response.usage.input_tokens_details.cached_tokens == 2
    body = gw.bedrock.bodies[-1]
    assert body["system"] == [{"text": "Answer briefly."}]
    assert body["messages"] == [{"role": "user", "content": [{"text": "Say hello"}]}]
    assert body["inferenceConfig"] == {"maxTokens": 50, "temperature": 0.3}
    valid_converse(body)
    record = record_of(gw, raw.headers["x-request-id"])
    assert (record["Outcome"], record["InputTokens"], record["OutputTokens"]) == (
        "success", 9, 3)


def test_stream_helper_assembles_the_translated_stream(gw: Gateway) -> None:
    with client(gw).responses.stream(model="nova", input="Say hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello from Bedrock" == final.output_text
    assert final.usage is not None and final.usage.output_tokens == 3


def test_async_client_streams_too(gw: Gateway) -> None:
    async def main() -> tuple[list[str], Any]:
        async with openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=gw.key,
                                      max_retries=0) as aclient:
            events = await aclient.responses.create(model="nova", input="hi", stream=True)
            kinds = [event.type async for event in events]
            return kinds, None
    # a private loop: asyncio.run would leave the main thread without a current loop, which
    # later tests that rely on the implicit one (Pulumi's mocks) do not survive
    loop = asyncio.new_event_loop()
    try:
        kinds, _ = loop.run_until_complete(main())
    finally:
        loop.close()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"


def test_tool_calls_and_function_call_output_round_trip(gw: Gateway) -> None:
    tools = [{"type": "function", "name": "get_weather", "description": "weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
             {"type": "function", "name": "get_time", "parameters": {"type": "object"}}]
    first = client(gw).responses.create(model="nova-tools", input="Weather in Paris?",
                                        tools=tools, tool_choice="auto")  # type: ignore[arg-type]
    calls = [o for o in first.output if o.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [
        ("get_weather", '{"city": "Paris"}'), ("get_time", '{"tz": "CET"}')]
    # as OpenAI's guide does it: the response's output items, then one output per call
    follow_up: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    follow_up += [{"type": "function_call", "call_id": c.call_id, "name": c.name,
                   "arguments": c.arguments} for c in calls]
    follow_up += [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"}
                  for c in calls]
    client(gw).responses.create(model="nova-tools", input=follow_up,
                                tools=tools)  # type: ignore[arg-type]
    body = gw.bedrock_tools.bodies[-1]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert [b["toolUse"]["toolUseId"] for b in body["messages"][1]["content"]] == [
        "tu-1", "tu-2"]
    results = body["messages"][2]["content"]
    assert [r["toolResult"]["content"] for r in results] == [[{"text": "sunny"}]] * 2
    assert body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    valid_converse(body)


def test_tool_call_stream_deltas_reach_the_sdk(gw: Gateway) -> None:
    with client(gw).responses.stream(model="nova-tools", input="weather?", tools=[
            {"type": "function", "name": "get_weather", "parameters": {}}]) as stream:
        args = [e.delta for e in stream
                if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert "".join(args) == '{"city": "Paris"}{"tz": "CET"}'
    assert [o.type for o in final.output] == ["function_call", "function_call"]


@pytest.mark.parametrize(("extra", "param"), [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"store": True}, "store"),
    ({"background": True}, "background"),
    ({"text": {"format": {"type": "json_schema", "name": "x",
                          "schema": {"type": "object"}}}}, "text"),
    ({"tools": [{"type": "web_search"}]}, "tools"),
    ({"include": ["reasoning.encrypted_content"]}, "include"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ({"made_up_field": 1}, "made_up_field"),
])
def test_refusals_name_the_field(gw: Gateway, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(gw).responses.create(model="nova", input="hi", extra_body=extra)
    error = caught.value.body
    assert isinstance(error, dict) and error["param"] == param, error
    assert caught.value.status_code == 400


def test_passthrough_to_bedrock_openai_endpoint(gw: Gateway) -> None:
    before = len(gw.oss.bodies)
    response = client(gw).responses.create(model="oss", input="hi",
                                           reasoning={"effort": "low"},
                                           include=["reasoning.encrypted_content"])
    assert response.output_text == "Hello from gpt-oss"
    assert gw.oss.paths[-1] == "/openai/v1/responses" and gw.oss.auth[-1] == "Bearer"
    sent = gw.oss.bodies[before]
    # the client's own body: only the model changed (and store false, never stored)
    assert sent == {"model": "openai.gpt-oss-120b-1:0", "input": "hi",
                    "reasoning": {"effort": "low"},
                    "include": ["reasoning.encrypted_content"],
                    "stream": False, "store": False}


def test_passthrough_stream_to_azure_v1(gw: Gateway) -> None:
    with client(gw).responses.stream(model="azure", input="hi") as stream:
        text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text == "Hello from gpt-oss"
    assert final.usage is not None and final.usage.total_tokens == 14
    assert gw.oss.paths[-1] == "/openai/v1/responses"
    assert gw.oss.bodies[-1]["model"] == "gpt-4o-dep"  # the Azure deployment


def test_passthrough_stream_is_metered_from_response_completed(gw: Gateway) -> None:
    answer = httpx.post(gw.url + "/v1/responses", timeout=10,
                        headers={"authorization": "Bearer " + gw.key},
                        json={"model": "oss", "input": "hi", "stream": True})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    record = record_of(gw, answer.headers["x-request-id"])
    assert (record["InputTokens"], record["OutputTokens"]) == (11, 3)
    assert record["Target"] == "oss"


def test_azure_v1_base_url_serves_responses(gw: Gateway) -> None:
    v1 = openai.OpenAI(base_url=gw.url + "/openai/v1", api_key=gw.key, max_retries=0)
    assert v1.responses.create(model="nova", input="hi").output_text == "Hello from Bedrock"


def test_mixed_route_falls_back_from_passthrough_to_translation_before_the_first_byte(
        gw: Gateway) -> None:
    gw.oss.fault("throttle")  # taken by oss-2 (SigV4), the route's first target
    with client(gw).responses.with_streaming_response.create(
            model="mixed", input="hi", stream=True) as raw:
        assert raw.headers["x-skyrelay-attempts"] == "2"
        assert raw.headers["x-skyrelay-target"] == "nova"
        events = [e.type for e in raw.parse()]
    assert events[0] == "response.created" and events[-1] == "response.completed"


def test_residency_applies_to_responses(gw: Gateway) -> None:
    eu = openai.OpenAI(base_url=gw.url + "/v1", api_key=gw.eu_key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        eu.responses.create(model="nova", input="hi")  # nova processes in us-east-1


def test_azure_client_serves_responses(gw: Gateway) -> None:
    azure = openai.AzureOpenAI(azure_endpoint=gw.url, api_key=gw.key,
                               api_version="2025-04-01-preview", max_retries=0)
    response = azure.responses.create(model="nova", input="hi")
    assert response.output_text == "Hello from Bedrock"


def test_chat_completions_reach_the_bedrock_openai_endpoint(gw: Gateway) -> None:
    before = len(gw.oss.bodies)
    completion = client(gw).chat.completions.create(
        model="oss", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Hello from gpt-oss"
    assert gw.oss.paths[-1] == "/openai/v1/chat/completions"
    assert gw.oss.bodies[before]["model"] == "openai.gpt-oss-120b-1:0"
    with client(gw).chat.completions.stream(
            model="oss", messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "Hello from gpt-oss"


def test_translated_stream_failing_midway_ends_with_an_error_event(gw: Gateway) -> None:
    gw.bedrock.fault("exception")  # a throttlingException frame after two events
    answer = httpx.post(gw.url + "/v1/responses", timeout=10,
                        headers={"authorization": "Bearer " + gw.key},
                        json={"model": "nova", "input": "hi", "stream": True})
    assert answer.status_code == 200
    events = [line[7:] for line in answer.text.splitlines() if line.startswith("event: ")]
    assert events[0] == "response.created" and events[-1] == "error"
    assert "response.completed" not in events
    record = record_of(gw, answer.headers["x-request-id"])
    assert record["Outcome"] != "success" and record["InputTokens"] > 0  # the prompt is billed
