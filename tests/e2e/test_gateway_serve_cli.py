"""``skyrelay gateway serve`` as a user runs it: a real process on loopback, then SIGTERM.

The default spec's upstreams (Azure and Bedrock endpoints) cannot be reached here: the
gateway must start anyway, say so in /readyz, and stop gracefully, closing its clients.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from gateway_support import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "skyrelay")


def test_serve_default_spec_starts_reports_unreachable_upstreams_and_stops(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        metrics_port = free_port()
        env = {**os.environ, "SKYRELAY_METRICS_PORT": str(metrics_port)}
        proc = subprocess.Popen([CLI, "gateway", "serve", "--spec", "examples/platform.yaml",
                                 "--port", str(port)], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise AssertionError("gateway did not come up:\n" + log.read_text())
            public = httpx.get(url + "/readyz", timeout=5)
            assert public.json() == {"status": "not_ready"}  # details: metrics port only
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ready = httpx.get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=5)
                if all(u["reachable"] is False for u in ready.json()["upstreams"].values()):
                    break
                time.sleep(0.2)
            assert ready.status_code == 503
            body = ready.json()
            assert body["status"] == "not_ready"
            assert set(body["routes"]) == {"gpt-4o", "chat-default", "claude-sonnet",
                                           "chat-eu", "text-embedding"}
            assert "azure:acme-openai-swc/gpt-4o" in body["unhealthy_upstreams"]
            assert "bedrock:eu-central-1/claude-sonnet" in body["unhealthy_upstreams"]
            # no tenant key is set here: every model request is 401, nothing crashes
            denied = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o"},
                                headers={"authorization": "Bearer sk-nobody"})
            assert denied.status_code == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
    text = log.read_text()
    # uvicorn finishes its graceful shutdown, then re-raises the signal it caught, so the
    # process ends "killed by SIGTERM" as a well-behaved Unix service does.
    assert code in (0, -signal.SIGTERM), text
    assert "upstream clients closed" in text
    assert "Traceback" not in text


def test_serve_refuses_bad_arguments_clearly(tmp_path):
    both = subprocess.run([CLI, "gateway", "serve", "--spec", "examples/platform.yaml",
                           "--config", str(tmp_path / "x.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not both" in both.stderr
    missing = subprocess.run([CLI, "gateway", "serve", "--config", str(tmp_path / "x.json")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "cannot read the gateway config" in missing.stderr
    assert "Traceback" not in missing.stderr
