"""Stream events between providers and doors.

A translating provider yields canonical chunks: OpenAI ``chat.completion.chunk`` dicts
(:data:`Chunk`); the last one carries ``usage`` with ``choices: []`` whenever the upstream
reports usage. A passthrough provider yields :class:`NativeEvent` objects in the client's
own API (a Responses or Messages event), with the usage it carried already read. The
server's stream forwarder hands each item to the door's stream renderer, which turns it
into bytes for the client (SSE lines in the door's API).

Example::

    async for item in provider.chat_stream(target, request.body, deadline=deadline):
        usage = usage_of_event(item)         # a dict or None, validated later once
        out = renderer.event(item)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: A canonical stream chunk: an OpenAI ``chat.completion.chunk`` object.
Chunk = dict[str, Any]


@dataclass(slots=True)
class NativeEvent:
    """One event of a passed-through stream, in ``api``'s own shape.

    ``name`` is the SSE event name (``response.output_text.delta``, ``message_delta`` ...);
    ``data`` the event object; ``usage`` the usage it reports (OpenAI field names:
    ``prompt_tokens``/``completion_tokens``), read by the provider that knows the API;
    ``delivered_chars`` the model output characters it carries (for billing a cut stream).
    """

    api: str
    name: str | None
    data: dict[str, Any]
    usage: dict[str, Any] | None = None
    delivered_chars: int = 0


StreamItem = Chunk | NativeEvent


def usage_of_event(item: StreamItem) -> dict[str, Any] | None:
    """The raw usage an event reports (OpenAI names), or None."""
    if type(item) is dict:
        usage = item.get("usage")
        return usage if isinstance(usage, dict) else None
    assert isinstance(item, NativeEvent)
    return item.usage
