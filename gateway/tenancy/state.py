"""Shared counters for rate limits and budgets, behind one interface with two backends.

- :class:`MemoryState`: in-process, for one replica (the default). Every operation is a
  plain synchronous update between two awaits, so it is atomic on the event loop.
- :class:`~skyrelay.gateway.tenancy.state_redis.RedisState`: for several replicas. Each
  check-and-update is one Lua script, so it is atomic in Redis however many gateways call
  it at once. The URL may be ``rediss://`` (TLS) with a password, as ElastiCache requires.

Rate limits use a sliding window over two fixed one-minute buckets (the previous bucket is
weighted by how much of it still overlaps the last 60 seconds). Budgets hold integer
micro-units of currency: ``spent`` includes reservations in flight, so a reservation that
would take ``spent`` past the budget is refused, and settling adds ``actual - reserved``.

Example::

    state = MemoryState()
    retry = await state.hit("web", rpm=60, tpm=10_000, tokens=500, now=time.time())
    ok = await state.reserve("web", "2026-11", budget=5_000_000, amount=1_200)
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from typing import Protocol

WINDOW = 60
BUDGET_TTL = 40 * 24 * 3600  # a month's counter outlives the month by a few days
#: How long a settle's once-only marker is kept: the longest a failed settle is retried.
SETTLE_TTL = 300


class StateUnavailable(Exception):
    """The shared store cannot be reached; callers fail closed."""


@dataclass(frozen=True, slots=True)
class Limits:
    """A tenant's allowances: requests and tokens per minute, budget in micro-units."""

    requests_per_minute: int
    tokens_per_minute: int
    budget: int


@dataclass(frozen=True, slots=True)
class Admission:
    """What :meth:`StateBackend.admit` decided, with the window's use afterwards."""

    #: "ok", "rate" (over a per-minute limit) or "budget" (over the period's budget)
    verdict: str
    requests: int
    tokens: int


class StateBackend(Protocol):
    """Atomic counters for limits and budgets."""

    healthy: bool

    async def hit(self, tenant: str, rpm: int, tpm: int, tokens: int,
                  now: float) -> float | None:
        """Count one request of ``tokens``; None if admitted, else seconds to wait."""
        ...

    async def hit_counts(self, tenant: str, rpm: int, tpm: int, tokens: int,
                         now: float) -> tuple[float | None, int, int]:
        """:meth:`hit`, and the requests and tokens used in the sliding window afterwards
        (for the ``x-ratelimit-remaining-*`` headers)."""
        ...

    async def add_tokens(self, tenant: str, tokens: int, now: float) -> None:
        """Correct the token count of the minute of ``now`` (the admission's) after the
        fact; may be negative, the count never goes below zero."""
        ...

    async def reserve(self, tenant: str, period: str, budget: int, amount: int) -> bool:
        """Atomically add ``amount`` to the period's spend unless it would pass ``budget``."""
        ...

    async def adjust(self, tenant: str, period: str, delta: int,
                     settle_id: str | None = None) -> None:
        """Settle: add ``delta`` (actual minus reserved, may be negative) to the spend,
        never below zero. With ``settle_id`` it is applied at most once per id (a retried
        settle whose first try did reach the store is not counted twice)."""
        ...

    async def admit(self, tenant: str, limits: Limits, tokens: int, now: float,
                    period: str, amount: int) -> Admission:
        """:meth:`hit_counts` and then :meth:`reserve` of ``amount`` as one step (one round
        trip to a shared store): a request over the rate limits reserves nothing, and one
        over the budget is counted as a request but not its tokens."""
        ...

    async def settle(self, tenant: str, period: str, delta: int, settle_id: str | None,
                     tokens: int | None, admitted_at: float) -> None:
        """:meth:`adjust` by ``delta`` (at most once per ``settle_id``) and, unless
        ``tokens`` is None, :meth:`add_tokens` of ``tokens`` to the admission's minute, as
        one step."""
        ...

    async def spent(self, tenant: str, period: str) -> int:
        """Spend so far in the period, reservations included."""
        ...

    async def ping(self) -> bool:
        """True when the store answers."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def _window(now: float) -> tuple[int, float]:
    bucket = int(now // WINDOW)
    return bucket, (now - bucket * WINDOW) / WINDOW


def retry_after(now: float) -> float:
    """Seconds until the current bucket rolls over (a conservative wait)."""
    return max(1.0, WINDOW - (now % WINDOW))


class MemoryState:
    """In-process backend (one replica)."""

    def __init__(self) -> None:
        self.healthy = True
        self._requests: dict[tuple[str, int], int] = {}
        self._tokens: dict[tuple[str, int], int] = {}
        self._spent: dict[tuple[str, str], int] = {}

    def _gc(self, bucket: int) -> None:
        if len(self._requests) > 4096:  # drop buckets older than the previous one
            for table in (self._requests, self._tokens):
                for key in [k for k in table if k[1] < bucket - 1]:
                    del table[key]

    async def hit(self, tenant: str, rpm: int, tpm: int, tokens: int,
                  now: float) -> float | None:
        return (await self.hit_counts(tenant, rpm, tpm, tokens, now))[0]

    async def hit_counts(self, tenant: str, rpm: int, tpm: int, tokens: int,
                         now: float) -> tuple[float | None, int, int]:
        """Like :meth:`hit`, with the requests and tokens used in the window afterwards."""
        bucket, frac = _window(now)
        self._gc(bucket)
        weight = 1.0 - frac
        req = self._requests.get((tenant, bucket - 1), 0) * weight + self._requests.get(
            (tenant, bucket), 0)
        tok = self._tokens.get((tenant, bucket - 1), 0) * weight + self._tokens.get(
            (tenant, bucket), 0)
        if req + 1 > rpm or tok + tokens > tpm:
            return retry_after(now), int(req), int(tok)
        self._requests[(tenant, bucket)] = self._requests.get((tenant, bucket), 0) + 1
        self._tokens[(tenant, bucket)] = self._tokens.get((tenant, bucket), 0) + tokens
        return None, int(req) + 1, int(tok) + tokens

    async def add_tokens(self, tenant: str, tokens: int, now: float) -> None:
        bucket, _ = _window(now)
        self._tokens[(tenant, bucket)] = max(0, self._tokens.get((tenant, bucket), 0) + tokens)

    async def reserve(self, tenant: str, period: str, budget: int, amount: int) -> bool:
        spent = self._spent.get((tenant, period), 0)
        if spent + amount > budget:
            return False
        self._spent[(tenant, period)] = spent + amount
        return True

    async def adjust(self, tenant: str, period: str, delta: int,
                     settle_id: str | None = None) -> None:
        self._spent[(tenant, period)] = max(0, self._spent.get((tenant, period), 0) + delta)

    async def admit(self, tenant: str, limits: Limits, tokens: int, now: float,
                    period: str, amount: int) -> Admission:
        wait, requests, used = await self.hit_counts(
            tenant, limits.requests_per_minute, limits.tokens_per_minute, tokens, now)
        if wait is not None:
            return Admission("rate", requests, used)
        if not await self.reserve(tenant, period, limits.budget, amount):
            await self.add_tokens(tenant, -tokens, now)  # counted as a request only
            return Admission("budget", requests, used - tokens)
        return Admission("ok", requests, used)

    async def settle(self, tenant: str, period: str, delta: int, settle_id: str | None,
                     tokens: int | None, admitted_at: float) -> None:
        if tokens is not None:
            await self.add_tokens(tenant, tokens, admitted_at)
        await self.adjust(tenant, period, delta, settle_id)

    async def spent(self, tenant: str, period: str) -> int:
        return self._spent.get((tenant, period), 0)

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


#: (first second, first second of the next month, "YYYY-MM") of the last month asked for
_last_period: tuple[float, float, str] = (0.0, 0.0, "")


def current_period(now: float | None = None) -> str:
    """The budget period (calendar month, UTC) as ``YYYY-MM``.

    Every admitted request asks; the answer is kept with its month's bounds, so the
    formatting runs once a month (and for a clock that goes back, once more).
    """
    global _last_period
    when = time.time() if now is None else now
    start, end, period = _last_period
    if start <= when < end:
        return period
    day = time.gmtime(when)
    start = calendar.timegm((day.tm_year, day.tm_mon, 1, 0, 0, 0))
    year, month = (day.tm_year + 1, 1) if day.tm_mon == 12 else (day.tm_year, day.tm_mon + 1)
    period = f"{day.tm_year:04d}-{day.tm_mon:02d}"
    _last_period = (float(start), float(calendar.timegm((year, month, 1, 0, 0, 0))), period)
    return period
