"""Hashed keys, EMF usage records, Prometheus text, and the hooks' budget guarantee."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skyrelay.gateway import metering
from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.metering import Meter, UsageRecord, emf_line
from skyrelay.gateway.server.hooks import RequestContext
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.keys import HashedKeys, new_key, parse_stored
from skyrelay.gateway.tenancy.state import MemoryState
from skyrelay.gateway.tenancy.state_redis import RedisState
from skyrelay.gateway.tenancy.wiring import redis_url
from skyrelay.spec import load_spec
from skyrelay.views.gateway_config import gateway_config

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def config() -> GatewayConfig:
    return GatewayConfig.from_dict(gateway_config(load_spec(ROOT / "examples" / "platform.yaml")))


def test_new_key_verifies_and_nothing_else_does(config: GatewayConfig) -> None:
    key, stored = new_key()
    other_key, other_stored = new_key()
    assert key not in stored and parse_stored(stored)
    env = {"SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP": stored,
           "SKYRELAY_SECRET_SKYRELAY_TENANTS_RESEARCH": other_stored}
    keys = HashedKeys(config, environ=env)
    assert keys.authenticate(f"Bearer {key}", None).name == "web-app"  # type: ignore[union-attr]
    assert keys.authenticate(None, other_key).name == "research"  # type: ignore[union-attr]
    assert keys.authenticate(f"Bearer {key[:-1]}x", None) is None
    assert keys.authenticate(f"Bearer {stored}", None) is None  # the hash is not a key
    assert keys.authenticate(None, None) is None
    assert keys.authenticate("Basic abc", None) is None
    assert keys.missing == ["eu-support"]


def test_secrets_folder(tmp_path: Path, config: GatewayConfig) -> None:
    key, stored = new_key()
    (tmp_path / "skyrelay" / "tenants").mkdir(parents=True)
    (tmp_path / "skyrelay" / "tenants" / "eu-support").write_text(stored + "\n")
    keys = HashedKeys(config, environ={"SKYRELAY_SECRETS_DIR": str(tmp_path)})
    assert keys.authenticate(f"bearer {key}", None).name == "eu-support"  # type: ignore[union-attr]


def test_keys_new_command_prints_key_once_and_hash() -> None:
    res = subprocess.run([sys.executable, "-m", "skyrelay.cli", "keys", "new", "web-app",
                          "--json"], capture_output=True, text=True, timeout=60, check=True)
    doc = json.loads(res.stdout)
    assert doc["key"].startswith("sk-sr-") and parse_stored(doc["hash"])
    assert doc["key"] not in doc["hash"]


def _record(**over: object) -> UsageRecord:
    base = dict(request_id="r1", tenant="web-app", route="gpt-4o",
                target="azure:acme/gpt-4o", region="swedencentral", input_tokens=12,
                output_tokens=5, cost=0.00009, latency_ms=12.5, ttft_ms=3.0, attempts=2,
                status=200, outcome="success")
    base.update(over)
    return UsageRecord(**base)  # type: ignore[arg-type]


def test_emf_line_is_valid_emf() -> None:
    doc = json.loads(emf_line(_record(), now_ms=1_700_000_000_000))
    aws = doc["_aws"]
    assert aws["Timestamp"] == 1_700_000_000_000
    (directive,) = aws["CloudWatchMetrics"]
    assert directive["Namespace"]
    # Every dimension named must be a top-level string member; every metric a number.
    for dims in directive["Dimensions"]:
        for dim in dims:
            assert isinstance(doc[dim], str)
    names = {m["Name"] for m in directive["Metrics"]}
    assert {"Requests", "InputTokens", "OutputTokens", "Cost", "Latency",
            "TimeToFirstToken"} <= names
    for name in names:
        assert isinstance(doc[name], int | float)
    failed = json.loads(emf_line(_record(outcome="error", status=502, ttft_ms=None)))
    assert failed["Errors"] == 1 and "TimeToFirstToken" not in failed


def test_meter_writes_lines_and_prometheus() -> None:
    out = io.BytesIO()
    meter = Meter(stream=out)
    meter.record(_record())
    meter.record(_record(outcome="error", status=503, tenant="research"))
    meter.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["_aws"] for line in lines)
    text = meter.prometheus_text().decode()
    assert 'skyrelay_requests_total{outcome="success",route="gpt-4o"' in text
    assert "skyrelay_request_latency_seconds_bucket" in text


def test_emf_directive_names_time_to_first_token_only_when_the_record_has_it() -> None:
    streamed = json.loads(emf_line(_record(ttft_ms=12.5)))
    plain = json.loads(emf_line(_record(ttft_ms=None)))
    assert {"Name": "TimeToFirstToken", "Unit": "Milliseconds"} in (
        streamed["_aws"]["CloudWatchMetrics"][0]["Metrics"])
    assert streamed["TimeToFirstToken"] == 12.5
    assert all(m["Name"] != "TimeToFirstToken"
               for m in plain["_aws"]["CloudWatchMetrics"][0]["Metrics"])


def test_meter_counts_stay_exact_across_label_sets_and_a_full_cache(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metering, "_MAX_CACHED_CHILDREN", 3)  # force the cache to restart
    meter = Meter(stream=io.BytesIO())
    tenants = ["web", "research", "batch", "ops", "web", "research"]
    for n in range(60):
        meter.record(_record(tenant=tenants[n % len(tenants)],
                             outcome="success" if n % 3 else "error", status=200))
    meter.close()
    get = meter.registry.get_sample_value
    sent: dict[tuple[str, str], int] = {}
    for n in range(60):
        key = (tenants[n % len(tenants)], "success" if n % 3 else "error")
        sent[key] = sent.get(key, 0) + 1
    for (tenant, outcome), count in sent.items():
        assert get("skyrelay_requests_total", {"tenant": tenant, "route": "gpt-4o",
                                               "target": _record().target,
                                               "outcome": outcome}) == count, (tenant, outcome)
    assert get("skyrelay_request_latency_seconds_count", {"route": "gpt-4o"}) == 60
    assert len(meter._children) <= 3


def _ctx(config: GatewayConfig, n: int) -> RequestContext:
    route = config.routes["gpt-4o"]
    ctx = RequestContext(request_id=f"r{n}", tenant=config.tenants["research"],
                         endpoint="chat", started=0.0, route=route,
                         eligible=tuple(config.targets[t.key] for t in route.targets))
    ctx.estimate = (1000, 1000)
    return ctx


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_fifty_concurrent_requests_never_spend_past_the_budget(
        backend: str, config: GatewayConfig, request: pytest.FixtureRequest) -> None:
    """Budget allows exactly 10 worst-case requests; 50 arrive at once; each then uses all."""
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    # Worst case: the most expensive eligible target (Azure gpt-4o: 2.75 + 11.0 per million).
    worst = config.targets["azure:acme-openai-swc/gpt-4o"].price.cost(1000, 1000)
    tenant = config.tenants["research"]
    budget_tenant = type(tenant)(**{**{f: getattr(tenant, f) for f in tenant.__slots__},
                                    "monthly_budget": worst * 10,
                                    "requests_per_minute": 1000,
                                    "tokens_per_minute": 10_000_000})

    async def main() -> tuple[int, int, float]:
        # Generous Redis timeouts: the test is about the budget, and 50 concurrent requests
        # under the production 0.5 s socket timeout failed now and then on a busy machine.
        state = MemoryState() if url is None else RedisState(url, timeout=30.0)
        out = io.BytesIO()
        hooks = TenancyHooks(state, Meter(stream=out))
        admitted = refused = 0

        async def one(n: int) -> None:
            nonlocal admitted, refused
            ctx = _ctx(config, n)
            ctx.tenant = budget_tenant
            try:
                await hooks.admit(ctx)
            except GatewayError as err:
                assert err.status == 429 and err.code == "insufficient_quota"
                assert err.should_retry is False  # the SDKs must not retry a spent budget
                refused += 1
                ctx.status, ctx.error_code = 429, err.code
                await hooks.finish(ctx)
                return
            ctx.admitted = True
            await asyncio.sleep(0.001)
            ctx.target = config.targets["azure:acme-openai-swc/gpt-4o"]
            ctx.usage = {"prompt_tokens": 1000, "completion_tokens": 1000}
            ctx.status = 200
            await hooks.finish(ctx)
            admitted += 1

        await asyncio.gather(*(one(n) for n in range(50)))
        spent = await state.spent("research", hooks_period())
        hooks.meter.close()  # type: ignore[union-attr]
        assert len(out.getvalue().splitlines()) == 50  # one record per request
        await state.aclose()
        return admitted, refused, spent / 1_000_000

    admitted, refused, spent = asyncio.run(main())
    assert admitted == 10 and refused == 40
    assert spent <= worst * 10 + 1e-6, f"overshoot {spent - worst * 10}"


def hooks_period() -> str:
    from skyrelay.gateway.tenancy.state import current_period
    return current_period(time.time())


def test_redis_password_from_its_own_variable() -> None:
    assert redis_url({}) is None
    url = redis_url({"SKYRELAY_REDIS_URL": "rediss://cache.internal:6379/0",
                     "SKYRELAY_REDIS_PASSWORD": "p@ss/word"})
    assert url == "rediss://:p%40ss%2Fword@cache.internal:6379/0"
    with pytest.raises(ValueError):
        redis_url({"SKYRELAY_REDIS_URL": "http://x"})


def test_each_tenant_object_gets_its_own_limits(config: GatewayConfig) -> None:
    """Limits are worked out once per tenant object: a second config whose tenant has the
    same name but other limits is not given the first one's."""
    import dataclasses

    hooks = TenancyHooks(MemoryState(), None)
    tenant = config.tenants["research"]
    tighter = dataclasses.replace(tenant, requests_per_minute=7, monthly_budget=2.5)
    first, second = hooks.limits_of(tenant), hooks.limits_of(tighter)
    assert first.requests_per_minute == tenant.requests_per_minute != 7
    assert (second.requests_per_minute, second.budget) == (7, 2_500_000)
    assert hooks.limits_of(tenant) is first and hooks.limits_of(tighter) is second

