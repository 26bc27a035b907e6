"""Helpers for the gateway tests: a gateway server in a thread, configs, fake providers.

Tests import it as ``gateway_support`` (``tests/support`` is on pytest's ``pythonpath``).

The acceptance tests use the real providers and the real wire-format upstream servers
(``skyrelay.gateway.testing.upstreams``); the fake provider here serves the router's unit
tests, where the point is the attempt loop, not a wire format.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.testing.harness import ServerThread, base_config, free_port

__all__ = ["FakeProvider", "FakeRegistry", "ServerThread", "base_config", "free_port"]


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
