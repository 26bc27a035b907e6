"""``skyrelay gateway serve`` as a real child process, for tests that need the real thing.

:class:`ServeProcess` writes a gateway config JSON, starts the CLI on a free loopback port
with the given environment (tenant key hashes, ``SKYRELAY_REDIS_URL``, ...), waits for
``/healthz``, collects its stdout (the EMF usage records, one JSON line each) and its stderr
(logs) into files, and stops it with SIGTERM (:meth:`ServeProcess.terminate`).

Example::

    key, stored = new_key()
    with ServeProcess(config_dict, {"T1_KEY": stored}, tmp_path) as gw:
        httpx.post(gw.url + "/v1/chat/completions", headers={"authorization": "Bearer " + key},
                   json={...})
        gw.wait_records(1)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from skyrelay.gateway.testing.harness import free_port

CLI = str(Path(sys.executable).parent / "skyrelay")


class ServeProcess:
    """The gateway CLI in a child process (context manager; see the module docstring)."""

    def __init__(self, config: Mapping[str, Any], env: Mapping[str, str], folder: Path, *,
                 args: Sequence[str] = (), start_timeout: float = 60.0) -> None:
        self.port = free_port()
        self.folder = folder
        self.config_path = folder / f"gateway-{self.port}.json"
        self.config_path.write_text(json.dumps(dict(config)))
        self.out_path = folder / f"serve-{self.port}.out"
        self.err_path = folder / f"serve-{self.port}.err"
        # only what the test gives: no Redis URL or key from the caller's environment
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SKYRELAY_")}
        self.metrics_port = free_port()
        self.env = {**inherited, "SKYRELAY_METRICS_PORT": str(self.metrics_port), **env}
        # one worker unless the test asks for more: a test's requests then meet one
        # process's routing state (breakers, latency), as they did before --workers
        self.args = list(args) if "--workers" in args else [*args, "--workers", "1"]
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        """Base URL of the gateway's main port."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        """Base URL of the metrics port (unless the test's environment moved it)."""
        return f"http://127.0.0.1:{self.env['SKYRELAY_METRICS_PORT']}"

    def start(self) -> ServeProcess:
        """Start the process and wait until ``/healthz`` answers."""
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [CLI, "gateway", "serve", "--config", str(self.config_path), "--port",
                 str(self.port), *self.args], stdout=out, stderr=err, env=self.env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited at start:\n" + self.logs())
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("gateway did not come up:\n" + self.logs())

    def logs(self) -> str:
        """What the process wrote to stderr so far."""
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def records(self) -> list[dict[str, Any]]:
        """The usage records (EMF lines) written to stdout so far."""
        if not self.out_path.exists():
            return []
        found = []
        for line in self.out_path.read_bytes().splitlines():
            if line.startswith(b"{"):
                try:
                    found.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line still being written
        return found

    def wait_records(self, n: int, timeout: float = 15.0,
                     ready: Callable[[list[dict[str, Any]]], bool] | None = None
                     ) -> list[dict[str, Any]]:
        """The records once there are ``n`` (or ``ready(records)`` holds), else what there is."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            done = ready(records) if ready is not None else len(records) >= n
            if done or time.monotonic() > deadline:
                return records
            time.sleep(0.05)

    def rss_bytes(self) -> int:
        """Resident memory of the process (Linux ``/proc``)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def terminate(self, timeout: float = 90.0) -> int:
        """SIGTERM, wait for the exit, return its code (the process is killed on timeout)."""
        if self.proc is None:
            return self.returncode if self.returncode is not None else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self.proc = None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL and reap (idempotent)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.returncode = self.proc.returncode
            self.proc = None

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(timeout=30)
