"""The gateway's runtime configuration, derived from the spec.

The gateway never reads the spec's YAML in production: it reads this JSON (from an SSM
parameter or a file). Everything it needs to route, check residency and meter is here, and
nothing secret is: tenant keys appear only as references.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.gateway_config import gateway_config
    cfg = gateway_config(load_spec("examples/platform.yaml"))
    assert cfg["routes"]["gpt-4o"]["strategy"] == "priority"
"""

from __future__ import annotations

from typing import Any

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import ResolvedTarget, target_index

CONFIG_VERSION = 1


def _processing_list(processing: frozenset[str]) -> list[str]:
    return [regions.ANY] if regions.ANY in processing else sorted(processing)


def _target_entry(t: ResolvedTarget) -> dict[str, Any]:
    entry = _base_entry(t)
    # Only what differs from the defaults, so configs of specs that do not use them stay put.
    if t.cloud == "azure" and t.api == "classic":  # v1 is the gateway's default
        entry["api"] = "classic"
        if t.api_version:
            entry["api_version"] = t.api_version
    if t.cloud == "bedrock" and t.api == "openai":  # bedrock-runtime's OpenAI endpoint
        entry["api"] = "openai"
    if t.api_key is not None:  # a reference (env / secret name), never the key itself
        entry["api_key"] = dict(t.api_key)
    return entry


def _base_entry(t: ResolvedTarget) -> dict[str, Any]:
    return {
        "cloud": t.cloud,
        "kind": t.kind,
        "region": t.region,
        "model": t.model,
        "endpoint": t.endpoint,
        "account": t.account,
        "base_model": t.base_model,
        "sku": t.sku,
        "price": {
            "input_per_million": t.price.input_per_million,
            "output_per_million": t.price.output_per_million,
        },
        "processing": _processing_list(t.processing),
        # What the model can do, by the catalog (known flags only): the gateway decides per
        # target whether to translate or refuse a parameter without importing the catalog.
        "capabilities": dict(sorted(t.capabilities.items())),
    }


def gateway_config(spec: Spec) -> dict[str, Any]:
    """Build the gateway runtime config (a JSON-ready dict with sorted, stable content)."""
    index = target_index(spec)
    used = {t.key for r in spec.routes for t in r.targets}
    rules = {name: c.allowed_set() for name, c in spec.compliance.classifications.items()}
    routes: dict[str, Any] = {}
    for route in spec.routes:
        eligible = sorted(
            name for name, allowed in rules.items()
            if any(regions.satisfies(index[t.key].processing, allowed) for t in route.targets)
        )
        routes[route.name] = {
            "kind": route.kind,
            "strategy": route.strategy,
            "timeout_seconds": route.timeout_seconds,
            "max_attempts": route.max_attempts,
            "targets": [{"key": t.key, "weight": t.weight} for t in route.targets],
            "classifications": eligible,
        }
    return {
        "version": CONFIG_VERSION,
        "name": spec.name,
        "currency": spec.currency,
        "log_prompts": spec.gateway.log_prompts,
        "targets": {k: _target_entry(index[k]) for k in sorted(used)},
        "routes": routes,
        "tenants": {
            t.name: {
                "api_key": t.api_key.model_dump(exclude_none=True),
                "routes": list(t.routes),
                "classification": t.classification,
                "monthly_budget": t.monthly_budget,
                "requests_per_minute": t.requests_per_minute,
                "tokens_per_minute": t.tokens_per_minute,
            }
            for t in spec.tenants
        },
        "classifications": {
            name: {
                "allowed": list(c.allowed),
                "processing_allowed": _processing_list(rules[name]),
            }
            for name, c in spec.compliance.classifications.items()
        },
    }
