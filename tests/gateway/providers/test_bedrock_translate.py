"""OpenAI chat <-> Bedrock Converse translation (``providers.bedrock_translate``), rule by rule.

A field translated wrongly is worse than one refused: ``tool_choice: "required"`` sent as
``auto`` lets the model answer in prose where the client's code expects a tool call; a
dropped cache-read count under-bills; a tool call index reused across blocks merges two
parallel calls into one. Every rule of the module docstring is pinned here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock_translate import (
    FINISH,
    StreamMapper,
    finish_reason,
    from_converse,
    to_converse,
    usage_of,
)

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "weather", "description": "the weather",
                                         "parameters": {"type": "object", "properties": {
                                             "city": {"type": "string"}}}}}
START_WITH_USER = "the conversation must start with a user message (after system messages)"
SHAPE = "a field of the request has a shape the Bedrock Converse API cannot take"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()


def converse(**request: Any) -> dict[str, Any]:
    request.setdefault("messages", [USER])
    return to_converse(request)


def refused(request: dict[str, Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        to_converse(request)
    err = info.value
    # The client's fault, never the target's: the router must not charge the breaker.
    assert (err.kind, err.status, err.code) == ("bad_request", 400, "invalid_request")
    return err


# --- messages ------------------------------------------------------------------------------

def test_plain_user_message() -> None:
    assert converse() == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_system_and_developer_messages_are_hoisted_in_order() -> None:
    body = converse(messages=[
        {"role": "system", "content": "one"}, USER,
        {"role": "developer", "content": [{"type": "text", "text": "two"},
                                          {"type": "text", "text": "!"}]},
        {"role": "system", "content": "   "},  # blank: dropped
    ])
    assert body["system"] == [{"text": "one"}, {"text": "two!"}]
    # A text part without text is empty, not an error.
    parts = converse(messages=[{"role": "system", "content": [{"type": "text"},
                                                              {"type": "text", "text": "x"}]},
                               USER])
    assert parts["system"] == [{"text": "x"}]
    user_parts = converse(messages=[{"role": "user", "content": [{"type": "text"},
                                                                {"type": "text", "text": "y"}]}])
    assert user_parts["messages"][0]["content"] == [{"text": "y"}]
    # Content that is neither text nor parts (None) is no text at all.
    assert "system" not in converse(messages=[{"role": "system", "content": None}, USER])
    assert body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_content_parts_text_and_data_images() -> None:
    body = converse(messages=[{"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "text", "text": "  "},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/webp;base64,{PNG}"}},
    ]}])
    assert body["messages"][0]["content"] == [
        {"text": "look"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"image": {"format": "webp", "source": {"bytes": PNG}}},
    ]


@pytest.mark.parametrize(("content", "message"), [
    ([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}],
     "Bedrock takes images only as data: URLs (base64); remote URLs are refused"),
    ([{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}],
     "Bedrock takes images only as data: URLs (base64); remote URLs are refused"),
    ([{"type": "image_url", "image_url": {"url": f"data:image/tiff;base64,{PNG}"}}],
     "unsupported image type 'image/tiff'"),
    ([{"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}],
     "image data is not valid base64"),
    ([{"type": "input_audio", "input_audio": {}}],
     "unsupported content part type 'input_audio' for Bedrock"),
    (["just a string"], "unsupported content part type None for Bedrock"),
    (42, "message content must be a string or a list of parts"),
])
def test_content_that_converse_cannot_take_is_refused(content: Any, message: str) -> None:
    assert refused({"messages": [{"role": "user", "content": content}]}).message == message


def test_consecutive_turns_of_one_role_are_merged() -> None:
    body = converse(messages=[
        {"role": "user", "content": "a"}, {"role": "user", "content": ""},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"}, {"role": "assistant", "content": "d"},
        {"role": "user", "content": None}, {"role": "user", "content": "e"},
    ])
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
        {"role": "assistant", "content": [{"text": "c"}, {"text": "d"}]},
        {"role": "user", "content": [{"text": "e"}]},
    ]


def test_tool_calls_and_results_become_tool_blocks() -> None:
    body = converse(messages=[
        USER,
        {"role": "assistant", "content": "checking", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "c2", "type": "function", "function": {"name": "time"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "thanks"},
    ])
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"text": "checking"},
        {"toolUse": {"toolUseId": "c1", "name": "weather", "input": {"city": "Paris"}}},
        {"toolUse": {"toolUseId": "c2", "name": "time", "input": {}}}]}
    assert body["messages"][2] == {"role": "user", "content": [
        {"toolResult": {"toolUseId": "c1", "content": [{"text": "sunny"}]}},
        {"toolResult": {"toolUseId": "c2", "content": [{"text": "noon"}]}},
        {"text": "thanks"}]}


@pytest.mark.parametrize(("request_", "fragment"), [
    ({"messages": []}, "'messages' must be a non-empty list"),
    ({"messages": "hi"}, "'messages' must be a non-empty list"),
    ({}, "'messages' must be a non-empty list"),
    ({"messages": ["hi"]}, "each message must be an object"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, "unsupported message role 'wizard'"),
    ({"messages": [{"role": "assistant", "content": "x"}]}, START_WITH_USER),
    ({"messages": [{"role": "system", "content": "x"}]}, START_WITH_USER),
    ({"messages": [USER, {"role": "assistant", "tool_calls": [
        {"id": "k9", "function": {"name": "f", "arguments": "{"}}]}]},
     "tool call 'k9' has arguments that are not valid JSON"),
    ({"messages": [USER], "max_tokens": "many"}, SHAPE),
    ({"messages": [USER], "tools": ["weather"]}, SHAPE),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "Bedrock takes images only as data: URLs (base64); remote URLs are refused"),
])
def test_requests_converse_cannot_express_are_a_clear_400(request_: dict[str, Any],
                                                          fragment: str) -> None:
    assert refused(request_).message == fragment


# --- inference parameters ------------------------------------------------------------------

def test_inference_config() -> None:
    assert "inferenceConfig" not in converse()
    assert converse(max_tokens=50, temperature=0, top_p=0.9, stop="END")["inferenceConfig"] == {
        "maxTokens": 50, "temperature": 0, "topP": 0.9, "stopSequences": ["END"]}
    # max_completion_tokens (the current name) wins over the deprecated max_tokens.
    body = converse(max_tokens=50, max_completion_tokens=7, stop=["a", "b"])
    assert body["inferenceConfig"] == {"maxTokens": 7, "stopSequences": ["a", "b"]}
    assert converse(max_tokens=12.0)["inferenceConfig"] == {"maxTokens": 12}
    assert "inferenceConfig" not in converse(stop=[], temperature=None, top_p=None)


# --- tools ---------------------------------------------------------------------------------

def test_tools_become_tool_specs_with_auto_by_default() -> None:
    config = converse(tools=[TOOL, {"type": "function", "function": {"name": "bare"}}])[
        "toolConfig"]
    assert config == {"tools": [
        {"toolSpec": {"name": "weather", "description": "the weather",
                      "inputSchema": {"json": TOOL["function"]["parameters"]}}},
        {"toolSpec": {"name": "bare", "description": "bare",
                      "inputSchema": {"json": {"type": "object", "properties": {}}}}},
    ], "toolChoice": {"auto": {}}}
    assert converse(tools=[TOOL], tool_choice="auto")["toolConfig"]["toolChoice"] == {"auto": {}}


def test_tool_choice_required_forces_a_tool_call() -> None:
    """``required`` is Converse's ``any``: the model must call some tool (not ``auto``)."""
    assert converse(tools=[TOOL], tool_choice="required")["toolConfig"]["toolChoice"] == {
        "any": {}}


def test_tool_choice_naming_a_function_forces_that_tool() -> None:
    choice = {"type": "function", "function": {"name": "weather"}}
    assert converse(tools=[TOOL], tool_choice=choice)["toolConfig"]["toolChoice"] == {
        "tool": {"name": "weather"}}


def test_tool_choice_none_withholds_the_tools_unless_the_history_needs_them() -> None:
    assert "toolConfig" not in converse(tools=[TOOL], tool_choice="none")
    history = [USER, {"role": "assistant", "tool_calls": [
        {"id": "c1", "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    config = converse(messages=history, tools=[TOOL], tool_choice="none")["toolConfig"]
    assert "toolChoice" not in config and config["tools"][0]["toolSpec"]["name"] == "weather"
    # A tool call alone, or a tool result alone, is enough history to need the tools.
    calls_only = [USER, {"role": "assistant", "tool_calls": [
        {"id": "c1", "function": {"name": "weather", "arguments": "{}"}}]}, USER]
    assert "toolConfig" in converse(messages=calls_only, tools=[TOOL], tool_choice="none")
    results_only = [USER, {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    assert "toolConfig" in converse(messages=results_only, tools=[TOOL], tool_choice="none")


def test_no_tools_no_tool_config() -> None:
    assert "toolConfig" not in converse(tool_choice="required")
    assert "toolConfig" not in converse(tools=[])


# --- responses -----------------------------------------------------------------------------

def test_usage_counts_cache_reads_and_writes_as_prompt_tokens() -> None:
    assert usage_of({"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 100,
                     "cacheWriteInputTokens": 7}) == {
        "prompt_tokens": 117, "completion_tokens": 5, "total_tokens": 122,
        "prompt_tokens_details": {"cached_tokens": 100}}
    assert usage_of({"inputTokens": 3, "outputTokens": 2}) == {
        "prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert usage_of(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert usage_of({"inputTokens": None, "cacheReadInputTokens": None}) == usage_of({})


def test_finish_reasons() -> None:
    assert {k: finish_reason(k) for k in FINISH} == {
        "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
        "tool_use": "tool_calls", "guardrail_intervened": "content_filter",
        "content_filtered": "content_filter", "model_context_window_exceeded": "length"}
    assert finish_reason(None) == "stop" and finish_reason("new_reason") == "stop"


def test_from_converse_text_and_tool_calls() -> None:
    data = {"output": {"message": {"role": "assistant", "content": [
        {"text": "Let me "}, {"text": "check."},
        {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Oslo"}}},
        {"toolUse": {"toolUseId": "t2", "name": "noargs"}},
    ]}}, "stopReason": "tool_use", "usage": {"inputTokens": 4, "outputTokens": 6}}
    out = from_converse(data, model="m1", request_id="rid")
    assert out["id"] == "chatcmpl-rid" and out["object"] == "chat.completion"
    assert out["model"] == "m1" and isinstance(out["created"], int) and out["created"] > 0
    choice = out["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "tool_calls"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Let me check."
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function",
         "function": {"name": "weather", "arguments": json.dumps({"city": "Oslo"})}},
        {"id": "t2", "type": "function", "function": {"name": "noargs", "arguments": "{}"}}]
    assert out["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def test_from_converse_without_text_has_null_content_and_no_tool_calls_key() -> None:
    out = from_converse({"output": {"message": {"content": []}}, "stopReason": "max_tokens"},
                        model="m", request_id="r")
    message = out["choices"][0]["message"]
    assert message == {"role": "assistant", "content": None}
    assert out["choices"][0]["finish_reason"] == "length"
    assert from_converse({}, model="m", request_id="r")["choices"][0]["message"][
        "content"] is None


# --- streams -------------------------------------------------------------------------------

def test_stream_mapper_text_stream() -> None:
    mapper = StreamMapper(model="m", request_id="s1")
    start = mapper.event("messageStart", {"role": "assistant"})
    assert start is not None and start["id"] == "chatcmpl-s1"
    assert isinstance(start["created"], int) and start["created"] > 1_700_000_000
    assert start["object"] == "chat.completion.chunk" and start["model"] == "m"
    assert start["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]
    assert mapper.event("contentBlockStart", {"contentBlockIndex": 0, "start": {}}) is None
    text = mapper.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    assert text is not None and text["choices"][0]["delta"] == {"content": "Hi"}
    assert text["created"] == start["created"]
    assert mapper.event("contentBlockDelta", {"delta": {"reasoning": "x"}}) is None
    assert mapper.event("contentBlockStop", {"contentBlockIndex": 0}) is None
    assert mapper.event("somethingNew", {}) is None
    stop = mapper.event("messageStop", {"stopReason": "max_tokens"})
    assert stop is not None and stop["choices"] == [{"index": 0, "delta": {},
                                                     "finish_reason": "length"}]
    meta = mapper.event("metadata", {"usage": {"inputTokens": 2, "outputTokens": 3}})
    assert meta is not None and meta["choices"] == []
    assert meta["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_stream_mapper_keeps_parallel_tool_calls_apart() -> None:
    mapper = StreamMapper(model="m", request_id="s2")
    first = mapper.event("contentBlockStart", {"contentBlockIndex": 1, "start": {
        "toolUse": {"toolUseId": "a", "name": "weather"}}})
    second = mapper.event("contentBlockStart", {"contentBlockIndex": 2, "start": {
        "toolUse": {"toolUseId": "b", "name": "time"}}})
    assert first is not None and first["choices"][0]["delta"] == {"tool_calls": [
        {"index": 0, "id": "a", "type": "function",
         "function": {"name": "weather", "arguments": ""}}]}
    assert second is not None and second["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    arg2 = mapper.event("contentBlockDelta", {"contentBlockIndex": 2,
                                              "delta": {"toolUse": {"input": "{\"tz\""}}})
    arg1 = mapper.event("contentBlockDelta", {"contentBlockIndex": 1,
                                              "delta": {"toolUse": {"input": "{}"}}})
    assert arg2 is not None and arg2["choices"][0]["delta"] == {"tool_calls": [
        {"index": 1, "function": {"arguments": "{\"tz\""}}]}
    assert arg1 is not None and arg1["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    empty = mapper.event("contentBlockDelta", {"contentBlockIndex": 1,
                                               "delta": {"toolUse": {}}})
    assert empty is not None and empty["choices"][0]["delta"]["tool_calls"][0][
        "function"] == {"arguments": ""}
    assert mapper.event("messageStop", {})["choices"][0]["finish_reason"] == "stop"  # type: ignore[index]


def test_stream_mapper_block_index_defaults() -> None:
    """Events without ``contentBlockIndex`` mean block 0; a delta for a block that never
    started belongs to the first tool call."""
    mapper = StreamMapper(model="m", request_id="s3")
    mapper.event("contentBlockStart", {"contentBlockIndex": 5, "start": {
        "toolUse": {"toolUseId": "a", "name": "first"}}})
    second = mapper.event("contentBlockStart", {"start": {
        "toolUse": {"toolUseId": "b", "name": "second"}}})
    assert second is not None and second["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    no_index = mapper.event("contentBlockDelta", {"delta": {"toolUse": {"input": "{}"}}})
    assert no_index is not None
    assert no_index["choices"][0]["delta"]["tool_calls"][0]["index"] == 1
    stray = mapper.event("contentBlockDelta", {"contentBlockIndex": 9,
                                               "delta": {"toolUse": {"input": "{}"}}})
    assert stray is not None and stray["choices"][0]["delta"]["tool_calls"][0]["index"] == 0


# --- which field a refusal names ---------------------------------------------------------
# The 400's `param` is how a client (and the SDKs' error objects) find the offending part of
# a long conversation; a wrong or missing one sends people to the wrong message.

def _refusal(messages: list[Any]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        to_converse({"model": "m", "messages": messages})
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("role", ["user", "assistant"])
def test_content_of_the_wrong_type_names_that_message(role: str) -> None:
    err = _refusal([{"role": "user", "content": "hi"}, {"role": role, "content": 42}])
    assert err.param == "messages[1].content"
    assert "string or a list of parts" in str(err)


def test_an_unsupported_part_names_its_index_and_type() -> None:
    err = _refusal([{"role": "user", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"},
        {"type": "input_audio", "input_audio": {}}]}])
    assert err.param == "messages[0].content[2].type"


def test_a_blank_first_user_message_is_named_with_the_reason() -> None:
    """Converse rejects blank text; the gateway says which message instead of sending it."""
    err = _refusal([{"role": "system", "content": "be brief"},
                    {"role": "user", "content": "   "}, {"role": "user", "content": ""}])
    assert err.param == "messages[1].content"
    assert str(err) == ("messages[1] is a user message with no content: Bedrock Converse "
                        "rejects empty and blank text; send the user's text")


def test_a_conversation_opening_with_the_assistant_is_not_called_blank() -> None:
    err = _refusal([{"role": "assistant", "content": "hello"},
                    {"role": "user", "content": "hi"}])
    assert err.param == "messages"
    assert "must start with a user message" in str(err)
