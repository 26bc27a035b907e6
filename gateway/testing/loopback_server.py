"""The thread-and-loop plumbing of the local fake upstreams, and their TCP reset.

:class:`LoopbackServer` runs an aiohttp app on 127.0.0.1 in a daemon thread with its own
event loop until the ``with`` block ends or ``max_lifetime`` passes; a subclass adds its
routes in :meth:`LoopbackServer._routes`. :func:`reset_connection` aborts a request's
connection with a TCP RST (the fakes' "reset" faults).

Example::

    class Echo(LoopbackServer):
        def _routes(self, app: web.Application) -> None:
            app.router.add_post("/echo", self._echo)

    with Echo() as server:
        httpx.post(server.url + "/echo", content=b"hi")
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from typing import Self

from aiohttp import web


def reset_connection(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0), not a clean FIN."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class LoopbackServer:
    """An aiohttp server on 127.0.0.1 in a background thread (a context manager).

    ``max_lifetime`` bounds how long it runs; ``port`` is the port to bind (0: a free one).
    """

    #: Named in the error raised when the server does not start.
    server_name = "loopback server"

    def __init__(self, *, max_lifetime: float = 120.0, port: int = 0) -> None:
        self.max_lifetime = max_lifetime
        self._want_port = port  # 0: a free port
        self._port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._port}"

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but no longer than until the server stops."""
        assert self._stop is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.server_name} did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        # past max_lifetime the server stopped itself and its loop is closed already
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        self._routes(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self._want_port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.max_lifetime)
        await runner.cleanup()
