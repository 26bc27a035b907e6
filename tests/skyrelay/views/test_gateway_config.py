"""The gateway's runtime config (``skyrelay.views.gateway_config``), derived from the spec.

The gateway trusts this document for routing, residency and metering: a target's
processing set or price copied wrongly here is a compliance or billing error in production,
and a classification listed on a route no target of which may serve it promises tenants a
route that always answers 403.
"""

from __future__ import annotations

import json

from skyrelay import regions
from skyrelay.spec import Spec
from skyrelay.spec.resolve import target_index
from skyrelay.views.gateway_config import CONFIG_VERSION, gateway_config


def inside(processing: frozenset[str], allowed: frozenset[str]) -> bool:
    """The residency oracle, independent of ``regions.satisfies``."""
    return regions.ANY in allowed or (regions.ANY not in processing and processing <= allowed)


def test_header_and_switches(default_spec: Spec) -> None:
    cfg = gateway_config(default_spec)
    assert (cfg["version"], cfg["name"], cfg["currency"]) == (CONFIG_VERSION, "acme-ai", "USD")
    assert CONFIG_VERSION == 1
    assert cfg["log_prompts"] is default_spec.gateway.log_prompts
    assert json.loads(json.dumps(cfg)) == cfg


def test_targets_are_the_used_ones_copied_from_the_spec(default_spec: Spec) -> None:
    cfg = gateway_config(default_spec)
    index = target_index(default_spec)
    used = {t.key for r in default_spec.routes for t in r.targets}
    assert list(cfg["targets"]) == sorted(used)
    for key, entry in cfg["targets"].items():
        t = index[key]
        assert entry == {
            "cloud": t.cloud, "kind": t.kind, "region": t.region, "model": t.model,
            "endpoint": t.endpoint, "account": t.account, "base_model": t.base_model,
            "sku": t.sku,
            "price": {"input_per_million": t.price.input_per_million,
                      "output_per_million": t.price.output_per_million},
            "processing": ["*"] if regions.ANY in t.processing else sorted(t.processing),
            # what the target supports, from the model catalog (the gateway's field decisions)
            "capabilities": dict(sorted(t.capabilities.items())),
        }, key
    # A global deployment is written as anywhere, never as a partial list.
    assert cfg["targets"]["azure:acme-openai-swc/gpt-4o-mini"]["processing"] == ["*"]


def test_routes_list_exactly_the_classifications_some_target_may_serve(
        default_spec: Spec) -> None:
    cfg = gateway_config(default_spec)
    index = target_index(default_spec)
    rules = {n: c.allowed_set() for n, c in default_spec.compliance.classifications.items()}
    assert list(cfg["routes"]) == [r.name for r in default_spec.routes]
    for route in default_spec.routes:
        entry = cfg["routes"][route.name]
        servable = sorted(n for n, allowed in rules.items()
                          if any(inside(index[t.key].processing, allowed)
                                 for t in route.targets))
        assert entry == {
            "kind": route.kind, "strategy": route.strategy,
            "timeout_seconds": route.timeout_seconds, "max_attempts": route.max_attempts,
            "targets": [{"key": t.key, "weight": t.weight} for t in route.targets],
            "classifications": servable,
        }, route.name
    assert cfg["routes"]["chat-eu"]["classifications"] == ["eu-personal", "internal", "public"]
    # A global deployment and gpt-oss in us-east-1 serve no EU-only data, but nova-pro in
    # eu-central-1 does: one servable target puts the classification on the route.
    assert cfg["routes"]["chat-default"]["classifications"] == [
        "eu-personal", "internal", "public"]


def test_tenants_and_classifications(default_spec: Spec) -> None:
    cfg = gateway_config(default_spec)
    for t in default_spec.tenants:
        assert cfg["tenants"][t.name] == {
            "api_key": t.api_key.model_dump(exclude_none=True), "routes": list(t.routes),
            "classification": t.classification, "monthly_budget": t.monthly_budget,
            "requests_per_minute": t.requests_per_minute,
            "tokens_per_minute": t.tokens_per_minute,
            # the tenant's content filter (its guardrail on Bedrock), only when it names one
            **({"content_filter": t.content_filter} if t.content_filter else {})}
    assert cfg["tenants"]["eu-support"]["content_filter"] == "strict"
    assert "content_filter" not in cfg["tenants"]["web-app"]
    assert cfg["tenants"]["web-app"]["api_key"] == {"secret": "skyrelay/tenants/web-app"}
    classes = cfg["classifications"]
    assert classes["public"] == {"allowed": ["any"], "processing_allowed": ["*"]}
    assert classes["eu-personal"]["allowed"] == ["eu"]
    assert classes["eu-personal"]["processing_allowed"] == sorted(
        regions.regions_of_geography("eu"))
