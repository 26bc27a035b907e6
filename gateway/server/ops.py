"""Operational endpoints and who may read them; failed logins counted and logged.

- ``/metrics`` (per-tenant tokens and spend, per-target outcomes) is served on its own port,
  :data:`DEFAULT_METRICS_PORT` on 127.0.0.1 by default, which only the task itself (a
  scraping sidecar) can reach. On the main port it answers 404 unless the request carries
  ``Authorization: Bearer <scrape token>`` (``SKYRELAY_METRICS_TOKEN``).
- ``/readyz`` on the main port answers its status code and ``{"status": ...}`` only (what a
  load balancer needs); the details (routes, targets, breaker errors, state store) are
  shown on the metrics port or with the scrape token.
- A request refused for its credentials (401 missing or invalid key, 400 conflicting keys)
  increments ``skyrelay_auth_failures_total{reason}`` (no key material) and is logged once per
  burst: one line when a quiet :data:`AUTH_LOG_WINDOW` follows the first failure, with the
  count, the reasons and the last client address.

Example::

    ops = OpsSettings.from_env(os.environ)       # ports, token, drain window
    failures = AuthFailures()
    failures.failed("invalid", ("10.0.0.7", 51234))
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, generate_latest

from skyrelay.gateway.envnames import (
    DRAIN_ENV,
    HEADER_TIMEOUT_ENV,
    MAX_CONNECTIONS_ENV,
    METRICS_HOST_ENV,
    METRICS_PORT_ENV,
    METRICS_TOKEN_ENV,
)
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.metering import aggregated_text
from skyrelay.gateway.server.asgi import send_error, send_json

log = logging.getLogger("skyrelay.gateway.auth")

DEFAULT_METRICS_PORT = 9464  # the port Prometheus' registry of exporters lists for OTel
DEFAULT_METRICS_HOST = "127.0.0.1"
#: ECS gives a task 30 s between SIGTERM and SIGKILL unless its stopTimeout says otherwise;
#: the stack sets 60 s (SKYRELAY_DRAIN_SECONDS 50). https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ContainerDefinition.html
DEFAULT_DRAIN_SECONDS = 20.0
#: Seconds of quiet after which a burst of failed logins is written as one log line.
AUTH_LOG_WINDOW = 5.0
#: Why credentials are refused (the label values of skyrelay_auth_failures_total).
AUTH_FAILURE_REASONS = ("missing", "invalid", "conflicting")


@dataclass(frozen=True, slots=True)
class OpsSettings:
    """Where the operational endpoints listen, who may read them, how long to drain."""

    metrics_port: int | None = DEFAULT_METRICS_PORT  # None: no separate port
    metrics_host: str = DEFAULT_METRICS_HOST
    scrape_token: str | None = None
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    header_timeout: float = 10.0  # connection start / first byte -> end of headers
    max_connections: int = 4096

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OpsSettings:
        """From ``SKYRELAY_METRICS_PORT`` (0: off), ``SKYRELAY_METRICS_HOST``,
        ``SKYRELAY_METRICS_TOKEN`` and ``SKYRELAY_DRAIN_SECONDS``; ValueError names the bad
        variable."""
        port_text = environ.get(METRICS_PORT_ENV, str(DEFAULT_METRICS_PORT)).strip()
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"{METRICS_PORT_ENV} must be a port number (0 turns the metrics "
                             f"port off), not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise ValueError(f"{METRICS_PORT_ENV} must be between 0 and 65535, not {port}")
        drain = _number(environ, DRAIN_ENV, DEFAULT_DRAIN_SECONDS, 0, 3600)
        header_timeout = _number(environ, HEADER_TIMEOUT_ENV, 10.0, 0.1, 600)
        max_connections = int(_number(environ, MAX_CONNECTIONS_ENV, 4096, 1, 1_000_000))
        token = environ.get(METRICS_TOKEN_ENV, "").strip() or None
        if token is not None and len(token) < 16:
            raise ValueError(f"{METRICS_TOKEN_ENV} must be at least 16 characters")
        return cls(metrics_port=port or None,
                   metrics_host=environ.get(METRICS_HOST_ENV, DEFAULT_METRICS_HOST),
                   scrape_token=token, drain_seconds=drain, header_timeout=header_timeout,
                   max_connections=max_connections)


def _number(environ: Mapping[str, str], name: str, default: float, low: float,
            high: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, not {value:g}")
    return value


def has_token(headers: list[tuple[bytes, bytes]], token: str | None) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant time)."""
    if not token:
        return False
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return hmac.compare_digest(value[7:].strip(), token.encode())
    return False


class AuthFailures:
    """Counts refused credentials by reason and logs one line per burst."""

    def __init__(self, window: float = AUTH_LOG_WINDOW) -> None:
        self.window = window
        self.total: collections.Counter[str] = collections.Counter()
        # a prometheus_client counter, so that several workers' counts add up in /metrics
        self._registry = CollectorRegistry()
        self._counter = Counter("skyrelay_auth_failures", "Requests refused for their "
                                "credentials", ["reason"], registry=self._registry)
        for reason in AUTH_FAILURE_REASONS:
            self._counter.labels(reason)
        self._burst: collections.Counter[str] = collections.Counter()
        self._last_peer = ""
        self._timer: asyncio.TimerHandle | None = None

    def failed(self, reason: str, client: Any) -> None:
        """One refused request: ``reason`` is ``missing`` | ``invalid`` | ``conflicting``."""
        self.total[reason] += 1
        self._counter.labels(reason).inc()
        self._burst[reason] += 1
        if isinstance(client, tuple | list) and client:
            self._last_peer = str(client[0])
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window, self._flush)

    def _flush(self) -> None:
        self._timer = None
        if not self._burst:
            return
        count = sum(self._burst.values())
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(self._burst.items()))
        log.warning("%d request(s) refused for their credentials in %.0f s (%s); last from "
                    "%s", count, self.window, reasons, self._last_peer or "?")
        self._burst.clear()

    def close(self) -> None:
        """At shutdown: write the burst in progress."""
        if self._timer is not None:
            self._timer.cancel()
        self._flush()

    def prometheus_text(self) -> bytes:
        """The counter in the Prometheus text format."""
        return generate_latest(self._registry)


# --- the operational endpoints (handlers of the route table) -----------------------------

async def healthz(app: Any, scope: Any, send: Any, base: list[tuple[bytes, bytes]],
                  params: dict[str, str]) -> None:
    """``GET /healthz``: the process is alive."""
    await send_json(send, 200, b'{"status":"ok"}', base)


def readiness(app: Any) -> tuple[bool, dict[str, Any]]:
    """Whether every route has a healthy, reachable target, and the details."""
    router, config = app.router, app.config
    health = router.health()
    routes: dict[str, Any] = {}
    ready = True
    for name, route in sorted(config.routes.items()):
        healthy = [t.key for t in route.targets
                   if t.key in router.breakers and router.breakers[t.key].healthy
                   and router.breakers[t.key].reachable is True]
        routes[name] = {"ready": bool(healthy), "healthy_targets": healthy}
        ready = ready and bool(healthy)
    unhealthy = sorted(k for k, b in router.breakers.items()
                       if not (b.healthy and b.reachable is True))
    return ready, {"status": "ready" if ready else "not_ready",
                   "config": {"name": config.name, "routes": len(config.routes),
                              "targets": len(config.targets)},
                   "routes": routes, "unhealthy_upstreams": unhealthy, "upstreams": health,
                   "azure_accounts": azure_reachability(config, router.breakers)}


def azure_reachability(config: Any, breakers: Mapping[str, Any]) -> dict[str, Any]:
    """Per Azure account: the path the gateway takes to it (``public-allowlist`` or
    ``private-vpn``) and whether the last probe reached it (None: not probed yet).

    The account is reachable when one of its deployments' endpoints answered the TCP probe:
    over the private path that means the tunnel, the DNS forwarding and the private
    endpoint all work.
    """
    paths = config.extra.get("azure_paths", {})
    accounts: dict[str, dict[str, Any]] = {}
    for key, target in sorted(config.targets.items()):
        if target.cloud != "azure" or not target.account:
            continue
        entry = accounts.setdefault(target.account, {
            "path": paths.get(target.account, "public-allowlist"), "reachable": None,
            "targets": []})
        entry["targets"].append(key)
        reachable = getattr(breakers.get(key), "reachable", None)
        if reachable is True:
            entry["reachable"] = True
        elif reachable is False and entry["reachable"] is None:
            entry["reachable"] = False
    return accounts


async def readyz(app: Any, scope: Any, send: Any, base: list[tuple[bytes, bytes]],
                 params: dict[str, str]) -> None:
    """``GET /readyz``: 200 when ready, 503 otherwise; details only to the privileged."""
    ready, body = readiness(app)
    state_check = getattr(app.hooks, "state_ready", None)
    if callable(state_check):  # limits/budgets store: fail closed while it is away
        state_ok = await state_check()
        body["state_store"] = "ok" if state_ok else "unreachable"
        if not state_ok:
            ready = False
            body["status"] = "not_ready"
    if not app.privileged(scope):  # the load balancer needs the status, nothing else
        body = {"status": body["status"]}
    await send_json(send, 200 if ready else 503, orjson.dumps(body), base)


async def metrics(app: Any, scope: Any, send: Any, base: list[tuple[bytes, bytes]],
                  params: dict[str, str]) -> None:
    """``GET /metrics`` (Prometheus text) on the metrics port or with the scrape token."""
    if not app.privileged(scope):  # as if it did not exist: no oracle for the token
        await send_error(send, GatewayError.not_found(scope["path"]), base)
        return
    body = aggregated_text()  # with several workers: all of them, one view
    if body is None:
        text = getattr(app.hooks, "metrics_text", None)
        body = (text() if callable(text) else b"") + app.auth_failures.prometheus_text()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *base]})
    await send({"type": "http.response.body", "body": body})


async def openapi_doc(app: Any, scope: Any, send: Any, base: list[tuple[bytes, bytes]],
                      params: dict[str, str]) -> None:
    """``GET /openapi.json``."""
    if app.openapi is None:
        from skyrelay.gateway.openapi import openapi_json
        app.openapi = openapi_json()
    await send_json(send, 200, app.openapi, base)
