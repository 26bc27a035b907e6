"""README's "Run the gateway locally", step by step as a newcomer types it: the fake upstream,
a tenant key, ``skyrelay gateway serve`` on examples/local.yaml, the official openai SDK."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_the_local_gateway_walkthrough(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    # The commands below are the README's; this keeps the two from drifting apart.
    for step in ("python -m skyrelay.gateway.testing.fake_upstream --port 9100",
                 "skyrelay keys new dev --json",
                 "skyrelay gateway serve --spec local.yaml --port 8080"):
        assert step in readme, step
    upstream_port, gateway_port = _free_port(), _free_port()
    spec = tmp_path / "local.yaml"
    spec.write_text((REPO / "examples" / "local.yaml").read_text()
                    .replace("127.0.0.1:9100", f"127.0.0.1:{upstream_port}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYRELAY_")}
    fake = subprocess.Popen([sys.executable, "-P", "-m", "skyrelay.gateway.testing.fake_upstream",
                             "--port", str(upstream_port), "--seconds", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    gateway = None
    try:
        assert fake.stdout is not None
        assert f"127.0.0.1:{upstream_port}/v1" in fake.stdout.readline()
        issued = json.loads(subprocess.run([BIN / "skyrelay", "keys", "new", "dev", "--json"],
                                           capture_output=True, text=True, check=True,
                                           timeout=60).stdout)
        gateway = subprocess.Popen(
            [BIN / "skyrelay", "gateway", "serve", "--spec", spec.name, "--port",
             str(gateway_port)], cwd=tmp_path,
            # Its own metrics port: the default (9464) may be another test gateway's.
            env={**env, "SKYRELAY_KEY_DEV": issued["hash"],
                 "SKYRELAY_METRICS_PORT": str(_free_port())},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _wait_healthy(f"http://127.0.0.1:{gateway_port}/healthz", gateway)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1",
                               api_key=issued["key"], max_retries=0, timeout=30)
        answer = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hello"}])
        assert answer.choices[0].message.content == "Hello from the local upstream"
        # A wrong key is refused: the hash, not the key, is what the gateway was given.
        bad = openai.OpenAI(base_url=f"http://127.0.0.1:{gateway_port}/v1",
                            api_key=issued["hash"], max_retries=0, timeout=30)
        try:
            bad.chat.completions.create(model="chat", messages=[{"role": "user",
                                                                  "content": "hello"}])
            raise AssertionError("the hash itself must not work as a key")
        except openai.AuthenticationError:
            pass
    finally:
        for proc in (gateway, fake):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
