"""The OpenAI Chat Completions door: ``POST /v1/chat/completions`` (and its Azure paths).

The canonical body *is* this API, so parsing is validation (:func:`check_chat`) plus the
few facts the pipeline needs (route, stream, include_usage, token estimate). Rendering is
the provider's ``chat.completion`` as JSON; a stream is SSE ``data:`` lines ending with
``data: [DONE]``, the usage chunk forwarded only when ``stream_options.include_usage``
asked for it (the gateway always asks the upstream, to meter).

Example::

    door = OpenAIChatDoor()
    req = door.parse({"model": "gpt-4o", "messages": [...]}, PathParams())
    door.render(req, Result.of(completion, API_CHAT))
"""

from __future__ import annotations

from typing import Any

import orjson

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.events import StreamItem
from skyrelay.gateway.hub.request import API_CHAT, Operation, PathParams, Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.router.tokens import estimate_chat
from skyrelay.gateway.server.validate import check_chat

SSE_CONTENT_TYPE = b"text/event-stream; charset=utf-8"
_DONE = b"data: [DONE]\n\n"


def sse_data(obj: Any) -> bytes:
    """One SSE event with a JSON ``data`` line."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class ChatStream:
    """Chat Completions SSE for one stream; drops usage the client did not ask for."""

    __slots__ = ("include_usage",)
    content_type = SSE_CONTENT_TYPE

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def event(self, item: StreamItem) -> bytes:
        """``data: {chunk}`` (or nothing for a usage-only chunk nobody asked for)."""
        chunk: dict[str, Any] = item if isinstance(item, dict) else item.data
        if not self.include_usage and "usage" in chunk:
            if not chunk.get("choices") and chunk["usage"] is not None:
                return b""  # the usage-only chunk the client did not ask for
            chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return sse_data(chunk)

    def done(self) -> bytes:
        """``data: [DONE]``."""
        return _DONE

    def error(self, err: GatewayError) -> bytes:
        """An SSE event with OpenAI's ``{"error": {...}}``."""
        return sse_data({"error": err.payload()})


class OpenAIChatDoor:
    """The Chat Completions API (see the module docstring)."""

    name = "openai_chat"
    api = API_CHAT
    op: Operation = "chat"

    def parse(self, body: dict[str, Any], params: PathParams) -> Request:
        """Validate and wrap; a route named by the path (Azure style) wins over ``model``."""
        if params.route is not None:
            body = {**body, "model": params.route}
        check_chat(body)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = bool(options.get("include_usage")) if options else False
        return Request("chat", API_CHAT, body["model"], body, stream=stream,
                       include_usage=include_usage, estimate=estimate_chat(body),
                       params=params)

    def render(self, request: Request, result: Result) -> bytes:
        """The ``chat.completion`` JSON."""
        return orjson.dumps(result.body)

    def stream(self, request: Request) -> ChatStream:
        """SSE renderer."""
        return ChatStream(request.include_usage)

    def render_error(self, err: GatewayError) -> bytes:
        """OpenAI's error body."""
        return err.body()


DOOR = OpenAIChatDoor()
