"""bench/redis_state/run.py: both stores really run admit+settle against Redis, each with
the reply parser it names."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

from redis._parsers import _AsyncRESP2Parser, _AsyncRESP3Parser
from redis._parsers.hiredis import _AsyncHiredisParser

RUN = Path(__file__).resolve().parents[2] / "bench" / "redis_state" / "run.py"


def test_the_two_stores_use_the_parsers_they_are_named_for(redis_server) -> None:  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("redis_state_run", RUN)
    assert spec is not None and spec.loader is not None
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    parsers: dict[str, type] = {}
    figures = asyncio.run(run._measure(redis_server.url, pairs=128, rounds=2,
                                       parsers=parsers))
    assert parsers["hiredis"] is _AsyncHiredisParser
    # redis-py's pure-Python parser, for the protocol version the connection speaks
    assert parsers["python"] in (_AsyncRESP2Parser, _AsyncRESP3Parser)
    assert all(len(v) == 2 and min(v) > 0 for v in figures.values())
