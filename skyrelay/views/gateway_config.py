"""The gateway's runtime configuration, derived from the spec.

The gateway never reads the spec's YAML in production: it reads this JSON (from an SSM
parameter or a file). Everything it needs to route, check residency and meter is here, and
nothing secret is: tenant keys appear only as references.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.gateway_config import gateway_config
    cfg = gateway_config(load_spec("examples/platform.yaml"), "eu-central-1")
    assert cfg["routes"]["gpt-4o"]["strategy"] == "priority"
    assert "bedrock:us-east-1/nova-pro" not in cfg["targets"]   # not callable from there

Per gateway region (``region``) the config holds only the targets that region's gateway can
call (:mod:`skyrelay.views.reachability`): its own region's Bedrock, other regions' Bedrock
where ``gateway.cross_region_bedrock`` allows it, and targets outside AWS. Without a region
(a local gateway, ``skyrelay gateway serve``) it holds the whole routing table.

Content filters: a route's and a tenant's ``content_filter`` are copied; the guardrail ids
(``guardrails``: filter -> region -> identifier and version) exist only after a deploy and
are added by the gateway stack (:func:`with_guardrails`).
"""

from __future__ import annotations

from typing import Any

from skyrelay import regions
from skyrelay.gateway.envnames import SIDECAR_TRACES_ENDPOINT
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import ResolvedTarget, target_index
from skyrelay.views.reachability import reachable_targets

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


def gateway_config(spec: Spec, region: str | None = None) -> dict[str, Any]:
    """Build the gateway runtime config (a JSON-ready dict with sorted, stable content):
    for the gateway in ``region``, or the whole table when ``region`` is None."""
    index = target_index(spec)
    used = {t.key for r in spec.routes for t in r.targets}
    if region is not None:
        used &= set(reachable_targets(spec, region))
    rules = {name: c.allowed_set() for name, c in spec.compliance.classifications.items()}
    routes: dict[str, Any] = {}
    for route in spec.routes:
        targets = [t for t in route.targets if t.key in used]
        eligible = sorted(
            name for name, allowed in rules.items()
            if any(regions.satisfies(index[t.key].processing, allowed) for t in targets)
        )
        routes[route.name] = {
            "kind": route.kind,
            "strategy": route.strategy,
            "timeout_seconds": route.timeout_seconds,
            "max_attempts": route.max_attempts,
            "targets": [{"key": t.key, "weight": t.weight} for t in targets],
            "classifications": eligible,
        }
        if route.content_filter:
            routes[route.name]["content_filter"] = route.content_filter
    config: dict[str, Any] = {
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
                **({"content_filter": t.content_filter} if t.content_filter else {}),
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
    tracing = tracing_entry(spec)
    if tracing is not None:  # absent while off: configs (and their snapshots) stay the same
        config["tracing"] = tracing
    private = {a.name: "private-vpn" for a in (spec.azure.accounts if spec.azure else ())
               if a.gateway_path == "private-vpn"}
    if private:  # for /readyz: how each Azure account is reached (absent: all public)
        config["azure_paths"] = private
    if region is not None:
        config["region"] = region
    return config


def tracing_entry(spec: Spec) -> dict[str, Any] | None:
    """The derived config's ``tracing`` (read by ``skyrelay.gateway.telemetry.settings``),
    or None while the spec leaves tracing off."""
    tracing = spec.gateway.tracing
    if tracing.exporter == "off":
        return None
    endpoint = (SIDECAR_TRACES_ENDPOINT if tracing.exporter == "adot-xray"
                else tracing.endpoint or "")
    return {"exporter": tracing.exporter, "endpoint": endpoint,
            "sample_ratio": tracing.sample_ratio}


def with_guardrails(config: dict[str, Any],
                    guardrails: dict[str, dict[str, dict[str, str]]]) -> dict[str, Any]:
    """``config`` plus ``guardrails`` (filter -> region -> ``{"identifier", "version"}``);
    the gateway stack passes the deployed guardrails' attributes (CDK tokens)."""
    return {**config, "guardrails": guardrails} if guardrails else dict(config)


#: The longest values the deployed guardrail entries take (Bedrock ids are lower-case
#: alphanumerics, versions up to 8 digits; the definition digest is 12 hex digits), for
#: sizing the stored config before the ids exist.
_GUARDRAIL_BUDGET = {"identifier": "x" * 16, "version": "9" * 8, "definition": "f" * 12}


def sized_for_deploy(spec: Spec, region: str) -> dict[str, Any]:
    """The config of ``region`` with its guardrail entries at their longest: what the
    parameter holds at most after the stack fills in the deployed ids."""
    names = [f.name for f in spec.azure.content_filters] if spec.azure else []
    models = bool(spec.aws and region in spec.aws.regions
                  and spec.aws.regions[region].bedrock_models)
    return with_guardrails(gateway_config(spec, region), {
        n: {region: dict(_GUARDRAIL_BUDGET)} for n in names} if models else {})
