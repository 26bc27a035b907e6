"""Gateway test fixtures; helpers live in ``gateway_support.py`` (registered here by path)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

if "gateway_support" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "gateway_support", Path(__file__).with_name("gateway_support.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["gateway_support"] = _module
    _spec.loader.exec_module(_module)

from gateway_support import ServerThread  # noqa: E402


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
