"""The state store's own Redis client (tenancy/redis_client.py) against a real
redis-server: login, database, scripts after a flush, error replies, reconnects."""

from __future__ import annotations

import asyncio

import pytest

from skyrelay.gateway.tenancy.redis_client import (
    RedisAddress,
    RedisClient,
    RedisReplyError,
    RedisUnavailable,
    Script,
)


def test_urls_are_parsed_or_refused_with_the_reason() -> None:
    assert RedisAddress.parse("rediss://app:p%40ss@cache.example:6380/2") == RedisAddress(
        "cache.example", 6380, 2, "app", "p@ss", True)
    assert RedisAddress.parse("redis://:token@10.0.0.5") == RedisAddress(
        "10.0.0.5", 6379, 0, None, "token", False)
    for url, why in (("http://host:6379", "redis:// or rediss://"),
                     ("redis://host:6379/zero", "database must be a number"),
                     ("redis://host:6379/0?ssl_cert_reqs=none", "no query"),
                     ("redis:///0", "no host")):
        with pytest.raises(ValueError, match=why):
            RedisAddress.parse(url)


def test_scripts_run_by_digest_and_again_after_the_server_forgets_them(redis_server) -> None:  # type: ignore[no-untyped-def]
    script = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")

    async def go() -> list[int]:
        client = RedisClient(redis_server.url, timeout=10)
        try:
            got = [await client.run_script(script, ["rc:n"], [5])]
            assert await client.execute("SCRIPT", "EXISTS", script.sha) == [1]
            assert await client.execute("SCRIPT", "FLUSH") == b"OK"
            got.append(await client.run_script(script, ["rc:n"], [2]))  # NOSCRIPT -> EVAL
            got.append(await client.run_script(script, ["rc:n"], [1]))
            return got
        finally:
            await client.aclose()

    assert asyncio.run(go()) == [5, 7, 8]


def test_error_replies_raise_and_leave_the_connection_in_step(redis_server) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        client = RedisClient(redis_server.url, timeout=10)
        try:
            await client.execute("SET", "rc:text", "abc")
            results = await asyncio.gather(client.execute("INCR", "rc:text"),
                                           client.execute("GET", "rc:text"),
                                           return_exceptions=True)
            assert isinstance(results[0], RedisReplyError) and "integer" in str(results[0])
            assert results[1] == b"abc"  # the reply after an error went to its own command
        finally:
            await client.aclose()
    asyncio.run(go())


def test_database_and_acl_user_from_the_url(redis_server) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        admin = RedisClient(redis_server.url, timeout=10)
        await admin.execute("ACL", "SETUSER", "gw", "on", ">gw-secret", "~*", "+@all")
        port = redis_server.port
        client = RedisClient(f"redis://gw:gw-secret@127.0.0.1:{port}/3", timeout=10)
        wrong = RedisClient(f"redis://gw:nope@127.0.0.1:{port}/3", timeout=10)
        try:
            await client.execute("SET", "rc:db", "three")
            assert await client.execute("ACL", "WHOAMI") == b"gw"
            assert await admin.execute("GET", "rc:db") is None  # not in database 0
            await admin.execute("SELECT", 3)
            assert await admin.execute("GET", "rc:db") == b"three"
            with pytest.raises(RedisUnavailable, match="refused the login") as info:
                await wrong.execute("PING")
            assert "nope" not in str(info.value)
        finally:
            for c in (client, wrong, admin):
                await c.aclose()
    asyncio.run(go())


def test_a_killed_connection_fails_its_commands_and_the_next_one_reconnects(redis_server) -> None:  # type: ignore[no-untyped-def]
    async def go() -> None:
        client = RedisClient(redis_server.url, timeout=10)
        admin = RedisClient(redis_server.url, timeout=10)
        try:
            my_id = await client.execute("CLIENT", "ID")
            blocked = asyncio.ensure_future(client.execute("BLPOP", "rc:never", 5))
            await asyncio.sleep(0.2)
            assert await admin.execute("CLIENT", "KILL", "ID", my_id) == 1
            with pytest.raises(RedisUnavailable):
                await blocked
            assert await client.execute("PING") == b"PONG"  # a new connection
            assert await client.execute("CLIENT", "ID") != my_id
        finally:
            await client.aclose()
            await admin.aclose()
        with pytest.raises(RedisUnavailable, match="closed"):
            await client.execute("PING")
    asyncio.run(go())


def test_commands_of_one_tick_leave_together_and_get_their_own_replies(redis_server) -> None:  # type: ignore[no-untyped-def]
    class Counting:
        """The real transport, counting the writes that reach it."""

        def __init__(self, inner: asyncio.Transport) -> None:
            self.inner, self.writes = inner, 0

        def write(self, data: bytes) -> None:
            self.writes += 1
            self.inner.write(data)

        def writelines(self, data: list[bytes]) -> None:
            self.writes += 1
            self.inner.writelines(data)

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

    async def go() -> tuple[list[int], int]:
        client = RedisClient(redis_server.url, timeout=10)
        try:
            await client.execute("DEL", "rc:tick")
            writes = client._connection.writes  # type: ignore[union-attr]
            counting = Counting(writes._transport)  # type: ignore[union-attr]
            writes._transport = counting  # type: ignore[union-attr]
            await asyncio.sleep(0)  # a fresh tick
            replies = await asyncio.gather(*(client.execute("INCR", "rc:tick")
                                             for _ in range(50)))
            return replies, counting.writes
        finally:
            await client.aclose()

    replies, writes = asyncio.run(go())
    assert replies == list(range(1, 51))  # in order, each command its own reply
    assert writes == 2  # the tick's first command at once, the other 49 in one send
