"""One HTTP/1.1 connection to an upstream, and the response read off it.

:class:`Connection` is an :class:`asyncio.Protocol` that writes one request at a time and
parses the answer with ``httptools`` (the llhttp parser uvicorn uses too). The answer is an
:class:`UpstreamResponse` as soon as its head has arrived; its body is read in pieces
(``readany`` / ``iter_any``) or whole (``read``). Reading pauses the socket while more than
:data:`HIGH_WATER` bytes wait unread, so a slow client never makes the gateway buffer an
upstream's whole stream. A connection goes back to its pool (``release``) only when its
answer was read to the end and the upstream keeps the connection alive; anything else
closes it, so a half-read answer is never mistaken for the start of the next one.

Example::

    conn = await pool_connect(...)              # see skyrelay.gateway.providers.http
    resp = await conn.exchange(request_head, body)
    async for part in resp.iter_any():
        ...
    resp.release()
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import httptools

from skyrelay.gateway.tick_writes import ConnectionWrites, tick_writer

#: Unread body bytes at which the connection stops reading from the socket, and below
#: which it starts again.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024
#: An answer whose head (status line and header fields) is larger than this is refused.
MAX_HEAD_BYTES = 64 * 1024


class UpstreamConnectionError(OSError):
    """The exchange with an upstream failed on the wire (reset, closed mid-answer, or an
    answer that is not HTTP/1.1)."""


class UpstreamUnreachable(UpstreamConnectionError):
    """No connection to the upstream could be opened (DNS, refused, TLS handshake)."""


class HeaderMap(dict[str, str]):
    """Response header fields by lower-case name; a repeated field is joined with ``", "``.

    >>> HeaderMap({"retry-after": "3"}).get("Retry-After")
    '3'
    """

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and dict.__contains__(self, name.lower())


class UpstreamResponse:
    """An upstream's answer: ``status``, ``reason``, ``headers`` and the body as it arrives.

    The body must end in :meth:`release` (pool the connection when the answer is complete)
    or :meth:`close` (drop it); both are idempotent.
    """

    __slots__ = ("status", "reason", "headers", "content_length", "_conn", "_chunks",
                 "_buffered", "_eof", "_error", "_waiter", "_done")

    def __init__(self, conn: Connection, status: int, reason: str, headers: HeaderMap) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        length = headers.get("content-length")
        self.content_length: int | None = int(length) if length and length.isdigit() else None
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._done = False

    # --- fed by the connection ---------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > HIGH_WATER:
            self._conn.pause_reading()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if error is None:
            self._eof = True
        elif not self._eof:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- read by the provider ----------------------------------------------------------

    def at_eof(self) -> bool:
        """Whether the whole body has arrived and been read."""
        return self._eof and not self._chunks

    @property
    def arrived(self) -> bool:
        """Whether the whole body has arrived (read or not): reading it will not wait."""
        return self._eof

    async def readany(self) -> bytes:
        """The body bytes that have arrived (waiting for some), ``b""`` at its end."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._eof or self._done:
                return b""
            waiter = self._waiter = self._conn.loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if self._buffered > LOW_WATER:
            self._conn.resume_reading()
        self._buffered = 0
        return data

    async def iter_any(self) -> AsyncIterator[bytes]:
        """The body in the pieces it arrives in, until its end."""
        while data := await self.readany():
            yield data

    async def read(self, limit: int | None = None) -> bytes:
        """The body to its end, or its first ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        while data := await self.readany():
            parts.append(data)
            size += len(data)
            if limit is not None and size >= limit:
                return b"".join(parts)[:limit]
        return b"".join(parts)

    def release(self) -> None:
        """Done with the answer: the connection goes back to the pool if the answer was
        read to its end and the upstream keeps the connection; else it is closed."""
        if not self._done:
            self._done = True
            self._conn.finished(reuse=self._eof and not self._chunks)

    def close(self) -> None:
        """Done with the answer, whatever is left of it: the connection is closed."""
        if not self._done:
            self._done = True
            self._conn.finished(reuse=False)


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one exchange at a time (see the module doc).

    ``on_free(conn, reuse)`` is called when an exchange ends (its response released or
    closed, or no answer came) and when the connection is lost while idle; the pool must
    accept a second ``reuse=False`` call for a connection it already dropped.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, key: Any,
                 on_free: Callable[[Connection, bool], None]) -> None:
        self.loop = loop
        self.key = key
        self.idle_since = 0.0
        self.closed = False
        self._on_free = on_free
        self._transport: asyncio.Transport | None = None
        self._writes: ConnectionWrites | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._fields: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._reason = b""
        self._informational = False
        self._complete = False
        self._keep_alive = False
        self._paused = False
        self._busy = False

    # --- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        # requests go out through the tick writer: in a busy tick, together at its end
        self._writes = tick_writer(self.loop, "upstream").wrap(self._transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # bytes on an idle connection: it cannot be trusted any more
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            cause = err.__context__ if isinstance(err, httptools.HttpParserCallbackError) else err
            self._fail(cause if isinstance(cause, UpstreamConnectionError) else
                       UpstreamConnectionError(f"the upstream's answer is not valid HTTP/1.1 "
                                               f"({err})"))

    def eof_received(self) -> bool:
        return False  # close our side too: the connection cannot carry another exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        response = self._response
        if response is not None and not self._complete and self._until_close(response):
            self._complete = True  # an answer without length ends where the connection does
            response._finish()
        self._fail(UpstreamConnectionError(
            "the upstream closed the connection before its answer ended"
            + (f" ({type(exc).__name__}: {exc})" if exc else "")))
        if not self._busy:
            self._on_free(self, False)

    # --- httptools callbacks -----------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._reason += reason
        self._head_bytes += len(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > MAX_HEAD_BYTES:
            raise UpstreamConnectionError(f"the upstream's answer head exceeds "
                                          f"{MAX_HEAD_BYTES} bytes")
        self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        fields, reason = self._fields, self._reason
        self._fields, self._reason, self._head_bytes = [], b"", 0
        if 100 <= status < 200:  # informational (e.g. 103 Early Hints): the answer follows
            self._informational = True
            return
        headers = HeaderMap()
        for raw_name, raw_value in fields:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{dict.__getitem__(headers, name)}, {value}" \
                if dict.__contains__(headers, name) else value
        self._keep_alive = self._parser.should_keep_alive()
        response = self._response = UpstreamResponse(self, status, reason.decode("latin-1"),
                                                     headers)
        head = self._head
        if head is not None and not head.done():
            head.set_result(response)

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        if self._response is not None:
            self._response._finish()

    # --- used by the pool and the response ---------------------------------------------

    async def exchange(self, head: bytes, body: bytes) -> UpstreamResponse:
        """Send one request; the response once its head has arrived."""
        transport, writes = self._transport, self._writes
        if self.closed or transport is None or writes is None or transport.is_closing():
            raise UpstreamConnectionError("the pooled connection was closed")
        self._busy = True
        self._response = None
        self._complete = self._informational = False
        self._head = head_future = self.loop.create_future()
        if len(body) < 16384:
            writes.write(head + body)  # one segment for the common small request
        else:
            writes.writelines((head, body))
        try:
            return await head_future
        except BaseException:
            self.finished(reuse=False)
            raise
        finally:
            self._head = None

    def finished(self, reuse: bool) -> None:
        """The current exchange is over (called by the response)."""
        self._busy = False
        reuse = reuse and self._complete and self._keep_alive and not self.closed
        if not reuse:
            self.abort()
        else:
            self.resume_reading()
        self._response = None
        self._on_free(self, reuse)

    def pause_reading(self) -> None:
        if not self._paused and self._transport is not None and not self.closed:
            self._paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self._transport is not None and not self.closed:
            self._paused = False
            self._transport.resume_reading()

    def abort(self) -> None:
        """Close the socket now (what is unread is dropped)."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()
        self.closed = True

    def _fail(self, error: UpstreamConnectionError) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(error)
        if self._response is not None and not self._complete:
            self._response._finish(error)
        if not self.closed:
            self.abort()

    @staticmethod
    def _until_close(response: UpstreamResponse) -> bool:
        return (response.content_length is None
                and "chunked" not in response.headers.get("transfer-encoding", "").lower())
