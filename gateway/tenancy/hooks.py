"""Tenancy in the request path: limits and budget on admit, settle and meter on finish.

Budgets cannot be overshot: before dispatch the worst-case cost of the request (its input
estimate and output cap, priced at the most expensive eligible target) is reserved
atomically; after the response, the reservation is settled to the actual usage, or
released when nothing was used. A store that cannot be reached fails closed (503).

Example::

    hooks = TenancyHooks(MemoryState(), Meter())
    app = build_app(config, hooks=hooks)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from skyrelay.gateway.config import TenantConfig
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.metering import Meter, UsageRecord
from skyrelay.gateway.server.billing import billable
from skyrelay.gateway.server.hooks import RequestContext
from skyrelay.gateway.tenancy.settle_retry import SettleRetry
from skyrelay.gateway.tenancy.state import (
    Limits,
    StateBackend,
    StateUnavailable,
    current_period,
    retry_after,
)

log = logging.getLogger("skyrelay.gateway.tenancy")

MICROS = 1_000_000


def to_micros(amount: float) -> int:
    """Currency to integer micro-units, rounded up (a reservation never comes out short)."""
    return math.ceil(round(amount * MICROS, 6))


def _unavailable() -> GatewayError:
    return GatewayError(503, "The gateway's limit and budget store is unreachable; requests "
                             "are refused until it is back.", code="state_unavailable")


class TenancyHooks:
    """Rate limits, budget reservations and usage records (see the module docstring)."""

    def __init__(self, state: StateBackend, meter: Meter | None) -> None:
        self.state = state
        self.meter = meter
        self.retry = SettleRetry(state)
        #: id(tenant) -> (tenant, its Limits); TenantConfig is frozen, so they stay right
        self._limits: dict[int, tuple[TenantConfig, Limits]] = {}

    def limits_of(self, tenant: TenantConfig) -> Limits:
        """``tenant``'s limits with the budget in micro-units (worked out once per tenant)."""
        kept = self._limits.get(id(tenant))
        if kept is not None and kept[0] is tenant:
            return kept[1]
        limits = Limits(tenant.requests_per_minute, tenant.tokens_per_minute,
                        to_micros(tenant.monthly_budget))
        if len(self._limits) > 10_000:  # tenants of configs no longer served
            self._limits.clear()
        self._limits[id(tenant)] = (tenant, limits)
        return limits

    async def admit(self, ctx: RequestContext) -> None:
        """Refuse over the limits or the budget (429), or when the store is down (503)."""
        tenant = ctx.tenant
        est_in, est_out = ctx.estimate
        now = time.time()
        if est_in + est_out > tenant.tokens_per_minute:
            # waiting cannot help: the request alone is larger than a minute's allowance
            raise GatewayError.bad_request(
                f"This request needs about {est_in + est_out} tokens (input estimate plus "
                f"its output cap), more than tenant {tenant.name!r} may use in a minute "
                f"({tenant.tokens_per_minute}); lower max_tokens or the input.",
                param="max_tokens", code="request_exceeds_token_limit")
        worst = max((t.price.cost(est_in, est_out) for t in ctx.eligible), default=0.0)
        amount = to_micros(worst)
        period = current_period(now)
        limits = self.limits_of(tenant)
        try:  # the rate limits and the budget's reservation: one step (one Redis call)
            admission = await self.state.admit(tenant.name, limits, est_in + est_out, now,
                                               period, amount)
        except StateUnavailable:
            raise _unavailable() from None
        # for the x-ratelimit-* headers (server/limits_headers.py)
        ctx.extra["ratelimit"] = (admission.requests, admission.tokens, retry_after(now))
        if admission.verdict == "rate":
            raise GatewayError(429, f"Rate limit reached for tenant {tenant.name!r} "
                                    f"({tenant.requests_per_minute} requests/min, "
                                    f"{tenant.tokens_per_minute} tokens/min).",
                               code="rate_limit_exceeded", retry_after=retry_after(now))
        if admission.verdict == "budget":
            # OpenAI's answer for a spent quota; retrying cannot help until the period
            # (or the budget) changes, so the SDKs are told not to retry
            raise GatewayError(429, f"Monthly budget of tenant {tenant.name!r} is "
                                    "exhausted for this request's worst-case cost.",
                               type="insufficient_quota", code="insufficient_quota",
                               should_retry=False)
        ctx.extra["tokens_counted"] = est_in + est_out
        ctx.extra["reserved"] = amount
        ctx.extra["period"] = period
        ctx.extra["admitted_at"] = now

    async def aclose(self) -> None:
        """At shutdown: write every queued usage record, then close the state store."""
        await self.retry.aclose()  # failed settles get a last try while the store is open
        if self.meter is not None:
            await asyncio.to_thread(self.meter.close)
        await self.state.aclose()

    def metrics_text(self) -> bytes:
        """Prometheus exposition for ``GET /metrics``."""
        return self.meter.prometheus_text() if self.meter is not None else b""

    async def state_ready(self) -> bool:
        """For ``/readyz``: does the limit and budget store answer?"""
        return await self.state.ping()

    async def finish(self, ctx: RequestContext) -> None:
        """Settle the reservation to what is billed and write exactly one usage record.

        What is billed follows :func:`~skyrelay.gateway.server.billing.billable`: the
        upstream's figures when sane, else the input estimate plus the output delivered.
        Settle, record and metrics each run even when another of them failed.
        """
        input_tokens, output_tokens, source = 0, 0, "none"
        cost = 0.0
        try:
            input_tokens, output_tokens, source = billable(ctx)
            cost = (ctx.target.price.cost(input_tokens, output_tokens)
                    if ctx.target is not None else 0.0)
        except Exception:  # a bug in the accounting must not cost the record
            log.exception("could not work out the usage of request %s", ctx.request_id)
        if ctx.admitted and "reserved" in ctx.extra:
            await self._settle(ctx, cost, input_tokens + output_tokens
                               if source != "none" else None)
        if self.meter is not None:
            try:
                self.meter.record(self._record(ctx, input_tokens, output_tokens, cost, source))
            except Exception:
                log.exception("could not write the usage record of request %s",
                              ctx.request_id)

    async def _settle(self, ctx: RequestContext, cost: float, tokens: int | None) -> None:
        """Settle the reservation to ``cost`` and correct the token count (each on its
        own: one failing does not skip the other)."""
        delta = to_micros(cost) - ctx.extra["reserved"]
        correction = None if tokens is None else tokens - ctx.extra.get("tokens_counted", 0)
        try:  # one step: the budget's settle and the minute's token count
            await self.state.settle(ctx.tenant.name, ctx.extra["period"], delta,
                                    ctx.request_id, correction,
                                    ctx.extra.get("admitted_at", time.time()))
        except StateUnavailable:
            # Retried in the background until it is applied (once): the spend converges.
            # The token correction is not retried: that minute's window is over by then.
            log.warning("could not settle request %s: state store unreachable; retrying",
                        ctx.request_id)
            self.retry.add(ctx.tenant.name, ctx.extra["period"], delta, ctx.request_id)
        except Exception:
            log.exception("could not settle request %s", ctx.request_id)

    @staticmethod
    def _record(ctx: RequestContext, input_tokens: int, output_tokens: int,
                cost: float, source: str) -> UsageRecord:
        if ctx.status == 200 and ctx.error_code is None:
            outcome = "success"
        elif ctx.status == 499:
            outcome = "client_closed"
        elif not ctx.admitted:
            outcome = "refused"
        else:
            outcome = "error"
        latency = (ctx.latency if ctx.latency is not None
                   else asyncio.get_running_loop().time() - ctx.started)
        return UsageRecord(
            request_id=ctx.request_id, tenant=ctx.tenant.name,
            route=ctx.route.name if ctx.route else "",
            target=ctx.target.key if ctx.target is not None else "",
            region=ctx.target.region if ctx.target is not None else "",
            input_tokens=input_tokens, output_tokens=output_tokens, cost=cost,
            latency_ms=max(0.0, latency * 1000),
            ttft_ms=ctx.ttft * 1000 if ctx.ttft is not None else None,
            attempts=ctx.attempts, status=ctx.status, outcome=outcome,
            error_code=ctx.error_code, usage_source=source,
            client_request_id=ctx.client_request_id,
        )
