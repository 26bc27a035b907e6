"""The OpenAI Responses door: ``POST /v1/responses`` (``client.responses.create/stream``).

Parsing refuses conversation state (the gateway keeps no responses) and builds the
canonical chat body (:mod:`.responses_input`) next to the client's own body, which targets
speaking Responses receive (Azure OpenAI v1, Bedrock's OpenAI-compatible endpoint). The
answer is rendered back as a Responses ``response`` (:mod:`.responses_render`): from the
provider's ``chat.completion`` when translated, as the upstream sent it when passed
through. Streams: translated chat chunks become the Responses event sequence; passed-through
events are forwarded as they come. Errors are OpenAI's ``{"error": {...}}``, and an error
after the stream started is an ``error`` event.

Example::

    door = OpenAIResponsesDoor()
    req = door.parse({"model": "gpt-4o", "input": "hi"}, PathParams())
    door.render(req, Result.of(completion, API_CHAT))   # a Responses "response"
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from skyrelay.gateway.doors import responses_input as conv
from skyrelay.gateway.doors.responses_render import (
    ECHOED,
    ResponseHead,
    ResponsesStream,
    function_call_item,
    message_item,
    response_object,
    sse,
    status_of,
)
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.events import NativeEvent, StreamItem
from skyrelay.gateway.hub.request import API_RESPONSES, Operation, PathParams, Request
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.router.tokens import estimate_chat

SSE_CONTENT_TYPE = b"text/event-stream; charset=utf-8"


def _count(value: Any) -> int:
    """A token count as the client sees it: a non-negative int (upstream data is not
    trusted; billing validates it separately, in hub.response.Usage)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0
    return max(0, min(int(value), 10**12))


def _usage(usage: Any) -> dict[str, int] | None:
    """Responses usage fields from an OpenAI chat ``usage`` (None when there is none)."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens_details")
    completion = usage.get("completion_tokens_details")
    return {"input_tokens": _count(usage.get("prompt_tokens")),
            "output_tokens": _count(usage.get("completion_tokens")),
            "cached_tokens": _count(prompt.get("cached_tokens"))
            if isinstance(prompt, dict) else 0,
            "reasoning_tokens": _count(completion.get("reasoning_tokens"))
            if isinstance(completion, dict) else 0}


def from_completion(head: ResponseHead, completion: dict[str, Any]) -> dict[str, Any]:
    """The Responses ``response`` for a ``chat.completion``."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    base = head.id.removeprefix("resp_")
    text = message.get("content")
    if isinstance(text, str) and text:
        output.append(message_item(f"msg_{base}_0", text))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        output.append(function_call_item(f"fc_{base}_{len(output)}", str(call.get("id")),
                                         str(fn.get("name")), str(fn.get("arguments") or "")))
    finish = choice.get("finish_reason")
    return response_object(head, output, status=status_of(finish),
                           usage=_usage(completion.get("usage")) or {}, finish=finish)


class ResponsesRender:
    """One streamed response: translated chunks -> Responses events, or passthrough."""

    content_type = SSE_CONTENT_TYPE

    def __init__(self, head: ResponseHead) -> None:
        self.stream = ResponsesStream(head)
        self._started = False
        self._finish: str | None = None
        self._usage: dict[str, int] | None = None
        self._native = False
        self._seq = 0

    def event(self, item: StreamItem) -> bytes:
        """The SSE bytes for one item."""
        if isinstance(item, NativeEvent):
            self._native = True
            seq = item.data.get("sequence_number")
            if isinstance(seq, int):
                self._seq = seq + 1
            return sse(item.data)
        out = b""
        if not self._started:
            self._started = True
            out += self.stream.start()
        usage = _usage(item.get("usage"))
        if usage is not None:
            self._usage = usage
        for choice in item.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue  # upstream chunks are not trusted to have the documented shape
            content = delta.get("content")
            if isinstance(content, str):
                out += self.stream.text(content)
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                if not isinstance(call, dict):
                    continue
                index = call.get("index") if isinstance(call.get("index"), int) else 0
                fn_value = call.get("function")
                fn: dict[str, Any] = fn_value if isinstance(fn_value, dict) else {}
                if call.get("id"):
                    out += self.stream.tool_call(index, str(call["id"]), str(fn.get("name")))
                if fn.get("arguments"):
                    out += self.stream.tool_arguments(index, str(fn["arguments"]))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return out

    def done(self) -> bytes:
        """``response.completed`` (or ``response.incomplete``) with the usage; nothing more
        for a passed-through stream, whose upstream sent its own."""
        if self._native:
            return b""
        out = b"" if self._started else self.stream.start()
        return out + self.stream.finish(self._finish, self._usage or {})

    def error(self, err: GatewayError) -> bytes:
        """An ``error`` event (the SDK raises it as an APIError)."""
        if self._native:
            event = {"type": "error", "sequence_number": self._seq, "code": err.code,
                     "message": err.message, "param": err.param}
            return sse(event)
        return self.stream.error(err.code, err.message, err.param)


class OpenAIResponsesDoor:
    """The Responses API (see the module docstring)."""

    name = "openai_responses"
    api = API_RESPONSES
    op: Operation = "chat"

    def __init__(self) -> None:
        self._prefix = os.urandom(5).hex()
        self._counter = 0

    def _new_id(self) -> str:
        self._counter += 1
        return f"resp_{self._prefix}{self._counter:x}"

    def parse(self, body: dict[str, Any], params: PathParams) -> Request:
        """Validate, refuse state, build the canonical chat body next to the client's."""
        if params.route is not None:
            body = {**body, "model": params.route}
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(400, "'model' is required and must be a non-empty string.",
                               param="model", code="invalid_request")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise GatewayError(400, "'stream' must be a boolean.", param="stream",
                               code="invalid_request")
        conv.check_state(body)
        chat = conv.to_chat(body)
        echo = {k: body[k] for k in ECHOED if body.get(k) is not None}
        head = ResponseHead(self._new_id(), model, int(time.time()), echo)
        return Request("chat", API_RESPONSES, model, chat, stream=stream, include_usage=True,
                       native=body, estimate=estimate_chat(chat), params=params,
                       door_state={"head": head})

    @staticmethod
    def _head(request: Request) -> ResponseHead:
        state = request.door_state or {}
        head = state.get("head")
        assert isinstance(head, ResponseHead)
        return head

    def render(self, request: Request, result: Result) -> bytes:
        """A Responses ``response``: the upstream's (passthrough) or from the completion."""
        if result.api == API_RESPONSES:
            return orjson.dumps(result.body)
        return orjson.dumps(from_completion(self._head(request), result.body))

    def stream(self, request: Request) -> ResponsesRender:
        """The SSE renderer of one streamed response."""
        return ResponsesRender(self._head(request))

    def render_error(self, err: GatewayError) -> bytes:
        """OpenAI's error body."""
        return err.body()


DOOR = OpenAIResponsesDoor()
