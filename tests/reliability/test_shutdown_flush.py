"""A graceful stop writes every usage record still queued and closes the state store."""

from __future__ import annotations

import io
import json
import threading
import time

import httpx

from skyrelay.gateway.metering import Meter
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.serve import build_app
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.testing.harness import ServerThread, base_config
from skyrelay.gateway.testing.upstreams import OpenAIUpstream


class SlowStdout(io.BytesIO):
    """stdout behind a slow log driver: each write takes a while."""

    def write(self, data: bytes) -> int:  # type: ignore[override]
        time.sleep(0.3)
        return super().write(data)


class ClosingState(MemoryState):
    closed = False

    async def aclose(self) -> None:
        self.closed = True
        await super().aclose()


def test_stop_flushes_queued_usage_records_and_closes_the_state() -> None:
    out = SlowStdout()
    state = ClosingState()
    with OpenAIUpstream() as upstream:
        cfg = base_config({"up": {"endpoint": upstream.url + "/v1"}}, {"chat": {"targets": ["up"]}})
        app = build_app(cfg, providers=ProviderRegistry(cfg, environ={}), probe_interval=0,
                        environ={"T1_KEY": "sk-flush"},
                        hooks=TenancyHooks(state, Meter(stream=out)))
        server = ServerThread(app).start()
        try:
            def one() -> None:
                answer = httpx.post(server.url + "/v1/chat/completions",
                                    headers={"authorization": "Bearer sk-flush"},
                                    json={"model": "chat", "messages": [
                                        {"role": "user", "content": "hi"}]})
                assert answer.status_code == 200

            threads = [threading.Thread(target=one) for _ in range(20)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
        finally:
            server.stop()
    # read right after the stop returned: nothing may still be sitting in the queue
    lines = out.getvalue().splitlines()
    assert len(lines) == 20
    assert {json.loads(line)["Outcome"] for line in lines} == {"success"}
    assert state.closed
