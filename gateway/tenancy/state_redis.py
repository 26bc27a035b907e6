"""The Redis backend of :mod:`skyrelay.gateway.tenancy.state`, for several replicas.

Each check-and-update is one Lua script, so it is atomic in Redis however many gateways
call it at once, and one round trip: the admission (:data:`_ADMIT`) and the settle
(:data:`_SETTLE`) each combine what the separate steps do. The URL may be ``rediss://``
(TLS) with a password, as ElastiCache requires. The client is the gateway's own
(:mod:`.redis_client`: one pipelined connection, hiredis), 0.2x redis-py's CPU per request
(``make bench-redis``).

Example::

    state = RedisState("rediss://:secret@cache.example:6379/0")
    admission = await state.admit("web", Limits(60, 10_000, 5_000_000), 500, time.time(),
                                  "2026-11", 1_200)
"""

from __future__ import annotations

from typing import Any

from skyrelay.gateway.tenancy.redis_client import (
    RedisClient,
    RedisReplyError,
    RedisUnavailable,
    Script,
)
from skyrelay.gateway.tenancy.state import (
    BUDGET_TTL,
    SETTLE_TTL,
    Admission,
    Limits,
    StateUnavailable,
    _window,
    retry_after,
)

# The sliding-window check shared by _HIT and _ADMIT: KEYS 1-4 the current and previous
# minute's request and token counters, ARGV rpm, tpm, tokens, the previous minute's weight.
# Over a limit it returns; else it counts the request (the tokens are the caller's part).
_WINDOW = """
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
"""

_COUNT_TOKENS = """
redis.call('INCRBY', KEYS[3], want)
redis.call('EXPIRE', KEYS[3], 150)
return {0, math.floor(req) + 1, math.floor(tok) + want}
"""

_HIT = _WINDOW + _COUNT_TOKENS

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
_ADMIT = _WINDOW + """
local spent = tonumber(redis.call('GET', KEYS[5]) or '0')
if spent + tonumber(ARGV[6]) > tonumber(ARGV[5]) then
  return {3, math.floor(req) + 1, math.floor(tok)}
end
redis.call('INCRBY', KEYS[5], ARGV[6])
redis.call('EXPIRE', KEYS[5], ARGV[7])
""" + _COUNT_TOKENS

# The token correction (_ADD_TOKENS on KEYS[3], unless ARGV[4] is empty) and the settle
# (_ADJUST) in one round trip. The correction goes first: Redis keeps a script's writes made
# before an error, so a settle that fails (a damaged budget key) still leaves it applied.
_SETTLE = """
if ARGV[4] ~= '' then
  local t = tonumber(redis.call('GET', KEYS[3]) or '0') + tonumber(ARGV[4])
  if t < 0 then t = 0 end
  redis.call('SET', KEYS[3], t, 'EX', 150)
end
""" + _ADJUST

_VERDICTS = {0: "ok", 1: "rate", 2: "rate", 3: "budget"}


class RedisState:
    """Redis backend (several replicas); ``url`` like ``rediss://:password@host:6379/0``.

    ``timeout`` bounds connecting and each reply (:mod:`.redis_client`); past it, or when the
    server cannot be reached, a call raises :class:`StateUnavailable`.
    """

    def __init__(self, url: str, *, prefix: str = "skyrelay", timeout: float = 0.5) -> None:
        self._client = RedisClient(url, timeout=timeout)
        self._prefix = prefix
        self._hit = Script(_HIT)
        self._reserve = Script(_RESERVE)
        self._add_tokens = Script(_ADD_TOKENS)
        self._adjust = Script(_ADJUST)
        self._admit = Script(_ADMIT)
        self._settle = Script(_SETTLE)
        self.healthy = True

    async def _run(self, coro):  # type: ignore[no-untyped-def]
        try:
            result = await coro
        except (RedisUnavailable, RedisReplyError) as exc:
            self.healthy = False
            raise StateUnavailable(f"state store unreachable: {exc}") from None
        self.healthy = True
        return result

    def _script(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        return self._client.run_script(script, keys, args)

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
        verdict, req, tok = await self._run(self._script(self._hit, keys,
                                                      args=[rpm, tpm, tokens, 1.0 - frac]))
        return (None if int(verdict) == 0 else retry_after(now)), int(req), int(tok)

    async def add_tokens(self, tenant: str, tokens: int, now: float) -> None:
        bucket, _ = _window(now)
        await self._run(self._script(self._add_tokens, [self._k("tk", tenant, bucket)], [tokens]))

    async def reserve(self, tenant: str, period: str, budget: int, amount: int) -> bool:
        ok = await self._run(self._script(self._reserve, [self._k("budget", tenant, period)],
                                           args=[budget, amount, BUDGET_TTL]))
        return int(ok) == 1

    async def adjust(self, tenant: str, period: str, delta: int,
                     settle_id: str | None = None) -> None:
        budget = self._k("budget", tenant, period)
        marker = self._k("settled", settle_id) if settle_id else budget
        await self._run(self._script(self._adjust, [budget, marker],
                                     args=[delta, BUDGET_TTL, SETTLE_TTL]))

    async def admit(self, tenant: str, limits: Limits, tokens: int, now: float,
                    period: str, amount: int) -> Admission:
        bucket, frac = _window(now)
        keys = [self._k("rq", tenant, bucket), self._k("rq", tenant, bucket - 1),
                self._k("tk", tenant, bucket), self._k("tk", tenant, bucket - 1),
                self._k("budget", tenant, period)]
        verdict, req, tok = await self._run(self._script(self._admit, keys, [
            limits.requests_per_minute, limits.tokens_per_minute, tokens, 1.0 - frac,
            limits.budget, amount, BUDGET_TTL]))
        return Admission(_VERDICTS[int(verdict)], int(req), int(tok))

    async def settle(self, tenant: str, period: str, delta: int, settle_id: str | None,
                     tokens: int | None, admitted_at: float) -> None:
        budget = self._k("budget", tenant, period)
        marker = self._k("settled", settle_id) if settle_id else budget
        bucket, _ = _window(admitted_at)
        await self._run(self._script(self._settle, [budget, marker, self._k("tk", tenant, bucket)],
            args=[delta, BUDGET_TTL, SETTLE_TTL, "" if tokens is None else tokens]))

    async def spent(self, tenant: str, period: str) -> int:
        value = await self._run(self._client.execute("GET", self._k("budget", tenant, period)))
        return int(value or 0)

    async def ping(self) -> bool:
        try:
            await self._run(self._client.execute("PING"))
        except StateUnavailable:
            return False
        return True

    async def aclose(self) -> None:
        await self._client.aclose()
