"""Issue 22, finding 1: every ending of a request that delivered anything is billed.

Against the real ``skyrelay gateway serve`` process with Redis state: a stream whose client
leaves before the last (usage) chunk, a stream cut by its upstream, a stream past the route
deadline — each is charged its input estimate plus the output delivered, the Redis spend
is settled to that, and the record says how the request ended. A non-streamed request whose
client goes away cancels the upstream call.
"""

from __future__ import annotations

import time
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

WORDS = 38  # role chunk + 38 words + finish chunk + usage chunk = 41 chunks
REPLY = " ".join(["tok"] * WORDS)  # 4 characters a word with its space: ~1 token each
PROMPT_WORDS = 5000
PROMPT = " ".join(["abc"] * PROMPT_WORDS)  # ~5k tokens by the estimate and by the upstream
def spend_micros(server: RedisServer, tenant: str) -> int:
    """The tenant's spend this month in Redis (micro-units), reservations included."""
    return server.get_int(f"skyrelay:budget:{tenant}:{current_period()}")


PRICE = {"input_per_million": 10.0, "output_per_million": 30.0}


@pytest.fixture(scope="module")
def gw(module_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[dict[str, Any]]:
    key, stored = new_key()
    with OpenAIUpstream(reply=REPLY, chunk_delay=0.05, max_lifetime=600) as upstream:
        config = base_config_dict(
            {"up": {"endpoint": upstream.url + "/v1", "price": PRICE}},
            {"chat": {"targets": ["up"], "max_attempts": 1, "timeout_seconds": 3.0}})
        with ServeProcess(config, {"T1_KEY": stored, "SKYRELAY_REDIS_URL": module_redis.url},
                          Path(tmp_path_factory.mktemp("serve"))) as proc:
            yield {"proc": proc, "key": key, "upstream": upstream, "redis": module_redis}


def _body(stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "chat", "messages": [{"role": "user", "content": PROMPT}],
                            "max_tokens": 100}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def _true_cost(output_words: int) -> float:
    return (PROMPT_WORDS * PRICE["input_per_million"]
            + output_words * PRICE["output_per_million"]) / 1e6


def _new_record(gw: dict[str, Any], before: int) -> dict[str, Any]:
    records = gw["proc"].wait_records(before + 1)
    assert len(records) == before + 1, gw["proc"].logs()[-3000:]
    return records[-1]


def _stream_until(gw: dict[str, Any], events: int | None) -> list[bytes]:
    """Read the SSE answer; leave (close the socket) after ``events`` data events."""
    seen: list[bytes] = []
    with httpx.stream("POST", gw["proc"].url + "/v1/chat/completions", json=_body(True),
                      headers={"authorization": "Bearer " + gw["key"]}, timeout=20) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: "):
                seen.append(line.encode())
                if events is not None and len(seen) == events:
                    break
    return seen


@pytest.mark.parametrize("ending", ["client_disconnect", "upstream_cut", "deadline"])
def test_a_stream_that_does_not_end_cleanly_is_billed_what_it_delivered(
        gw: dict[str, Any], ending: str) -> None:
    proc, upstream = gw["proc"], gw["upstream"]
    before = len(proc.records())
    spent_before = spend_micros(gw["redis"], "t1")
    if ending == "client_disconnect":
        seen = _stream_until(gw, 40)  # everything but the last (usage) chunk
        delivered_words = WORDS
    elif ending == "upstream_cut":
        upstream.fault("cut_stream:21")  # role chunk + 20 words, then a TCP reset
        seen = _stream_until(gw, None)
        delivered_words = 20
    else:
        upstream.fault("stall:21")  # 20 words, then silence past the 3 s route deadline
        seen = _stream_until(gw, None)
        delivered_words = 20
    assert b"usage" not in b"".join(seen)  # the upstream's figures never arrived
    record = _new_record(gw, before)
    expected = {"client_disconnect": "client_closed", "upstream_cut": "error",
                "deadline": "error"}[ending]
    assert record["Outcome"] == expected, record
    true = _true_cost(delivered_words)
    print(f"\n{ending}: billed {record['Cost']:.6f} ({record['InputTokens']} in, "
          f"{record['OutputTokens']} out, {record['UsageSource']}), delivered worth {true:.6f}")
    # charged the input estimate plus the output delivered, within the estimate's error
    assert record["Cost"] > 0, record
    assert abs(record["Cost"] - true) <= 0.05 * true, (record["Cost"], true)
    assert record["OutputTokens"] >= delivered_words * 0.9, record
    # the reservation was settled to the charge: not released, not left at the worst case
    settled = spend_micros(gw["redis"], "t1") - spent_before
    assert abs(settled - record["Cost"] * 1e6) <= 2, (settled, record["Cost"])


def test_a_clean_stream_is_billed_the_upstreams_figures(gw: dict[str, Any]) -> None:
    before = len(gw["proc"].records())
    seen = _stream_until(gw, None)
    assert seen[-1] == b"data: [DONE]"
    record = _new_record(gw, before)
    assert record["Outcome"] == "success"
    assert (record["InputTokens"], record["OutputTokens"]) == (PROMPT_WORDS, WORDS)
    assert record["Cost"] == pytest.approx(_true_cost(WORDS))


def test_a_client_leaving_a_plain_call_cancels_the_upstream(gw: dict[str, Any]) -> None:
    proc, upstream = gw["proc"], gw["upstream"]
    before = len(proc.records())
    abandoned = upstream.abandoned
    upstream.fault("delay:8")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(proc.url + "/v1/chat/completions", json=_body(False), timeout=0.5,
                   headers={"authorization": "Bearer " + gw["key"]})
    record = _new_record(gw, before)
    assert record["Outcome"] == "client_closed" and record["Status"] == 499, record
    # the upstream saw its caller leave while it was still working (within its 8 s)
    deadline = time.monotonic() + 5
    while upstream.abandoned == abandoned and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.abandoned == abandoned + 1
    # the prompt reached the upstream: the input estimate is charged, no output
    assert record["OutputTokens"] == 0 and record["InputTokens"] >= PROMPT_WORDS
