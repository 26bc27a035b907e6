"""Issue 22, finding 8: Redis accounting converges.

Against the real ``skyrelay gateway serve`` process and a real redis-server: the token-count
correction lands in the admission minute with an expiry and never below zero; after a Redis
restart no request is refused once Redis is up; a settle that fails while Redis is paused is
retried until the spend matches the records; a request refused for its budget gives its
tokens-per-minute allowance back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.tenancy.state import current_period
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

PRICE = {"input_per_million": 10.0, "output_per_million": 30.0}
BODY = {"model": "chat", "max_tokens": 2000,
        "messages": [{"role": "user", "content": "a few words here"}]}


@pytest.fixture
def gw(redis_server: RedisServer, tmp_path: Path) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream(reply="four words of reply") as up:
        config = base_config_dict(
            {"up": {"endpoint": up.url + "/v1", "price": PRICE}},
            {"chat": {"targets": ["up"], "max_attempts": 1}},
            tenants={"t1": {"api_key": {"env": "T1_KEY"}, "routes": ["chat"],
                            "classification": "public"},
                     "poor": {"api_key": {"env": "POOR_KEY"}, "routes": ["chat"],
                              "classification": "public", "monthly_budget": 0.000001}})
        poor_key, poor_stored = new_key()
        with ServeProcess(config, {"T1_KEY": stored, "POOR_KEY": poor_stored,
                                   "SKYRELAY_REDIS_URL": redis_server.url}, tmp_path) as proc:
            client = redis.Redis.from_url(redis_server.url)
            yield {"proc": proc, "key": key, "poor": poor_key, "up": up,
                   "redis": redis_server, "client": client}
            client.close()


def _post(gw: dict[str, Any], key: str | None = None, timeout: float = 10) -> int:
    return httpx.post(gw["proc"].url + "/v1/chat/completions", json=BODY, timeout=timeout,
                      headers={"authorization": "Bearer " + (key or gw["key"])}).status_code


def _in_background(gw: dict[str, Any]) -> tuple[threading.Thread, list[int]]:
    statuses: list[int] = []
    thread = threading.Thread(target=lambda: statuses.append(_post(gw)))
    thread.start()
    return thread, statuses


def _token_keys(client: redis.Redis, tenant: str) -> dict[bytes, int]:
    return {k: int(client.get(k) or 0) for k in client.keys(f"skyrelay:tk:{tenant}:*")}


def test_the_token_correction_never_goes_negative_and_expires(gw: dict[str, Any]) -> None:
    client = gw["client"]
    gw["up"].fault("delay:1")
    thread, statuses = _in_background(gw)
    deadline = time.monotonic() + 5
    while not _token_keys(client, "t1") and time.monotonic() < deadline:
        time.sleep(0.01)
    # the admission's count vanishes (the minute rolled, or it expired) before the settle
    for key in _token_keys(client, "t1"):
        client.delete(key)
    thread.join(15)
    assert statuses == [200]
    gw["proc"].wait_records(1)
    deadline = time.monotonic() + 5
    while not _token_keys(client, "t1") and time.monotonic() < deadline:
        time.sleep(0.05)
    counts = _token_keys(client, "t1")
    assert counts and all(v >= 0 for v in counts.values()), counts
    assert all(0 < client.ttl(k) <= 150 for k in counts), {k: client.ttl(k) for k in counts}


def test_no_503_once_redis_is_back_after_a_restart(gw: dict[str, Any]) -> None:
    assert [_post(gw) for _ in range(5)] == [200] * 5  # pooled connections exist now
    gw["redis"].stop()
    assert _post(gw) == 503  # fails closed while it is away
    gw["redis"].start()
    probe = redis.Redis.from_url(gw["redis"].url)
    assert probe.ping()
    probe.close()
    statuses = [_post(gw) for _ in range(20)]
    assert statuses == [200] * 20, statuses


def test_a_settle_that_failed_during_a_pause_is_retried(gw: dict[str, Any]) -> None:
    client, proc = gw["client"], gw["proc"]
    budget = f"skyrelay:budget:t1:{current_period()}"
    gw["up"].fault("delay:1")
    thread, statuses = _in_background(gw)
    deadline = time.monotonic() + 5
    while not client.exists(budget) and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = gw["redis"].proc.pid  # type: ignore[union-attr]
    os.kill(pid, signal.SIGSTOP)  # Redis hangs while the request settles
    try:
        thread.join(15)
        assert statuses == [200]
        records = proc.wait_records(1)
        assert len(records) == 1
        time.sleep(1.0)
    finally:
        os.kill(pid, signal.SIGCONT)
    want = round(records[0]["Cost"] * 1e6)
    deadline = time.monotonic() + 15
    while int(client.get(budget) or 0) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    # the spend converged to the record: the worst-case reservation was settled after all
    assert abs(int(client.get(budget) or 0) - want) <= 1, (client.get(budget), want)
    assert "could not settle request" in proc.logs()


def test_a_request_refused_for_budget_gives_its_tokens_back(gw: dict[str, Any]) -> None:
    client = gw["client"]
    assert _post(gw, gw["poor"]) == 429
    assert gw["proc"].wait_records(1)[0]["ErrorCode"] == "insufficient_quota"
    counts = _token_keys(client, "poor")
    assert sum(counts.values()) == 0, counts


def test_a_settle_refused_by_redis_is_retried_until_applied(gw: dict[str, Any]) -> None:
    """Redis refuses writes (out of memory) while the request settles; later it accepts
    them again and the retried settle brings the spend to the record."""
    client, proc = gw["client"], gw["proc"]
    budget = f"skyrelay:budget:t1:{current_period()}"
    gw["up"].fault("delay:1")
    thread, statuses = _in_background(gw)
    deadline = time.monotonic() + 5
    while not client.exists(budget) and time.monotonic() < deadline:
        time.sleep(0.01)
    reserved = int(client.get(budget) or 0)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # every write is refused with OOM from now on
    try:
        thread.join(15)
        assert statuses == [200]
        records = proc.wait_records(1)
        assert len(records) == 1
        deadline = time.monotonic() + 5
        while "could not settle request" not in proc.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(client.get(budget) or 0) == reserved  # still the worst case
    finally:
        client.config_set("maxmemory", 0)
    want = round(records[0]["Cost"] * 1e6)
    deadline = time.monotonic() + 15
    while int(client.get(budget) or 0) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert int(client.get(budget) or 0) == want and want < reserved
