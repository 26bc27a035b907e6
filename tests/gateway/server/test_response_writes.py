"""A response's head and body leave in one write; stream chunks keep their order.

uvicorn's cycle writes the head and the body separately. The gateway's protocol writes
through ``tick_writes``: the head waits for its body, and a busy tick's later writes wait
for its end (bench figures in the commit). These tests drive the real protocol class and
uvicorn's real request cycle over a recording transport, and the tick rule directly.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from skyrelay.gateway.server.asgi import send_json
from skyrelay.gateway.server.protocol import limited_protocol
from skyrelay.gateway.tick_writes import TickWriter


class RecordingTransport(asyncio.Transport):
    """Keeps every write; closing is recorded in the same list."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[bytes | str] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closing, "write after close"
        self.events.append(bytes(data))

    def close(self) -> None:
        self.closing = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def writes(self) -> list[bytes]:
        return [e for e in self.events if isinstance(e, bytes)]


async def json_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send_json(send, 200, b'{"ok":true}', [])


async def stream_app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/event-stream")]})
    for n in range(3):
        await send({"type": "http.response.body", "body": b"data: %d\n\n" % n,
                    "more_body": True})
        await asyncio.sleep(0)  # the next chunk comes in a later tick
    await send({"type": "http.response.body", "body": b""})


REQUEST = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json"
           b"\r\ncontent-length: 2\r\n\r\n{}")


async def _drive(app: Any, data: bytes, *, ticks: int = 50) -> RecordingTransport:
    config = Config(app, http=limited_protocol(), access_log=False, lifespan="off")
    config.load()
    protocol = config.http_protocol_class(config=config, server_state=ServerState(),
                                          app_state={})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(data)
    for _ in range(ticks):  # bounded: each tick runs the ready callbacks once
        await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def test_head_and_body_of_a_json_response_are_one_write() -> None:
    transport = asyncio.run(_drive(json_app, REQUEST))
    writes = transport.writes()
    assert len(writes) == 1, writes
    head, _, body = writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"content-length: 11" in head
    assert body == b'{"ok":true}'


def test_pipelined_responses_keep_their_order() -> None:
    transport = asyncio.run(_drive(json_app, REQUEST * 3))
    joined = b"".join(transport.writes())
    assert joined.count(b"HTTP/1.1 200 OK") == 3
    assert joined.endswith(b'{"ok":true}')
    assert all(w.startswith(b"HTTP/1.1 200 OK") for w in transport.writes())


def test_stream_chunks_of_later_ticks_go_out_as_they_come_in_order() -> None:
    transport = asyncio.run(_drive(stream_app, REQUEST))
    writes = transport.writes()
    # head + first chunk share a tick; the others were written in ticks of their own
    assert len(writes) == 4, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b"data: 0\n\n\r\n")
    text = b"".join(writes).partition(b"\r\n\r\n")[2]
    assert text == (b"9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n")


def test_a_closing_response_is_written_whole_before_the_close() -> None:
    request = REQUEST.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    transport = asyncio.run(_drive(json_app, request))
    first, then = transport.events[:2]  # writes after the close fail in RecordingTransport
    assert isinstance(first, bytes) and first.endswith(b'{"ok":true}'), transport.events
    assert b"connection: close" in first and then == "close"


def test_the_first_write_of_a_tick_leaves_at_once_later_ones_at_its_end() -> None:
    async def run() -> tuple[list[list[bytes]], list[list[bytes]]]:
        writer = TickWriter(asyncio.get_running_loop())
        first, second = RecordingTransport(), RecordingTransport()
        a, b = writer.wrap(first), writer.wrap(second)
        a.write(b"one")
        b.write(b"two")
        b.write(b"three")
        during = [first.writes(), second.writes()]
        await asyncio.sleep(0)
        a.write(b"next tick")  # a new tick: its first write leaves at once again
        return during, [first.writes(), second.writes()]

    during, after = asyncio.run(run())
    assert during == [[b"one"], []]
    assert after == [[b"one", b"next tick"], [b"twothree"]]


def test_a_head_without_a_body_leaves_alone_at_the_end_of_its_tick() -> None:
    async def run() -> tuple[list[bytes], list[bytes]]:
        transport = RecordingTransport()
        conn = TickWriter(asyncio.get_running_loop()).wrap(transport)
        conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        held = transport.writes()
        await asyncio.sleep(0)
        return held, transport.writes()

    held, after = asyncio.run(run())
    assert held == [] and after == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_a_large_body_goes_with_its_head_without_a_copy() -> None:
    async def run() -> list[bytes]:
        transport = LinesTransport()
        conn = TickWriter(asyncio.get_running_loop()).wrap(transport)
        conn.write(b"HTTP/1.1 200 OK\r\n\r\n")
        conn.write(b"x" * 100_000)
        return transport.writes()

    assert asyncio.run(run()) == [b"HTTP/1.1 200 OK\r\n\r\n|" + b"x" * 100_000]


def test_nothing_is_written_to_a_transport_that_closed_meanwhile() -> None:
    async def run() -> list[bytes | str]:
        transport = RecordingTransport()
        writer = TickWriter(asyncio.get_running_loop())
        writer.wrap(RecordingTransport()).write(b"first")
        conn = writer.wrap(transport)
        conn.write(b"late")  # waits for the tick's end
        transport.close()  # the peer went away underneath
        await asyncio.sleep(0)
        return transport.events

    assert asyncio.run(run()) == ["close"]


class LinesTransport(RecordingTransport):
    """Records a ``writelines`` call as one entry, its buffers joined with ``|``."""

    def writelines(self, data: Any) -> None:
        self.events.append(b"|".join(data))


def test_writelines_follows_the_same_rules() -> None:
    async def run() -> tuple[list[bytes], list[bytes], list[bytes]]:
        writer = TickWriter(asyncio.get_running_loop())
        first, busy, headed = LinesTransport(), LinesTransport(), LinesTransport()
        writer.wrap(first).writelines([b"a", b"", b"b"])  # first of the tick: at once
        writer.wrap(busy).writelines([b"c", b"d"])  # the tick has written: at its end
        during = busy.writes()
        await asyncio.sleep(0)
        conn = writer.wrap(headed)
        conn.write(b"POST / HTTP/1.1\r\n\r\n")
        conn.writelines([b"e", b"f"])  # a held head and nothing sent yet: all at once
        return first.writes(), during + busy.writes(), headed.writes()

    first, busy, headed = asyncio.run(run())
    assert first == [b"a|b"]
    assert busy == [b"cd"]  # held pieces leave in one write (two small ones as one copy)
    assert headed == [b"POST / HTTP/1.1\r\n\r\n|e|f"]


def test_each_side_of_a_loop_has_its_own_writer() -> None:
    from skyrelay.gateway.tick_writes import tick_writer

    async def run() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        client = tick_writer(loop, "client")
        return client is tick_writer(loop, "client"), client is tick_writer(loop, "upstream")

    assert asyncio.run(run()) == (True, False)


def test_a_failing_deferred_write_aborts_its_connection_and_spares_the_others() -> None:
    class Broken(RecordingTransport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            raise RuntimeError("the transport broke")

        def abort(self) -> None:
            self.events.append("abort")

    async def run() -> tuple[list[bytes | str], list[bytes]]:
        writer = TickWriter(asyncio.get_running_loop())
        writer.wrap(RecordingTransport()).write(b"first")
        broken, fine = Broken(), RecordingTransport()
        writer.wrap(broken).write(b"lost")
        writer.wrap(fine).write(b"kept")
        await asyncio.sleep(0)
        return broken.events, fine.writes()

    broken_events, fine_writes = asyncio.run(run())
    assert broken_events == ["abort"] and fine_writes == [b"kept"]


def test_a_closed_loop_is_not_kept_alive_by_its_writers() -> None:
    # tick writers are kept per loop; a loop that wrote must still go away when closed
    import gc
    import weakref

    import uvloop

    from skyrelay.gateway.tick_writes import tick_writer

    refs: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        refs.append(weakref.ref(loop))
        conn = tick_writer(loop, "client").wrap(RecordingTransport())
        conn.write(b"a")
        conn.write(b"b")  # held to the tick's end
        await asyncio.sleep(0)

    for factory in (asyncio.new_event_loop, uvloop.new_event_loop):
        for _ in range(3):
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(run())
    gc.collect()
    assert [r for r in refs if r() is not None] == []
