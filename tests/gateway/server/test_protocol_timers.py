"""The protocol's per-request timers ride the loop's shared alarm timer.

uvicorn arms a keep-alive timer after each response and cancels it when the next request
comes; the gateway's protocol hands that timer, its request-head clock and nothing else
to :func:`skyrelay.gateway.deadlines.alarm_at`. These tests drive the real protocol class
and uvicorn's real request cycle over a recording transport, on a real loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from skyrelay.gateway.deadlines import Alarm, _deadlines_of
from skyrelay.gateway.server.protocol import limited_protocol
from tests.gateway.server.test_response_writes import REQUEST, RecordingTransport, json_app


def _protocol(**settings: Any) -> Any:
    config = Config(json_app, http=limited_protocol(header_timeout=settings.pop(
        "header_timeout", 10.0)), access_log=False, lifespan="off", **settings)
    config.load()
    return config.http_protocol_class(config=config, server_state=ServerState(), app_state={})


async def _ticks(n: int = 50) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def test_an_idle_keep_alive_connection_is_closed_by_its_alarm() -> None:
    async def main() -> tuple[bool, bool, bool]:
        protocol = _protocol(timeout_keep_alive=0.05)
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(REQUEST)
        await _ticks()
        answered = any(w.startswith(b"HTTP/1.1 200 OK") for w in transport.writes())
        on_alarm = isinstance(protocol.timeout_keep_alive_task, Alarm)
        await asyncio.sleep(0.2)
        closed = transport.closing
        protocol.connection_lost(None)
        return answered, on_alarm, closed
    assert asyncio.run(main()) == (True, True, True)


def test_the_next_request_cancels_the_keep_alive_alarm() -> None:
    async def main() -> tuple[bool, int, bool]:
        loop = asyncio.get_running_loop()
        protocol = _protocol(timeout_keep_alive=0.05)
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(REQUEST)
        await _ticks()
        first = protocol.timeout_keep_alive_task
        protocol.data_received(REQUEST)  # within the keep-alive window
        still_armed = first in _deadlines_of(loop).open
        await _ticks()
        answers = b"".join(transport.writes()).count(b"HTTP/1.1 200 OK")
        await asyncio.sleep(0.02)  # past the first alarm's time, within the second's
        open_now = not transport.closing
        protocol.connection_lost(None)
        return still_armed, answers, open_now
    assert asyncio.run(main()) == (False, 2, True)


def test_a_head_that_never_ends_gets_408_from_its_alarm() -> None:
    async def main() -> tuple[bytes, bool]:
        protocol = _protocol(header_timeout=0.05)
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        await asyncio.sleep(0.2)
        protocol.connection_lost(None)
        return b"".join(transport.writes())[:30], transport.closing
    head, closed = asyncio.run(main())
    assert head.startswith(b"HTTP/1.1 408 Request Timeout") and closed
