"""The shared, pooled async HTTP client the HTTP-based providers use (aiohttp).

One :class:`HttpClient` per process: one connection pool, keep-alive, DNS cache. Every
request is bounded by the caller's absolute ``deadline`` (``loop.time()``): the connect
phase by ``min(connect_timeout, time left)`` and the whole exchange, body included, by the
deadline itself (:meth:`HttpClient.timeout`). aiohttp was chosen over httpx because its
per-request overhead is lower under concurrency and it is what the gateway already installs.

Example::

    client = HttpClient()
    loop = asyncio.get_running_loop()
    async with client.session().post(url, data=body,
                                     timeout=client.timeout(loop.time() + 30)) as resp:
        ...
    await client.aclose()
"""

from __future__ import annotations

import asyncio

import aiohttp


class HttpClient:
    """A lazily created :class:`aiohttp.ClientSession` with a bounded connection pool.

    ``limit`` caps open connections in total, ``limit_per_host`` per upstream host (0: only
    the total applies);
    ``connect_timeout`` bounds TCP+TLS set-up; ``keepalive`` is how long an idle pooled
    connection is kept. The session is created on first use inside the running loop (an
    aiohttp session belongs to one loop) and closed by :meth:`aclose`.
    """

    def __init__(self, *, limit: int = 1024, limit_per_host: int = 0,
                 connect_timeout: float = 5.0, keepalive: float = 30.0) -> None:
        if limit < 1 or limit_per_host < 0:
            raise ValueError("limit must be at least 1 and limit_per_host at least 0")
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The pooled session (created on first call; must be called inside the loop)."""
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.limit, limit_per_host=self.limit_per_host,
                                             keepalive_timeout=self.keepalive, ttl_dns_cache=60,
                                             enable_cleanup_closed=True)
            # The gateway decides about retries, redirects and proxies; never the client.
            session = aiohttp.ClientSession(connector=connector, trust_env=False,
                                            auto_decompress=True, raise_for_status=False,
                                            timeout=aiohttp.ClientTimeout(total=None))
            self._session = session
        return session

    def timeout(self, deadline: float) -> aiohttp.ClientTimeout:
        """Timeouts for one request that must finish by ``deadline`` (absolute loop time).

        Raises :class:`TimeoutError` when the deadline has already passed.
        """
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError("deadline already passed")
        connect = min(self.connect_timeout, left)
        return aiohttp.ClientTimeout(total=left, connect=connect, sock_connect=connect)

    async def aclose(self) -> None:
        """Close the pool (idempotent)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()
