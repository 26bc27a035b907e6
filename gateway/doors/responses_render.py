"""OpenAI Responses API output: the ``response`` object and its SSE event stream.

The shapes are those of the official ``openai`` SDK (``openai.types.responses``): a
``response.created`` and ``response.in_progress`` event, then per output item
``response.output_item.added`` -> (``response.content_part.added`` ->
``response.output_text.delta``* -> ``response.output_text.done`` ->
``response.content_part.done``) or ``response.function_call_arguments.delta``* ->
``response.function_call_arguments.done`` -> ``response.output_item.done``, and last
``response.completed`` (or ``response.incomplete``) carrying the whole response with its
usage. Every event has a ``sequence_number`` counting from 0; ``client.responses.stream``
rebuilds the response from them and checks that ids and indexes agree.

:class:`ResponsesStream` is fed what the model produced (text deltas, tool calls and their
argument fragments, the end) and returns SSE bytes; it holds no I/O.

Example::

    stream = ResponsesStream(ResponseHead("resp_1", "my-route", 1700000000, {}))
    out = stream.start() + stream.text("Hel") + stream.text("lo")
    out += stream.finish("stop", {"input_tokens": 3, "output_tokens": 2})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

#: Request fields echoed into the response object (the SDK reads ``tools``,
#: ``tool_choice`` and ``parallel_tool_calls`` as required fields).
ECHOED = ("instructions", "max_output_tokens", "metadata", "temperature", "top_p", "text",
          "tool_choice", "tools", "parallel_tool_calls", "truncation", "user")

#: Finish reasons (internal, chat-style) for which the response is ``incomplete``.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """What every rendering of one response shares: its id, model, time and the echo."""

    id: str
    model: str
    created_at: int
    request: dict[str, Any] = field(default_factory=dict)


def usage_object(usage: dict[str, Any] | None) -> dict[str, Any]:
    """A Responses ``usage`` from ``input_tokens``/``output_tokens``/``cached_tokens``.

    >>> usage_object({"input_tokens": 3, "output_tokens": 2})["total_tokens"]
    5
    """
    usage = usage or {}
    inp, out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {"input_tokens": inp,
            "input_tokens_details": {"cached_tokens": int(usage.get("cached_tokens") or 0),
                                     "cache_write_tokens":
                                         int(usage.get("cache_write_tokens") or 0)},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens":
                                      int(usage.get("reasoning_tokens") or 0)},
            "total_tokens": inp + out}


def response_object(head: ResponseHead, output: list[dict[str, Any]], *, status: str,
                    usage: dict[str, Any] | None, finish: str | None = None,
                    error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``response`` object (``object: "response"``) as the SDK's ``Response`` model reads it.

    ``usage`` is None while the response is in progress. The gateway keeps no copy of it:
    ``store`` is always false.
    """
    req = head.request
    obj: dict[str, Any] = {
        "id": head.id, "object": "response", "created_at": head.created_at,
        "status": status, "model": head.model, "output": output,
        "error": error, "incomplete_details": None,
        "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"),
        "metadata": req.get("metadata") or {},
        "parallel_tool_calls": req.get("parallel_tool_calls", True),
        "previous_response_id": None, "store": False,
        "temperature": req.get("temperature"), "top_p": req.get("top_p"),
        "text": req.get("text") or {"format": {"type": "text"}},
        "tool_choice": req.get("tool_choice", "auto"), "tools": req.get("tools") or [],
        "truncation": req.get("truncation", "disabled"),
        "usage": usage_object(usage) if usage is not None else None,
    }
    if req.get("user") is not None:
        obj["user"] = req["user"]
    if status == "incomplete":
        obj["incomplete_details"] = {"reason": _INCOMPLETE.get(finish or "", "max_output_tokens")}
    return obj


def status_of(finish: str | None) -> str:
    """``completed`` or ``incomplete`` for an internal finish reason."""
    return "incomplete" if finish in _INCOMPLETE else "completed"


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """An assistant ``message`` output item holding one ``output_text`` part."""
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [],
                         "logprobs": []}]}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str,
                       status: str = "completed") -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def sse(event: dict[str, Any]) -> bytes:
    """One SSE event with its ``event:`` line, as OpenAI sends them."""
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


class ResponsesStream:
    """Renders one streamed response; call :meth:`start` first and :meth:`finish` last.

    Tool calls are keyed by the caller's ``index`` (the chat-style tool-call index), so
    fragments of parallel calls land on the right item.
    """

    def __init__(self, head: ResponseHead) -> None:
        self.head = head
        self._seq = 0
        self._output: list[tuple[int, dict[str, Any]]] = []  # (output index, finished item)
        self._text: list[str] | None = None  # the open message's text so far
        self._text_index = -1
        self._calls: dict[int, tuple[int, dict[str, Any]]] = {}  # index -> (out idx, item)
        self._open_calls: list[int] = []
        self._next_index = 0

    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return sse(event)

    def start(self) -> bytes:
        """``response.created`` and ``response.in_progress``."""
        snapshot = response_object(self.head, [], status="in_progress", usage=None)
        return (self._event("response.created", response=snapshot)
                + self._event("response.in_progress", response=snapshot))

    def _item_id(self, kind: str, index: int) -> str:
        return f"{kind}_{self.head.id.removeprefix('resp_')}_{index}"

    def text(self, delta: str) -> bytes:
        """A text fragment (opens the message item and its part on the first one)."""
        if not delta:
            return b""
        out = b""
        if self._text is None:
            out += self._close_calls()
            index = self._next_index
            self._next_index += 1
            self._text, self._text_index = [], index
            item_id = self._item_id("msg", index)
            item = message_item(item_id, "", "in_progress")
            item["content"] = []
            out += self._event("response.output_item.added", output_index=index, item=item)
            out += self._event("response.content_part.added", item_id=item_id,
                               output_index=index, content_index=0,
                               part={"type": "output_text", "text": "", "annotations": [],
                                     "logprobs": []})
        self._text.append(delta)
        return out + self._event("response.output_text.delta",
                                 item_id=self._item_id("msg", self._text_index),
                                 output_index=self._text_index, content_index=0,
                                 delta=delta, logprobs=[])

    def _close_text(self) -> bytes:
        if self._text is None:
            return b""
        index, text = self._text_index, "".join(self._text)
        self._text = None
        item_id = self._item_id("msg", index)
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        item = message_item(item_id, text)
        self._output.append((index, item))
        return (self._event("response.output_text.done", item_id=item_id, output_index=index,
                            content_index=0, text=text, logprobs=[])
                + self._event("response.content_part.done", item_id=item_id,
                              output_index=index, content_index=0, part=part)
                + self._event("response.output_item.done", output_index=index, item=item))

    def tool_call(self, index: int, call_id: str, name: str) -> bytes:
        """A function call begins (the message before it, if any, is finished first)."""
        out = self._close_text()
        position = self._next_index
        self._next_index += 1
        item = function_call_item(self._item_id("fc", position), call_id, name, "",
                                  "in_progress")
        self._calls[index] = (position, item)
        self._open_calls.append(index)
        return out + self._event("response.output_item.added", output_index=position,
                                 item=dict(item))

    def tool_arguments(self, index: int, delta: str) -> bytes:
        """A fragment of a function call's JSON arguments."""
        if index not in self._calls or not delta:
            return b""
        position, item = self._calls[index]
        item["arguments"] += delta
        return self._event("response.function_call_arguments.delta", item_id=item["id"],
                           output_index=position, delta=delta)

    def _close_calls(self) -> bytes:
        out = b""
        for index in self._open_calls:
            position, item = self._calls[index]
            item["status"] = "completed"
            self._output.append((position, item))
            out += self._event("response.function_call_arguments.done", item_id=item["id"],
                               output_index=position, arguments=item["arguments"])
            out += self._event("response.output_item.done", output_index=position,
                               item=dict(item))
        self._open_calls = []
        return out

    def output(self) -> list[dict[str, Any]]:
        """The finished output items in output order."""
        return [item for _, item in sorted(self._output, key=lambda p: p[0])]

    def finish(self, finish: str | None, usage: dict[str, Any] | None) -> bytes:
        """Close what is open, then ``response.completed`` (or ``response.incomplete``)."""
        out = self._close_text() + self._close_calls()
        status = status_of(finish)
        final = response_object(self.head, self.output(), status=status, usage=usage,
                                finish=finish)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return out + self._event(kind, response=final)

    def error(self, code: str | None, message: str, param: str | None = None) -> bytes:
        """An ``error`` event (the stream failed after it started)."""
        return self._event("error", code=code, message=message, param=param)
