"""Settles that failed while the state store was away, retried until the spend converges.

A settle moves a request's budget reservation (the worst case) to what it is billed. If the
store cannot be reached at that moment, the reservation would stay counted for good and the
tenant's spend would drift above its records. :class:`SettleRetry` keeps such settles in a
bounded queue and retries them in the background every ``interval`` seconds, for at most
``max_age`` seconds each (the store applies each request's settle at most once, so a try
that timed out but did reach the store is not counted twice). At shutdown one last pass runs.
A full queue drops its oldest entry, which leaves that reservation counted (the safe side).

Example::

    retry = SettleRetry(state)
    retry.add("web", "2026-11", -1200, "a1b2c3-7f")   # after adjust raised StateUnavailable
    await retry.aclose()                               # at shutdown
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from dataclasses import dataclass

from skyrelay.gateway.tenancy.state import SETTLE_TTL, StateBackend, StateUnavailable

log = logging.getLogger("skyrelay.gateway.tenancy")


@dataclass(frozen=True, slots=True)
class PendingSettle:
    """One settle still to apply."""

    tenant: str
    period: str
    delta: int
    settle_id: str
    since: float


class SettleRetry:
    """The bounded retry queue of failed settles (see the module docstring)."""

    def __init__(self, state: StateBackend, *, limit: int = 10_000, interval: float = 1.0,
                 max_age: float = SETTLE_TTL - 30) -> None:
        self.state = state
        self.interval = interval
        self.max_age = max_age
        self.pending: collections.deque[PendingSettle] = collections.deque(maxlen=limit)
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, tenant: str, period: str, delta: int, settle_id: str) -> None:
        """Queue a settle that failed; the background retry starts if it is not running."""
        loop = asyncio.get_running_loop()
        if len(self.pending) == self.pending.maxlen:
            self.dropped += 1
            log.warning("settle retry queue full: the oldest failed settle is dropped (its "
                        "reservation stays counted)")
        self.pending.append(PendingSettle(tenant, period, delta, settle_id, loop.time()))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while self.pending:
            await asyncio.sleep(self.interval)
            await self.retry_once()

    async def retry_once(self) -> int:
        """Try every queued settle once, oldest first; stop at the first failure. Returns
        how many were applied."""
        applied = 0
        now = asyncio.get_running_loop().time()
        while self.pending:
            item = self.pending[0]
            if now - item.since > self.max_age:
                self.pending.popleft()
                self.dropped += 1
                log.warning("gave up settling request %s after %.0f s: its reservation "
                            "stays counted", item.settle_id, now - item.since)
                continue
            try:
                await self.state.adjust(item.tenant, item.period, item.delta, item.settle_id)
            except StateUnavailable:
                break
            self.pending.popleft()
            applied += 1
        if applied:
            log.info("settled %d request(s) after the state store came back", applied)
        return applied

    async def aclose(self) -> None:
        """Stop the background retry; one last pass (before the store closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.pending:
            await self.retry_once()
            if self.pending:
                log.warning("%d settle(s) could not be applied before shutdown",
                            len(self.pending))
