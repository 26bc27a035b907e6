"""Run the gateway in-process for tests and tools: a uvicorn thread and compact configs.

:class:`ServerThread` serves any ASGI app on 127.0.0.1 from a daemon thread and stops
gracefully; :func:`base_config` builds a :class:`GatewayConfig` from compact dicts with
the defaults filled in.

Example::

    cfg = base_config({"a": {"endpoint": up.url + "/v1"}}, {"chat": {"targets": ["a"]}})
    server = ServerThread(build_app(cfg)).start()
    ...
    server.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from skyrelay.gateway.config import GatewayConfig


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread; stops within ``stop``."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        from skyrelay.gateway.server.protocol import limited_protocol

        # the production protocol (limits enforced while parsing), as serve() runs it
        self.config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on",
                                     log_level="warning", access_log=False, loop="uvloop",
                                     http=limited_protocol(), timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        """Start and wait until it accepts connections."""
        self.thread.start()
        end = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("gateway test server did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask uvicorn to exit (graceful) and join the thread."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError("gateway test server did not stop")


def base_config(targets: dict[str, dict[str, Any]], routes: dict[str, dict[str, Any]],
                tenants: dict[str, dict[str, Any]] | None = None,
                classifications: dict[str, dict[str, Any]] | None = None) -> GatewayConfig:
    """A GatewayConfig from compact dicts (defaults filled in)."""
    return GatewayConfig.from_dict(base_config_dict(targets, routes, tenants, classifications))


def base_config_dict(targets: dict[str, dict[str, Any]], routes: dict[str, dict[str, Any]],
                     tenants: dict[str, dict[str, Any]] | None = None,
                     classifications: dict[str, dict[str, Any]] | None = None
                     ) -> dict[str, Any]:
    """The gateway config JSON document for :func:`base_config` (for ``serve --config``)."""
    full_targets = {}
    for key, t in targets.items():
        full_targets[key] = {
            "cloud": t.get("cloud", "openai"), "kind": t.get("kind", "chat"),
            "region": t.get("region", "us-east-1"), "model": t.get("model", key),
            "endpoint": t.get("endpoint", "http://127.0.0.1:9/v1"),
            "account": t.get("account", ""), "base_model": t.get("base_model", ""),
            "sku": t.get("sku", ""),
            "price": t.get("price", {"input_per_million": 1.0, "output_per_million": 2.0}),
            "processing": t.get("processing", ["aws:us-east-1"]),
            "capabilities": t.get("capabilities", {}),
            "api": t.get("api", ""), "api_version": t.get("api_version", ""),
            **({"api_key": t["api_key"]} if "api_key" in t else {}),  # upstream key reference
        }
    full_routes = {}
    for name, r in routes.items():
        full_routes[name] = {
            "kind": r.get("kind", "chat"), "strategy": r.get("strategy", "priority"),
            "timeout_seconds": r.get("timeout_seconds", 10.0),
            "max_attempts": r.get("max_attempts", 3),
            "targets": [t if isinstance(t, dict) else {"key": t, "weight": 1}
                        for t in r["targets"]],
            "classifications": r.get("classifications", ["public"]),
        }
    tenants = tenants or {"t1": {"api_key": {"env": "T1_KEY"}, "routes": list(routes),
                                 "classification": "public"}}
    full_tenants = {name: {"monthly_budget": 100.0, "requests_per_minute": 1000,
                           "tokens_per_minute": 10**6, **t} for name, t in tenants.items()}
    classifications = classifications or {
        "public": {"allowed": ["any"], "processing_allowed": ["*"]}}
    return {
        "version": 1, "name": "test", "currency": "USD", "log_prompts": False,
        "targets": full_targets, "routes": full_routes, "tenants": full_tenants,
        "classifications": classifications,
    }


#: The scrape token tests use to read /metrics and the /readyz details on the main port.
TEST_SCRAPE_TOKEN = "test-scrape-token-0123456789"
#: Headers carrying :data:`TEST_SCRAPE_TOKEN`.
OPS_HEADERS = {"authorization": f"Bearer {TEST_SCRAPE_TOKEN}"}


def ops_for_tests() -> Any:
    """Ops settings for in-process tests: no metrics port, :data:`TEST_SCRAPE_TOKEN`."""
    from skyrelay.gateway.server.ops import OpsSettings

    return OpsSettings(metrics_port=None, scrape_token=TEST_SCRAPE_TOKEN)
