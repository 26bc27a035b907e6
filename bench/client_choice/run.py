"""CPU per request of the upstream HTTP client alone: aiohttp's against the gateway's own.

Both clients POST the bench's chat request to a static nginx upstream on 127.0.0.1 (the
bench's ``gwbench.upstream`` config) from one uvloop process at concurrency 64, read the
whole answer and give the connection back to the pool; the figure is this process's CPU
time divided by the requests (nginx runs in its own processes and is not counted). The
rounds alternate the two clients, so a busy machine slows both alike.

Usage::

    .venv/bin/python bench/client_choice/run.py --requests 20000 --rounds 2

Writes nothing; prints one line per round and the median ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gwbench.procs import free_port, wait_http  # noqa: E402
from gwbench.upstream import nginx_argv, write_upstream_conf  # noqa: E402

from skyrelay.gateway.providers.http import HttpClient  # noqa: E402

BODY = (b'{"model":"bench-model","max_tokens":32,"messages":[{"role":"user",'
        b'"content":"Say something short about proxies."}]}')
HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}


async def _aiohttp_client(url: str) -> tuple[Callable[[], Awaitable[None]], Any]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1024),
                                    trust_env=False)

    async def one() -> None:
        timeout = aiohttp.ClientTimeout(total=30, connect=5, sock_connect=5)
        async with asyncio.timeout(30):
            resp = await session.post(url, data=BODY, headers=HEADERS, timeout=timeout,
                                      allow_redirects=False)
            await resp.read()
            resp.release()
    return one, session.close


async def _own_client(url: str) -> tuple[Callable[[], Awaitable[None]], Any]:
    client = HttpClient()

    async def one() -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(30):
            resp = await client.post(url, BODY, HEADERS, loop.time() + 30)
            await resp.read()
            resp.release()
    return one, client.aclose


async def measure(kind: str, url: str, requests: int, concurrency: int) -> float:
    """CPU µs per request of ``kind`` (``aiohttp`` or ``skyrelay``) over ``requests``."""
    one, close = await (_aiohttp_client if kind == "aiohttp" else _own_client)(url)

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()

    await asyncio.gather(*(worker(50) for _ in range(concurrency)))  # warm the pool
    per = requests // concurrency
    started = time.process_time()
    await asyncio.gather(*(worker(per) for _ in range(concurrency)))
    cpu = time.process_time() - started
    await close()
    return cpu / (per * concurrency) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        upstream = subprocess.Popen(nginx_argv(write_upstream_conf(Path(tmp), port)))
        try:
            wait_http(f"http://127.0.0.1:{port}/nginx_status", timeout=10)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            ratios = []
            for round_ in range(1, args.rounds + 1):
                got = {kind: uvloop.run(measure(kind, url, args.requests, args.concurrency))
                       for kind in ("aiohttp", "skyrelay")}
                ratios.append(got["skyrelay"] / got["aiohttp"])
                print(f"round {round_}: aiohttp {got['aiohttp']:.1f} µs/req, skyrelay "
                      f"{got['skyrelay']:.1f} µs/req, ratio {ratios[-1]:.3f}", flush=True)
            print(f"median ratio skyrelay / aiohttp: {statistics.median(ratios):.3f}")
        finally:
            upstream.terminate()
            upstream.wait(10)


if __name__ == "__main__":
    main()
