"""bench/redis_state/run.py: both contenders really run admit+settle against Redis, the
peer through redis-py."""

from __future__ import annotations

import asyncio

from redis_state import run  # bench/ is on pytest's pythonpath


def test_both_clients_count_every_pair_in_the_same_keys(redis_server) -> None:  # type: ignore[no-untyped-def]
    figures = asyncio.run(run._measure(redis_server.url, pairs=128, rounds=2))
    assert all(len(v) == 2 and min(v) > 0 for v in figures.values())
    # warm-up 640 and 2 x 128 pairs per client, each admitting 52 tokens then settling 10:
    # the minute's token counter saw both clients (they share the gateway's keys)
    assert redis_server.get_int("skyrelay:budget:bench:2026-12") == 2 * (640 + 256) * 50


def test_the_peer_really_goes_through_redis_py(redis_server) -> None:  # type: ignore[no-untyped-def]

    async def go() -> type:
        state = run.redis_py_state(redis_server.url)
        try:
            await state.reserve("t", "p", 10, 1)
            return type(state._scripts[state._reserve.sha])
        finally:
            await state.aclose()

    from redis.commands.core import AsyncScript
    assert asyncio.run(go()) is AsyncScript
