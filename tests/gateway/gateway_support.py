"""Helpers for the gateway tests: a gateway server in a thread, configs, fake providers.

Loaded by ``conftest.py`` as the module ``gateway_support`` (tests import it by that name).

The acceptance tests use the real providers and the real wire-format upstream servers
(``skyrelay.gateway.testing.upstreams``); the fake provider here serves the router's unit
tests, where the point is the attempt loop, not a wire format.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn

from skyrelay.gateway.config import GatewayConfig, TargetConfig
from skyrelay.gateway.providers.base import ProviderError


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread; stops within ``stop``."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on",
                                     log_level="warning", access_log=False, loop="uvloop",
                                     http="httptools", timeout_graceful_shutdown=5)
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
    return GatewayConfig.from_dict({
        "version": 1, "name": "test", "currency": "USD", "log_prompts": False,
        "targets": full_targets, "routes": full_routes, "tenants": full_tenants,
        "classifications": classifications,
    })


Behaviour = Callable[[TargetConfig, dict[str, Any]], Any]


class FakeProvider:
    """An in-test Provider: per-target scripted outcomes (a value, an exception, a delay).

    ``script[target_key]`` is a list consumed per call; the last entry repeats. An entry is
    a dict (the answer), a ``ProviderError`` (raised), a float (sleep that long, then
    answer ``ok``), or for streams a list of chunks/exceptions.
    """

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self.script = script
        self.calls: list[str] = []
        self.closed = False

    def _next(self, key: str) -> Any:
        entries = self.script[key]
        return entries.pop(0) if len(entries) > 1 else entries[0]

    @staticmethod
    def ok(target: TargetConfig, text: str = "hi") -> dict[str, Any]:
        """A minimal chat completion from ``target``."""
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                "model": target.model,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}

    async def chat(self, target: TargetConfig, request: dict[str, Any], *,
                   deadline: float) -> dict[str, Any]:
        self.calls.append(target.key)
        entry = self._next(target.key)
        if isinstance(entry, BaseException):
            raise entry
        if isinstance(entry, float | int):
            loop = asyncio.get_running_loop()
            if loop.time() + entry > deadline:
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                raise ProviderError("timeout", 504, "fake timeout", retryable=True)
            await asyncio.sleep(entry)
            return self.ok(target)
        return entry or self.ok(target)

    embeddings = chat

    async def chat_stream(self, target: TargetConfig, request: dict[str, Any], *,
                          deadline: float) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(target.key)
        entry = self._next(target.key)
        if isinstance(entry, BaseException):
            raise entry
        for item in entry:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, float | int):
                await asyncio.sleep(item)
                continue
            yield item

    async def aclose(self) -> None:
        self.closed = True


class FakeRegistry:
    """``for_target`` -> the one FakeProvider; ``aclose`` closes it."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider

    def for_target(self, target: TargetConfig) -> FakeProvider:
        return self.provider

    async def aclose(self) -> None:
        await self.provider.aclose()
