"""Fixtures for the gateway integrity tests (issue 22): the real ``skyrelay gateway serve``
process with hashed keys and Redis state, and the local OpenAI-wire upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skyrelay.gateway.testing.redis_server import RedisServer


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for a module's tests (state keys are per tenant and period)."""
    server = RedisServer.on_free_port(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()

