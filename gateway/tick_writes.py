"""Fewer ``send`` syscalls: a head goes with its body, and a busy tick's writes go together.

uvicorn writes a response's head and then its body, each with its own ``transport.write``, and
each becomes a ``send`` syscall that wakes the client; the upstream client writes one request
per ``send``, each waking the upstream. Two rules cut that down:

- **head with body**: a write that ends a head (``\\r\\n\\r\\n``) is held and goes out with the
  connection's next write, which for a complete response follows at once;
- **busy ticks send together**: the first write of an event-loop tick leaves at once (a lone
  request's answer is never delayed), but later writes of the same tick, made while the loop
  is serving other connections too, wait for the tick's end and then go out back to back. On
  shared cores this wakes the peer once per batch instead of once per message.

Each side has its own writer per event loop (``tick_writer(loop, "client")`` for the
server's connections, ``"upstream"`` for the provider pool's, ``"redis"`` for the state
store's), so each side's first write of a tick leaves at once.

Nothing waits past the end of the tick it was written in: a held head with no body yet (a
stream whose first chunk is not ready, ``100 Continue``) leaves alone then.

Example::

    writes = tick_writer(loop, "client").wrap(transport)
    writes.write(head)  # held: a head waits for its body
    writes.write(body)  # head and body leave in one send (or at the tick's end, if busy)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable
from typing import Any

_HEAD_END = b"\r\n\r\n"
log = logging.getLogger("skyrelay.gateway.tick_writes")

#: Below this a held head and its body are joined into one bytes object (cheaper than a
#: two-buffer write); above it both buffers go to one ``writelines`` call without a copy.
COPY_LIMIT = 16 * 1024


class TickWriter:
    """The per-event-loop half: knows whether this tick has written yet, flushes at its end."""

    __slots__ = ("_loop", "_scheduled", "_wrote", "_waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # weak: the writers are kept per loop in a WeakKeyDictionary, whose values must
        # not hold their own keys (every loop that ever wrote would stay alive)
        self._loop = weakref.ref(loop)
        self._scheduled = False
        self._wrote = False  # something already left in this tick
        self._waiting: list[ConnectionWrites] = []

    def wrap(self, transport: asyncio.Transport) -> ConnectionWrites:
        """A transport view for one connection that follows the module's two rules."""
        return ConnectionWrites(transport, self)

    def _tick_started(self) -> None:
        if not self._scheduled:
            loop = self._loop()
            if loop is None:  # the loop is gone: nothing would ever run the flush
                return
            self._scheduled = True
            loop.call_soon(self._end_of_tick)

    def _end_of_tick(self) -> None:
        waiting, self._waiting = self._waiting, []
        self._scheduled = self._wrote = False
        for conn in waiting:
            try:
                conn.flush()
            except Exception:  # one broken transport must not keep the others' bytes back
                log.exception("a deferred write failed; the connection is aborted")
                conn.abort()


class ConnectionWrites:
    """One connection's transport with held writes; everything else is the transport's."""

    __slots__ = ("_transport", "_tick", "_held", "_queued")

    def __init__(self, transport: asyncio.Transport, tick: TickWriter) -> None:
        self._transport = transport
        self._tick = tick
        self._held: list[bytes] = []
        self._queued = False

    def write(self, data: bytes) -> None:
        """Send ``data`` now, with the held head, or at the tick's end (module docstring)."""
        tick = self._tick
        held = self._held
        if held:  # held implies queued, and the tick's end is scheduled
            held.append(data)
            if not tick._wrote:
                tick._wrote = True
                self.flush()
            return
        if tick._wrote or data.endswith(_HEAD_END):  # a busy tick, or a head: wait
            held.append(data)
            self._queue(tick)
        else:
            tick._wrote = True
            tick._tick_started()
            self._transport.write(data)

    def writelines(self, pieces: Iterable[bytes]) -> None:
        """Like :meth:`write` for several buffers, which are never joined into one copy."""
        parts = [piece for piece in pieces if piece]
        if len(parts) <= 1:
            if parts:
                self.write(parts[0])
            return
        tick = self._tick
        if not self._held and not tick._wrote:
            tick._wrote = True
            tick._tick_started()
            self._transport.writelines(parts)
            return
        self._held.extend(parts)
        self._queue(tick)
        if not tick._wrote:  # a held head, nothing sent yet in this tick: all leave now
            tick._wrote = True
            self.flush()

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
        """Write what is held, then close."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is held and abort the connection."""
        self._held = []
        self._transport.abort()

    def is_closing(self) -> bool:
        """The transport's own answer."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


_WRITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, TickWriter]] = (
    weakref.WeakKeyDictionary())


def tick_writer(loop: asyncio.AbstractEventLoop, side: str) -> TickWriter:
    """The writer of one side (``"client"``, ``"upstream"``, ``"redis"``) on this event loop."""
    sides = _WRITERS.get(loop)
    if sides is None:
        sides = _WRITERS[loop] = {}
    writer = sides.get(side)
    if writer is None:
        writer = sides[side] = TickWriter(loop)
    return writer
