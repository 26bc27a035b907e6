"""Gateway test fixtures; helpers live in ``tests/support/gateway_support.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from skyrelay.gateway.testing.harness import ServerThread


@pytest.fixture
def run_server() -> Iterator[Callable[[Any], ServerThread]]:
    """Start ASGI apps on loopback for the test; all stop at teardown."""
    started: list[ServerThread] = []

    def start(app: Any) -> ServerThread:
        server = ServerThread(app).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
