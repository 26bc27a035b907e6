"""HTTP/1.1 limits enforced while parsing: head size, header-read time, connection count.

uvicorn's httptools protocol (the fastest server measured, ``bench/server_choice``) buffers a
request's line and headers without any limit before the app sees them, and waits forever for
a request that never completes. :func:`limited_protocol` returns a subclass that keeps its
speed and adds, per connection:

- **head size**: the request line and headers together may not exceed ``max_head`` bytes;
  bytes are counted as they arrive, *before* the parser gets them, so a 100 MB header costs
  at most ``max_head`` bytes of memory: 431 and the connection is closed;
- **header-read timeout**: from the connection's start (or a request's first byte) to the end
  of its headers, at most ``header_timeout`` seconds — slowloris and idle sockets get 408
  and are closed (the keep-alive idle timeout between requests is uvicorn's own);
- **connection cap**: past ``max_connections`` open connections a new one gets 503 with
  ``Connection: close`` at once, before anything is read.

Its request cycles write through :mod:`~skyrelay.gateway.tick_writes`: a response's
head leaves with its body, and a busy tick's writes leave together at its end.

Example::

    uvicorn.Config(app, http=limited_protocol(max_head=48 * 1024, header_timeout=10.0,
                                              max_connections=4096), loop="uvloop")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from skyrelay.gateway.deadlines import Alarm, alarm_at
from skyrelay.gateway.tick_writes import tick_writer

log = logging.getLogger("skyrelay.gateway.protocol")

#: Request line plus headers: the app's own header limit (32 KiB, answered 431 by the app
#: with details) plus room for a long URL and the request line.
DEFAULT_MAX_HEAD = 48 * 1024
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 4096


def _response(status: int, reason: bytes, message: str, code: str) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error"
                                   if status < 500 else "server_error",
                                   "param": None, "code": code}})
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n" % (status, reason, len(body))) + body


class _AlarmsLoop:
    """The event loop as uvicorn's protocol sees it, ``call_later`` on the shared timer.

    uvicorn arms a keep-alive timer after every response and cancels it when the next
    request arrives: a timer made and cancelled per request (uvloop: 2.3 µs against 0.33 µs
    for an alarm, :mod:`skyrelay.gateway.deadlines`). The protocol uses its loop for that
    and for ``create_task``; everything else is passed to the loop itself.
    """

    __slots__ = ("create_task", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.create_task = loop.create_task

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any,
                   context: Any = None) -> Alarm | asyncio.TimerHandle:
        if args or context is not None:
            return self.loop.call_later(delay, callback, *args, context=context)
        return alarm_at(self.loop, self.loop.time() + delay, callback)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loop, name)


class _Limited(HttpToolsProtocol):
    """httptools protocol with the limits of the module docstring (class attributes)."""

    max_head = DEFAULT_MAX_HEAD
    header_timeout = DEFAULT_HEADER_TIMEOUT
    max_connections = DEFAULT_MAX_CONNECTIONS
    app_header_limit = 32 * 1024  # named in the 431 message, as the app's own 431 does

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.event_loop: asyncio.AbstractEventLoop = self.loop
        self.loop = _AlarmsLoop(self.loop)  # type: ignore[assignment]  # see _AlarmsLoop
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: Alarm | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.write(_response(
                503, b"Service Unavailable", "The gateway is at its connection limit; retry "
                "shortly.", "too_many_connections"))
            transport.close()
            return
        self.transport = tick_writer(self.event_loop, "client").wrap(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            # the loop's shared timer: a request's head clock is armed and cancelled on
            # every request (a timer of its own: 2.3 µs each time, an alarm 0.33 µs)
            loop = self.event_loop
            self._head_timer = alarm_at(loop, loop.time() + self.header_timeout,
                                        self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.write(_response(
                408, b"Request Timeout", f"The request headers did not arrive within "
                f"{self.header_timeout:g} seconds.", "request_timeout"))
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        self._arm()  # a request's first byte starts its header clock
        room = self.max_head - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed only what fits: if the headers end inside it, the rest is body (or the next
        # request) and goes on normally; if not, the head is too large.
        self._head_bytes = self.max_head
        super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._in_head:
            self.transport.write(_response(
                431, b"Request Header Fields Too Large", "Request headers too large: the "
                f"limit is {self.app_header_limit} bytes.", "request_header_fields_too_large"))
            self.transport.close()
            return
        self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what arrives next is the next request's head


def limited_protocol(*, max_head: int = DEFAULT_MAX_HEAD,
                     header_timeout: float = DEFAULT_HEADER_TIMEOUT,
                     max_connections: int = DEFAULT_MAX_CONNECTIONS,
                     app_header_limit: int = 32 * 1024) -> type[asyncio.Protocol]:
    """The httptools protocol class with these limits (see the module docstring)."""
    if max_head < 1024 or header_timeout <= 0 or max_connections < 1:
        raise ValueError("max_head must be at least 1024 bytes, header_timeout positive and "
                         "max_connections at least 1")
    return type("LimitedHttpToolsProtocol", (_Limited,), {
        "max_head": max_head, "header_timeout": header_timeout,
        "max_connections": max_connections, "app_header_limit": app_header_limit})
