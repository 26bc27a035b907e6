"""Router logic with an in-test provider: strategies, fallback, breakers, deadlines.

The acceptance tests (test_gateway_e2e.py) repeat the important cases through real
providers and wire formats; these pin down the attempt loop's decisions one by one.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest
from gateway_support import FakeProvider, base_config

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.router.access import AccessPolicy
from skyrelay.gateway.router.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from skyrelay.gateway.router.latency import LatencyTracker
from skyrelay.gateway.router.router import RouteFailure, Router
from skyrelay.gateway.router.strategies import rank, weighted_order
from skyrelay.gateway.router.tokens import estimate_chat, estimate_embeddings

REQ = {"model": "r", "messages": [{"role": "user", "content": "hello"}]}


def make(routes, targets=None, script=None, **router_kw):
    targets = targets or {"a": {}, "b": {}, "c": {}}
    cfg = base_config(targets, routes)
    provider = FakeProvider(script or {k: [None] for k in targets})
    router = Router(cfg, lambda t: provider, rng=random.Random(7), **router_kw)
    policy = AccessPolicy(cfg)
    return cfg, provider, router, policy


def eligible(cfg, policy, route="r", cls="public"):
    return policy.eligible(cfg.routes[route], cfg.classifications[cls])


def call(router, cfg, policy, route="r", request=REQ, estimate=(10, 10)):
    return asyncio.run(router.call(cfg.routes[route], eligible(cfg, policy, route), "chat",
                                   request, estimate=estimate))


# --- strategies -------------------------------------------------------------------------

def test_priority_serves_first_target_in_spec_order():
    cfg, provider, router, policy = make({"r": {"targets": ["b", "a", "c"]}})
    routed = call(router, cfg, policy)
    assert routed.target.key == "b" and routed.attempts == 1
    assert provider.calls == ["b"]


def test_weighted_draws_follow_weights_and_zero_weight_is_fallback_only():
    cfg = base_config({"a": {}, "b": {}, "z": {}}, {"r": {"targets": [
        {"key": "a", "weight": 3}, {"key": "b", "weight": 1}, {"key": "z", "weight": 0}]}})
    targets = [cfg.targets[k] for k in ("a", "b", "z")]
    rng = random.Random(1)
    firsts = Counter(weighted_order(targets, [3, 1, 0], rng)[0].key for _ in range(4000))
    assert firsts["z"] == 0
    assert 0.70 < firsts["a"] / 4000 < 0.80  # expected 0.75
    assert all(weighted_order(targets, [3, 1, 0], rng)[-1].key == "z" for _ in range(50))


def test_lowest_cost_uses_the_token_estimate_and_prices():
    targets = {"cheap_in": {"price": {"input_per_million": 0.1, "output_per_million": 10.0}},
               "cheap_out": {"price": {"input_per_million": 5.0, "output_per_million": 1.0}}}
    cfg = base_config(targets, {"r": {"targets": ["cheap_in", "cheap_out"],
                                      "strategy": "lowest-cost"}})
    ts = list(cfg.targets.values())
    kw = {"latency": LatencyTracker(), "stream": False, "rng": random.Random(1)}
    long_prompt = rank("lowest-cost", ts, [1, 1], estimate=(100_000, 10), **kw)
    long_answer = rank("lowest-cost", ts, [1, 1], estimate=(10, 100_000), **kw)
    assert [t.key for t in long_prompt] == ["cheap_in", "cheap_out"]
    assert [t.key for t in long_answer] == ["cheap_out", "cheap_in"]


def test_lowest_latency_prefers_unmeasured_then_lowest_average_per_mode():
    cfg = base_config({"a": {}, "b": {}}, {"r": {"targets": ["a", "b"]}})
    ts = list(cfg.targets.values())
    lat = LatencyTracker(alpha=0.5)
    lat.observe("a", 0.5, stream=False)
    order = rank("lowest-latency", ts, [1, 1], estimate=(1, 1), latency=lat, stream=False,
                 rng=random.Random(1), explore=0)
    assert [t.key for t in order] == ["b", "a"]  # b never measured: measure it
    lat.observe("b", 0.9, stream=False)
    lat.observe("b", 0.1, stream=True)
    lat.observe("a", 0.3, stream=True)
    by_call = rank("lowest-latency", ts, [1, 1], estimate=(1, 1), latency=lat, stream=False,
                   rng=random.Random(1), explore=0)
    by_ttft = rank("lowest-latency", ts, [1, 1], estimate=(1, 1), latency=lat, stream=True,
                   rng=random.Random(1), explore=0)
    assert [t.key for t in by_call] == ["a", "b"]
    assert [t.key for t in by_ttft] == ["b", "a"]


def test_lowest_latency_route_learns_from_observed_calls():
    cfg, provider, router, policy = make(
        {"r": {"targets": ["a", "b"], "strategy": "lowest-latency"}},
        targets={"a": {}, "b": {}}, script={"a": [0.05], "b": [0.0]}, explore=0)
    served = [call(router, cfg, policy).target.key for _ in range(6)]
    assert served[:2] == ["a", "b"]  # each measured once (a first: spec order)
    assert set(served[2:]) == {"b"}


def test_latency_ewma_moves_by_alpha():
    lat = LatencyTracker(alpha=0.25)
    lat.observe("a", 1.0, stream=False)
    lat.observe("a", 2.0, stream=False)
    assert lat.value("a", stream=False) == pytest.approx(1.25)
    assert lat.value("a", stream=True) is None


# --- fallback and breakers ----------------------------------------------------------------

@pytest.mark.parametrize("kind,status", [("rate_limit", 429), ("server", 500),
                                         ("timeout", 504), ("connection", 502),
                                         ("protocol", 502), ("auth", 401)])
def test_fault_falls_back_to_next_target(kind, status):
    err = ProviderError(kind, status, f"{kind} failure", retryable=True)
    cfg, provider, router, policy = make({"r": {"targets": ["a", "b"]}},
                                         script={"a": [err], "b": [None], "c": [None]})
    routed = call(router, cfg, policy)
    assert (routed.target.key, routed.attempts) == ("b", 2)
    assert provider.calls == ["a", "b"]
    assert router.breakers["a"].failures == 1 and router.breakers["b"].failures == 0


def test_content_filter_ends_request_without_fallback_and_leaves_breaker_alone():
    err = ProviderError("content_filter", 400, "The prompt was filtered.", code="content_filter")
    cfg, provider, router, policy = make({"r": {"targets": ["a", "b"]}},
                                         script={"a": [err], "b": [None], "c": [None]})
    with pytest.raises(RouteFailure) as info:
        call(router, cfg, policy)
    assert provider.calls == ["a"]
    assert info.value.error.status == 400 and info.value.error.code == "content_filter"
    b = router.breakers["a"]
    assert (b.state, b.failures, b.last_error) == (CLOSED, 0, None)


def test_single_target_backs_off_instead_of_retrying_into_an_outage():
    err = ProviderError("rate_limit", 429, "slow down", retryable=True, retry_after=30)
    cfg, provider, router, policy = make({"r": {"targets": ["a"], "max_attempts": 3}},
                                         script={"a": [err, None]})
    with pytest.raises(RouteFailure) as first:
        call(router, cfg, policy)
    assert first.value.error.status == 429 and first.value.error.retry_after == 30
    assert provider.calls == ["a"]  # no retry into a target that said "come back in 30 s"
    with pytest.raises(RouteFailure) as second:
        call(router, cfg, policy)
    assert provider.calls == ["a"]  # cooling down: the upstream is not called at all
    # the provider said "too many requests": so does the gateway (429, not 503), with a wait
    assert (second.value.error.status, second.value.error.code) == (429,
                                                                    "rate_limit_exceeded")
    assert 25 < second.value.error.retry_after <= 30
    assert second.value.attempts == 0


def test_a_route_cooling_down_after_server_faults_is_503():
    err = ProviderError("server", 503, "down", retryable=True, retry_after=20)
    cfg, provider, router, policy = make({"r": {"targets": ["a"], "max_attempts": 1}},
                                         script={"a": [err, None]})
    with pytest.raises(RouteFailure):
        call(router, cfg, policy)
    with pytest.raises(RouteFailure) as second:
        call(router, cfg, policy)
    assert (second.value.error.status, second.value.error.code) == (503,
                                                                    "upstream_unavailable")
    assert second.value.error.retry_after is not None


def test_same_target_retried_after_others_for_transient_server_errors():
    err = ProviderError("server", 500, "oops", retryable=True)
    cfg, provider, router, policy = make({"r": {"targets": ["a"], "max_attempts": 3}},
                                         script={"a": [err, None]}, backoff=0.001)
    routed = call(router, cfg, policy)
    assert routed.attempts == 2 and provider.calls == ["a", "a"]


def test_all_attempts_failing_returns_last_error_and_opens_breaker_after_threshold():
    err = ProviderError("server", 503, "down", retryable=True)
    cfg, provider, router, policy = make({"r": {"targets": ["a"], "max_attempts": 3}},
                                         script={"a": [err]}, backoff=0.001)
    with pytest.raises(RouteFailure) as info:
        call(router, cfg, policy)
    assert info.value.attempts == 3 and info.value.error.status == 502
    assert router.breakers["a"].state == OPEN


def test_provider_bug_is_a_fault_of_that_target_not_a_crash():
    cfg, provider, router, policy = make({"r": {"targets": ["a", "b"]}},
                                         script={"a": [KeyError("choices")], "b": [None],
                                                 "c": [None]})
    routed = call(router, cfg, policy)
    assert routed.target.key == "b" and router.breakers["a"].last_error == "protocol"


def test_hanging_target_gets_a_fair_share_so_fallback_fits_the_deadline():
    cfg, provider, router, policy = make(
        {"r": {"targets": ["a", "b"], "timeout_seconds": 0.6, "max_attempts": 2}},
        script={"a": [30.0], "b": [None], "c": [None]})
    routed = call(router, cfg, policy)
    assert (routed.target.key, routed.attempts) == ("b", 2)
    assert router.breakers["a"].last_error == "timeout"


def test_one_deadline_across_attempts_gives_504():
    cfg, provider, router, policy = make(
        {"r": {"targets": ["a"], "timeout_seconds": 0.2, "max_attempts": 3}},
        script={"a": [30.0]})
    with pytest.raises(RouteFailure) as info:
        call(router, cfg, policy)
    assert info.value.error.status == 504 and info.value.error.code == "deadline_exceeded"
    assert info.value.attempts == 1


def test_breaker_half_open_lets_one_probe_and_honours_retry_after():
    now = [100.0]
    b = CircuitBreaker(threshold=3, base_cooldown=1.0, clock=lambda: now[0])
    b.failure("server")
    b.failure("server")
    assert b.state == CLOSED and b.available()
    b.failure("server")
    assert b.state == OPEN and not b.acquire()
    now[0] += 1.01
    assert b.acquire() and b.state == HALF_OPEN
    assert not b.acquire()  # one probe at a time
    b.failure("server")  # probe failed: open again, longer
    assert b.state == OPEN and b.retry_in() == pytest.approx(2.0)
    now[0] += 2.01
    assert b.acquire()
    b.success()
    assert b.state == CLOSED and b.failures == 0
    b.failure("rate_limit", retry_after=42)  # upstream's Retry-After wins over the cooldown
    assert b.state == OPEN and b.retry_in() == pytest.approx(42)


def test_breaker_opens_at_once_only_when_the_target_cannot_be_reached():
    b = CircuitBreaker(threshold=3, clock=lambda: 0.0)
    b.failure("connection")  # a reset after connecting: one request failed
    b.failure("connection")
    assert b.state == CLOSED and b.reachable is None and b.last_error == "connection"
    b.failure("connection", unreachable=True)  # refused / DNS: the target is down
    assert b.state == OPEN and b.reachable is False and b.last_error == "unreachable"


def test_breaker_probe_results():
    now = [0.0]
    b = CircuitBreaker(clock=lambda: now[0])
    assert b.reachable is None
    b.probe_result(False)
    assert b.state == OPEN and b.reachable is False and not b.healthy
    b.probe_result(True)
    assert b.state == HALF_OPEN and b.reachable is True
    b.failure("server")
    b.probe_result(True)  # a TCP connect does not clear a 5xx
    assert b.state == OPEN


# --- streams ----------------------------------------------------------------------------

def chunk(text):
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def open_stream(router, cfg, policy):
    async def go():
        start = await router.open_stream(cfg.routes["r"], eligible(cfg, policy), REQ,
                                         estimate=(1, 1))
        rest = [c async for c in start.rest]
        return start, rest
    return asyncio.run(go())


def test_stream_falls_back_before_the_first_chunk():
    err = ProviderError("server", 500, "boom", retryable=True)
    cfg, provider, router, policy = make(
        {"r": {"targets": ["a", "b"]}},
        script={"a": [[err]], "b": [[chunk("x"), chunk("y")]], "c": [[]]})
    start, rest = open_stream(router, cfg, policy)
    assert (start.target.key, start.attempts) == ("b", 2)
    assert start.first["choices"][0]["delta"]["content"] == "x" and len(rest) == 1


def test_stream_ending_before_first_chunk_is_a_protocol_fault():
    cfg, provider, router, policy = make({"r": {"targets": ["a", "b"]}},
                                         script={"a": [[]], "b": [[chunk("x")]], "c": [[]]})
    start, _ = open_stream(router, cfg, policy)
    assert start.target.key == "b" and router.breakers["a"].last_error == "protocol"


# --- access and residency -------------------------------------------------------------------

EU = ["aws:eu-central-1"]
US = ["aws:us-east-1"]
CLASSES = {"public": {"allowed": ["any"], "processing_allowed": ["*"]},
           "internal": {"allowed": ["us", "eu"], "processing_allowed": EU + US},
           "eu-only": {"allowed": ["eu"], "processing_allowed": EU}}


def access_config():
    return base_config(
        {"eu": {"processing": EU}, "us": {"processing": US}, "any": {"processing": ["*"]}},
        {"mixed": {"targets": ["any", "us", "eu"]}, "us-only": {"targets": ["us", "any"]},
         "other": {"targets": ["eu"]}},
        tenants={"int": {"api_key": {"env": "K1"}, "routes": ["mixed", "us-only"],
                         "classification": "internal"},
                 "pub": {"api_key": {"env": "K2"}, "routes": ["mixed"],
                         "classification": "public"}},
        classifications=CLASSES)


def test_eligible_targets_follow_the_classification():
    cfg = access_config()
    policy = AccessPolicy(cfg)
    route = cfg.routes["mixed"]
    assert [t.key for t in policy.eligible(route, cfg.classifications["public"]).targets] \
        == ["any", "us", "eu"]
    assert [t.key for t in policy.eligible(route, cfg.classifications["internal"]).targets] \
        == ["us", "eu"]
    assert [t.key for t in policy.eligible(route, cfg.classifications["eu-only"]).targets] \
        == ["eu"]
    with pytest.raises(GatewayError) as info:
        policy.eligible(cfg.routes["us-only"], cfg.classifications["eu-only"])
    assert info.value.status == 403 and info.value.code == "residency_violation"
    assert "eu-only" in info.value.message and "eu" in info.value.message


def test_classification_header_may_narrow_never_widen():
    cfg = access_config()
    policy = AccessPolicy(cfg)
    internal, public = cfg.tenants["int"], cfg.tenants["pub"]
    assert policy.classification_for(internal, None).name == "internal"
    assert policy.classification_for(internal, "eu-only").name == "eu-only"
    assert policy.classification_for(public, "internal").name == "internal"
    with pytest.raises(GatewayError) as wider:
        policy.classification_for(internal, "public")
    assert wider.value.status == 403 and wider.value.code == "classification_not_allowed"
    with pytest.raises(GatewayError) as unknown:
        policy.classification_for(internal, "secret-stuff")
    assert unknown.value.status == 400


def test_route_the_tenant_may_not_use_looks_like_a_missing_model():
    cfg = access_config()
    policy = AccessPolicy(cfg)
    with pytest.raises(GatewayError) as other:
        policy.route_for(cfg.tenants["int"], "other", "chat")
    with pytest.raises(GatewayError) as missing:
        policy.route_for(cfg.tenants["int"], "nope", "chat")
    assert other.value.status == missing.value.status == 404
    assert other.value.code == missing.value.code == "model_not_found"
    assert [r.name for r in policy.routes_for(cfg.tenants["pub"])] == ["mixed"]


# --- token estimates ----------------------------------------------------------------------

def test_token_estimates():
    request = {"messages": [{"role": "system", "content": "x" * 400},
                            {"role": "user", "content": [{"type": "text", "text": "y" * 40},
                                                         {"type": "image_url"}]}],
               "max_completion_tokens": 77}
    tokens_in, tokens_out = estimate_chat(request)
    assert tokens_out == 77
    assert tokens_in == 3 + 4 + 100 + 4 + 10 + 765
    assert estimate_chat({"messages": []})[1] == 512
    assert estimate_embeddings({"input": ["abcd", "efgh"]})[0] >= 2
    assert estimate_embeddings({"input": [1, 2, 3]}) == (3, 0)
