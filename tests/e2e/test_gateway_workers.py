"""``skyrelay gateway serve --workers N`` as users run it: N processes on one port that share
limits (Redis), show one metrics view, write whole usage records, restart a dead worker and
stop together on SIGTERM; refused without Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.metering import pipe_writes
from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.serve_process import CLI, ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream
from skyrelay.gateway.workers import WorkersError, choose_workers

RPM = 7
REQUESTS = 20


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _metric_sum(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(
        rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M))


def _config(endpoint: str) -> dict[str, Any]:
    return base_config_dict(
        {"compat": {"cloud": "openai", "model": "m-b", "account": "local", "endpoint": endpoint}},
        {"chat": {"targets": ["compat"], "max_attempts": 1}},
        tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["chat"],
                        "classification": "public", "requests_per_minute": RPM}})


def test_two_workers_share_limits_metrics_records_and_stop_together(
        redis_server: Any, tmp_path: Path) -> None:
    key, stored = new_key()
    with OpenAIUpstream() as upstream:
        gw = ServeProcess(_config(upstream.url + "/v1"),
                          {"T1_KEY": stored, "SKYRELAY_REDIS_URL": redis_server.url,
                           "SKYRELAY_OPENAI_KEY_LOCAL": "sk-up"},
                          tmp_path, args=["--workers", "2"]).start()
        try:
            assert gw.proc is not None
            assert _wait(lambda: len(_children(gw.proc.pid)) == 2), gw.logs()
            statuses = []
            for _ in range(REQUESTS):  # a new connection each: the kernel picks the worker
                with httpx.Client(timeout=10) as client:
                    statuses.append(client.post(
                        gw.url + "/v1/chat/completions",
                        headers={"authorization": f"Bearer {key}"},
                        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
                    ).status_code)
            # one limit for the tenant, not one per worker
            assert statuses.count(200) == RPM, statuses
            assert statuses.count(429) == REQUESTS - RPM, statuses
            records = gw.wait_records(REQUESTS)
            assert len(records) == REQUESTS  # every line whole JSON, none interleaved
            metrics = httpx.get(gw.metrics_url + "/metrics", timeout=5).text
            # the sum over both workers (each saw some of the 20 connections)
            assert _metric_sum(metrics, "skyrelay_requests_total") == REQUESTS, metrics

            victim = _children(gw.proc.pid)[0]
            os.kill(victim, signal.SIGKILL)
            assert _wait(lambda: victim not in _children(gw.proc.pid)
                         and len(_children(gw.proc.pid)) == 2), gw.logs()
            assert "starting it again" in gw.logs()
            assert httpx.get(gw.url + "/healthz", timeout=5).status_code == 200

            workers = _children(gw.proc.pid)
            gw.proc.send_signal(signal.SIGTERM)
            assert gw.proc.wait(timeout=30) == 0, gw.logs()
            assert not [p for p in workers if Path(f"/proc/{p}").exists()
                        and "zombie" not in Path(f"/proc/{p}/status").read_text()]
        finally:
            if gw.proc is not None and gw.proc.poll() is None:
                gw.proc.kill()
                gw.proc.wait(timeout=10)


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "zombie" in status.read_text()
    except FileNotFoundError:
        return True


def test_workers_stop_when_the_supervisor_is_killed(redis_server: Any, tmp_path: Path) -> None:
    # SIGKILL leaves the supervisor no time to stop them: the kernel's parent-death signal
    # must, or they would hold the port for ever
    _, stored = new_key()
    gw = ServeProcess(_config("http://127.0.0.1:9/v1"),
                      {"T1_KEY": stored, "SKYRELAY_REDIS_URL": redis_server.url},
                      tmp_path, args=["--workers", "2"]).start()
    assert gw.proc is not None
    try:
        assert _wait(lambda: len(_children(gw.proc.pid)) == 2), gw.logs()
        workers = _children(gw.proc.pid)
        gw.proc.kill()
        gw.proc.wait(timeout=10)
        assert _wait(lambda: all(_gone(p) for p in workers), timeout=30), gw.logs()
    finally:
        for pid in _children(gw.proc.pid) if gw.proc.poll() is None else []:
            os.kill(pid, signal.SIGKILL)


def test_several_workers_without_redis_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "gw.json"
    config.write_text('{"name": "x"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYRELAY_")}
    done = subprocess.run([CLI, "gateway", "serve", "--config", str(config), "--workers", "2"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0
    assert "--workers 2 needs the shared state store" in done.stderr
    assert "SKYRELAY_REDIS_URL" in done.stderr


def test_worker_count_defaults_and_refusals() -> None:
    assert choose_workers(None, shared_state=True, cpus=4) == (4, None)
    count, note = choose_workers(None, shared_state=False, cpus=4)
    assert count == 1 and note is not None and "SKYRELAY_REDIS_URL" in note
    assert choose_workers(None, shared_state=False, cpus=1) == (1, None)
    assert choose_workers(3, shared_state=True, cpus=2) == (3, None)
    assert choose_workers(1, shared_state=False, cpus=8) == (1, None)
    with pytest.raises(WorkersError, match="needs the shared state store"):
        choose_workers(2, shared_state=False, cpus=8)
    with pytest.raises(WorkersError):
        choose_workers(0, shared_state=True, cpus=8)


def test_pipe_writes_keep_lines_whole_and_small() -> None:
    lines = [b"x" * 1000 + b"\n" for _ in range(9)] + [b"y" * 5000 + b"\n", b"z\n"]
    writes = pipe_writes(lines, limit=4096)
    assert b"".join(writes) == b"".join(lines)
    assert all(w.endswith(b"\n") for w in writes)
    assert all(len(w) <= 4096 for w in writes if not w.startswith(b"y"))
    assert [len(w) for w in writes] == [4004, 4004, 1001, 5001, 2]


def test_the_record_writer_batches_what_arrives_while_it_lingers() -> None:
    # one write for records that arrive within LINGER_SECONDS: the thread wakes once per
    # batch, not once per request
    import io

    from skyrelay.gateway.metering import _LineWriter

    class Counting(io.BytesIO):
        writes = 0

        def write(self, data: Any) -> int:
            Counting.writes += 1
            return super().write(data)

    out = Counting()
    writer = _LineWriter(out)
    for i in range(5):  # a request every 2 ms, well inside one linger
        writer.put(b'{"n": %d}\n' % i)
        time.sleep(0.002)
    writer.close()
    assert out.getvalue().count(b"\n") == 5
    assert Counting.writes == 1
