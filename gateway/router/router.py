"""The attempt loop: one request, one deadline, several targets.

For each request the router ranks the route's eligible targets by the route's strategy, then
tries them in that order while attempts (``max_attempts``) and time (``timeout_seconds``, one
deadline across all attempts) remain:

- a target whose circuit breaker is open is skipped; when every eligible target is cooling
  down the request ends at once with 503 and ``Retry-After`` (429 ``rate_limit_exceeded``
  when each of them cooled down after an upstream 429) — a route with a single target
  backs off instead of retrying into an outage;
- on a fault (rate limit, 5xx, timeout, connection, protocol, upstream auth) the breaker
  hears about it and the next target is tried; the same target is tried again only after
  every other one, after a short jittered back-off, and only while its breaker stays closed;
- a content-filter refusal or an invalid request ends the request with the upstream's
  answer: no fallback, and the breaker is not touched (the upstream is healthy);
- while another target could still be tried, an attempt gets a fair share of the remaining
  time (remaining / targets still available), so a hanging target cannot eat the fallback's
  time; the last candidate gets everything left. For streams the share bounds the time to
  the first chunk only; once a chunk has arrived, the stream runs to the request deadline.

Streams: :meth:`Router.open_stream` returns only when a target produced its first chunk, so
falling back is possible until then; afterwards the caller owns the stream and reports a
mid-stream failure with :meth:`Router.stream_failed`.

Example::

    router = Router(config, provider_for)
    result = await router.call(route, eligible, "chat", request, estimate=(120, 256))
    result.value, result.target.key, result.attempts
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from skyrelay.gateway.config import GatewayConfig, RouteConfig, TargetConfig
from skyrelay.gateway.deadlines import deadline_at
from skyrelay.gateway.errors import GatewayError, from_provider
from skyrelay.gateway.hub import dispatch
from skyrelay.gateway.hub.request import Request
from skyrelay.gateway.providers.base import Provider, ProviderError
from skyrelay.gateway.router.access import Eligible
from skyrelay.gateway.router.breaker import CircuitBreaker
from skyrelay.gateway.router.latency import LatencyTracker
from skyrelay.gateway.router.strategies import rank

log = logging.getLogger("skyrelay.gateway.router")

#: Faults after which another target is tried (and the breaker is told).
FALLBACK_KINDS = frozenset({"rate_limit", "server", "timeout", "connection", "protocol", "auth"})
#: Faults after which the same target may be tried again (after the others, with back-off).
SAME_TARGET_RETRY_KINDS = frozenset({"server", "timeout", "connection", "protocol"})
#: Not faults: answered to the client as they are, breaker untouched.
CLIENT_KINDS = frozenset({"content_filter", "bad_request"})

ProviderFor = Callable[[TargetConfig], Provider]
OnAttempt = Callable[[TargetConfig, int], None]


@dataclass(slots=True)
class Routed:
    """A successful dispatch: the provider's answer, who gave it, after how many attempts."""

    value: Any
    target: TargetConfig
    attempts: int


@dataclass(slots=True)
class StreamStart:
    """A stream that produced its first chunk; the caller forwards ``first`` then ``rest``."""

    first: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]
    target: TargetConfig
    attempts: int
    ttft: float
    deadline: float


class RouteFailure(Exception):
    """The request failed: the client's error, the last target tried and the attempt count."""

    def __init__(self, error: GatewayError, target: TargetConfig | None, attempts: int,
                 provider_error: ProviderError | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.target = target
        self.attempts = attempts
        self.provider_error = provider_error


class Router:
    """Routes requests over targets; holds breakers and latency averages (per process)."""

    def __init__(self, config: GatewayConfig, provider_for: ProviderFor, *,
                 rng: random.Random | None = None,
                 breaker_factory: Callable[[], CircuitBreaker] = CircuitBreaker,
                 latency: LatencyTracker | None = None, backoff: float = 0.05,
                 explore: float = 0.05) -> None:
        self.config = config
        self.provider_for = provider_for
        self.rng = rng or random.Random()
        self.breakers: dict[str, CircuitBreaker] = {k: breaker_factory() for k in config.targets}
        self.latency = latency or LatencyTracker()
        self.backoff = backoff
        self.explore = explore
        #: the app's ``GatewayTracer`` while tracing is on (set at start-up), else None
        self.tracing: Any = None

    # --- public entry points ------------------------------------------------------------

    async def call(self, route: RouteConfig, eligible: Eligible, op: str,
                   request: dict[str, Any] | Request, *, estimate: tuple[int, int],
                   on_attempt: OnAttempt | None = None) -> Routed:
        """Non-streamed ``op`` (``"chat"`` or ``"embeddings"``) with fallback.

        ``request`` is a hub :class:`Request` (the value is then a ``hub.response.Result``;
        passthrough or translation per target) or a canonical body dict (the value is the
        provider's answer). ``on_attempt(target, attempts)`` is told when each attempt
        starts (so a request cut while an upstream works knows which one). Raises
        :class:`RouteFailure` when no attempt succeeded.
        """
        async def attempt(target: TargetConfig, provider: Provider, share: float,
                          deadline: float) -> tuple[Any, float]:
            loop = asyncio.get_running_loop()
            began = loop.time()
            with deadline_at(share):
                if isinstance(request, Request):
                    value: Any = await dispatch.call(provider, target, request,
                                                     deadline=share)
                elif op == "chat":
                    value = await provider.chat(target, request, deadline=share)
                else:
                    value = await provider.embeddings(target, request, deadline=share)
            return value, loop.time() - began

        value, target, attempts, _, _ = await self._run(route, eligible, request, estimate,
                                                        False, attempt, on_attempt)
        return Routed(value, target, attempts)

    async def open_stream(self, route: RouteConfig, eligible: Eligible,
                          request: dict[str, Any] | Request, *, estimate: tuple[int, int],
                          on_attempt: OnAttempt | None = None) -> StreamStart:
        """Start a streamed chat: returns once a target produced its first chunk.

        Raises :class:`RouteFailure` when no target produced one.
        """
        async def attempt(target: TargetConfig, provider: Provider, share: float,
                          deadline: float) -> tuple[Any, float]:
            loop = asyncio.get_running_loop()
            began = loop.time()
            stream: Any = (dispatch.open_stream(provider, target, request, deadline=deadline)
                           if isinstance(request, Request)
                           else provider.chat_stream(target, request, deadline=deadline))
            try:
                with deadline_at(share):
                    first = await anext(stream)
            except StopAsyncIteration:
                raise ProviderError("protocol", 502, "the upstream stream ended before its "
                                    "first chunk", retryable=True) from None
            except BaseException:
                await _aclose(stream)
                raise
            return (first, stream), loop.time() - began

        (first, rest), target, attempts, ttft, deadline = await self._run(
            route, eligible, request, estimate, True, attempt, on_attempt)
        return StreamStart(first, rest, target, attempts, ttft, deadline)

    def stream_failed(self, target: TargetConfig, err: ProviderError) -> None:
        """A stream failed after its first chunk: tell the breaker (unless not a fault)."""
        if err.kind not in CLIENT_KINDS:
            self.breakers[target.key].failure(err.kind, err.retry_after)

    def health(self) -> dict[str, dict[str, object]]:
        """Breaker state and latency averages per target (for ``/readyz``)."""
        averages = self.latency.snapshot()
        return {key: {**b.snapshot(), **averages.get(key, {})}
                for key, b in sorted(self.breakers.items())}

    # --- the loop -----------------------------------------------------------------------

    async def _run(self, route: RouteConfig, eligible: Eligible, request: Any,
                   estimate: tuple[int, int], stream: bool,
                   attempt: Callable[[TargetConfig, Provider, float, float],
                                     Awaitable[tuple[Any, float]]],
                   on_attempt: OnAttempt | None = None,
                   ) -> tuple[Any, TargetConfig, int, float, float]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + route.timeout_seconds
        if self.tracing is not None:  # one span per attempt (skyrelay.gateway.telemetry)
            attempt = self.tracing.wrap_attempt(attempt, request, stream)
        order = rank(route.strategy, eligible.targets, eligible.weights, estimate=estimate,
                     latency=self.latency, stream=stream, rng=self.rng, explore=self.explore)
        breakers = self.breakers
        max_attempts = max(1, route.max_attempts)
        attempts = 0
        retries = 0
        tried: set[str] = set()
        no_retry: set[str] = set()
        last_err: ProviderError | None = None
        last_target: TargetConfig | None = None
        while attempts < max_attempts:
            target, is_retry = self._pick(order, tried, no_retry)
            if target is None:
                break
            breaker = breakers[target.key]
            if is_retry:
                retries += 1
                delay = self.backoff * (2 ** (retries - 1)) * (0.5 + self.rng.random())
                if loop.time() + delay >= deadline:
                    break
                await asyncio.sleep(delay)
            if not breaker.acquire():
                if is_retry:
                    break
                tried.add(target.key)
                continue
            now = loop.time()
            remaining = deadline - now
            if remaining <= 0:
                breaker.release()
                break
            tried.add(target.key)
            attempts += 1
            last_target = target
            if on_attempt is not None:
                on_attempt(target, attempts)
            candidates = self._available_count(order, target, no_retry)
            share = now + remaining / max(1, min(max_attempts - attempts + 1, candidates))
            try:
                provider = self.provider_for(target)
                value, elapsed = await attempt(target, provider, share, deadline)
            except ProviderError as err:
                if err.kind in CLIENT_KINDS:
                    breaker.release()
                    raise RouteFailure(from_provider(err), target, attempts, err) from None
                breaker.failure(err.kind, err.retry_after, unreachable=err.unreachable)
                last_err = err
                if err.kind not in SAME_TARGET_RETRY_KINDS:
                    no_retry.add(target.key)
                if err.kind not in FALLBACK_KINDS and not err.retryable:
                    break
                continue
            except TimeoutError:
                breaker.failure("timeout")
                last_err = ProviderError("timeout", 504, "no answer within the attempt's "
                                         "share of the route deadline", retryable=True)
                continue
            except asyncio.CancelledError:
                breaker.release()
                raise
            except Exception:  # a provider bug: fault of that target, never a traceback out
                log.exception("provider for %s raised an unexpected error", target.key)
                breaker.failure("protocol")
                no_retry.add(target.key)
                last_err = ProviderError("protocol", 502, "the upstream's answer could not "
                                         "be handled", retryable=True)
                continue
            breaker.success()
            self.latency.observe(target.key, elapsed, stream=stream)
            return value, target, attempts, elapsed, deadline
        raise RouteFailure(self._final_error(route, eligible, last_err, deadline, attempts),
                           last_target, attempts, last_err)

    def _pick(self, order: list[TargetConfig], tried: set[str],
              no_retry: set[str]) -> tuple[TargetConfig | None, bool]:
        breakers = self.breakers
        for target in order:
            if target.key not in tried and breakers[target.key].available():
                return target, False
        for target in order:
            if target.key not in no_retry and breakers[target.key].available():
                return target, True
        return None, False

    def _available_count(self, order: list[TargetConfig], current: TargetConfig,
                         no_retry: set[str]) -> int:
        count = 1
        for target in order:
            if (target is not current and target.key not in no_retry
                    and self.breakers[target.key].available()):
                count += 1
        return count

    def _final_error(self, route: RouteConfig, eligible: Eligible,
                     last_err: ProviderError | None, deadline: float,
                     attempts: int) -> GatewayError:
        past_deadline = asyncio.get_running_loop().time() >= deadline
        if past_deadline and (last_err is None or last_err.kind == "timeout"):
            return GatewayError.deadline(route.timeout_seconds, attempts)
        if last_err is not None:
            return from_provider(last_err)
        breakers = [self.breakers[t.key] for t in eligible.targets]
        waits = [b.retry_in() for b in breakers]
        wait = min(waits) if waits else None
        if breakers and all(b.last_error == "rate_limit" for b in breakers):
            # the providers said "too many requests": the client hears the same, with a wait
            return GatewayError.rate_limited_upstream(route.name, wait)
        return GatewayError.unavailable(route.name, wait)


async def _aclose(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a broken upstream stream must not mask the real error
            log.debug("closing a failed stream raised", exc_info=True)
