"""The pooled HTTP/1.1 client (gateway.providers.http) against scripted loopback servers.

Each server is a raw asyncio server that reads one request head (and its body) and writes
exactly the bytes a test gives, so framing (length, chunked, until close), keep-alive,
informational answers, cuts and garbage are all what a real peer could send.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from skyrelay.gateway.providers.http import (
    HttpClient,
    UpstreamConnectionError,
    UpstreamUnreachable,
)
from skyrelay.gateway.providers.http_wire import HIGH_WATER
from tests.reliability.test_secrets import local_tls

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}"


class Script:
    """A loopback server answering each request with the next item of ``answers``
    (bytes, or a coroutine function ``(reader, writer) -> None`` that does it itself)."""

    def __init__(self, *answers: bytes | Callable[..., Awaitable[None]],
                 tls: ssl.SSLContext | None = None) -> None:
        self.answers = list(answers)
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.tls = tls
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Script:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1/chat?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.heads.append(head)
                self.bodies.append(await reader.readexactly(length))
                answer = self.answers.pop(0)
                if callable(answer):
                    await answer(reader, writer)
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 20))


def deadline(seconds: float = 10) -> float:
    return asyncio.get_running_loop().time() + seconds


async def post(client: HttpClient, url: str, body: bytes = b"{}", **headers: str) -> Any:
    return await client.post(url, body, {"content-type": "application/json", **headers},
                             deadline())


def test_request_head_and_keep_alive_reuse() -> None:
    async def go() -> tuple[Script, list[bytes], int]:
        client = HttpClient()
        async with Script(OK, OK) as server:
            bodies = []
            for _ in range(2):
                resp = await post(client, server.url, b'{"a":1}', Authorization="Bearer k",
                                  Host="evil", **{"Content-Length": "999"})
                assert (resp.status, resp.reason) == (200, "OK")
                assert resp.headers.get("Content-Type") == "application/json"
                bodies.append(await resp.read())
                resp.release()
            idle = client.idle_connections()
            await client.aclose()
            return server, bodies, idle

    server, bodies, idle = run(go)
    assert bodies == [b'{"ok":true}'] * 2
    assert server.connections == 1 and idle == 1
    lines = server.heads[0].decode().split("\r\n")
    port = server.port
    assert lines[0] == "POST /v1/chat?x=1 HTTP/1.1"
    fields = [line.lower() for line in lines[1:] if line]
    assert f"host: 127.0.0.1:{port}" in fields and "host: evil" not in fields
    assert "content-length: 7" in fields and "content-length: 999" not in fields
    assert "authorization: bearer k" in fields
    assert "accept-encoding: identity" in fields and "user-agent: skyrelay-gateway" in fields
    assert server.bodies == [b'{"a":1}'] * 2


def test_chunked_and_informational_answers() -> None:
    chunked = (b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"
               b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\nX-A: 2\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    async def go() -> tuple[bytes, str, int]:
        client = HttpClient()
        async with Script(chunked, OK) as server:
            resp = await post(client, server.url)
            body = await resp.read()
            joined = resp.headers["x-a"]
            resp.release()
            again = await post(client, server.url)
            await again.read()
            again.release()
            await client.aclose()
            return body, joined, server.connections

    body, joined, connections = run(go)
    assert body == b"hello world"
    assert joined == "1, 2"
    assert connections == 1  # the chunked answer ended cleanly: the connection was reused


def test_answer_until_close_and_connection_close_are_not_pooled() -> None:
    async def until_close(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()

    async def close_later(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.5)  # the socket stays open, but the answer said "close"

    async def go() -> tuple[list[bytes], list[int], int]:
        client = HttpClient()
        bodies, idle = [], []
        async with Script(until_close) as first, Script(close_later) as second:
            for url in (first.url, second.url):
                resp = await post(client, url)
                bodies.append(await resp.read())
                resp.release()
                idle.append(client.idle_connections())
            await client.aclose()
            return bodies, idle, client._count

    bodies, idle, count = run(go)
    assert bodies == [b"all of it", b"ok"]
    assert idle == [0, 0]
    assert count == 0


def test_cut_answer_and_garbage_are_connection_errors() -> None:
    async def cut(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
        await writer.drain()

    async def go() -> tuple[str, str, int]:
        client = HttpClient()
        async with Script(cut) as a, Script(b"SMTP ready\r\n\r\n") as b:
            resp = await post(client, a.url)
            with pytest.raises(UpstreamConnectionError) as short:
                await resp.read()
            resp.close()
            with pytest.raises(UpstreamConnectionError) as garbage:
                await post(client, b.url)
            count = client._count
            await client.aclose()
            return str(short.value), str(garbage.value), count

    short, garbage, count = run(go)
    assert "closed the connection before its answer ended" in short
    assert "not valid HTTP/1.1" in garbage
    assert count == 0  # both connections were dropped from the pool


def test_unreachable_and_bad_urls_and_headers() -> None:
    async def go() -> None:
        client = HttpClient()
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(UpstreamUnreachable):
            await post(client, f"http://127.0.0.1:{port}/v1")
        with pytest.raises(ValueError, match="line breaks"):
            await post(client, f"http://127.0.0.1:{port}/v1", **{"x-bad": "a\r\nx-injected: 1"})
        with pytest.raises(ValueError, match="not an http"):
            await post(client, "ftp://127.0.0.1/v1")
        with pytest.raises(TimeoutError):
            await client.post(f"http://127.0.0.1:{port}/v1", b"", {},
                              asyncio.get_running_loop().time() - 1)
        assert client._count == 0

    run(go)


def test_unread_answers_pause_the_socket() -> None:
    size = 8 * 1024 * 1024
    big = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"x" * size

    async def go() -> tuple[int, int]:
        client = HttpClient()
        async with Script(big) as server:
            resp = await post(client, server.url)
            await asyncio.sleep(0.3)  # nothing read: the buffer must stop near HIGH_WATER
            buffered = resp._buffered
            body = await resp.read()
            resp.release()
            await client.aclose()
            return buffered, len(body)

    buffered, length = run(go)
    assert length == size
    assert buffered <= HIGH_WATER + 512 * 1024  # a few socket reads past the mark at most


def test_limit_queues_requests_and_cancel_frees_the_slot() -> None:
    async def slow(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    async def go() -> tuple[list[int], int, int]:
        client = HttpClient(limit=1)
        async with Script(OK, OK, OK) as server, Script(slow) as stuck:
            async def one() -> int:
                resp = await post(client, server.url)
                await asyncio.sleep(0.05)
                await resp.read()
                resp.release()
                return resp.status
            statuses = await asyncio.gather(one(), one(), one())
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await post(client, stuck.url)  # closes server's idle connection first
            count = client._count
            await client.aclose()
            return list(statuses), server.connections, count

    statuses, connections, count = run(go)
    assert statuses == [200, 200, 200]
    assert connections == 1  # one at a time over the one connection the limit allows
    assert count == 0  # the cancelled exchange's connection was dropped


def test_idle_connection_closed_by_the_server_is_not_used() -> None:
    async def close_after(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(OK)
        await writer.drain()  # keep-alive answer, then the server closes the connection

    async def go() -> tuple[int, int]:
        client = HttpClient()
        async with Script(close_after, OK) as server:
            resp = await post(client, server.url)
            await resp.read()
            resp.release()
            await asyncio.sleep(0.1)  # the FIN arrives while the connection is idle
            resp = await post(client, server.url)
            status = resp.status
            await resp.read()
            resp.release()
            await client.aclose()
            return status, server.connections

    status, connections = run(go)
    assert status == 200 and connections == 2


def test_tls_is_verified_against_the_system_store(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ca_file, context = local_tls(tmp_path)

    async def go(trusted: bool) -> int:
        client = HttpClient()
        async with Script(OK, tls=context) as server:
            try:
                resp = await post(client, server.url)
                await resp.read()
                resp.release()
                return resp.status
            finally:
                await client.aclose()

    with pytest.raises(UpstreamUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        run(lambda: go(False))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    assert run(lambda: go(True)) == 200
