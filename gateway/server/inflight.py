"""Requests in progress: cancelled when their client leaves, or when the drain window ends.

Each model request, once admitted, runs under a :class:`Guard`: a small watcher task waits
on the ASGI ``receive`` channel for ``http.disconnect`` and cancels the request's task, so the
upstream call (streamed or not) stops instead of running to its end for nobody. The watcher
starts only once the request has run :data:`WATCH_AFTER` seconds: most answers that take
less never pay for a task, and one that takes longer (every real model call) is cut at most
that much later than its client left. At
shutdown :meth:`InFlight.drain` cancels whatever is still running when the drain window
closes, with the reason ``shutdown``, so the request can still end its answer (an SSE error
event) and write its usage record before the process exits.

A guard is ``finished`` once the request's last byte is about to be sent: from then on
nothing cancels it (the finish step — settle, record — must run whole).

Example::

    guard = inflight.guard(receive)
    try:
        await router.call(...)
    except asyncio.CancelledError:
        if not guard.cancelled_by_us():
            raise
        guard.uncancel()          # then answer according to guard.reason
    finally:
        guard.close()
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from skyrelay.gateway.deadlines import Alarm, alarm_at

log = logging.getLogger("skyrelay.gateway")

Receive = Callable[[], Awaitable[dict[str, Any]]]

CLIENT_CLOSED = "client_closed"
SHUTDOWN = "shutdown"
#: Seconds a request runs before its disconnect watcher starts.
WATCH_AFTER = 0.05


class Guard:
    """One request's cancellation: by its client's disconnect or by the drain."""

    __slots__ = ("_inflight", "_receive", "_task", "_timer", "_watcher", "finished", "reason",
                 "stream")

    def __init__(self, inflight: InFlight, receive: Receive, stream: bool,
                 watch_after: float = WATCH_AFTER) -> None:
        self._inflight = inflight
        self._task = asyncio.current_task()
        self.finished = False
        self.reason: str | None = None
        self.stream = stream
        self._receive = receive
        self._watcher: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        # an alarm on the loop's shared timer: nearly every request ends before it rings
        self._timer: Alarm | None = alarm_at(loop, loop.time() + watch_after,
                                             self._start_watching)

    def _start_watching(self) -> None:
        self._timer = None
        if not self.finished:
            self._watcher = asyncio.get_running_loop().create_task(self._watch(self._receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.cancel(CLIENT_CLOSED)
                return

    def cancel(self, reason: str) -> None:
        """Cancel the request's task (no-op once it finished or was cancelled already)."""
        if self.finished or self.reason is not None or self._task is None:
            return
        self.reason = reason
        self._task.cancel()

    def cancelled_by_us(self) -> bool:
        """Whether a ``CancelledError`` the request sees came from this guard."""
        return self.reason is not None

    def uncancel(self) -> None:
        """Take the cancellation back so the request can end its answer and its record."""
        if self._task is not None:
            self._task.uncancel()

    def close(self) -> None:
        """The request is done: stop watching (idempotent)."""
        self.finished = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._watcher is not None:
            self._watcher.cancel()
        self._inflight.active.discard(self)


class InFlight:
    """The guards of every request in progress; the drain at shutdown."""

    def __init__(self) -> None:
        self.active: set[Guard] = set()
        self.draining = False

    def guard(self, receive: Receive, *, stream: bool) -> Guard:
        """Start guarding the current task's request."""
        guard = Guard(self, receive, stream)
        self.active.add(guard)
        return guard

    async def drain(self, seconds: float) -> int:
        """Wait up to ``seconds`` for requests in progress, then cancel the rest (reason
        ``shutdown``) and wait until they wrote their answers' ends; returns how many were
        cut."""
        self.draining = True
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, seconds)
        while self.active and loop.time() < end:
            await asyncio.sleep(min(0.05, max(0.0, end - loop.time())))
        cut = [g for g in self.active if not g.finished]
        if cut:
            log.warning("drain window of %.0f s ended: cutting %d request(s) still open "
                        "(each gets an error and a usage record)", seconds, len(cut))
        for guard in cut:
            guard.cancel(SHUTDOWN)
        # they end their answers and records now; bounded so a stuck one cannot hold exit
        stop = loop.time() + 5.0
        while self.active and loop.time() < stop:
            await asyncio.sleep(0.01)
        return len(cut)
