"""The protocol a front door implements (see the package docstring for the walk-through).

Example::

    door: Door = OpenAIChatDoor()
    request = door.parse(body, PathParams())
    out = door.render(request, result)          # bytes of the JSON answer
    renderer = door.stream(request)
    sse = renderer.event(chunk) + renderer.done()
"""

from __future__ import annotations

from typing import Any, Protocol

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.events import StreamItem
from skyrelay.gateway.hub.request import Operation, PathParams, Request
from skyrelay.gateway.hub.response import Result


class StreamRender(Protocol):
    """Per-stream state of a door: turns stream items into the bytes the client gets."""

    #: the content-type of the stream (``text/event-stream; charset=utf-8``)
    content_type: bytes

    def event(self, item: StreamItem) -> bytes:
        """The bytes for one item (may be ``b""``: nothing to send for it)."""
        ...

    def done(self) -> bytes:
        """The bytes that end a successful stream (``data: [DONE]`` for Chat)."""
        ...

    def error(self, err: GatewayError) -> bytes:
        """The bytes of an error event after the stream started."""
        ...


class Door(Protocol):
    """One client API: parse it into a :class:`Request`, render results back."""

    name: str
    api: str
    op: Operation

    def parse(self, body: dict[str, Any], params: PathParams) -> Request:
        """Validate the client's JSON and build the request (400 naming ``param``)."""
        ...

    def render(self, request: Request, result: Result) -> bytes:
        """The JSON body of a non-streamed answer."""
        ...

    def stream(self, request: Request) -> StreamRender:
        """A renderer for one streamed answer."""
        ...

    def render_error(self, err: GatewayError) -> bytes:
        """An error body in the door's shape."""
        ...
