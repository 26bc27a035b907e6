"""Fewer ``send`` syscalls: a response's head goes with its body, and a busy tick's writes together.

uvicorn writes a response's head and then its body, each with its own ``transport.write``, and
each becomes a ``send`` syscall that wakes the client. Two rules cut that down:

- **head with body**: a write that ends a head (``\\r\\n\\r\\n``) is held and goes out with the
  connection's next write, which for a complete response follows at once;
- **busy ticks send together**: the first write of an event-loop tick leaves at once (a lone
  request's answer is never delayed), but later writes of the same tick, made while the loop
  is serving other connections too, wait for the tick's end and then go out back to back. On
  shared cores this wakes the client once per batch instead of once per response.

Nothing waits past the end of the tick it was written in: a held head with no body yet (a
stream whose first chunk is not ready, ``100 Continue``) leaves alone then.

Example::

    writer = TickWriter(loop)
    transport = writer.wrap(transport)  # give this to the HTTP protocol's request cycles
"""

from __future__ import annotations

import asyncio
from typing import Any

#: Below this a held head and its body are joined into one bytes object (cheaper than a
#: two-buffer write); above it both buffers go to one ``writelines`` call without a copy.
COPY_LIMIT = 16 * 1024


class TickWriter:
    """The per-event-loop half: knows whether this tick has written yet, flushes at its end."""

    __slots__ = ("_loop", "_scheduled", "_wrote", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._scheduled = False
        self._wrote = False  # something already left in this tick
        self._waiting: list[ConnectionWrites] = []

    def wrap(self, transport: asyncio.Transport) -> ConnectionWrites:
        """A transport view for one connection that follows the module's two rules."""
        return ConnectionWrites(transport, self)

    def _tick_started(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_tick)

    def _end_of_tick(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._scheduled = self._wrote = False
        for conn in waiting:
            conn.flush()


class ConnectionWrites:
    """One connection's transport with held writes; everything else is the transport's."""

    __slots__ = ("_transport", "_tick", "_held", "_queued")

    def __init__(self, transport: asyncio.Transport, tick: TickWriter) -> None:
        self._transport = transport
        self._tick = tick
        self._held: list[bytes] = []
        self._queued = False

    def write(self, data: bytes) -> None:
        tick = self._tick
        held = self._held
        if held:
            held.append(data)
            if not tick._wrote:
                tick._wrote = True
                self.flush()
            return
        if tick._wrote or data.endswith(b"\r\n\r\n"):  # a busy tick, or a head: wait
            held.append(data)
            self._queue(tick)
        else:
            tick._wrote = True
            tick._tick_started()
            self._transport.write(data)

    def _queue(self, tick: TickWriter) -> None:
        if not self._queued:
            self._queued = True
            tick._waiting.append(self)
        tick._tick_started()

    def flush(self) -> None:
        """Write whatever is held now (the tick's end, a close)."""
        held = self._held
        self._queued = False
        if not held:
            return
        self._held = []
        if self._transport.is_closing():
            return
        if len(held) == 1:
            self._transport.write(held[0])
        elif len(held) == 2 and len(held[1]) < COPY_LIMIT:
            self._transport.write(held[0] + held[1])
        else:
            self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
