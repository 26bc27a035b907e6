"""A small asyncio Redis client for the state store: one pipelined connection, hiredis.

Why not redis-py's asyncio client, which :mod:`.state_redis` used before: measured with
``make bench-redis`` (64 concurrent admit+settle pairs against a loopback redis-server), it
cost ~330 µs of CPU per pair even with hiredis's parser, about as much as the rest of a
gateway request; a raw asyncio protocol with hiredis costs ~20 µs per command. The state
store needs only a sliver of a general client: ``EVALSHA``/``EVAL`` of a few scripts,
``GET`` and ``PING``, on one server.

What it does:

- **one connection, pipelined**: every command is written as it comes and the replies, which
  Redis sends in order, resolve the waiting commands first in, first out. Redis runs
  commands one at a time, so one connection is what it serves fastest. Writes go through
  :mod:`skyrelay.gateway.tick_writes`: the commands of many requests written in one busy
  event-loop tick leave in one ``send``.
- **connect on demand**: the first command (and the first after a failure) connects, with
  TLS for ``rediss://`` (certificates verified against the system store, SNI from the host),
  then ``AUTH`` (``username`` for ACL users) and ``SELECT`` when the URL names a database.
- **bounded waits**: connecting and each reply by ``timeout`` seconds; a reply that does not
  come in time closes the connection (the next command opens a new one), as a dropped or
  stalled server would, and the waiting commands get :class:`RedisUnavailable`.
- **scripts by digest**: ``EVALSHA``, and ``EVAL`` of the source when the server answers
  ``NOSCRIPT`` (after a restart or a ``SCRIPT FLUSH``), which loads it again.

Example::

    client = RedisClient("rediss://:token@cache.example:6379/0", timeout=0.5)
    script = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    await client.run_script(script, ["counter"], [5])      # 5
    await client.aclose()
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis

from skyrelay.gateway.deadlines import deadline_in
from skyrelay.gateway.tick_writes import ConnectionWrites, tick_writer


def _pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP (hiredis's C packer)."""
    return hiredis.pack_command(args)


class RedisReplyError(Exception):
    """The server answered a command with an error (``-ERR ...``, ``-NOSCRIPT ...``)."""


class RedisUnavailable(OSError):
    """The server could not be reached, closed the connection, or did not answer in time."""


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where the server is and how to log in (from a ``redis://`` or ``rediss://`` URL)."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> RedisAddress:
        """``redis[s]://[[user]:password@]host[:port][/db]``; anything else is refused."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError("a Redis URL starts with redis:// or rediss://")
        if not parts.hostname:
            raise ValueError("the Redis URL names no host")
        if parts.query or parts.fragment:
            raise ValueError("the Redis URL takes no query or fragment (the gateway sets its "
                             "own timeouts; TLS is rediss://)")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the Redis URL's database must be a number, not {path!r}")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ValueError("the Redis URL's port is not a number") from None
        return cls(parts.hostname, port, int(path or 0), unquote(parts.username)
                   if parts.username else None,
                   unquote(parts.password) if parts.password is not None else None,
                   parts.scheme == "rediss")


class Script:
    """A Lua script and its SHA-1 digest (the name ``EVALSHA`` calls it by)."""

    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class _Connection(asyncio.Protocol):
    """One connection: commands written in order, replies matched to them in order."""

    def __init__(self) -> None:
        self.reader = hiredis.Reader(replyError=RedisReplyError)
        self.waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self.writes: ConnectionWrites | None = None
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        self.writes = tick_writer(loop, "redis").wrap(self.transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                waiter = self.waiting.popleft()
                if not waiter.done():  # a command whose caller gave up still takes its reply
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as err:  # not Redis, or an unasked reply
            self.close(RedisUnavailable(f"the Redis connection is out of step: {err}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisUnavailable(f"the Redis server closed the connection"
                                    f"{': ' + str(exc) if exc else ''}"))

    def _fail(self, error: BaseException) -> None:
        if self.lost is None:
            self.lost = error
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(self.lost)

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Write one packed command; the future gets its reply."""
        waiter = asyncio.get_running_loop().create_future()
        writes = self.writes
        if self.lost is not None or writes is None or writes.is_closing():
            waiter.set_exception(self.lost or RedisUnavailable("the Redis connection is closed"))
            return waiter
        self.waiting.append(waiter)
        writes.write(packed)
        return waiter

    def close(self, error: BaseException) -> None:
        """Close now; what is still waiting gets ``error``."""
        self._fail(error)
        if self.transport is not None:
            self.transport.abort()

    @property
    def usable(self) -> bool:
        return self.lost is None and self.transport is not None and not self.transport.is_closing()


class RedisClient:
    """See the module docstring. ``timeout`` bounds connecting and each reply (seconds)."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        self.address = RedisAddress.parse(url)
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._closed = False

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Run one command and return its reply (``RedisReplyError`` for an error reply)."""
        connection = self._connection
        if connection is None or not connection.usable:
            connection = await self._connect()
        waiter = connection.send(_pack(args))
        try:
            with deadline_in(self.timeout):
                reply = await waiter
        except TimeoutError:
            connection.close(RedisUnavailable("the Redis server did not answer in time"))
            raise RedisUnavailable(f"no answer from Redis within {self.timeout:g} s") from None
        if isinstance(reply, RedisReplyError):
            raise reply
        return reply

    async def run_script(self, script: Script, keys: list[str],
                         args: list[str | bytes | int | float]) -> Any:
        """``EVALSHA`` the script; ``EVAL`` it (loading it again) on ``NOSCRIPT``."""
        try:
            return await self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisReplyError as err:
            if not str(err).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", script.source, len(keys), *keys, *args)

    async def _connect(self) -> _Connection:
        async with self._connecting:  # one connect for every command that found none
            if self._closed:
                raise RedisUnavailable("the Redis client is closed")
            if self._connection is not None and self._connection.usable:
                return self._connection
            address = self.address
            loop = asyncio.get_running_loop()
            tls = ssl.create_default_context() if address.tls else None
            connection: _Connection | None = None
            try:
                with deadline_in(self.timeout):
                    _, connection = await loop.create_connection(
                        _Connection, address.host, address.port, ssl=tls,
                        server_hostname=address.host if tls else None)
                    replies = [await waiter for waiter in self._hello(connection)]
            except (TimeoutError, OSError) as err:
                if connection is not None:
                    connection.close(RedisUnavailable("could not log in to Redis"))
                why = (f" within {self.timeout:g} s" if isinstance(err, TimeoutError)
                       else f": {err}")
                raise RedisUnavailable(f"could not connect to Redis at {address.host}:"
                                       f"{address.port}{why}") from None
            assert connection is not None
            for reply in replies:
                if isinstance(reply, RedisReplyError):
                    connection.close(RedisUnavailable("Redis refused the login"))
                    raise RedisUnavailable(f"Redis refused the login: {reply}")
            self._connection = connection
            return connection

    def _hello(self, connection: _Connection) -> list[asyncio.Future[Any]]:
        """``AUTH`` and ``SELECT`` as the URL asks, pipelined."""
        address = self.address
        sent = []
        if address.password is not None:
            login = ((address.username, address.password) if address.username
                     else (address.password,))
            sent.append(connection.send(_pack(("AUTH", *login))))
        if address.db:
            sent.append(connection.send(_pack(("SELECT", address.db))))
        return sent

    async def aclose(self) -> None:
        """Close the connection; later commands fail with :class:`RedisUnavailable`."""
        self._closed = True
        if self._connection is not None:
            self._connection.close(RedisUnavailable("the Redis client is closed"))
            self._connection = None
