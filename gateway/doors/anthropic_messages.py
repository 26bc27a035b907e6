"""The Anthropic Messages door: ``POST /v1/messages`` (the ``anthropic`` SDK's API).

Requests are validated here and served by passthrough only: to Claude on Amazon Bedrock,
whose InvokeModel / InvokeModelWithResponseStream take the Messages body with
``anthropic_version: "bedrock-2023-05-31"`` and without ``model`` (the model id is in the
path; beta flags go in the body as ``anthropic_beta``). Source:
https://docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-anthropic-claude-messages-request-response.html
A route without a Claude-on-Bedrock target is refused with 400 naming ``model`` and the
reason (the decision table's rows for non-Claude targets).

Every top-level field is either passed through (:data:`PASSTHROUGH`) or refused with a 400
whose ``param`` names it (:data:`REFUSED`, and any field not known here), by the decision
table in ``hub.fields_messages``: nothing is dropped. The ``anthropic-beta`` header's flags
go into the body as ``anthropic_beta``; ``anthropic-version`` is accepted (Bedrock fixes
the version itself). Errors are rendered in Anthropic's shape ``{"type": "error",
"error": {type, message}}``; a stream is the Messages SSE events as Claude sent them.

Example::

    request = DOOR.parse(json_body, PathParams(extra={"anthropic-beta": "..."}))
    body = bedrock_body(request.native_body(), beta_flags(b"..."))  # what InvokeModel gets
"""

from __future__ import annotations

from typing import Any

import orjson

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.events import NativeEvent, StreamItem
from skyrelay.gateway.hub.request import API_MESSAGES, Operation, PathParams, Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.router.tokens import estimate_chat

#: The body version Bedrock requires for the Anthropic Messages API (page cited above).
BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"

#: Fields the Bedrock Anthropic body takes as they are (page cited above; ``thinking`` per
#: https://docs.aws.amazon.com/bedrock/latest/userguide/claude-messages-extended-thinking.html).
PASSTHROUGH: dict[str, str] = {
    "max_tokens": "sent as is", "messages": "sent as is", "system": "sent as is",
    "stop_sequences": "sent as is", "temperature": "sent as is", "top_p": "sent as is",
    "top_k": "sent as is", "tools": "sent as is", "tool_choice": "sent as is",
    "thinking": "sent as is",
}
#: Handled by the gateway itself.
GATEWAY: dict[str, str] = {
    "model": "names the gateway route; the target's model id goes in the Bedrock path",
    "stream": "selects InvokeModelWithResponseStream",
}
#: Fields of the Messages API the Bedrock body has no place for, with the reason.
REFUSED: dict[str, str] = {
    "metadata": "the Bedrock Anthropic body has no 'metadata' field",
    "service_tier": "Anthropic service tiers do not exist on Bedrock",
    "container": "code-execution containers are an Anthropic-platform feature",
    "mcp_servers": "remote MCP servers are an Anthropic-platform feature",
    "context_management": "not part of the Bedrock Anthropic body",
    "inference_geo": "Bedrock chooses the processing region by the target's inference "
                     "profile, not per request",
    "speed": "not part of the Bedrock Anthropic body",
    "cache_control": "top-level cache_control is not part of the Bedrock Anthropic body "
                     "(cache_control on content blocks is passed through)",
    "diagnostics": "not part of the Bedrock Anthropic body",
}

#: Anthropic error ``type`` per HTTP status (what api.anthropic.com answers).
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 529: "overloaded_error"}

#: The header whose comma-separated flags become the body's ``anthropic_beta``.
BETA_HEADER = "anthropic-beta"
SSE_CONTENT_TYPE = b"text/event-stream; charset=utf-8"


def _bad(param: str, message: str) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_request")


def parse_messages(body: dict[str, Any]) -> dict[str, Any]:
    """The validated Messages request (the JSON object, unchanged) or 400 naming the field.

    >>> parse_messages({"model": "claude", "max_tokens": 5,
    ...                 "messages": [{"role": "user", "content": "hi"}]})["max_tokens"]
    5
    """
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("model", "'model' is required and must be a non-empty string.")
    cap = body.get("max_tokens")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise _bad("max_tokens", "'max_tokens' is required and must be a positive integer.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "'messages' is required and must be a non-empty array.")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            raise _bad(f"messages[{i}].role", f"messages[{i}] must be an object whose role "
                       "is 'user' or 'assistant' (system text goes in 'system').")
        content = msg.get("content")
        if not isinstance(content, str | list):
            raise _bad(f"messages[{i}].content",
                       f"messages[{i}].content must be a string or an array of blocks.")
        if isinstance(content, list):
            for j, block in enumerate(content):
                if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                    raise _bad(f"messages[{i}].content[{j}]", f"messages[{i}].content[{j}] "
                               "must be an object with a 'type'.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream", "'stream' must be a boolean.")
    system = body.get("system")
    if system is not None and (not isinstance(system, str | list) or isinstance(system, list)
                               and not all(isinstance(b, dict) for b in system)):
        raise _bad("system", "'system' must be a string or an array of text blocks.")
    for name in ("temperature", "top_p", "top_k"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _bad(name, f"'{name}' must be a number.")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list)
                              or not all(isinstance(s, str) for s in stops)):
        raise _bad("stop_sequences", "'stop_sequences' must be an array of strings.")
    tools = body.get("tools")
    if tools is not None and (not isinstance(tools, list)
                              or not all(isinstance(tool, dict) for tool in tools)):
        raise _bad("tools", "'tools' must be an array of tool objects.")
    choice = body.get("tool_choice")
    if choice is not None and not isinstance(choice, dict):
        raise _bad("tool_choice", "'tool_choice' must be an object such as {\"type\": \"auto\"}.")
    return body


def beta_flags(header: str | None) -> list[str]:
    """The ``anthropic-beta`` header's comma-separated flags."""
    if not header:
        return []
    return [flag.strip() for flag in header.split(",") if flag.strip()]


def bedrock_body(request: dict[str, Any], beta: list[str] | None = None) -> dict[str, Any]:
    """The InvokeModel body: the request without ``model``/``stream``, with the version.

    >>> bedrock_body({"model": "m", "max_tokens": 1, "messages": []})
    {'max_tokens': 1, 'messages': [], 'anthropic_version': 'bedrock-2023-05-31'}
    """
    body = {k: v for k, v in request.items() if k not in GATEWAY}
    body["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    if beta:
        body["anthropic_beta"] = beta
    return body


def usage_of(usage: Any) -> dict[str, Any] | None:
    """Gateway usage (``prompt_tokens`` incl. cache reads and writes, ``completion_tokens``)
    from an Anthropic ``usage`` object; malformed counts are 0, no usage object is None
    (the gateway's own estimate is billed then; ``hub.response.Usage`` validates the rest).

    >>> usage_of({"input_tokens": 5, "cache_read_input_tokens": 2,
    ...           "output_tokens": 1})["prompt_tokens_details"]
    {'cached_tokens': 2}
    """
    if not isinstance(usage, dict) or not usage:
        return None

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 \
            else 0

    cached = count("cache_read_input_tokens")
    prompt = count("input_tokens") + cached + count("cache_creation_input_tokens")
    completion = count("output_tokens")
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    return out


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    return _ERROR_TYPES.get(status, "api_error")


def error_body(err: GatewayError) -> bytes:
    """``{"type": "error", "error": {"type", "message"}}`` for a gateway error."""
    return orjson.dumps({"type": "error",
                         "error": {"type": error_type(err.status), "message": err.message}})


def error_event(err: GatewayError) -> bytes:
    """The SSE ``error`` event of a stream that failed after it started."""
    return b"event: error\ndata: " + error_body(err) + b"\n\n"


def _estimate_body(body: dict[str, Any]) -> dict[str, Any]:
    """A chat-shaped view of the request for the token estimate (never sent anywhere)."""
    system = body.get("system")
    if isinstance(system, list):
        system = "".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    messages = [{"role": "system", "content": system}] if system else []
    return {"model": body["model"], "messages": [*messages, *body["messages"]],
            "tools": body.get("tools"), "max_tokens": body["max_tokens"]}


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    """One Messages SSE event (``event:`` and ``data:`` lines)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class MessagesRender:
    """A passed-through Messages stream: the events as Claude sent them."""

    content_type = SSE_CONTENT_TYPE

    def event(self, item: StreamItem) -> bytes:
        """``event: <type>`` / ``data: <event>``."""
        data = item.data if isinstance(item, NativeEvent) else item
        return sse_event(str(data.get("type")), data)

    def done(self) -> bytes:
        """Nothing: ``message_stop`` was the last event."""
        return b""

    def error(self, err: GatewayError) -> bytes:
        """Anthropic's ``error`` event."""
        return error_event(err)


class AnthropicMessagesDoor:
    """The Anthropic Messages API (see the module docstring)."""

    name = "anthropic_messages"
    api = API_MESSAGES
    op: Operation = "chat"

    def parse(self, body: dict[str, Any], params: PathParams) -> Request:
        """Validate; the client's body is what Claude on Bedrock receives (passthrough)."""
        parse_messages(body)
        beta = beta_flags(params.extra.get(BETA_HEADER))
        return Request("chat", API_MESSAGES, body["model"], _estimate_body(body),
                       stream=body.get("stream") is True, include_usage=True, native=body,
                       estimate=estimate_chat(_estimate_body(body)), params=params,
                       door_state={"beta": beta})

    def render(self, request: Request, result: Result) -> bytes:
        """The Anthropic ``message`` as Claude answered it."""
        return orjson.dumps(result.body)

    def stream(self, request: Request) -> MessagesRender:
        """The SSE renderer."""
        return MessagesRender()

    def render_error(self, err: GatewayError) -> bytes:
        """Anthropic's error body."""
        return error_body(err)


DOOR = AnthropicMessagesDoor()
