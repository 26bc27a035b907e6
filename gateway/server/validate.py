"""Reading and checking a request before anything acts on it: body size, JSON, field types.

Every check answers 400 (413 for the size) with ``param`` naming the field and what was
expected, in OpenAI's error shape (:class:`~skyrelay.gateway.errors.GatewayError`).

Example::

    body = await read_body(receive, DEFAULT_MAX_BODY, declared=None)
    request = parse_json_object(body)
    check_chat(request)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from skyrelay.gateway.errors import GatewayError

Receive = Callable[[], Awaitable[dict[str, Any]]]

#: Default request body limit: room for a few base64 images, far below memory trouble.
DEFAULT_MAX_BODY = 8 * 1024 * 1024
#: Request header names and values together may not exceed this (431). The HTTP parser
#: (httptools) sets no limit of its own; load balancers in front allow about this much.
MAX_HEADER_BYTES = 32 * 1024
#: JSON nesting a request may have: what orjson can serialise again for the upstream. Deeper
#: bodies parse (orjson reads 1024 levels) but could not be forwarded to any target.
MAX_JSON_DEPTH = 254

class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """The request body, refusing more than ``limit`` bytes (413) before buffering it."""
    if declared is not None and declared > limit:
        raise GatewayError.too_large(limit)
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise GatewayError.too_large(limit)
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise GatewayError.too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 400."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise GatewayError.bad_request("The request body is not valid JSON.",
                                       code="invalid_json") from None
    if not isinstance(value, dict):
        raise GatewayError.bad_request("The request body must be a JSON object.",
                                       code="invalid_json")
    # Only a body with more opening brackets than the limit can nest deeper than it, so
    # ordinary requests skip the check; orjson itself refuses to serialise past the limit.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        try:
            orjson.dumps(value)
        except TypeError:
            raise GatewayError.bad_request(
                f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels.",
                code="invalid_json") from None
    return value


_JSON_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a decimal", str: "a string",
                    list: "an array", dict: "an object", type(None): "null"}


def _invalid_type(param: str, expected: str, value: Any) -> GatewayError:
    got = _JSON_TYPE_NAMES.get(type(value), "another type")
    return GatewayError.bad_request(f"Invalid type for '{param}': expected {expected}, but got "
                                    f"{got} instead.", param=param, code="invalid_type")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _objects_with_function(value: Any) -> bool:
    """An array of objects whose ``function``, when present, is an object (tools, calls)."""
    return isinstance(value, list) and all(
        isinstance(item, dict) and isinstance(item.get("function", {}), dict) for item in value)


#: Optional chat fields the gateway or a provider's translation reads, by expected type.
_CHAT_INTEGERS = ("max_tokens", "max_completion_tokens", "n")
_CHAT_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")


def check_chat(request: dict[str, Any]) -> None:
    """The chat fields the gateway or a translation reads have the right types (or 400)."""
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError.bad_request("'model' is required and must be a string.",
                                       param="model")
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise GatewayError.bad_request("'messages' must be a non-empty array.",
                                       param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise GatewayError.bad_request(f"messages[{i}] must be an object with a 'role'.",
                                           param=f"messages[{i}]")
        content = message.get("content")
        if not (content is None or isinstance(content, str) or (
                isinstance(content, list) and all(isinstance(p, dict) for p in content))):
            raise _invalid_type(f"messages[{i}].content",
                                "a string or an array of content parts (objects)", content)
        calls = message.get("tool_calls")
        if calls is not None and not _objects_with_function(calls):
            raise _invalid_type(f"messages[{i}].tool_calls",
                                "an array of tool calls (objects)", calls)
    stream = request.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        raise GatewayError.bad_request("'stream' must be a boolean.", param="stream")
    options = request.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise GatewayError.bad_request("'stream_options' must be an object.",
                                       param="stream_options")
    for name in _CHAT_INTEGERS:
        value = request.get(name)
        if value is not None and not _is_int(value):
            raise _invalid_type(name, "an integer", value)
    for name in _CHAT_NUMBERS:
        value = request.get(name)
        if value is not None and not _is_number(value):
            raise _invalid_type(name, "a number", value)
    stop = request.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _invalid_type("stop", "a string or an array of strings", stop)
    tools = request.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _invalid_type("tools", "an array", tools)
        for i, tool in enumerate(tools):
            if not _objects_with_function([tool]):
                raise _invalid_type(f"tools[{i}]", "a tool (an object)", tool)
    choice = request.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise _invalid_type("tool_choice", "a string or an object", choice)


def check_embeddings(request: dict[str, Any]) -> None:
    """``model`` and ``input`` of an embeddings request are usable (or 400)."""
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise GatewayError.bad_request("'model' is required and must be a string.",
                                       param="model")
    value = request.get("input")
    if not value or not isinstance(value, str | list):
        raise GatewayError.bad_request("'input' must be a non-empty string or array.",
                                       param="input")
    if isinstance(value, list) and not (all(isinstance(v, str) for v in value)
                                        or all(_is_int(v) for v in value)
                                        or all(isinstance(v, list) for v in value)):
        raise _invalid_type("input", "a string, an array of strings, an array of token ids "
                                     "or an array of token-id arrays", value)
