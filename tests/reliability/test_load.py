"""Load with failing upstreams: nothing lost, nothing counted twice, no budget overshot.

``skyrelay gateway serve`` runs as a process (hashed keys, limits and budgets in a real
redis-server, EMF usage records on stdout) in front of a local Azure OpenAI upstream and a
local Bedrock runtime that each fail 10 % of their requests with a random fault (HTTP
errors, resets, cut and broken streams, bad CRC frames...). The gateway's own fallback
target fails 10 % of the time too, so some requests fail for good.

Checks: every request got a complete answer or a well-formed OpenAI error (none lost or
malformed); after a graceful stop the process wrote exactly one usage record per request
(matched by request id) and its attempts add up to the upstream hits; the capped tenant's
budget was never overshot; the gateway's memory stayed bounded.

``make test`` sends 2,000 requests at concurrency 200; ``make soak`` sends more
(``SKYRELAY_LOAD_REQUESTS``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyrelay.gateway.tenancy.hooks import to_micros
from skyrelay.gateway.tenancy.keys import new_key
from skyrelay.gateway.tenancy.state import current_period
from skyrelay.gateway.tenancy.state_redis import RedisState
from skyrelay.gateway.testing.bedrock_upstream import BedrockUpstream
from skyrelay.gateway.testing.harness import base_config_dict, free_port
from skyrelay.gateway.testing.load import Planned, run_load
from skyrelay.gateway.testing.redis_server import RedisServer
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

CLI = str(Path(sys.executable).parent / "skyrelay")
REQUESTS = int(os.environ.get("SKYRELAY_LOAD_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("SKYRELAY_LOAD_CONCURRENCY", "200"))
FAILURE_RATE = 0.10
CAPPED_BUDGET = 0.5  # USD: room for about a fifth of the capped tenant's worst cases
MAX_TOKENS = 64
AZURE_FAULTS = ["500", "503", "429:1", "reset_before_headers", "reset_after_headers",
                "cut_stream:3", "stream_error:3", "invalid_json", "invalid_sse", "delay:0.3"]
BEDROCK_FAULTS = ["500", "503", "throttle:1", "reset", "reset_after_headers", "cut",
                  "invalid_json", "exception", "badcrc", "delay:0.3"]
PRICE = {"input_per_million": 100.0, "output_per_million": 400.0}


@pytest.fixture
def upstreams() -> Iterator[tuple[OpenAIUpstream, BedrockUpstream]]:
    lifetime = 120 + REQUESTS / 20  # bounded even if the test hangs
    with OpenAIUpstream(api_key="sk-load-upstream", max_lifetime=lifetime,
                        max_requests=REQUESTS * 3) as oai, \
            BedrockUpstream(max_lifetime=lifetime) as bedrock:
        oai.fail_randomly(FAILURE_RATE, AZURE_FAULTS, seed=1)
        bedrock.fail_randomly(FAILURE_RATE, BEDROCK_FAULTS, seed=2)
        yield oai, bedrock


def _config(oai: OpenAIUpstream, bedrock: BedrockUpstream) -> dict[str, Any]:
    return base_config_dict(
        {"azure": {"cloud": "azure", "model": "dep-a", "account": "acct",
                   "region": "swedencentral", "endpoint": oai.url + "/", "price": PRICE},
         "bedrock": {"cloud": "bedrock", "model": "us.anthropic.claude-test-v1:0",
                     "region": "us-east-1", "endpoint": bedrock.url, "price": PRICE},
         "compat": {"cloud": "openai", "model": "m-b", "account": "local",
                    "endpoint": oai.url + "/v1", "price": PRICE}},
        {"azure-first": {"targets": ["azure", "compat"], "max_attempts": 3,
                         "timeout_seconds": 10},
         "bedrock-first": {"targets": ["bedrock", "compat"], "max_attempts": 3,
                           "timeout_seconds": 10}},
        tenants={
            "main": {"api_key": {"env": "MAIN_KEY"}, "routes": ["azure-first", "bedrock-first"],
                     "classification": "public", "monthly_budget": 10_000.0,
                     "requests_per_minute": 10**6, "tokens_per_minute": 10**9},
            "capped": {"api_key": {"env": "CAPPED_KEY"},
                       "routes": ["azure-first", "bedrock-first"], "classification": "public",
                       "monthly_budget": CAPPED_BUDGET, "requests_per_minute": 10**6,
                       "tokens_per_minute": 10**9}})


class Gateway:
    """``skyrelay gateway serve --config`` as a process; stdout (EMF) kept in a file."""

    def __init__(self, tmp: Path, config: dict[str, Any], env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_file = tmp / "gateway.json"
        config_file.write_text(json.dumps(config))
        self.stdout_path, self.stderr_path = tmp / "emf.jsonl", tmp / "serve.log"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [CLI, "gateway", "serve", "--config", str(config_file), "--port", str(self.port),
             "--log-level", "warning"], stdout=self._out, stderr=self._err,
            env={**{k: v for k, v in os.environ.items() if k != "AWS_PROFILE"}, **env})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.stderr_path.read_text()
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError("gateway did not start:\n" + self.stderr_path.read_text())

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> int:
        """SIGTERM, as ECS stops a task; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()
        return self.proc.returncode


def test_load_with_failing_upstreams_loses_nothing(
        tmp_path: Path, redis_server: RedisServer,
        upstreams: tuple[OpenAIUpstream, BedrockUpstream]) -> None:
    oai, bedrock = upstreams
    main_key, main_hash = new_key()
    capped_key, capped_hash = new_key()
    gateway = Gateway(tmp_path, _config(oai, bedrock), {
        "MAIN_KEY": main_hash, "CAPPED_KEY": capped_hash,
        "SKYRELAY_REDIS_URL": redis_server.url,
        "SKYRELAY_AZURE_KEY_ACCT": "sk-load-upstream",
        "SKYRELAY_OPENAI_KEY_LOCAL": "sk-load-upstream",
        "AWS_ACCESS_KEY_ID": "AKIDLOADTEST", "AWS_SECRET_ACCESS_KEY": "load-test-secret",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})

    def plan(i: int) -> Planned:
        key = capped_key if i % 5 == 0 else main_key  # a fifth of the traffic is capped
        route = "azure-first" if i % 2 == 0 else "bedrock-first"
        body: dict[str, Any] = {"model": route, "max_tokens": MAX_TOKENS, "messages": [
            {"role": "user", "content": f"request {i}: say hello"}]}
        if (i // 2) % 2:
            body.update(stream=True, stream_options={"include_usage": True})
        return Planned(key, body)

    rss: dict[str, float] = {}
    marks = {REQUESTS // 4: "quarter", REQUESTS: "end"}

    def progress(done: int) -> None:
        if done in marks:
            rss[marks[done]] = gateway.rss_mb()

    try:
        rss["start"] = gateway.rss_mb()
        report = asyncio.run(run_load(gateway.url, plan, requests=REQUESTS,
                                      concurrency=CONCURRENCY, timeout=60,
                                      on_progress=progress))
    finally:
        status = gateway.stop()
    assert status in (0, -signal.SIGTERM), gateway.stderr_path.read_text()[-3000:]

    counts = report.counts
    records = [json.loads(line) for line in gateway.stdout_path.read_bytes().splitlines()]
    ids = [r["ClientRequestId"] for r in records]  # the client's ids, recorded apart
    own_ids = [r["RequestId"] for r in records]  # the gateway's own: unique
    upstream_hits = (oai.hits["/openai/deployments/dep-a/chat/completions"]
                     + oai.hits["/openai/v1/chat/completions"]  # Azure's v1 API (default)
                     + oai.hits["/v1/chat/completions"] + sum(bedrock.hits.values()))
    attempts = sum(r["Attempts"] for r in records)
    capped = [r for r in records if r["Tenant"] == "capped"]
    spent = _spent(redis_server.url, "capped")
    summary = {"requests": REQUESTS, "concurrency": CONCURRENCY, **counts,
               "records": len(records), "unique_record_ids": len(set(own_ids)),
               "upstream_hits": upstream_hits, "record_attempts": attempts,
               "errors_by_code": dict(report.by_code()),
               "admitted": sum(1 for r in records if r["Outcome"] != "refused"),
               "capped_admitted": sum(1 for r in capped if r["Outcome"] != "refused"),
               "capped_refused": sum(1 for r in capped if r["Outcome"] == "refused"),
               "capped_spent_usd": spent, "capped_budget_usd": CAPPED_BUDGET,
               "rss_mb": {k: round(v, 1) for k, v in rss.items()}}
    print("LOAD SUMMARY " + json.dumps(summary, sort_keys=True))

    # every request answered, and answered in a shape a client understands
    assert len(report.answers) == REQUESTS
    bad = [a for a in report.answers if a.kind in ("lost", "malformed")]
    assert not bad, bad[:5]
    admitted = sum(1 for r in records if r["Outcome"] != "refused")
    assert counts["complete"] >= admitted * 0.9  # fallbacks save most failed first attempts
    assert counts["http_error"] + counts["stream_error"] > 0  # the faults did bite
    # exactly one usage record per request, matched by id, and nothing sent unaccounted
    assert sorted(ids) == sorted(f"load-{i}" for i in range(REQUESTS))
    assert len(set(own_ids)) == REQUESTS
    assert attempts == upstream_hits
    # the budget: some of the capped tenant's requests were refused, spend stayed within it
    assert summary["capped_admitted"] > 0 and summary["capped_refused"] > 0
    assert spent <= CAPPED_BUDGET
    assert sum(r["Cost"] for r in capped) <= CAPPED_BUDGET + 1e-9
    # memory: bounded after warm-up (the first quarter), and under the 150 MB target
    assert rss["end"] < 150
    assert rss["end"] <= rss["quarter"] * 1.25 + 10, rss


def _spent(url: str, tenant: str) -> float:
    async def read() -> int:
        state = RedisState(url)
        try:
            return await state.spent(tenant, current_period(time.time()))
        finally:
            await state.aclose()
    return asyncio.run(read()) / to_micros(1.0)
