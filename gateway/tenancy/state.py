"""Shared counters for rate limits and budgets, behind one interface with two backends.

- :class:`MemoryState`: in-process, for one replica (the default). Every operation is a
  plain synchronous update between two awaits, so it is atomic on the event loop.
- :class:`RedisState`: for several replicas. Each check-and-update is one Lua script, so it
  is atomic in Redis however many gateways call it at once. The URL may be ``rediss://``
  (TLS) with a password, as ElastiCache requires.

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

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

WINDOW = 60
BUDGET_TTL = 40 * 24 * 3600  # a month's counter outlives the month by a few days


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


_HIT = """
local w = tonumber(ARGV[4])
local rc = tonumber(redis.call('GET', KEYS[1]) or '0')
local rp = tonumber(redis.call('GET', KEYS[2]) or '0')
local tc = tonumber(redis.call('GET', KEYS[3]) or '0')
local tp = tonumber(redis.call('GET', KEYS[4]) or '0')
local req = rp * w + rc
local tok = tp * w + tc
if req + 1 > tonumber(ARGV[1]) then return {1, math.floor(req), math.floor(tok)} end
if tok + tonumber(ARGV[3]) > tonumber(ARGV[2]) then
  return {2, math.floor(req), math.floor(tok)}
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 150)
redis.call('INCRBY', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], 150)
return {0, math.floor(req) + 1, math.floor(tok) + tonumber(ARGV[3])}
"""

_RESERVE = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[2])
if spent + amount > tonumber(ARGV[1]) then return 0 end
redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# The token correction: the admission minute's counter, never below zero, with its expiry.
_ADD_TOKENS = """
local v = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if v < 0 then v = 0 end
redis.call('SET', KEYS[1], v, 'EX', 150)
return v
"""

# The settle: at most once per request id (KEYS[2], kept SETTLE_TTL seconds), never below 0.
_ADJUST = """
if KEYS[2] ~= KEYS[1] and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return -1
end
local v = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if v < 0 then v = 0 end
redis.call('SET', KEYS[1], v, 'EX', ARGV[2])
return v
"""

# Admission in one round trip: the rate check of _HIT, then the budget's of _RESERVE; over
# the budget the request is counted (as _HIT then a give-back of its tokens would leave it).
_ADMIT = """
local w = tonumber(ARGV[4])
local want = tonumber(ARGV[3])
local rc = tonumber(redis.call('GET', KEYS[1]) or '0')
local rp = tonumber(redis.call('GET', KEYS[2]) or '0')
local tc = tonumber(redis.call('GET', KEYS[3]) or '0')
local tp = tonumber(redis.call('GET', KEYS[4]) or '0')
local req = rp * w + rc
local tok = tp * w + tc
if req + 1 > tonumber(ARGV[1]) then return {1, math.floor(req), math.floor(tok)} end
if tok + want > tonumber(ARGV[2]) then return {2, math.floor(req), math.floor(tok)} end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 150)
local spent = tonumber(redis.call('GET', KEYS[5]) or '0')
if spent + tonumber(ARGV[6]) > tonumber(ARGV[5]) then
  return {3, math.floor(req) + 1, math.floor(tok)}
end
redis.call('INCRBY', KEYS[5], ARGV[6])
redis.call('EXPIRE', KEYS[5], ARGV[7])
redis.call('INCRBY', KEYS[3], want)
redis.call('EXPIRE', KEYS[3], 150)
return {0, math.floor(req) + 1, math.floor(tok) + want}
"""

# The token correction (_ADD_TOKENS on KEYS[3], unless ARGV[4] is empty) and the settle
# (_ADJUST) in one round trip. The correction goes first: Redis keeps a script's writes made
# before an error, so a settle that fails (a damaged budget key) still leaves it applied.
_SETTLE = """
if ARGV[4] ~= '' then
  local t = tonumber(redis.call('GET', KEYS[3]) or '0') + tonumber(ARGV[4])
  if t < 0 then t = 0 end
  redis.call('SET', KEYS[3], t, 'EX', 150)
end
if KEYS[2] ~= KEYS[1] and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then
  return -1
end
local v = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
if v < 0 then v = 0 end
redis.call('SET', KEYS[1], v, 'EX', ARGV[2])
return v
"""

_VERDICTS = {0: "ok", 1: "rate", 2: "rate", 3: "budget"}

#: How long a settle's once-only marker is kept: the longest a failed settle is retried.
SETTLE_TTL = 300


class RedisState:
    """Redis backend (several replicas); ``url`` like ``rediss://:password@host:6379/0``."""

    def __init__(self, url: str, *, prefix: str = "skyrelay", timeout: float = 0.5,
                 max_connections: int = 64, pool_wait: float = 2.0) -> None:
        import redis.asyncio as redis

        # A blocking pool: past ``max_connections`` in flight a request waits up to
        # ``pool_wait`` for a free connection. redis-py's default pool raises "Too many
        # connections" instead, which turned half of 200 concurrent requests into 503s.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=pool_wait, socket_timeout=timeout,
            socket_connect_timeout=timeout, health_check_interval=5, decode_responses=False)
        self._redis = redis.Redis.from_pool(pool)
        self._errors = (redis.RedisError, OSError, asyncio.TimeoutError)
        self._prefix = prefix
        self._hit = self._redis.register_script(_HIT)
        self._reserve = self._redis.register_script(_RESERVE)
        self._add_tokens = self._redis.register_script(_ADD_TOKENS)
        self._adjust = self._redis.register_script(_ADJUST)
        self._admit = self._redis.register_script(_ADMIT)
        self._settle = self._redis.register_script(_SETTLE)
        self.healthy = True

    async def _run(self, coro):  # type: ignore[no-untyped-def]
        try:
            result = await coro
        except self._errors as exc:
            self.healthy = False
            raise StateUnavailable(f"state store unreachable: {type(exc).__name__}") from None
        self.healthy = True
        return result

    def _k(self, *parts: object) -> str:
        return ":".join((self._prefix, *map(str, parts)))

    async def hit(self, tenant: str, rpm: int, tpm: int, tokens: int,
                  now: float) -> float | None:
        return (await self.hit_counts(tenant, rpm, tpm, tokens, now))[0]

    async def hit_counts(self, tenant: str, rpm: int, tpm: int, tokens: int,
                         now: float) -> tuple[float | None, int, int]:
        """Like :meth:`hit`, with the requests and tokens used in the window afterwards."""
        bucket, frac = _window(now)
        keys = [self._k("rq", tenant, bucket), self._k("rq", tenant, bucket - 1),
                self._k("tk", tenant, bucket), self._k("tk", tenant, bucket - 1)]
        verdict, req, tok = await self._run(self._hit(keys=keys,
                                                      args=[rpm, tpm, tokens, 1.0 - frac]))
        return (None if int(verdict) == 0 else retry_after(now)), int(req), int(tok)

    async def add_tokens(self, tenant: str, tokens: int, now: float) -> None:
        bucket, _ = _window(now)
        await self._run(self._add_tokens(keys=[self._k("tk", tenant, bucket)], args=[tokens]))

    async def reserve(self, tenant: str, period: str, budget: int, amount: int) -> bool:
        ok = await self._run(self._reserve(keys=[self._k("budget", tenant, period)],
                                           args=[budget, amount, BUDGET_TTL]))
        return int(ok) == 1

    async def adjust(self, tenant: str, period: str, delta: int,
                     settle_id: str | None = None) -> None:
        budget = self._k("budget", tenant, period)
        marker = self._k("settled", settle_id) if settle_id else budget
        await self._run(self._adjust(keys=[budget, marker],
                                     args=[delta, BUDGET_TTL, SETTLE_TTL]))

    async def admit(self, tenant: str, limits: Limits, tokens: int, now: float,
                    period: str, amount: int) -> Admission:
        bucket, frac = _window(now)
        keys = [self._k("rq", tenant, bucket), self._k("rq", tenant, bucket - 1),
                self._k("tk", tenant, bucket), self._k("tk", tenant, bucket - 1),
                self._k("budget", tenant, period)]
        verdict, req, tok = await self._run(self._admit(keys=keys, args=[
            limits.requests_per_minute, limits.tokens_per_minute, tokens, 1.0 - frac,
            limits.budget, amount, BUDGET_TTL]))
        return Admission(_VERDICTS[int(verdict)], int(req), int(tok))

    async def settle(self, tenant: str, period: str, delta: int, settle_id: str | None,
                     tokens: int | None, admitted_at: float) -> None:
        budget = self._k("budget", tenant, period)
        marker = self._k("settled", settle_id) if settle_id else budget
        bucket, _ = _window(admitted_at)
        await self._run(self._settle(
            keys=[budget, marker, self._k("tk", tenant, bucket)],
            args=[delta, BUDGET_TTL, SETTLE_TTL, "" if tokens is None else tokens]))

    async def spent(self, tenant: str, period: str) -> int:
        value = await self._run(self._redis.get(self._k("budget", tenant, period)))
        return int(value or 0)

    async def ping(self) -> bool:
        try:
            await self._run(self._redis.ping())
        except StateUnavailable:
            return False
        return True

    async def aclose(self) -> None:
        await self._redis.aclose()


def current_period(now: float | None = None) -> str:
    """The budget period (calendar month, UTC) as ``YYYY-MM``."""
    return time.strftime("%Y-%m", time.gmtime(now))
