"""The gateway app's own cost per request, without any upstream: wrk against the real app
(auth, body limit, JSON, route, residency, router, breaker, headers) whose provider answers
from memory. Compare with ``run.py``'s ``echo`` row (the server alone) to see what the
gateway's Python adds; run under py-spy to see where it goes.

Usage::

    .venv/bin/python bench/server_choice/app_overhead.py --serve PORT   # the server
    .venv/bin/python bench/server_choice/app_overhead.py [--duration 5] [--profile out.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import REQUEST, RESPONSE, free_port, stop, wrk  # noqa: E402

KEY = "sk-overhead-0123456789"


class MemoryProvider:
    """Answers every chat with the same completion, at once."""

    async def chat(self, target: Any, request: dict[str, Any], *, deadline: float) -> Any:
        return dict(RESPONSE)

    embeddings = chat

    async def chat_stream(self, target: Any, request: Any, *, deadline: float) -> Any:
        yield {"id": "c", "object": "chat.completion.chunk", "choices": []}

    def for_target(self, target: Any) -> MemoryProvider:
        return self

    async def aclose(self) -> None:
        return None


def serve(port: int) -> None:
    """Run the gateway app with the in-memory provider on ``port``."""
    from skyrelay.gateway.config import GatewayConfig
    from skyrelay.gateway.serve import build_app
    from skyrelay.gateway.serve import serve as run_server

    config = GatewayConfig.from_dict({
        "version": 1, "name": "overhead", "currency": "USD",
        "targets": {"t": {"cloud": "openai", "kind": "chat", "region": "us-east-1",
                          "model": "m", "endpoint": "http://127.0.0.1:9",
                          "price": {"input_per_million": 1, "output_per_million": 2},
                          "processing": ["aws:us-east-1"]}},
        "routes": {"bench-chat": {"kind": "chat", "strategy": "priority",
                                  "timeout_seconds": 30, "max_attempts": 2,
                                  "targets": [{"key": "t"}], "classifications": ["c"]}},
        "tenants": {"b": {"api_key": {"env": "OVERHEAD_KEY"}, "routes": ["bench-chat"],
                          "classification": "c", "monthly_budget": 1,
                          "requests_per_minute": 1, "tokens_per_minute": 1}},
        "classifications": {"c": {"allowed": ["us"], "processing_allowed": [
            "aws:us-east-1", "aws:us-east-2"]}}})
    app = build_app(config, providers=MemoryProvider(), environ={"OVERHEAD_KEY": KEY},
                    probe_interval=0)
    run_server(app, port=port, log_level="warning")


def main() -> int:
    """Start the server, load it with wrk, optionally profile it with py-spy."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", type=int)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--profile", type=Path, help="py-spy top-functions output file")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\nwrk.body = [==[' + json.dumps(REQUEST) + ']==]\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["Authorization"] = "Bearer {KEY}"\n' + _DONE)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            end = time.monotonic() + 20
            while time.monotonic() < end:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            spy = None
            if args.profile:
                py_spy = str(Path(sys.executable).parent / "py-spy")
                spy = subprocess.Popen([py_spy, "record", "-f", "raw", "-o", str(args.profile),
                                        "-d", str(args.duration * 2 + 2),
                                        "-p", str(proc.pid)])
            for c in (1, 64):
                r = wrk(url, script, c, args.duration)
                print(f"gateway app, in-memory provider, c={c}: {r['rps']:,.0f} req/s, "
                      f"p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms, "
                      f"errors {r['errors']}", flush=True)
            if spy is not None:
                spy.wait(timeout=60)
    finally:
        stop(proc)
    return 0


_DONE = """
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"errors":%d}\\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout))
end
"""

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
