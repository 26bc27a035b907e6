"""The gateway's ASGI application: a lean raw-ASGI app, no framework on the hot path.

Endpoints (OpenAI-compatible, so the official SDKs work unchanged):

- ``POST /v1/chat/completions`` — JSON, or SSE with ``stream: true`` (the usage chunk is
  forwarded only when ``stream_options.include_usage`` asks for it);
- ``POST /v1/embeddings``;
- ``GET /v1/models`` and ``GET /v1/models/{id}`` — the routes the calling tenant may use;
- ``GET /healthz`` — the process is alive; ``GET /readyz`` — config loaded and every route
  has a healthy target (503 with the unhealthy upstreams otherwise);
- ``GET /openapi.json`` — the OpenAPI document of all of the above.

Every request: headers over :data:`MAX_HEADER_BYTES` (431). Request order for the model
endpoints: key (401) → body size (413) → JSON, nesting and the types of the fields the gateway
or a provider's translation reads (400, ``param`` naming the field) → route (404, also for
routes the tenant may not use) → classification and residency (403) → tenancy ``admit`` →
router. Every error is ``{"error": {message, type, param, code}}``;
an unexpected exception is logged and answered with a generic 500, never a traceback.
Responses carry ``x-request-id`` (the gateway's own id, also the usage record's),
``x-client-request-id`` (the client's ``x-request-id`` echoed, when it is safe), and, once
a target was tried, ``x-skyrelay-target`` and ``x-skyrelay-attempts``.

Example::

    app = GatewayApp(config, Router(config, registry.for_target), PlainKeys(config))
    uvicorn.run(app, http="httptools", loop="uvloop")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.keys_plain import Authenticator
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.bedrock_guardrails import use_guardrails
from skyrelay.gateway.router.access import AccessPolicy, Eligible
from skyrelay.gateway.router.health import HealthProber
from skyrelay.gateway.router.router import RouteFailure, Router, StreamStart
from skyrelay.gateway.router.tokens import estimate_chat, estimate_embeddings
from skyrelay.gateway.server.billing import delivered_chars
from skyrelay.gateway.server.credentials import single_credential
from skyrelay.gateway.server.hooks import NoHooks, RequestContext, RequestHooks
from skyrelay.gateway.server.inflight import SHUTDOWN, Guard, InFlight
from skyrelay.gateway.server.ops import AuthFailures, OpsSettings, has_token
from skyrelay.gateway.server.validate import (  # noqa: F401 - the limits are re-exported
    DEFAULT_MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    ClientGone,
    check_chat,
    check_embeddings,
    parse_json_object,
    read_body,
)

log = logging.getLogger("skyrelay.gateway")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
_DONE = b"data: [DONE]\n\n"


async def _aclose(stream: Any) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


def _shutting_down() -> GatewayError:
    return GatewayError(503, "The gateway is shutting down; the request was cut at the end "
                             "of its drain window. Retry it.", type="server_error",
                        code="gateway_shutting_down", retry_after=1)


def _sse(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class GatewayApp:
    """The ASGI callable. One instance per process; holds no per-request state."""

    def __init__(self, config: GatewayConfig, router: Router, authenticator: Authenticator,
                 *, hooks: RequestHooks | None = None, max_body: int = DEFAULT_MAX_BODY,
                 prober: HealthProber | None = None,
                 on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
                 openapi: bytes | None = None, ops: OpsSettings | None = None) -> None:
        self.config = config
        self.router = router
        self.auth = authenticator
        self.hooks: RequestHooks = hooks or NoHooks()
        self._hooks_on = hooks is not None and not isinstance(hooks, NoHooks)
        self.policy = AccessPolicy(config)
        self.max_body = max_body
        self.prober = prober
        self.on_shutdown = list(on_shutdown or [])
        self._openapi = openapi
        self._created = int(time.time())
        self.started = False
        self.inflight = InFlight()
        #: where /metrics and the /readyz details may be read (default: token only, no token)
        self.ops = ops or OpsSettings(metrics_port=None)
        self.auth_failures = AuthFailures()
        self._request_prefix = os.urandom(6).hex() + "-"
        self._request_counter = 0
        self._get: dict[str, Callable[[Scope, Send, dict[bytes, bytes]], Awaitable[None]]] = {
            "/healthz": self._healthz, "/readyz": self._readyz,
            "/v1/models": self._models, "/openapi.json": self._openapi_doc,
        }
        self._post = {"/v1/chat/completions": "chat", "/v1/embeddings": "embeddings"}
        self._get["/metrics"] = self._metrics
        self._ops_get = {"/healthz": self._healthz, "/readyz": self._readyz,
                         "/metrics": self._metrics}

    def _new_request_id(self) -> str:
        # a random per-process prefix and a counter: unique, and no syscall per request
        self._request_counter += 1
        return f"{self._request_prefix}{self._request_counter:x}"

    # --- ASGI entry ---------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except ClientGone:
                pass
            except Exception:  # last line of defence: log it, answer 500 if still possible
                log.exception("unhandled error on %s %s", scope.get("method"),
                              scope.get("path"))
                with contextlib.suppress(Exception):
                    await self._error(send, GatewayError.internal(), [])
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gateway start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        """Start background health probes."""
        if self.prober is not None:
            self.prober.start()
        self.started = True
        log.info("gateway '%s' started: %d routes, %d targets, %d tenants", self.config.name,
                 len(self.config.routes), len(self.config.targets), len(self.config.tenants))

    async def shutdown(self) -> None:
        """Stop probes and close provider clients (each failure logged, none fatal)."""
        self.auth_failures.close()
        if self.prober is not None:
            await self.prober.stop()
        for close in self.on_shutdown:
            try:
                await close()
            except Exception:
                log.exception("error while closing at shutdown")
        self.started = False
        log.info("gateway stopped; upstream clients closed")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
            await self._error(send, GatewayError(
                431, f"Request headers too large: the limit is {MAX_HEADER_BYTES} bytes.",
                type="invalid_request_error", code="request_header_fields_too_large"), [])
            return
        # Route on the path as sent: a percent-encoded "/" is not a separator
        # ("/v1%2Fchat%2Fcompletions" is no endpoint), whatever the parser decoded.
        raw_path = scope.get("raw_path")
        path: str = (raw_path.decode("latin-1") if raw_path and b"%" in raw_path
                     else scope["path"])
        method: str = scope["method"]
        headers = dict(scope["headers"])  # lower-case names (ASGI); duplicates: last wins
        if self._on_ops_port(scope):  # operational endpoints only, details included
            ops_handler = self._ops_get.get(path)
            if ops_handler is None:
                await self._error(send, GatewayError.not_found(path), [])
            elif method not in ("GET", "HEAD"):
                await self._error(send, GatewayError.method_not_allowed(method, path), [])
            else:
                await ops_handler(scope, send, headers)
            return
        op = self._post.get(path)
        if op is not None:
            if method != "POST":
                await self._error(send, GatewayError.method_not_allowed(method, path), [])
                return
            await self._model_request(op, scope, receive, send, headers)
            return
        handler = self._get.get(path)
        if handler is None and path.startswith("/v1/models/"):
            handler = self._model_one
        if handler is None:
            await self._error(send, GatewayError.not_found(path), [])
        elif method not in ("GET", "HEAD"):
            await self._error(send, GatewayError.method_not_allowed(method, path), [])
        else:
            await handler(scope, send, headers)

    def _on_ops_port(self, scope: Scope) -> bool:
        server = scope.get("server")
        return (self.ops.metrics_port is not None and bool(server)
                and server[1] == self.ops.metrics_port)

    def _privileged(self, scope: Scope) -> bool:
        """May this request read metrics and readiness details?"""
        return self._on_ops_port(scope) or has_token(scope["headers"], self.ops.scrape_token)

    async def _refused(self, send: Send, scope: Scope, reason: str, err: GatewayError,
                       extra: list[tuple[bytes, bytes]]) -> None:
        """Answer a request refused for its credentials; count it (no key material)."""
        self.auth_failures.failed(reason, scope.get("client"))
        await self._error(send, err, extra)

    async def _authenticate(self, scope: Scope, send: Send,
                            extra: list[tuple[bytes, bytes]]) -> Any:
        """The request's tenant, or None after answering 400/401."""
        try:
            authorization, api_key = single_credential(scope["headers"])
        except GatewayError as err:
            await self._refused(send, scope, "conflicting", err, extra)
            return None
        tenant = self.auth.authenticate(authorization, api_key)
        if tenant is None:
            reason = "missing" if authorization is None and api_key is None else "invalid"
            await self._refused(send, scope, reason, GatewayError.unauthorized(), extra)
        return tenant

    # --- responses ----------------------------------------------------------------------

    @staticmethod
    async def _json(send: Send, status: int, body: bytes,
                    extra: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [_JSON, (b"content-length", str(len(body)).encode()), *extra]})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, err: GatewayError,
                     extra: list[tuple[bytes, bytes]]) -> None:
        headers = [*extra, *err.headers()]
        if err.status in (413, 431):
            headers.append((b"connection", b"close"))
        await self._json(send, err.status, err.body(), headers)

    # --- model endpoints ----------------------------------------------------------------

    async def _model_request(self, op: str, scope: Scope, receive: Receive, send: Send,
                             headers: dict[bytes, bytes]) -> None:
        # The gateway's own id names the request everywhere (records, logs); the client's
        # x-request-id is echoed and recorded apart, never trusted to be unique.
        request_id = self._new_request_id()
        base_headers = [(b"x-request-id", request_id.encode())]
        raw_id = headers.get(b"x-request-id", b"")
        client_id = (raw_id.decode("latin-1") if 0 < len(raw_id) <= 128 and raw_id.isascii()
                     and raw_id.replace(b"-", b"").replace(b"_", b"").isalnum() else None)
        if client_id is not None:
            base_headers.append((b"x-client-request-id", raw_id))
        tenant = await self._authenticate(scope, send, base_headers)
        if tenant is None:
            return
        loop = asyncio.get_running_loop()
        ctx = RequestContext(request_id=request_id, tenant=tenant, endpoint=op,
                             started=loop.time(), client_request_id=client_id)
        try:
            encoding = headers.get(b"content-encoding", b"identity").strip().lower()
            if encoding not in (b"", b"identity"):
                raise GatewayError(415, "Compressed request bodies are not accepted "
                                        "(Content-Encoding must be identity).",
                                   param="content-encoding", code="unsupported_content_encoding")
            declared = headers.get(b"content-length")
            body = await read_body(receive, self.max_body,
                                   int(declared) if declared and declared.isdigit() else None)
            request = parse_json_object(body)
            (check_chat if op == "chat" else check_embeddings)(request)
            route = self.policy.route_for(tenant, request["model"],
                                         "chat" if op == "chat" else "embedding")
            wanted = headers.get(b"x-skyrelay-classification")
            cls = self.policy.classification_for(
                tenant, wanted.decode("latin-1").strip() if wanted else None)
            eligible = self.policy.eligible(route, cls)
            ctx.route = route
            use_guardrails(self.config, tenant.name, route.name)
            ctx.classification = cls
            ctx.eligible = eligible.targets
            ctx.stream = op == "chat" and request.get("stream") is True
            ctx.estimate = (estimate_chat(request) if op == "chat"
                            else estimate_embeddings(request))
            if self._hooks_on:
                await self.hooks.admit(ctx)
            ctx.admitted = True
            guard = self.inflight.guard(receive, stream=ctx.stream)
            try:
                if ctx.stream:
                    await self._stream(ctx, eligible, request, guard, send, base_headers)
                    return
                await self._call(ctx, op, eligible, request, guard, send, base_headers)
            finally:
                guard.close()
        except GatewayError as err:
            ctx.status, ctx.error_code = err.status, err.code
            await self._error(send, err, base_headers)
        except RouteFailure as failure:
            ctx.target, ctx.attempts = failure.target, failure.attempts
            ctx.status, ctx.error_code = failure.error.status, failure.error.code
            extra = [*base_headers, (b"x-skyrelay-attempts", str(failure.attempts).encode())]
            if failure.target is not None:
                extra.append((b"x-skyrelay-target", failure.target.key.encode()))
            await self._error(send, failure.error, extra)
        except ClientGone:
            ctx.status, ctx.error_code = 499, "client_closed"
        except Exception:
            streaming = ctx.stream and ctx.status == 200  # SSE already started
            ctx.status, ctx.error_code = 500, "internal_error"
            log.exception("request %s failed", request_id)
            if not streaming:
                await self._error(send, GatewayError.internal(), base_headers)
        finally:
            ctx.latency = loop.time() - ctx.started
            if self._hooks_on:
                try:
                    await self.hooks.finish(ctx)
                except Exception:
                    log.exception("tenancy finish hook failed for request %s", request_id)

    @staticmethod
    def _attempt_of(ctx: RequestContext) -> Callable[[Any, int], None]:
        def on_attempt(target: Any, attempts: int) -> None:
            ctx.target, ctx.attempts = target, attempts
        return on_attempt

    async def _call(self, ctx: RequestContext, op: str, eligible: Eligible,
                    request: dict[str, Any], guard: Guard, send: Send,
                    base_headers: list[tuple[bytes, bytes]]) -> None:
        """A non-streamed call; the client leaving (or the drain) cancels the upstream."""
        assert ctx.route is not None
        try:
            routed = await self.router.call(ctx.route, eligible, op, request,
                                            estimate=ctx.estimate,
                                            on_attempt=self._attempt_of(ctx))
        except asyncio.CancelledError:
            if not guard.cancelled_by_us():
                raise
            guard.uncancel()
            ctx.upstream_worked = ctx.target is not None  # the prompt reached an upstream
            if guard.reason == SHUTDOWN:
                raise _shutting_down() from None
            raise ClientGone from None
        guard.finished = True
        ctx.target = routed.target
        ctx.attempts = routed.attempts
        value = routed.value
        ctx.upstream_worked = True
        if isinstance(value, dict):
            ctx.usage = value.get("usage")
            ctx.delivered_chars = delivered_chars(value)
        out = orjson.dumps(value)
        ctx.status = 200
        await self._json(send, 200, out, [
            *base_headers, (b"x-skyrelay-target", routed.target.key.encode()),
            (b"x-skyrelay-attempts", str(routed.attempts).encode())])

    async def _stream(self, ctx: RequestContext, eligible: Eligible, request: dict[str, Any],
                      guard: Guard, send: Send,
                      base_headers: list[tuple[bytes, bytes]]) -> None:
        """Open the stream (fallback until a first chunk), then forward it as SSE."""
        assert ctx.route is not None
        options = request.get("stream_options") or {}
        include_usage = bool(options.get("include_usage"))
        try:
            start = await self.router.open_stream(ctx.route, eligible, request,
                                                  estimate=ctx.estimate,
                                                  on_attempt=self._attempt_of(ctx))
        except asyncio.CancelledError:
            if not guard.cancelled_by_us():
                raise
            guard.uncancel()
            ctx.upstream_worked = ctx.target is not None
            if guard.reason == SHUTDOWN:
                raise _shutting_down() from None
            raise ClientGone from None
        except RouteFailure as failure:
            ctx.target, ctx.attempts = failure.target, failure.attempts
            ctx.status, ctx.error_code = failure.error.status, failure.error.code
            extra = [*base_headers, (b"x-skyrelay-attempts", str(failure.attempts).encode())]
            if failure.target is not None:
                extra.append((b"x-skyrelay-target", failure.target.key.encode()))
            await self._error(send, failure.error, extra)
            return
        ctx.target, ctx.attempts, ctx.ttft = start.target, start.attempts, start.ttft
        ctx.status = 200
        ctx.upstream_worked = True  # from here on the input is billed, whatever happens
        rest = start.rest
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                *_SSE_HEADERS, *base_headers, (b"x-skyrelay-target", start.target.key.encode()),
                (b"x-skyrelay-attempts", str(start.attempts).encode())]})
        except BaseException:
            await _aclose(rest)
            raise
        await self._forward(ctx, start, include_usage, guard, send)

    async def _forward(self, ctx: RequestContext, start: StreamStart, include_usage: bool,
                       guard: Guard, send: Send) -> None:
        """Forward chunks; end with ``[DONE]`` on success, an error event otherwise."""
        rest = start.rest
        try:
            async with asyncio.timeout_at(start.deadline):
                out = self._chunk_bytes(ctx, start.first, include_usage)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
                async for chunk in rest:
                    out = self._chunk_bytes(ctx, chunk, include_usage)
                    if out:
                        await send({"type": "http.response.body", "body": out,
                                    "more_body": True})
            guard.finished = True
            await send({"type": "http.response.body", "body": _DONE})
        except ProviderError as err:
            guard.finished = True
            self.router.stream_failed(start.target, err)
            gw = GatewayError(502 if err.kind != "content_filter" else 400,
                              f"The upstream stream failed after it started: {err.message}",
                              type="server_error" if err.kind != "content_filter"
                              else "invalid_request_error",
                              code=err.code or f"upstream_{err.kind}")
            ctx.status, ctx.error_code = gw.status, gw.code
            await send({"type": "http.response.body", "body": _sse({"error": gw.payload()})})
        except TimeoutError:
            guard.finished = True
            self.router.stream_failed(start.target, ProviderError(
                "timeout", 504, "stream deadline", retryable=True))
            assert ctx.route is not None
            gw = GatewayError.deadline(ctx.route.timeout_seconds, ctx.attempts)
            ctx.status, ctx.error_code = gw.status, gw.code
            await send({"type": "http.response.body", "body": _sse({"error": gw.payload()})})
        except asyncio.CancelledError:
            if not guard.cancelled_by_us():
                raise
            guard.uncancel()
            guard.finished = True
            if guard.reason == SHUTDOWN:  # the drain window ended: say so, then record
                gw = _shutting_down()
                ctx.status, ctx.error_code = gw.status, gw.code
                with contextlib.suppress(Exception):
                    await send({"type": "http.response.body",
                                "body": _sse({"error": gw.payload()})})
            else:
                ctx.status, ctx.error_code = 499, "client_closed"
        except Exception:
            guard.finished = True
            log.exception("stream of request %s failed", ctx.request_id)
            gw = GatewayError.internal()
            ctx.status, ctx.error_code = gw.status, gw.code
            with contextlib.suppress(Exception):
                await send({"type": "http.response.body",
                            "body": _sse({"error": gw.payload()})})
        finally:
            guard.finished = True
            await _aclose(rest)

    @staticmethod
    def _chunk_bytes(ctx: RequestContext, chunk: dict[str, Any], include_usage: bool) -> bytes:
        usage = chunk.get("usage")
        if usage is not None:
            ctx.usage = usage
        ctx.delivered_chars += delivered_chars(chunk)
        if not include_usage:
            if not chunk.get("choices") and usage is not None:
                return b""  # the usage-only chunk the client did not ask for
            if "usage" in chunk:
                chunk = {k: v for k, v in chunk.items() if k != "usage"}
        return _sse(chunk)

    # --- GET endpoints ------------------------------------------------------------------


    def _model_entry(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self._created,
                "owned_by": self.config.name}

    async def _models(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> None:
        tenant = await self._authenticate(scope, send, [])
        if tenant is None:
            return
        data = [self._model_entry(r.name) for r in self.policy.routes_for(tenant)]
        await self._json(send, 200, orjson.dumps({"object": "list", "data": data}), [])

    async def _model_one(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> None:
        tenant = await self._authenticate(scope, send, [])
        if tenant is None:
            return
        name = scope["path"][len("/v1/models/"):]
        if name not in tenant.routes or name not in self.config.routes:
            await self._error(send, GatewayError.model_not_found(name), [])
            return
        await self._json(send, 200, orjson.dumps(self._model_entry(name)), [])

    async def _healthz(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> None:
        await self._json(send, 200, b'{"status":"ok"}', [])

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether every route has a healthy, reachable target, and the details."""
        health = self.router.health()
        routes: dict[str, Any] = {}
        ready = True
        for name, route in sorted(self.config.routes.items()):
            healthy = [t.key for t in route.targets
                       if t.key in self.router.breakers
                       and self.router.breakers[t.key].healthy
                       and self.router.breakers[t.key].reachable is True]
            routes[name] = {"ready": bool(healthy), "healthy_targets": healthy}
            ready = ready and bool(healthy)
        unhealthy = sorted(k for k, b in self.router.breakers.items()
                           if not (b.healthy and b.reachable is True))
        return ready, {"status": "ready" if ready else "not_ready",
                       "config": {"name": self.config.name, "routes": len(self.config.routes),
                                  "targets": len(self.config.targets)},
                       "routes": routes, "unhealthy_upstreams": unhealthy,
                       "upstreams": health}

    async def _metrics(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> None:
        if not self._privileged(scope):  # as if it did not exist: no oracle for the token
            await self._error(send, GatewayError.not_found(scope["path"]), [])
            return
        text = getattr(self.hooks, "metrics_text", None)
        body = (text() if callable(text) else b"") + self.auth_failures.prometheus_text()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _readyz(self, scope: Scope, send: Send, headers: dict[bytes, bytes]) -> None:
        ready, body = self.readiness()
        state_check = getattr(self.hooks, "state_ready", None)
        if callable(state_check):  # limits/budgets store: fail closed while it is away
            state_ok = await state_check()
            body["state_store"] = "ok" if state_ok else "unreachable"
            if not state_ok:
                ready = False
                body["status"] = "not_ready"
        if not self._privileged(scope):  # the load balancer needs the status, nothing else
            body = {"status": body["status"]}
        await self._json(send, 200 if ready else 503, orjson.dumps(body), [])

    async def _openapi_doc(self, scope: Scope, send: Send,
                           headers: dict[bytes, bytes]) -> None:
        if self._openapi is None:
            from skyrelay.gateway.openapi import openapi_json
            self._openapi = openapi_json()
        await self._json(send, 200, self._openapi, [])
