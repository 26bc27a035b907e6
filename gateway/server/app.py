"""The gateway's ASGI application: a lean raw-ASGI app, no framework on the hot path.

Endpoints (OpenAI-compatible, so the official SDKs work unchanged):

- ``POST /v1/chat/completions`` — JSON, or SSE with ``stream: true`` (the usage chunk is
  forwarded only when ``stream_options.include_usage`` asks for it);
- ``POST /v1/embeddings``;
- Azure-style paths (``/openai/deployments/{route}/...`` and ``/openai/v1/...``, see
  :mod:`skyrelay.gateway.doors.azure_paths`);
- ``GET /v1/models`` and ``GET /v1/models/{id}`` — the routes the calling tenant may use;
- ``GET /healthz`` — the process is alive; ``GET /readyz`` — config loaded and every route
  has a healthy target (503 with the unhealthy upstreams otherwise);
- ``GET /openapi.json`` — the OpenAPI document of all of the above.

This module does the lifespan and the dispatch only: headers over :data:`MAX_HEADER_BYTES`
(431), then the route table (:mod:`.routes`: 404 / 405), then the handler; model requests
run through :mod:`.pipeline`. Every response carries ``x-request-id`` (the gateway's own
id, also the usage record's) and ``x-client-request-id`` (the client's ``x-request-id``
echoed, when it is safe); once a target was tried, ``x-skyrelay-target`` and
``x-skyrelay-attempts``.

Example::

    app = GatewayApp(config, Router(config, registry.for_target), PlainKeys(config))
    uvicorn.run(app, http="httptools", loop="uvloop")
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.doors import azure_paths, models
from skyrelay.gateway.doors.anthropic_messages import BETA_HEADER as MESSAGES_BETA_HEADER
from skyrelay.gateway.doors.anthropic_messages import DOOR as MESSAGES_DOOR
from skyrelay.gateway.doors.openai_chat import DOOR as CHAT_DOOR
from skyrelay.gateway.doors.openai_embeddings import DOOR as EMBEDDINGS_DOOR
from skyrelay.gateway.doors.openai_responses import DOOR as RESPONSES_DOOR
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.hub.door import Door
from skyrelay.gateway.hub.request import PathParams
from skyrelay.gateway.keys_plain import Authenticator
from skyrelay.gateway.router.access import AccessPolicy
from skyrelay.gateway.router.health import HealthProber
from skyrelay.gateway.router.router import Router
from skyrelay.gateway.server import ops as ops_endpoints
from skyrelay.gateway.server.asgi import (
    Headers,
    Receive,
    Scope,
    Send,
    headers_too_large,
    request_path,
    send_error,
)
from skyrelay.gateway.server.credentials import single_credential
from skyrelay.gateway.server.hooks import NoHooks, RequestHooks
from skyrelay.gateway.server.inflight import InFlight
from skyrelay.gateway.server.ops import AuthFailures, OpsSettings, has_token
from skyrelay.gateway.server.pipeline import Pipeline
from skyrelay.gateway.server.routes import Routes
from skyrelay.gateway.server.validate import (  # noqa: F401 - the limits are re-exported
    DEFAULT_MAX_BODY,
    MAX_HEADER_BYTES,
    MAX_JSON_DEPTH,
    ClientGone,
)

if TYPE_CHECKING:
    from skyrelay.gateway.telemetry.settings import TracingSettings
    from skyrelay.gateway.telemetry.tracer import GatewayTracer

log = logging.getLogger("skyrelay.gateway")

#: Allocations (net of frees) between two collections of the youngest generation once the
#: gateway serves. A request path makes no reference cycles (its objects die by refcount),
#: but the in-flight requests' objects swing CPython's net count past the default 700
#: hundreds of times a second: each such collection rescans the live in-flight objects and
#: finds nothing. At 10,000 they all but stop: in a 7 s wrk run at 64 connections, 2,891
#: young collections -> 138 (most before start-up ended), time in the collector 0.37 s ->
#: 0.05 s, ~5 µs of CPU per request. Real cycles are still collected.
YOUNG_GC_THRESHOLD = 10_000


def tune_young_collections(threshold: int = YOUNG_GC_THRESHOLD) -> None:
    """Raise the youngest generation's collection threshold (never lower it)."""
    young, middle, old = gc.get_threshold()
    if 0 < young < threshold:  # 0: collection is off; leave it so
        gc.set_threshold(threshold, middle, old)

Handler = Callable[..., Awaitable[None]]
_GET = ("GET", "HEAD")


class DoorHandler:
    """A route-table entry that runs a door through the pipeline."""

    __slots__ = ("door", "azure", "headers")

    def __init__(self, door: Door, *, azure: bool = False,
                 headers: tuple[bytes, ...] = ()) -> None:
        self.door = door
        self.azure = azure
        #: request headers the door reads, copied into ``PathParams.extra`` (by name)
        self.headers = headers


class GatewayApp:
    """The ASGI callable. One instance per process; holds no per-request state."""

    def __init__(self, config: GatewayConfig, router: Router, authenticator: Authenticator,
                 *, hooks: RequestHooks | None = None, max_body: int = DEFAULT_MAX_BODY,
                 prober: HealthProber | None = None,
                 on_shutdown: list[Callable[[], Awaitable[None]]] | None = None,
                 openapi: bytes | None = None, ops: OpsSettings | None = None,
                 tracing: TracingSettings | None = None) -> None:
        self.config = config
        self.router = router
        self.auth = authenticator
        self.hooks: RequestHooks = hooks or NoHooks()
        self.hooks_on = hooks is not None and not isinstance(hooks, NoHooks)
        self.policy = AccessPolicy(config)
        self.max_body = max_body
        self.prober = prober
        self.on_shutdown = list(on_shutdown or [])
        self.openapi = openapi
        self.created = int(time.time())
        self.started = False
        self.inflight = InFlight()
        #: where /metrics and the /readyz details may be read (default: token only, no token)
        self.ops = ops or OpsSettings(metrics_port=None)
        self.auth_failures = AuthFailures()
        #: tracing settings (None: off); the tracer itself is made at start-up, per process
        self.tracing_settings = tracing
        self.tracing: GatewayTracer | None = None
        self.pipeline = Pipeline(self)
        self._request_prefix = os.urandom(6).hex() + "-"
        self._request_counter = 0
        self.routes = self._routes()
        self.ops_routes = Routes()
        for path, fn in (("/healthz", ops_endpoints.healthz), ("/readyz", ops_endpoints.readyz),
                         ("/metrics", ops_endpoints.metrics)):
            self.ops_routes.add(_GET, path, fn)

    @staticmethod
    def _routes() -> Routes:
        routes = Routes()
        for prefix in ("", azure_paths.V1_PREFIX):  # /v1/... and Azure's /openai/v1/...
            routes.add(("POST",), f"{prefix}/v1/chat/completions", DoorHandler(CHAT_DOOR))
            routes.add(("POST",), f"{prefix}/v1/embeddings", DoorHandler(EMBEDDINGS_DOOR))
            routes.add(("POST",), f"{prefix}/v1/responses", DoorHandler(RESPONSES_DOOR))
            routes.add(_GET, f"{prefix}/v1/models", models.models_list)
            routes.add(_GET, f"{prefix}/v1/models/{{model:path}}", models.model_one)
        # openai.AzureOpenAI posts Responses to /openai/responses?api-version=...
        routes.add(("POST",), "/openai/responses", DoorHandler(RESPONSES_DOOR, azure=True))
        routes.add(("POST",), "/v1/messages", DoorHandler(
            MESSAGES_DOOR, headers=(MESSAGES_BETA_HEADER.encode(),)))
        doors = {CHAT_DOOR.name: CHAT_DOOR, EMBEDDINGS_DOOR.name: EMBEDDINGS_DOOR}
        for pattern, door in azure_paths.DEPLOYMENT_PATHS:
            routes.add(("POST",), pattern, DoorHandler(doors[door], azure=True))
        routes.add(_GET, "/healthz", ops_endpoints.healthz)
        routes.add(_GET, "/readyz", ops_endpoints.readyz)
        routes.add(_GET, "/metrics", ops_endpoints.metrics)
        routes.add(_GET, "/openapi.json", ops_endpoints.openapi_doc)
        return routes

    def new_request_id(self) -> str:
        """The gateway's own id: a random per-process prefix and a counter (no syscall)."""
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
                    await send_error(send, GatewayError.internal(), [])
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
        """Start the tracer (in this process: after any fork) and background health probes."""
        if self.tracing_settings is not None:
            self.tracing = self.router.tracing = self.tracing_settings.start()
        if self.prober is not None:
            self.prober.start()
        self.started = True
        # Everything loaded so far (modules, config, catalogs) lives as long as the process:
        # moved out of the collector's reach, so its full collections stop rescanning it on
        # every request's worth of allocations.
        gc.freeze()
        tune_young_collections()
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
        tracer, self.tracing = self.tracing, None
        if tracer is not None:  # last: every request has ended; export what is queued
            self.router.tracing = None
            await asyncio.to_thread(tracer.shutdown)
        self.started = False
        log.info("gateway stopped; upstream clients closed")

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The gateway's own id names the request everywhere (records, logs); the client's
        # x-request-id is echoed and recorded apart, never trusted to be unique.
        request_id = self.new_request_id()
        base: Headers = [(b"x-request-id", request_id.encode())]
        client_id = None
        for name, raw_id in scope["headers"]:
            if name == b"x-request-id":
                client_id = (raw_id.decode("latin-1") if 0 < len(raw_id) <= 128
                             and raw_id.isascii()
                             and raw_id.replace(b"-", b"").replace(b"_", b"").isalnum()
                             else None)
        if client_id is not None:
            base.append((b"x-client-request-id", client_id.encode()))
        too_large = headers_too_large(scope)
        if too_large is not None:
            await send_error(send, too_large, base)
            return
        path = request_path(scope)
        table = self.ops_routes if self.on_ops_port(scope) else self.routes
        try:
            handler, params = table.match(scope["method"], path)
        except GatewayError as err:
            await send_error(send, err, base)
            return
        if type(handler) is DoorHandler:
            door_params = (azure_paths.params_of(scope, params) if handler.azure
                           else PathParams())
            if handler.headers:
                door_params.extra.update(
                    (name.decode(), value.decode("latin-1")) for name, value in scope["headers"]
                    if name in handler.headers)
            await self.pipeline.handle(handler.door, door_params, scope, receive, send,
                                       request_id, base, client_id)
        else:
            await handler(self, scope, send, base, params)

    def on_ops_port(self, scope: Scope) -> bool:
        """Did the request arrive on the operational (metrics) port?"""
        server = scope.get("server")
        return (self.ops.metrics_port is not None and bool(server)
                and server[1] == self.ops.metrics_port)

    def privileged(self, scope: Scope) -> bool:
        """May this request read metrics and readiness details?"""
        return self.on_ops_port(scope) or has_token(scope["headers"], self.ops.scrape_token)

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether every route has a healthy, reachable target, and the details."""
        return ops_endpoints.readiness(self)

    async def authenticate(self, scope: Scope, send: Send, extra: Headers,
                           door: Door | None = None) -> Any:
        """The request's tenant, or None after answering 400/401 (counted, no key shown)."""
        try:
            authorization, api_key = single_credential(scope["headers"])
        except GatewayError as err:
            self.auth_failures.failed("conflicting", scope.get("client"))
            await send_error(send, err, extra, door.render_error(err) if door else None)
            return None
        tenant = self.auth.authenticate(authorization, api_key)
        if tenant is None:
            reason = "missing" if authorization is None and api_key is None else "invalid"
            self.auth_failures.failed(reason, scope.get("client"))
            refused = GatewayError.unauthorized()
            await send_error(send, refused, extra,
                             door.render_error(refused) if door else None)
        return tenant
