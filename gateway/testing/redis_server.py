"""A real redis-server on a free loopback port, for tests: stop it and start it again.

Needs the ``redis-server`` binary (Debian package ``redis-server``; ``tools/system-packages.txt``).
Nothing is persisted; the server listens on 127.0.0.1 only and requires a password.

Example::

    server = RedisServer.on_free_port(tmp_path).start()
    state = RedisState(server.url)
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyrelay.gateway.testing.harness import free_port


@dataclass
class RedisServer:
    """A redis-server process that tests may stop and start again on the same port."""

    port: int
    folder: Path
    password: str = "test-redis-password-7f3a"
    proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def on_free_port(cls, folder: Path) -> RedisServer:
        """A server (not started yet) on a free port, its working files in ``folder``."""
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server; "
                               "tools/system-packages.txt lists it)")
        return cls(free_port(), folder)

    @property
    def url(self) -> str:
        """``redis://`` URL with the password."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start and wait until the port accepts connections."""
        import socket

        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def _command(self, *args: str) -> Any:
        """One command on a fresh connection (from synchronous test code)."""
        from skyrelay.gateway.tenancy.redis_client import RedisClient

        async def run() -> Any:
            client = RedisClient(self.url, timeout=10.0)
            try:
                return await client.execute(*args)
            finally:
                await client.aclose()

        return asyncio.run(run())

    def get_int(self, key: str) -> int:
        """The integer stored at ``key`` (0 when absent), read with a fresh connection."""
        return int(self._command("GET", key) or 0)

    def ttl(self, key: str) -> int:
        """Seconds until ``key`` expires (-1: never, -2: absent)."""
        return int(self._command("TTL", key))

    def stop(self) -> None:
        """Terminate the process and wait for it (idempotent)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
