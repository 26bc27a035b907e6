"""Issue 22, finding 4: SIGTERM loses nothing, whatever is still open.

Against the real ``skyrelay gateway serve`` process with Redis state: streams longer than the
drain window are cut at its end with an SSE error event, each gets its usage record (billed
what it delivered), a plain call in progress gets 503, and the process exits cleanly.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.testing.harness import base_config_dict
from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.gateway.testing.serve_process import ServeProcess
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

STREAMS = 5
WORDS = 400  # 0.1 s apart: a 40 s stream, longer than any drain window here
DRAIN = 2.0


def _stream(url: str, key: str, out: dict[str, Any]) -> None:
    events: list[str] = []
    try:
        with httpx.stream("POST", url + "/v1/chat/completions", timeout=120,
                          headers={"authorization": "Bearer " + key},
                          json={"model": "chat", "stream": True, "max_tokens": 1000,
                                "messages": [{"role": "user", "content": "tell me"}]}) as r:
            out["status"] = r.status_code
            for line in r.iter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
    except httpx.HTTPError as err:
        out["error"] = repr(err)
    out["events"] = events


def test_sigterm_cuts_long_streams_with_an_error_event_and_a_record(
        redis_server: RedisServer, tmp_path: Path) -> None:
    key, stored = new_key()
    with OpenAIUpstream(reply=" ".join(["tok"] * WORDS), chunk_delay=0.1,
                        max_lifetime=300) as up:
        config = base_config_dict({"up": {"endpoint": up.url + "/v1"}},
                                  {"chat": {"targets": ["up"], "timeout_seconds": 120.0}})
        proc = ServeProcess(config, {"T1_KEY": stored, "SKYRELAY_REDIS_URL": redis_server.url,
                                     "SKYRELAY_DRAIN_SECONDS": str(DRAIN)}, tmp_path).start()
        try:
            results: list[dict[str, Any]] = [{} for _ in range(STREAMS)]
            threads = [threading.Thread(target=_stream, args=(proc.url, key, r))
                       for r in results]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 20
            while sum(up.hits.values()) < STREAMS and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)  # every stream is well under way
            assert proc.proc is not None
            proc.proc.send_signal(signal.SIGTERM)
            for t in threads:
                t.join(90)
            code = proc.proc.wait(90)
            proc.proc = None
        finally:
            proc.kill()
    logs = proc.logs()
    records = proc.records()

    def error_code(events: list[str]) -> str | None:
        try:
            return json.loads(events[-1])["error"]["code"] if events else None
        except (KeyError, TypeError, ValueError):
            return None

    ended = [error_code(r.get("events", [])) for r in results]
    print(f"\n{STREAMS} streams of {WORDS * 0.1:.0f} s, drain {DRAIN:g} s: "
          f"{ended.count('gateway_shutting_down')} ended with the error event, "
          f"{len(records)} records, outcomes {sorted({r['Outcome'] for r in records})}")
    assert code in (0, -signal.SIGTERM), logs[-3000:]
    for r in results:
        assert r.get("status") == 200, r
        assert error_code(r["events"]) == "gateway_shutting_down", r["events"][-3:]
        assert len(r["events"]) < WORDS  # cut, not finished
    assert len(records) == STREAMS, logs[-3000:]
    for record in records:
        assert record["ErrorCode"] == "gateway_shutting_down"
        assert record["Cost"] > 0 and record["OutputTokens"] > 0
    assert "could not settle" not in logs and "Traceback" not in logs
    assert "upstream clients closed" in logs
