"""Fixtures shared by every test folder: a real redis-server on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skyrelay.gateway.testing.redis_server import RedisServer


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer.on_free_port(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
