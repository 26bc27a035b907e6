"""Build and run the gateway: config -> providers, router, keys, app -> uvicorn.

Server and JSON library were chosen by measuring (``bench/server_choice/run.py``, 2-core
machine, one worker, wrk, nginx as a static upstream; full table in
``bench/server_choice/results.md``):

===========================  ========  =================  ==================
server (orjson)              shape     c=1 p50 (ms)       c=64 req/s
===========================  ========  =================  ==================
uvicorn httptools + uvloop   echo      0.104              30,842
granian ASGI + uvloop        echo      0.139              29,055
uvicorn h11 + asyncio        echo      0.176               7,736
uvicorn httptools + uvloop   proxy     0.291               7,843
granian ASGI + uvloop        proxy     0.481               6,823
uvicorn h11 + asyncio        proxy     0.332               3,832
===========================  ========  =================  ==================

(``proxy`` = the app also POSTs to the upstream through aiohttp, the shape of a gateway
request.) uvicorn with httptools and uvloop is fastest in both shapes; granian's handoff
between its Rust I/O threads and the Python loop costs ~0.19 ms per proxied request. orjson
parses a chat request 4.7x and serialises a response 18x faster than the standard library
(0.56 vs 2.63 µs, 0.27 vs 4.94 µs), which is +57% req/s at c=64 in the proxy shape.

One process uses one core; ``skyrelay gateway serve --workers N`` runs N of them on the same
ports (:mod:`skyrelay.gateway.workers`). Routing state (breakers, latency averages) stays per
process; limits and budgets are shared through Redis.

Example::

    config = load_config(spec="examples/platform.yaml")
    serve(build_app(config), host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skyrelay.gateway.config import GatewayConfig, TargetConfig
from skyrelay.gateway.keys_plain import Authenticator, PlainKeys
from skyrelay.gateway.openapi import openapi_json
from skyrelay.gateway.providers.base import Provider
from skyrelay.gateway.router.health import HealthProber
from skyrelay.gateway.router.router import Router
from skyrelay.gateway.server.app import DEFAULT_MAX_BODY, MAX_HEADER_BYTES, GatewayApp
from skyrelay.gateway.server.hooks import RequestHooks
from skyrelay.gateway.server.ops import OpsSettings
from skyrelay.gateway.telemetry.settings import resolve as resolve_tracing

log = logging.getLogger("skyrelay.gateway")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ConfigError(Exception):
    """The gateway config (or the spec it comes from) cannot be loaded."""


def load_config(spec: str | Path | None = None,
                config_file: str | Path | None = None, config_env: str | None = None,
                environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """The runtime config from a platform spec, a derived-config JSON file, or the
    environment variable ``config_env`` holding that JSON (how ECS injects it from SSM)."""
    if [spec, config_file, config_env].count(None) != 2:
        raise ConfigError("give exactly one of a spec, a gateway config file or the name of "
                          "an environment variable holding the config")
    if config_env is not None:
        text = (os.environ if environ is None else environ).get(config_env, "")
        if not text.strip():
            raise ConfigError(f"environment variable {config_env} is not set or empty: it "
                              "must hold the gateway config JSON")
        try:
            data: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"environment variable {config_env}: not JSON: {err}") from None
    elif spec is not None:
        from skyrelay.spec import SpecError, load_spec
        from skyrelay.views.gateway_config import gateway_config
        try:
            data = gateway_config(load_spec(Path(spec)))
        except SpecError as err:
            raise ConfigError(f"{spec}: {len(err.issues)} problem(s):\n"
                              + "\n".join(f"  {i}" for i in err.issues)) from None
    else:
        path = Path(config_file)  # type: ignore[arg-type]
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path}: cannot read the gateway config: {err}") from None
    try:
        return GatewayConfig.from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"invalid gateway config: {type(err).__name__}: {err}") from None


def build_authenticator(config: GatewayConfig,
                        environ: Mapping[str, str] | None = None) -> Authenticator:
    """The one place that chooses how tenant keys are checked.

    Today: :class:`~skyrelay.gateway.keys_plain.PlainKeys` (keys from the spec's references,
    no limits). The tenancy module's hashed-key authenticator replaces it here.
    """
    return PlainKeys(config, environ=environ)


def build_providers(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> Any:
    """The provider registry for ``config`` (``for_target(target)``, ``aclose()``), reading
    upstream keys from ``environ`` (default: ``os.environ``, live)."""
    from skyrelay.gateway.providers.registry import ProviderRegistry
    return ProviderRegistry(config, environ=environ)


def check_tracing(config: GatewayConfig, environ: Mapping[str, str] | None = None) -> Any:
    """The tracing settings of ``config`` and the environment (None: off), or ConfigError."""
    try:
        return resolve_tracing(config.tracing.as_dict(),
                               os.environ if environ is None else environ,
                               log_prompts=config.log_prompts, gateway_name=config.name)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def build_app(config: GatewayConfig, *, providers: Any | None = None,
              authenticator: Authenticator | None = None, hooks: RequestHooks | None = None,
              environ: Mapping[str, str] | None = None, max_body: int = DEFAULT_MAX_BODY,
              probe_interval: float = 15.0, probe_timeout: float = 2.0,
              router: Router | None = None, ops: OpsSettings | None = None) -> GatewayApp:
    """Wire config, providers, router, keys and hooks into the ASGI app.

    ``providers`` must offer ``for_target(TargetConfig) -> Provider`` and ``aclose()``; it
    is closed at shutdown. ``probe_interval <= 0`` turns background reachability probes off.
    """
    registry = providers if providers is not None else build_providers(config)

    def provider_for(target: TargetConfig) -> Provider:
        return registry.for_target(target)

    tracing = check_tracing(config, environ)  # a clear error now; the tracer starts later
    router = router or Router(config, provider_for)
    prober = (HealthProber(config.targets.values(), router.breakers, interval=probe_interval,
                           timeout=probe_timeout) if probe_interval > 0 else None)
    on_shutdown = [registry.aclose]
    close_hooks = getattr(hooks, "aclose", None)
    if close_hooks is not None:  # flush usage records still queued; close the state store
        on_shutdown.append(close_hooks)
    return GatewayApp(config, router, authenticator or build_authenticator(config, environ),
                      hooks=hooks, max_body=max_body, prober=prober,
                      on_shutdown=on_shutdown, openapi=openapi_json(), ops=ops,
                      tracing=tracing)


def uvicorn_config(app: GatewayApp, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                   log_level: str = "info", graceful_seconds: float = 30,
                   ops: OpsSettings | None = None) -> Any:
    """The uvicorn settings the gateway runs with: httptools with the gateway's protocol
    limits (:mod:`skyrelay.gateway.server.protocol`), uvloop."""
    import uvicorn

    from skyrelay.gateway.server.protocol import limited_protocol

    ops = ops or OpsSettings()
    http: Any = limited_protocol(header_timeout=ops.header_timeout,
                                 max_connections=ops.max_connections,
                                 app_header_limit=MAX_HEADER_BYTES)
    try:
        import uvloop  # noqa: F401
        loop = "uvloop"
    except ImportError:  # pragma: no cover
        loop = "asyncio"
    return uvicorn.Config(app, host=host, port=port, http=http, loop=loop, lifespan="on",
                          access_log=False, log_level=log_level, server_header=False,
                          timeout_graceful_shutdown=math.ceil(graceful_seconds),
                          timeout_keep_alive=75,
                          h11_max_incomplete_event_size=48 * 1024,
                          backlog=2048, proxy_headers=False)


def _listen(host: str, port: int, backlog: int = 2048, *,
            reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when ``host`` has a colon);
    ``reuse_port``: shared with the other workers, the kernel spreading connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _gateway_server(app: GatewayApp, config: Any, drain_seconds: float) -> Any:
    """A uvicorn server whose shutdown drains the gateway's requests first.

    On SIGTERM: stop accepting, let each connection end after its current request, wait up
    to ``drain_seconds`` for requests in progress, then cut the rest (an SSE error event or
    a 503, and a usage record each); only then uvicorn's own shutdown, whose lifespan step
    closes the providers, the meter and the state store last.
    """
    import uvicorn

    class GatewayServer(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            for connection in list(self.server_state.connections):
                connection.shutdown()
            log.info("draining: up to %.0f s for %d request(s) in progress", drain_seconds,
                     len(app.inflight.active))
            await app.inflight.drain(drain_seconds)
            await super().shutdown(sockets)

    return GatewayServer(config)


def serve(app: GatewayApp, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          log_level: str = "info", ops: OpsSettings | None = None,
          environ: Mapping[str, str] | None = None, *, reuse_port: bool = False) -> None:
    """Run until SIGINT/SIGTERM, then drain (``SKYRELAY_DRAIN_SECONDS``, default 20 s; the
    stack sets it from the task's stop timeout): nothing in progress is lost.

    ``ops`` (default: from the environment, :class:`~skyrelay.gateway.server.ops.OpsSettings`)
    says where ``/metrics`` listens (its own port on 127.0.0.1 unless turned off), the drain
    window and the protocol limits. ``reuse_port``: one of several workers on these ports
    (:mod:`skyrelay.gateway.workers`).
    """
    try:
        ops = ops or OpsSettings.from_env(os.environ if environ is None else environ)
        app.ops = ops
        sockets = [_listen(host, port, reuse_port=reuse_port)]
        if ops.metrics_port is not None:
            sockets.append(_listen(ops.metrics_host, ops.metrics_port, reuse_port=reuse_port))
    except (ValueError, OSError) as err:
        raise SystemExit(f"error: {err}") from None
    try:
        # after the drain every request has ended: uvicorn's own window is for the stragglers
        config = uvicorn_config(app, host, port, log_level, graceful_seconds=5, ops=ops)
        _gateway_server(app, config, ops.drain_seconds).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
