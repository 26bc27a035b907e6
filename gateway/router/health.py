"""Background reachability probes: a TCP connect to every upstream endpoint, fed to breakers.

Traffic tells the breakers about 5xx, throttling and timeouts; this prober tells them which
endpoints cannot be reached at all, so ``/readyz`` is truthful before the first request and a
dead endpoint is skipped without a client paying for the discovery. A TCP connect costs the
upstream nothing (no TLS handshake, no request). Probes run at start-up and then every
``interval`` seconds, concurrently, each bounded by ``timeout``.

Example::

    prober = HealthProber(config.targets.values(), router.breakers, interval=15)
    prober.start()          # inside the running loop
    ...
    await prober.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.router.breaker import CircuitBreaker

log = logging.getLogger("skyrelay.gateway.health")


def endpoint_address(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of an upstream base URL, or None when it has no host."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def reachable(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class HealthProber:
    """Probes every distinct endpoint of ``targets`` and reports to their breakers."""

    def __init__(self, targets: Iterable[TargetConfig], breakers: dict[str, CircuitBreaker],
                 *, interval: float = 15.0, timeout: float = 2.0) -> None:
        self.interval = interval
        self.timeout = timeout
        self._by_address: dict[tuple[str, int], list[CircuitBreaker]] = {}
        for target in targets:
            address = endpoint_address(target.endpoint)
            breaker = breakers.get(target.key)
            if address is None or breaker is None:
                continue
            self._by_address.setdefault(address, []).append(breaker)
        self._task: asyncio.Task[None] | None = None
        self.rounds = 0

    async def probe_once(self) -> dict[tuple[str, int], bool]:
        """Probe every endpoint once; returns reachability per address."""
        addresses = list(self._by_address)
        results = await asyncio.gather(*(reachable(h, p, self.timeout) for h, p in addresses))
        for address, ok in zip(addresses, results, strict=True):
            for breaker in self._by_address[address]:
                breaker.probe_result(ok)
            if not ok:
                log.info("upstream %s:%d is unreachable", *address)
        self.rounds += 1
        return dict(zip(addresses, results, strict=True))

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_once()
            except Exception:  # never let the prober die silently
                log.exception("health probe round failed")
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        """Start probing in the running loop (first round at once)."""
        if self._task is None and self._by_address:
            self._task = asyncio.get_running_loop().create_task(self._loop(),
                                                                 name="skyrelay-health")

    async def stop(self) -> None:
        """Stop probing."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
