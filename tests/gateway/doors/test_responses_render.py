"""The Responses door's output read by the official ``openai`` SDK's own models and its
stream accumulator (``ResponseStreamState``, what ``client.responses.stream`` runs): the
events must validate as the SDK's types and rebuild the same response the gateway sends
in ``response.completed``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from skyrelay.gateway.doors.openai_responses import DOOR, ResponsesRender, from_completion
from skyrelay.gateway.doors.responses_render import ResponseHead, usage_object
from skyrelay.gateway.hub.request import API_CHAT, PathParams
from skyrelay.gateway.hub.response import Result

EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
HEAD = ResponseHead("resp_abc1", "chat-default", 1_700_000_000,
                    {"tools": [{"type": "function", "name": "get_weather", "parameters": {}}]})


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "c", "object": "chat.completion.chunk", "created": 1,
                           "model": "m",
                           "choices": [] if delta is None else
                           [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        out["usage"] = usage
    return out


def parse_sse(raw: bytes) -> list[dict[str, Any]]:
    events = []
    for block in raw.split(b"\n\n"):
        if not block:
            continue
        name, data = block.split(b"\n")
        assert name.startswith(b"event: ") and data.startswith(b"data: ")
        event = orjson.loads(data[6:])
        assert name[7:].decode() == event["type"]
        events.append(event)
    return events


def render(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    renderer = ResponsesRender(HEAD)
    raw = b"".join(renderer.event(c) for c in chunks) + renderer.done()
    return parse_sse(raw)


USAGE = {"prompt_tokens": 12, "completion_tokens": 5,
         "prompt_tokens_details": {"cached_tokens": 2}}
TEXT_CHUNKS = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
               chunk({"content": "lo"}), chunk({}, "stop"), chunk(usage=USAGE)]
TOOL_CHUNKS = [
    chunk({"role": "assistant", "content": "Let me check."}),
    chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
    chunk({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                           "function": {"name": "get_weather", "arguments": '{"city":'}}]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
    chunk({"tool_calls": [{"index": 1, "function": {"arguments": ' "Rome"}'}}]}),
    chunk({}, "tool_calls"), chunk(usage=USAGE)]


@pytest.mark.parametrize("chunks", [TEXT_CHUNKS, TOOL_CHUNKS], ids=["text", "tools"])
def test_every_event_is_an_sdk_event_and_the_sdk_rebuilds_the_response(
        chunks: list[dict[str, Any]]) -> None:
    events = render(chunks)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created"
    assert events[1]["type"] == "response.in_progress"
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=HEAD.request["tools"],
                                                          text_format=omit)
    for event in events:
        state.handle_event(EVENTS.validate_python(event))
    final = events[-1]
    assert final["type"] == "response.completed"
    rebuilt = Response.model_validate(final["response"])
    assert rebuilt.usage is not None
    assert (rebuilt.usage.input_tokens, rebuilt.usage.output_tokens) == (12, 5)
    assert rebuilt.usage.input_tokens_details.cached_tokens == 2
    assert state._completed_response is not None  # the SDK accepted the completion


def test_text_deltas_concatenate_to_the_done_text() -> None:
    events = render(TEXT_CHUNKS)
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    done = [e for e in events if e["type"] == "response.output_text.done"]
    assert deltas == "Hello" and done[0]["text"] == "Hello"
    assert Response.model_validate(events[-1]["response"]).output_text == "Hello"


def test_parallel_tool_calls_keep_their_own_arguments() -> None:
    events = render(TOOL_CHUNKS)
    final = Response.model_validate(events[-1]["response"])
    calls = [o for o in final.output if o.type == "function_call"]
    assert [(c.call_id, c.arguments) for c in calls] == [
        ("call_1", '{"city": "Paris"}'), ("call_2", '{"city": "Rome"}')]
    assert final.output[0].type == "message"  # the text before the calls came first
    added = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    assert added == [0, 1, 2]


def test_length_finish_is_an_incomplete_response() -> None:
    events = render([chunk({"content": "cut"}), chunk({}, "length"), chunk(usage=USAGE)])
    assert events[-1]["type"] == "response.incomplete"
    response = Response.model_validate(events[-1]["response"])
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_error_event_is_the_sdks_error_event() -> None:
    from skyrelay.gateway.errors import GatewayError
    renderer = ResponsesRender(HEAD)
    raw = renderer.event(chunk({"content": "x"})) + renderer.error(
        GatewayError(502, "upstream broke", code="upstream_server"))
    event = parse_sse(raw)[-1]
    parsed = EVENTS.validate_python(event)
    assert parsed.type == "error" and parsed.message == "upstream broke"


def test_non_streamed_completion_renders_as_an_sdk_response() -> None:
    request = DOOR.parse({"model": "chat-default", "input": "hi",
                          "metadata": {"team": "a"}, "temperature": 0.2}, PathParams())
    completion = {"id": "c", "object": "chat.completion", "model": "m", "created": 1,
                  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                      "role": "assistant", "content": "ok",
                      "tool_calls": [{"id": "call_9", "type": "function", "function": {
                          "name": "f", "arguments": "{}"}}]}}],
                  "usage": USAGE}
    body = orjson.loads(DOOR.render(request, Result.of(completion, API_CHAT)))
    response = Response.model_validate(body)
    assert response.output_text == "ok"
    assert response.output[1].type == "function_call"
    assert response.metadata == {"team": "a"} and response.temperature == 0.2
    assert response.store is False  # the gateway keeps no responses, and says so
    assert response.id.startswith("resp_") and response.status == "completed"


def test_usage_object_fills_every_field_the_sdk_requires() -> None:
    usage = usage_object({"input_tokens": 3, "output_tokens": 4})
    assert usage["total_tokens"] == 7
    assert usage["input_tokens_details"] == {"cached_tokens": 0, "cache_write_tokens": 0}
    assert from_completion(HEAD, {"choices": []})["usage"]["total_tokens"] == 0


def test_odd_upstream_usage_never_breaks_the_rendering() -> None:
    completion = {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}],
                  "usage": {"prompt_tokens": "lots", "completion_tokens": -4.0,
                            "prompt_tokens_details": {"cached_tokens": float("nan")}}}
    usage = Response.model_validate(from_completion(HEAD, completion)).usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (0, 0, 0)


def test_malformed_upstream_chunks_are_skipped_not_fatal() -> None:
    events = render([chunk({"content": "ok"}),
                     {"choices": ["not a choice", {"delta": "nope"},
                                  {"delta": {"tool_calls": ["x", {"index": "a"}]}}]},
                     chunk({}, "stop"), chunk(usage=USAGE)])
    final = Response.model_validate(events[-1]["response"])
    assert final.output_text == "ok" and final.status == "completed"
