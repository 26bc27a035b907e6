"""The shared, pooled async HTTP/1.1 client the HTTP-based providers use.

One :class:`HttpClient` per process: keep-alive connections pooled per (scheme, host,
port), at most ``limit`` open in total. Every request is bounded by the caller's absolute
``deadline`` (``loop.time()``): opening a connection by ``min(connect_timeout, time left)``,
the rest by the caller's own deadline block (:mod:`skyrelay.gateway.deadlines`) around the
exchange and the body reads.

Why not aiohttp's client, which this module wrapped before: measured client-only
(``make bench-client``: uvloop, 64 concurrent POSTs to a loopback nginx, the bench's chat
answer, 2-core machine), aiohttp's ``ClientSession.post`` plus reading the body costs
179 µs of CPU per request, this client 31 µs (ratio 0.172); the gateway's whole request
cost ~350 µs, so the client was its largest single part. The gateway needs only a small
part of a general client: POST with a body it has already serialised, no cookies,
redirects, proxies or compression (``accept-encoding: identity``). Parsing is
``httptools`` (llhttp), the parser uvicorn uses for the gateway's own server side. TLS is
the standard library's default context (certificates verified against the system store,
SNI from the URL's host).

Example::

    client = HttpClient()
    loop = asyncio.get_running_loop()
    async with asyncio.timeout_at(loop.time() + 30):
        resp = await client.post("https://host/v1/chat/completions", body,
                                 {"content-type": "application/json"}, loop.time() + 30)
        data = await resp.read()
    resp.release()
    await client.aclose()
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

from skyrelay.gateway.providers.http_wire import (
    Connection,
    UpstreamConnectionError,
    UpstreamResponse,
    UpstreamUnreachable,
)

__all__ = ["HttpClient", "UpstreamConnectionError", "UpstreamResponse", "UpstreamUnreachable"]

USER_AGENT = "skyrelay-gateway"
#: Header fields the client writes itself (a caller's own are dropped).
_OWN_FIELDS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

PoolKey = tuple[str, str, int]


@functools.lru_cache(maxsize=4096)
def _parse(url: str) -> tuple[PoolKey, bytes]:
    """(pool key, the request line and Host field) for ``url``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if any(c in target for c in " \r\n"):
        raise ValueError(f"the URL path may not contain spaces or line breaks: {url!r}")
    line = f"POST {target} HTTP/1.1\r\nhost: {authority}\r\n".encode("ascii")
    return (parts.scheme, host, port), line


def _head(line: bytes, headers: Mapping[str, str], length: int) -> bytes:
    out = [line.decode("ascii")]
    agent = encoding = False
    for name, value in headers.items():
        lower = name.lower()
        if lower in _OWN_FIELDS:
            continue
        if "\n" in value or "\r" in value or "\0" in value or ":" in name or "\n" in name:
            raise ValueError(f"header {name!r}: line breaks are not allowed in a header field")
        agent = agent or lower == "user-agent"
        encoding = encoding or lower == "accept-encoding"
        out.append(f"{name}: {value}\r\n")
    if not agent:
        out.append(f"user-agent: {USER_AGENT}\r\n")
    if not encoding:
        out.append("accept-encoding: identity\r\n")
    out.append(f"content-length: {length}\r\n\r\n")
    return "".join(out).encode("latin-1")


class HttpClient:
    """A pool of keep-alive HTTP/1.1 connections for ``POST`` requests.

    ``limit`` caps open connections in total, ``limit_per_host`` per upstream (0: only the
    total applies); ``connect_timeout`` bounds TCP+TLS set-up; ``keepalive`` is how long an
    idle connection is kept. The pool belongs to the event loop it was first used in; used
    from another loop (tests run several) it starts afresh. :meth:`aclose` closes it.
    """

    def __init__(self, *, limit: int = 1024, limit_per_host: int = 0,
                 connect_timeout: float = 5.0, keepalive: float = 30.0) -> None:
        if limit < 1 or limit_per_host < 0:
            raise ValueError("limit must be at least 1 and limit_per_host at least 0")
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[PoolKey, list[Connection]] = {}
        self._open: dict[PoolKey, set[Connection]] = {}
        self._count = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._ssl: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str],
                   deadline: float) -> UpstreamResponse:
        """Send ``body`` to ``url``; the response once its head has arrived.

        Raises :class:`TimeoutError` when no connection opens before ``deadline`` (or
        ``connect_timeout``), :class:`UpstreamUnreachable` when none can be opened, and
        :class:`UpstreamConnectionError` when the exchange fails on the wire.
        """
        key, line = _parse(url)
        head = _head(line, headers, len(body))
        conn = await self._acquire(key, deadline)
        return await conn.exchange(head, body)

    def idle_connections(self) -> int:
        """How many open connections wait in the pool for a request."""
        return sum(1 for idle in self._idle.values() for conn in idle if not conn.closed)

    async def aclose(self) -> None:
        """Close every connection of the pool (idempotent)."""
        for conns in self._open.values():
            for conn in list(conns):
                conn.abort()
        self._idle.clear()
        self._open.clear()
        self._count = 0
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(UpstreamConnectionError("the HTTP client was closed"))

    # --- the pool ----------------------------------------------------------------------

    async def _acquire(self, key: PoolKey, deadline: float) -> Connection:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections of another loop cannot be used here
            self._loop = loop
            self._idle, self._open, self._count = {}, {}, 0
            self._waiters = deque()
        while True:
            conn = self._pop_idle(key, loop.time())
            if conn is not None:
                return conn
            if self._has_room(key):
                return await self._connect(loop, key, deadline)
            if not self._close_one_idle():
                waiter = loop.create_future()
                self._waiters.append(waiter)
                await waiter  # a connection was freed; the caller's timeout bounds this

    def _pop_idle(self, key: PoolKey, now: float) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if now - conn.idle_since > self.keepalive:
                conn.abort()
                self._drop(conn)
                continue
            return conn
        return None

    def _has_room(self, key: PoolKey) -> bool:
        if self._count >= self.limit:
            return False
        return not self.limit_per_host or len(self._open.get(key, ())) < self.limit_per_host

    def _close_one_idle(self) -> bool:
        """Make room by closing the oldest idle connection to another host."""
        oldest: Connection | None = None
        for idle in self._idle.values():
            for conn in idle:
                if not conn.closed and (oldest is None or conn.idle_since < oldest.idle_since):
                    oldest = conn
        if oldest is None or self.limit_per_host and self._count < self.limit:
            return False  # the per-host cap is what is full: only a freed slot helps
        self._idle[oldest.key].remove(oldest)
        oldest.abort()
        self._drop(oldest)
        return True

    async def _connect(self, loop: asyncio.AbstractEventLoop, key: PoolKey,
                       deadline: float) -> Connection:
        scheme, host, port = key
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError("deadline already passed")
        conn = Connection(loop, key, self._freed)
        self._open.setdefault(key, set()).add(conn)
        self._count += 1
        tls = self._tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(min(self.connect_timeout, left)):
                await loop.create_connection(lambda: conn, host, port, ssl=tls,
                                             server_hostname=host if tls else None)
        except BaseException as err:
            conn.abort()
            self._drop(conn)
            if isinstance(err, OSError) and not isinstance(err, TimeoutError):
                raise UpstreamUnreachable(f"cannot connect to {host}:{port}: "
                                          f"{type(err).__name__}: {err}") from err
            raise
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _freed(self, conn: Connection, reuse: bool) -> None:
        if conn not in self._open.get(conn.key, ()):
            return  # dropped already (or a connection of an earlier loop)
        if reuse:
            conn.idle_since = conn.loop.time()
            self._idle.setdefault(conn.key, []).append(conn)
            self._wake_one()
            return
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)
        self._drop(conn)

    def _drop(self, conn: Connection) -> None:
        conns = self._open.get(conn.key)
        if conns is not None and conn in conns:
            conns.remove(conn)
            self._count -= 1
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
