"""Claude on the local Bedrock runtime: InvokeModel(+WithResponseStream) with the Anthropic body.

:func:`check_body` refuses what Bedrock refuses (a ``model`` field, a missing or wrong
``anthropic_version``, no ``max_tokens``/``messages``) with the ``ValidationException``
message Bedrock would give; :func:`message` is the ``invoke`` answer and
:func:`stream_frames` the ``invoke-with-response-stream`` one: event-stream ``chunk``
frames whose payload is ``{"bytes": base64(<Anthropic stream event>)}``, the last event
(``message_stop``) carrying ``amazon-bedrock-invocationMetrics`` as Bedrock's does.
Shapes: https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html
and botocore's ``bedrock-runtime`` model (``ResponseStream.chunk`` -> ``PayloadPart.bytes``).

Example::

    problem = check_body(body)            # None when Bedrock would accept it
    frames = stream_frames(body, tools=False)
"""

from __future__ import annotations

import base64
import json
from typing import Any

from skyrelay.gateway.testing.bedrock_frames import encode_frame
from skyrelay.gateway.testing.schema_examples import example_of

TEXT = ["Hello", " from", " Claude"]
INPUT_TOKENS, CACHE_READ, OUTPUT_TOKENS = 9, 3, 4
MESSAGE_ID = "msg_bdrk_01"
#: The keys a Bedrock Anthropic body may have (the page cited above; ``output_config.format``
#: for structured outputs: https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html).
ALLOWED = {"anthropic_version", "anthropic_beta", "max_tokens", "system", "messages",
           "temperature", "top_p", "top_k", "tools", "tool_choice", "stop_sequences",
           "thinking", "output_config"}


def check_body(body: Any) -> str | None:
    """What Bedrock would refuse in ``body`` (a ValidationException message), else None."""
    if not isinstance(body, dict):
        return "Malformed input request: expected an object"
    if body.get("anthropic_version") != "bedrock-2023-05-31":
        return "Malformed input request: anthropic_version must be bedrock-2023-05-31"
    extra = sorted(set(body) - ALLOWED)
    if extra:
        return f"Malformed input request: extraneous key [{extra[0]}] is not permitted"
    if not isinstance(body.get("max_tokens"), int):
        return "Malformed input request: #: required key [max_tokens] not found"
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return "Malformed input request: #: required key [messages] not found"
    return None


def _wants_tool(body: dict[str, Any]) -> bool:
    return bool(body.get("tools")) and not any(
        isinstance(m.get("content"), list)
        and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in m["content"])
        for m in body["messages"] if isinstance(m, dict))


def _usage(output: int) -> dict[str, Any]:
    return {"input_tokens": INPUT_TOKENS, "cache_read_input_tokens": CACHE_READ,
            "cache_creation_input_tokens": 0, "output_tokens": output}


def _tool(body: dict[str, Any]) -> dict[str, Any]:
    name = body["tools"][0].get("name", "tool")
    return {"type": "tool_use", "id": "toolu_bdrk_01", "name": name,
            "input": {"city": "Paris"}}


def message(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The InvokeModel answer: text, or a tool_use block when tools are offered."""
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema")
    if _wants_tool(body):
        content, stop = [_tool(body)], "tool_use"
    elif isinstance(schema, dict):  # structured output: an instance of the schema
        content, stop = [{"type": "text", "text": json.dumps(example_of(schema))}], "end_turn"
    else:
        content, stop = [{"type": "text", "text": "".join(TEXT)}], "end_turn"
    return {"id": MESSAGE_ID, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": _usage(OUTPUT_TOKENS)}


def chunk(event: dict[str, Any]) -> bytes:
    """One ``chunk`` frame carrying ``event``."""
    payload = json.dumps({"bytes": base64.b64encode(json.dumps(event).encode()).decode()})
    return encode_frame({":event-type": "chunk", ":content-type": "application/json",
                         ":message-type": "event"}, payload.encode())


def stream_events(body: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """The Anthropic events of one streamed answer, as Claude on Bedrock sends them."""
    start = {**message(body, model), "content": [], "stop_reason": None}
    start["usage"] = _usage(1)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    if _wants_tool(body):
        tool = _tool(body)
        events.append({"type": "content_block_start", "index": 0,
                       "content_block": {**tool, "input": {}}})
        for part in ('{"city": ', '"Paris"}'):
            events.append({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "input_json_delta", "partial_json": part}})
        stop = "tool_use"
    else:
        events.append({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}})
        for piece in TEXT:
            events.append({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": piece}})
        stop = "end_turn"
    events.append({"type": "content_block_stop", "index": 0})
    events.append({"type": "message_delta", "delta": {"stop_reason": stop,
                                                      "stop_sequence": None},
                   "usage": {"output_tokens": OUTPUT_TOKENS}})
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": INPUT_TOKENS, "outputTokenCount": OUTPUT_TOKENS,
        "invocationLatency": 12, "firstByteLatency": 5}})
    return events


def stream_frames(body: dict[str, Any], model: str) -> list[bytes]:
    """The event-stream frames of :func:`stream_events`."""
    return [chunk(event) for event in stream_events(body, model)]
