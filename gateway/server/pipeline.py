"""The model-request pipeline, the same for every front door.

Order: the gateway's own request id -> tenant key (401) -> body size (413) -> JSON (400)
-> ``door.parse`` (400 naming ``param``) -> route (404, also for routes the tenant may not
use) -> classification and residency (403) -> field decisions per eligible target
(:mod:`skyrelay.gateway.hub.fields`: targets that cannot honour a field drop out; 400
naming the field when none is left) -> tenancy ``admit`` -> router (fallback until the
first byte) -> ``door.render`` / stream forwarding -> tenancy ``finish``, exactly once.
Every error is answered in the door's error shape; an unexpected exception is logged and
answered with a generic 500, never a traceback.

Example::

    pipeline = Pipeline(app)
    await pipeline.handle(OPENAI_CHAT, PathParams(), scope, receive, send, base_headers)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub import fields
from skyrelay.gateway.hub.door import Door
from skyrelay.gateway.hub.request import PathParams, Request
from skyrelay.gateway.providers.bedrock_guardrails import use_guardrails
from skyrelay.gateway.router.access import Eligible
from skyrelay.gateway.router.router import RouteFailure
from skyrelay.gateway.server.asgi import Headers, Receive, Scope, Send, send_error, send_json
from skyrelay.gateway.server.billing import delivered_chars
from skyrelay.gateway.server.hooks import RequestContext
from skyrelay.gateway.server.inflight import SHUTDOWN, Guard
from skyrelay.gateway.server.limit_headers import ratelimit_headers
from skyrelay.gateway.server.stream import aclose, forward, shutting_down
from skyrelay.gateway.server.validate import ClientGone, parse_json_object, read_body

if TYPE_CHECKING:
    from skyrelay.gateway.server.app import GatewayApp

log = logging.getLogger("skyrelay.gateway")

_SSE_EXTRA = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


def fit_fields(door: str, body: dict[str, Any], eligible: Eligible) -> Eligible:
    """The eligible targets that can honour every field of ``body`` (400 if none)."""
    first: GatewayError | None = None
    keep: list[int] = []
    for i, target in enumerate(eligible.targets):
        err = fields.refusal(door, body, target)
        if err is None:
            keep.append(i)
        elif first is None:
            first = err
    if first is None:
        return eligible
    if not keep:
        raise first
    return Eligible(tuple(eligible.targets[i] for i in keep),
                    tuple(eligible.weights[i] for i in keep))


def _failure_headers(failure: RouteFailure, base: Headers) -> Headers:
    extra = [*base, (b"x-skyrelay-attempts", str(failure.attempts).encode())]
    if failure.target is not None:
        extra.append((b"x-skyrelay-target", failure.target.key.encode()))
    return extra


class Pipeline:
    """Runs model requests for a :class:`GatewayApp` (which holds the shared parts)."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app

    async def handle(self, door: Door, params: PathParams, scope: Scope, receive: Receive,
                     send: Send, request_id: str, base_headers: Headers,
                     client_id: str | None) -> None:
        """One model request through every step (see the module docstring)."""
        app = self.app
        tenant = await app.authenticate(scope, send, base_headers, door)
        if tenant is None:
            return
        loop = asyncio.get_running_loop()
        ctx = RequestContext(request_id=request_id, tenant=tenant, endpoint=door.op,
                             started=loop.time(), client_request_id=client_id)
        trace = (app.tracing.request(scope["headers"], door.op, request_id)
                 if app.tracing is not None else None)
        try:
            headers = dict(scope["headers"])  # lower-case names (ASGI); duplicates: last wins
            encoding = headers.get(b"content-encoding", b"identity").strip().lower()
            if encoding not in (b"", b"identity"):
                raise GatewayError(415, "Compressed request bodies are not accepted "
                                        "(Content-Encoding must be identity).",
                                   param="content-encoding", code="unsupported_content_encoding")
            declared = headers.get(b"content-length")
            body = await read_body(receive, app.max_body,
                                   int(declared) if declared and declared.isdigit() else None)
            request = door.parse(parse_json_object(body), params)
            policy = app.policy
            route = policy.route_for(tenant, request.model, request.route_kind)
            wanted = headers.get(b"x-skyrelay-classification")
            cls = policy.classification_for(
                tenant, wanted.decode("latin-1").strip() if wanted else None)
            eligible = fit_fields(door.name, request.native_body(), policy.eligible(route, cls))
            ctx.route = route
            use_guardrails(app.config, tenant.name, route.name)  # for Converse calls below
            ctx.classification = cls
            ctx.eligible = eligible.targets
            ctx.stream = request.stream
            ctx.estimate = request.estimate
            if app.hooks_on:
                await app.hooks.admit(ctx)
            ctx.admitted = True
            base_headers.extend(ratelimit_headers(tenant, ctx.extra.get("ratelimit")))
            guard = app.inflight.guard(receive, stream=ctx.stream)
            try:
                if ctx.stream:
                    await self._stream(ctx, door, request, eligible, guard, send, base_headers)
                else:
                    await self._call(ctx, door, request, eligible, guard, send, base_headers)
            finally:
                guard.close()
        except GatewayError as err:
            ctx.status, ctx.error_code = err.status, err.code
            if not ctx.admitted:  # refused by the limits (or before): the headers say why
                base_headers.extend(ratelimit_headers(tenant, ctx.extra.get("ratelimit")))
            await send_error(send, err, base_headers, door.render_error(err))
        except RouteFailure as failure:
            ctx.target, ctx.attempts = failure.target, failure.attempts
            ctx.status, ctx.error_code = failure.error.status, failure.error.code
            await send_error(send, failure.error, _failure_headers(failure, base_headers),
                             door.render_error(failure.error))
        except ClientGone:
            ctx.status, ctx.error_code = 499, "client_closed"
        except Exception:
            streaming = ctx.stream and ctx.status == 200  # SSE already started
            ctx.status, ctx.error_code = 500, "internal_error"
            log.exception("request %s failed", request_id)
            if not streaming:
                internal = GatewayError.internal()
                await send_error(send, internal, base_headers, door.render_error(internal))
        finally:
            ctx.latency = loop.time() - ctx.started
            if trace is not None:
                trace.finish(ctx)
            if app.hooks_on:
                try:
                    await app.hooks.finish(ctx)
                except Exception:
                    log.exception("tenancy finish hook failed for request %s", request_id)

    @staticmethod
    def _on_attempt(ctx: RequestContext) -> Any:
        def on_attempt(target: Any, attempts: int) -> None:
            ctx.target, ctx.attempts = target, attempts
        return on_attempt

    @staticmethod
    def _cut(ctx: RequestContext, guard: Guard) -> Exception:
        """What a cancelled dispatch means: the client left, or the drain window ended."""
        guard.uncancel()
        ctx.upstream_worked = ctx.target is not None  # the prompt reached an upstream
        return shutting_down() if guard.reason == SHUTDOWN else ClientGone()

    async def _call(self, ctx: RequestContext, door: Door, request: Request,
                    eligible: Eligible, guard: Guard, send: Send, base: Headers) -> None:
        """A non-streamed call; the client leaving (or the drain) cancels the upstream."""
        assert ctx.route is not None
        try:
            routed = await self.app.router.call(ctx.route, eligible, request.op, request,
                                                estimate=ctx.estimate,
                                                on_attempt=self._on_attempt(ctx))
        except asyncio.CancelledError:
            if not guard.cancelled_by_us():
                raise
            raise self._cut(ctx, guard) from None
        guard.finished = True
        ctx.target = routed.target
        ctx.attempts = routed.attempts
        result = routed.value
        ctx.upstream_worked = True
        ctx.usage = result.usage
        ctx.delivered_chars = delivered_chars(result.body)
        out = door.render(request, result)
        ctx.status = 200
        await send_json(send, 200, out, [
            *base, (b"x-skyrelay-target", routed.target.key.encode()),
            (b"x-skyrelay-attempts", str(routed.attempts).encode())])

    async def _stream(self, ctx: RequestContext, door: Door, request: Request,
                      eligible: Eligible, guard: Guard, send: Send, base: Headers) -> None:
        """Open the stream (fallback until a first item), then forward it."""
        assert ctx.route is not None
        renderer = door.stream(request)
        try:
            start = await self.app.router.open_stream(ctx.route, eligible, request,
                                                      estimate=ctx.estimate,
                                                      on_attempt=self._on_attempt(ctx))
        except asyncio.CancelledError:
            if not guard.cancelled_by_us():
                raise
            raise self._cut(ctx, guard) from None
        ctx.target, ctx.attempts, ctx.ttft = start.target, start.attempts, start.ttft
        ctx.status = 200
        ctx.upstream_worked = True  # from here on the input is billed, whatever happens
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", renderer.content_type), *_SSE_EXTRA, *base,
                (b"x-skyrelay-target", start.target.key.encode()),
                (b"x-skyrelay-attempts", str(start.attempts).encode())]})
        except BaseException:
            await aclose(start.rest)
            raise
        await forward(ctx, start, renderer, guard, send, self.app.router)
