"""OpenAI chat completions <-> Amazon Bedrock Converse, as pure functions.

Request: system/developer messages are hoisted into ``system``; consecutive turns of one
role are merged (Converse requires strict alternation, starting with a user turn); tool
results become ``toolResult`` blocks in a user turn; assistant ``tool_calls`` become
``toolUse`` blocks (their JSON-string arguments parsed); ``tools``/``tool_choice`` become
``toolConfig`` (``none`` withholds the tools, but ``toolConfig`` stays whenever the history
holds tool blocks, as Converse demands). Images are accepted only as ``data:`` URLs.
``response_format``, request metadata and the service tier go to ``outputConfig``,
``requestMetadata`` and ``serviceTier`` (:mod:`.bedrock_options`). Which fields reach this
translation at all is decided by :mod:`skyrelay.gateway.hub.fields` (the rest are refused
with a 400 before any upstream is called); a value Converse cannot take raises a 400
``ProviderError`` whose ``param`` names it.

Response and stream events map back to OpenAI ``chat.completion`` and
``chat.completion.chunk`` objects; each tool-use content block keeps its own tool-call
``index``, so parallel tool calls survive streaming.

Example::

    body = to_converse({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    completion = from_converse(converse_json, model="us.anthropic...", request_id="abc")
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock_options import (
    bad,
    output_config,
    request_metadata,
    service_tier,
)

FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
          "tool_use": "tool_calls", "guardrail_intervened": "content_filter",
          "content_filtered": "content_filter",
          "model_context_window_exceeded": "length"}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}


def _bad(message: str, param: str | None = None) -> ProviderError:
    return bad(message, param)


def _content_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise _bad("message content must be a string or a list of parts", where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if str(part.get("text", "")).strip():
                blocks.append({"text": part["text"]})
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            blocks.append({"image": _image(url)})
        else:
            raise _bad(f"unsupported content part type {kind!r} for Bedrock",
                       f"{where}[{j}].type")
    return blocks


def _image(url: str) -> dict[str, Any]:
    if not url.startswith("data:") or ";base64," not in url:
        raise _bad("Bedrock takes images only as data: URLs (base64); remote URLs are refused")
    mime, _, data = url[5:].partition(";base64,")
    fmt = _IMAGE_FORMATS.get(mime)
    if fmt is None:
        raise _bad(f"unsupported image type {mime!r}")
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        raise _bad("image data is not valid base64") from None
    return {"format": fmt, "source": {"bytes": data}}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def to_converse(request: dict[str, Any]) -> dict[str, Any]:
    """The Converse request body for an OpenAI chat-completions request.

    A request with a field of a shape the translation cannot read is the client's error
    (``bad_request``, 400): raised as anything else, the router would take it for a fault
    of the target and charge its circuit breaker.
    """
    try:
        return _to_converse(request)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, OverflowError):
        raise _bad("a field of the request has a shape the Bedrock Converse API cannot "
                   "take") from None


def _to_converse(request: dict[str, Any]) -> dict[str, Any]:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' must be a non-empty list")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    has_tool_blocks = False

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    blank_user: int | None = None  # the first user message without any text or image
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad("each message must be an object")
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"))
            if text.strip():
                system.append({"text": text})
        elif role == "user":
            user_blocks = _content_blocks(msg.get("content"), f"messages[{i}].content")
            if not user_blocks and blank_user is None:
                blank_user = i
            add("user", user_blocks)
        elif role == "assistant":
            blocks = _content_blocks(msg.get("content"), f"messages[{i}].content")
            for call in msg.get("tool_calls") or []:
                fn = call.get("function") or {}
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except json.JSONDecodeError:
                    raise _bad(f"tool call {call.get('id')!r} has arguments that are not "
                               "valid JSON") from None
                blocks.append({"toolUse": {"toolUseId": call.get("id"),
                                           "name": fn.get("name"), "input": args}})
                has_tool_blocks = True
            add("assistant", blocks)
        elif role == "tool":
            has_tool_blocks = True
            add("user", [{"toolResult": {"toolUseId": msg.get("tool_call_id"),
                                         "content": [{"text": _text_of(msg.get("content"))}]}}])
        else:
            raise _bad(f"unsupported message role {role!r}")
    if not turns or turns[0]["role"] != "user":
        if blank_user is not None:
            raise _bad(f"messages[{blank_user}] is a user message with no content: Bedrock "
                       "Converse rejects empty and blank text; send the user's text",
                       f"messages[{blank_user}].content")
        raise _bad("the conversation must start with a user message (after system messages)",
                   "messages")

    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    cap = request.get("max_completion_tokens") or request.get("max_tokens")
    if cap is not None:
        inference["maxTokens"] = int(cap)
    for src, dst in (("temperature", "temperature"), ("top_p", "topP")):
        if request.get(src) is not None:
            inference[dst] = request[src]
    stop = request.get("stop")
    if stop:
        inference["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(request, has_tool_blocks)
    if tool_config:
        body["toolConfig"] = tool_config
    output = output_config(request.get("response_format"))
    if output:
        body["outputConfig"] = output
    metadata = request_metadata(request)
    if metadata:
        body["requestMetadata"] = metadata
    tier = service_tier(request.get("service_tier"))
    if tier:
        body["serviceTier"] = tier
    return body


def _tool_config(request: dict[str, Any], history_has_tools: bool) -> dict[str, Any] | None:
    tools = request.get("tools") or []
    specs = []
    for tool in tools:
        fn = tool.get("function") or {}
        specs.append({"toolSpec": {"name": fn.get("name"),
                                   "description": fn.get("description") or fn.get("name"),
                                   "inputSchema": {"json": fn.get("parameters") or
                                                   {"type": "object", "properties": {}}}}})
    choice = request.get("tool_choice")
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    if choice == "none":
        # Converse has no "none": withhold the tools unless the history needs toolConfig.
        return config if history_has_tools else None
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice in (None, "auto"):
        config["toolChoice"] = {"auto": {}}
    return config


def usage_of(usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage from Converse usage (cache reads and writes are prompt tokens too)."""
    usage = usage or {}
    cached = int(usage.get("cacheReadInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + cached + int(
        usage.get("cacheWriteInputTokens") or 0)
    completion = int(usage.get("outputTokens") or 0)
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def finish_reason(stop_reason: str | None) -> str:
    """OpenAI finish_reason for a Converse stopReason (unknown values: ``stop``)."""
    return FINISH.get(stop_reason or "", "stop")


def from_converse(data: dict[str, Any], *, model: str, request_id: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` from a Converse response."""
    content = ((data.get("output") or {}).get("message") or {}).get("content") or []
    text = "".join(b["text"] for b in content if "text" in b)
    calls = [
        {"id": b["toolUse"]["toolUseId"], "type": "function",
         "function": {"name": b["toolUse"]["name"],
                      "arguments": json.dumps(b["toolUse"].get("input", {}))}}
        for b in content if "toolUse" in b
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return {"id": f"chatcmpl-{request_id}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message,
                         "finish_reason": finish_reason(data.get("stopReason"))}],
            "usage": usage_of(data.get("usage"))}


class StreamMapper:
    """Turns ConverseStream events into OpenAI chunks, one event at a time."""

    def __init__(self, *, model: str, request_id: str) -> None:
        self.model = model
        self.id = f"chatcmpl-{request_id}"
        self.created = int(time.time())
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def event(self, name: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk for one event, or None when the event carries nothing to forward."""
        if name == "messageStart":
            return self._chunk({"role": "assistant", "content": ""})
        if name == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if tool:
                index = len(self._tool_index)
                self._tool_index[payload.get("contentBlockIndex", 0)] = index
                return self._chunk({"tool_calls": [{
                    "index": index, "id": tool["toolUseId"], "type": "function",
                    "function": {"name": tool["name"], "arguments": ""}}]})
            return None
        if name == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                return self._chunk({"content": delta["text"]})
            if "toolUse" in delta:
                index = self._tool_index.get(payload.get("contentBlockIndex", 0), 0)
                return self._chunk({"tool_calls": [{
                    "index": index, "function": {"arguments": delta["toolUse"].get("input", "")}}]})
            return None
        if name == "messageStop":
            return self._chunk({}, finish_reason(payload.get("stopReason")))
        if name == "metadata":
            chunk = self._chunk({})
            chunk["choices"] = []
            chunk["usage"] = usage_of(payload.get("usage"))
            return chunk
        return None  # contentBlockStop and unknown events
