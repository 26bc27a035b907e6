"""Issue 22, finding 2: upstream usage is validated before it is billed.

Against the real ``skyrelay gateway serve`` process with Redis state: negative counts never
make a negative cost or spend; counts that are not numbers still give a record and a
settled reservation; every odd value is logged once per target.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.tenancy.state import current_period
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

PRICE = {"input_per_million": 10.0, "output_per_million": 30.0}
BAD_USAGE: dict[str, dict[str, Any]] = {
    "negative": {"prompt_tokens": -50_000_000_000, "completion_tokens": -1},
    "not_numbers": {"prompt_tokens": "lots", "completion_tokens": {"n": 3}},
    "huge": {"prompt_tokens": 2**62, "completion_tokens": 2.5},
}


@pytest.fixture(params=sorted(BAD_USAGE))
def gw(request: pytest.FixtureRequest, redis_server: RedisServer,
       tmp_path: Path) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream(reply="four words of reply", usage=BAD_USAGE[request.param]) as up:
        config = base_config_dict({"up": {"endpoint": up.url + "/v1", "price": PRICE}},
                                  {"chat": {"targets": ["up"], "max_attempts": 1}},
                                  tenants={"t1": {"api_key": {"env": "T1_KEY"},
                                                  "routes": ["chat"], "classification": "public",
                                                  "tokens_per_minute": 10**9,
                                                  "monthly_budget": 10_000.0}})
        with ServeProcess(config, {"T1_KEY": stored, "SKYRELAY_REDIS_URL": redis_server.url},
                          tmp_path) as proc:
            yield {"proc": proc, "key": key, "redis": redis_server, "case": request.param}


def test_bad_upstream_usage_is_clamped_recorded_and_settled(gw: dict[str, Any]) -> None:
    proc = gw["proc"]
    for stream in (False, True, False):
        answer = httpx.post(proc.url + "/v1/chat/completions", timeout=10,
                            headers={"authorization": "Bearer " + gw["key"]},
                            json={"model": "chat", "stream": stream, "max_tokens": 1000,
                                  "messages": [{"role": "user", "content": "x" * 400}]})
        assert answer.status_code == 200
    records = proc.wait_records(3)
    assert len(records) == 3, proc.logs()[-2000:]
    for record in records:
        assert record["Outcome"] == "success"
        assert 0 <= record["InputTokens"] <= 10_000_000
        assert 0 <= record["OutputTokens"] <= 10_000_000
        assert record["Cost"] >= 0
    spend = gw["redis"].get_int(f"skyrelay:budget:t1:{current_period()}")
    # settled to the records' cost: neither negative nor left at the worst-case reservation
    assert spend >= 0
    assert abs(spend - sum(r["Cost"] for r in records) * 1e6) <= 3 * 2, (spend, records)
    if gw["case"] == "not_numbers":  # the gateway's own counts: estimate and delivered text
        assert all(r["UsageSource"] == "estimate" and r["InputTokens"] > 0 for r in records)
    logs = proc.logs()
    # logged once per target and field, with the value
    assert logs.count("reported usage prompt_tokens=") == 1, logs[-3000:]
    assert "Traceback" not in logs


def test_every_finish_step_runs_when_the_settle_fails(redis_server: RedisServer,
                                                      tmp_path: Path) -> None:
    """The budget counter is broken while a request is in flight: the settle fails, the
    token correction and the usage record still happen."""
    import threading
    import time

    import redis

    key, stored = new_key()
    with OpenAIUpstream(reply="four words of reply") as up:
        config = base_config_dict({"up": {"endpoint": up.url + "/v1", "price": PRICE}},
                                  {"chat": {"targets": ["up"], "max_attempts": 1}})
        with ServeProcess(config, {"T1_KEY": stored, "SKYRELAY_REDIS_URL": redis_server.url},
                          tmp_path) as proc:
            up.fault("delay:1.5")
            answers: list[int] = []
            call = threading.Thread(target=lambda: answers.append(httpx.post(
                proc.url + "/v1/chat/completions", timeout=10,
                headers={"authorization": "Bearer " + key},
                json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
            ).status_code))
            call.start()
            client = redis.Redis.from_url(redis_server.url)
            budget = f"skyrelay:budget:t1:{current_period()}"
            deadline = time.monotonic() + 5
            while not client.exists(budget) and time.monotonic() < deadline:
                time.sleep(0.01)
            client.set(budget, "not-a-number")  # INCRBY on it fails: the settle fails
            tokens_before = sum(int(client.get(k) or 0) for k in client.keys("skyrelay:tk:t1:*"))
            call.join(15)
            assert answers == [200]
            records = proc.wait_records(1)
            assert len(records) == 1 and records[0]["Outcome"] == "success"
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                tokens_after = sum(int(client.get(k) or 0)
                                   for k in client.keys("skyrelay:tk:t1:*"))
                if tokens_after != tokens_before:
                    break
                time.sleep(0.05)
            # the token correction ran after the failed settle (usage << the estimate)
            assert tokens_after != tokens_before
            client.close()
            assert "could not settle request" in proc.logs()
