"""Where tenancy (limits, budgets, metering) plugs into the request path.

The app calls, for every request that authenticated as a tenant:

1. ``await hooks.admit(ctx)`` after the route, classification and eligible targets are
   known and before anything is sent upstream. ``ctx.estimate`` holds the estimated
   ``(input_tokens, output_tokens)`` and ``ctx.eligible`` the targets that may serve it, so a
   budget can reserve the worst-case cost. Raise :class:`~skyrelay.gateway.errors.GatewayError`
   to refuse (429 with ``retry_after``, 503 when the budget store is unreachable, ...).
2. ``await hooks.finish(ctx)`` exactly once per request — success, upstream failure,
   refusal by ``admit``, client disconnect, or a bad request after authentication — after
   the response has been sent. ``ctx.admitted`` tells whether ``admit`` returned normally
   (so a reservation exists to settle), ``ctx.usage`` holds the upstream's token counts when
   known, and ``ctx.status`` / ``ctx.error_code`` the outcome. ``finish`` must not raise: the
   app logs and swallows anything it raises.

``ctx.extra`` is a free dict for the hooks' own state (a reservation id, ...).

Example::

    class Metering:
        async def admit(self, ctx): ctx.extra["reservation"] = await budgets.reserve(...)
        async def finish(self, ctx): emit_usage_record(ctx)

    app = GatewayApp(config, router, authenticator, hooks=Metering())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from skyrelay.gateway.config import ClassificationConfig, RouteConfig, TenantConfig


@dataclass(slots=True)
class RequestContext:
    """One request as the hooks see it (filled in as the request progresses)."""

    request_id: str
    tenant: TenantConfig
    endpoint: str  # "chat" | "embeddings"
    started: float  # loop.time() when the request arrived
    route: RouteConfig | None = None
    classification: ClassificationConfig | None = None
    eligible: tuple[Any, ...] = ()  # TargetConfig of the eligible targets, spec order
    stream: bool = False
    estimate: tuple[int, int] = (0, 0)
    admitted: bool = False
    target: Any = None  # TargetConfig that served (or last tried), None if none was tried
    attempts: int = 0
    usage: dict[str, Any] | None = None
    ttft: float | None = None  # seconds to the first streamed chunk
    latency: float | None = None  # seconds until the response was complete
    status: int = 0
    error_code: str | None = None
    #: characters of model output that reached the client (counted as they pass)
    delivered_chars: int = 0
    #: an upstream worked for this request: a stream started, an answer came, or the
    #: client or the shutdown cut a call in progress (the input is billed)
    upstream_worked: bool = False
    #: the client's own ``x-request-id`` (echoed, recorded apart, never trusted as unique)
    client_request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RequestHooks(Protocol):
    """Tenancy's side of the request path (see the module docstring)."""

    async def admit(self, ctx: RequestContext) -> None:
        """Admit or refuse (raise ``GatewayError``) before dispatch; reserve here."""
        ...

    async def finish(self, ctx: RequestContext) -> None:
        """Settle and record, once per request; must not raise."""
        ...


class NoHooks:
    """No limits, no budgets, no records: the default until tenancy is wired in."""

    async def admit(self, ctx: RequestContext) -> None:
        """Admit everything."""

    async def finish(self, ctx: RequestContext) -> None:
        """Record nothing."""
