"""The one-step admission and settle (one Redis round trip each) decide exactly as the
separate steps did, on both backends: rate refusals reserve nothing, budget refusals count
the request but not its tokens, a settle applies once per id and corrects the tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from skyrelay.gateway.tenancy.state import Limits, MemoryState
from skyrelay.gateway.tenancy.state_redis import RedisState

NOW = 1_800_000_030.0  # mid-minute
PERIOD = "2027-01"


def _backends(redis_server: Any) -> list[Callable[[], Any]]:
    return [MemoryState, lambda: RedisState(redis_server.url, prefix="t-one-step")]


async def _window(state: Any, tenant: str) -> tuple[int, int]:
    # a zero-token probe that cannot pass (rpm 0): reads the window without counting
    _, requests, tokens = await state.hit_counts(tenant, 0, 10**9, 0, NOW)
    return requests, tokens


@pytest.mark.parametrize("which", [0, 1], ids=["memory", "redis"])
def test_admit_decides_like_the_separate_steps(redis_server: Any, which: int) -> None:
    async def go() -> None:
        state = _backends(redis_server)[which]()
        limits = Limits(requests_per_minute=3, tokens_per_minute=1_000, budget=500)
        ok = await state.admit("a", limits, 100, NOW, PERIOD, 200)
        assert (ok.verdict, ok.requests, ok.tokens) == ("ok", 1, 100)
        assert await state.spent("a", PERIOD) == 200
        # over the budget: counted as a request, its tokens not, nothing reserved
        broke = await state.admit("a", limits, 100, NOW, PERIOD, 400)
        assert (broke.verdict, broke.requests, broke.tokens) == ("budget", 2, 100)
        assert await state.spent("a", PERIOD) == 200
        assert await _window(state, "a") == (2, 100)
        # over the token limit: nothing counted, nothing reserved
        big = await state.admit("a", limits, 950, NOW, PERIOD, 1)
        assert big.verdict == "rate" and await _window(state, "a") == (2, 100)
        await state.admit("a", limits, 10, NOW, PERIOD, 1)
        over = await state.admit("a", limits, 10, NOW, PERIOD, 1)  # the 4th request
        assert (over.verdict, over.requests) == ("rate", 3)
        assert await state.spent("a", PERIOD) == 201
        await state.aclose()
    asyncio.run(go())


@pytest.mark.parametrize("which", [0, 1], ids=["memory", "redis"])
def test_settle_corrects_tokens_and_applies_once_per_id(redis_server: Any, which: int) -> None:
    async def go() -> None:
        state = _backends(redis_server)[which]()
        limits = Limits(requests_per_minute=100, tokens_per_minute=10_000, budget=10_000)
        await state.admit("b", limits, 1_000, NOW, PERIOD, 900)
        await state.settle("b", PERIOD, -700, "req-1", -960, NOW)  # used 40 tokens, cost 200
        assert await state.spent("b", PERIOD) == 200
        assert await _window(state, "b") == (1, 40)
        if which == 1:  # Redis keeps the once-only marker; memory has one process only
            await state.settle("b", PERIOD, -700, "req-1", None, NOW)
            assert await state.spent("b", PERIOD) == 200
        await state.settle("b", PERIOD, -10_000, "req-2", -10_000, NOW)  # never below zero
        assert await state.spent("b", PERIOD) == 0
        assert await _window(state, "b") == (1, 0)
        await state.aclose()
    asyncio.run(go())
