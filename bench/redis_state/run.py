"""CPU of the Redis state path per request: the gateway's own client against redis-py.

A request with limits and budgets in Redis makes two calls: ``admit`` (rate windows and the
budget reservation) and ``settle``. This runs that pair through the gateway's
:class:`~skyrelay.gateway.tenancy.state_redis.RedisState` (its client:
``tenancy/redis_client.py``, one pipelined connection, hiredis) and through the same class
with each script call made by redis-py's asyncio client instead (``register_script``,
hiredis's parser, a blocking pool of 64 as the gateway had it), 64 concurrent, against a
loopback redis-server the harness starts, in alternated rounds. Writes
``bench/results/redis_state.{md,json}``.

    make bench-redis            # .venv/bin/python bench/redis_state/run.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))
OUT = BENCH / "results"
PAIRS, CONCURRENCY, ROUNDS = 4000, 64, 6


def redis_py_state(url: str) -> Any:
    """RedisState whose scripts go through redis-py (the peer), same keys and arguments."""
    import redis.asyncio as redis

    from skyrelay.gateway.tenancy.state_redis import RedisState

    class RedisPyState(RedisState):
        def __init__(self) -> None:
            super().__init__(url)
            pool = redis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=2.0,
                                                         socket_timeout=0.5)
            self.peer = redis.Redis.from_pool(pool)
            self._scripts: dict[str, Any] = {}

        def _script(self, script: Any, keys: list[str], args: list[Any]) -> Any:
            call = self._scripts.get(script.sha)
            if call is None:
                call = self._scripts[script.sha] = self.peer.register_script(script.source)
            return call(keys=keys, args=args)

        async def aclose(self) -> None:
            await self.peer.aclose()
            await super().aclose()

    return RedisPyState()


async def _pairs_cpu(state: Any, count: int, concurrency: int) -> float:
    from skyrelay.gateway.tenancy.state import Limits

    limits = Limits(10**9, 10**12, 10**15)
    now = time.time()

    async def worker(n: int) -> None:
        for _ in range(n):
            admission = await state.admit("bench", limits, 52, now, "2026-12", 100)
            assert admission.verdict == "ok", admission
            await state.settle("bench", "2026-12", -50, None, 10, now)

    began = time.process_time()
    await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return (time.process_time() - began) / count * 1e6


async def _measure(url: str, pairs: int = PAIRS, rounds: int = ROUNDS) -> dict[str, list[float]]:
    from skyrelay.gateway.tenancy.state_redis import RedisState

    stores = {"skyrelay": RedisState(url), "redis-py": redis_py_state(url)}
    figures: dict[str, list[float]] = {name: [] for name in stores}
    try:
        for state in stores.values():
            await _pairs_cpu(state, 640, CONCURRENCY)  # connections opened, scripts loaded
        for index in range(rounds):
            names = list(stores) if index % 2 == 0 else list(reversed(stores))
            for name in names:
                figures[name].append(await _pairs_cpu(stores[name], pairs, CONCURRENCY))
                print(f"round {index + 1} {name:8} {figures[name][-1]:6.1f} µs per pair",
                      flush=True)
    finally:
        for state in stores.values():
            await state.aclose()
    return figures


def main() -> int:
    import tempfile

    import uvloop
    from gwbench.endpoint import Context
    from gwbench.procs import ProcessGroup
    from gwbench.redis import start_redis

    from skyrelay.gateway.tenancy.wiring import redis_url

    with tempfile.TemporaryDirectory(prefix="redisbench-") as tmp, ProcessGroup() as procs:
        redis = start_redis(Context(Path(tmp), procs, upstream_port=0))
        url = redis_url(redis.env)
        assert url is not None
        figures = uvloop.run(_measure(url))
    med = {name: round(statistics.median(v), 1) for name, v in figures.items()}
    ratio = round(med["skyrelay"] / med["redis-py"], 3)
    command = os.environ.get("GWBENCH_COMMAND", "python bench/redis_state/run.py")
    OUT.mkdir(exist_ok=True)
    (OUT / "redis_state.json").write_text(json.dumps(
        {"pairs_per_round": PAIRS, "concurrency": CONCURRENCY, "figures": figures,
         "median_us_per_pair": med, "ratio": ratio}, indent=2) + "\n")
    (OUT / "redis_state.md").write_text(
        "# Redis state path: CPU per request (admit + settle)\n\n"
        f"Command: `{command}`. {ROUNDS} alternated rounds of {PAIRS:,} admit+settle pairs, "
        f"{CONCURRENCY} concurrent, through the gateway's RedisState to a loopback "
        "redis-server (password set); CPU is the client's `time.process_time()` per pair.\n\n"
        "| client | µs per pair (median) |\n|---|---:|\n"
        f"| skyrelay's (tenancy/redis_client.py: one pipelined connection, hiredis) | "
        f"{med['skyrelay']} |\n"
        f"| redis-py asyncio (register_script, hiredis parser, pool of 64) | "
        f"{med['redis-py']} |\n\n"
        f"skyrelay ÷ redis-py: **{ratio}**.\n")
    print(f"skyrelay {med['skyrelay']} µs, redis-py {med['redis-py']} µs per pair: "
          f"ratio {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
