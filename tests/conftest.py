"""Fixtures shared by every test folder: a real redis-server on a free loopback port, the
default spec, and the Hypothesis profiles (``HYPOTHESIS_PROFILE=mutation`` for ``make
mutate``: derandomized, so every mutant meets the same examples)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.spec import Spec, load_spec

ROOT = Path(__file__).resolve().parents[1]

# No per-example deadline and no "too slow" health check: on a busy two-core machine an
# example may take seconds, which says nothing about the property (that was a flake).
settings.register_profile("default", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
# make mutate runs each selected test once per mutant: fewer, fixed examples.
settings.register_profile("mutation", parent=settings.get_profile("default"),
                          derandomize=True, database=None, max_examples=15)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer.on_free_port(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def default_spec() -> Spec:
    """The default platform spec (``examples/platform.yaml``), loaded once."""
    return load_spec(ROOT / "examples" / "platform.yaml")
