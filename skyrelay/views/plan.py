"""The plan: what each cloud will get, each route's targets and residency, and the cost.

One JSON-ready document; the CLI renders it for people (rich), machines (``--json``) and
browsers (``--html``).

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.plan import build_plan
    plan = build_plan(load_spec("examples/platform.yaml"))
    print(plan["totals"]["monthly_cost"])
"""

from __future__ import annotations

from typing import Any

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import target_index
from skyrelay.views.azure_deployments import azure_deployments
from skyrelay.views.bedrock_arns import bedrock_invoke_arns
from skyrelay.views.cost import TrafficProfile, estimate_monthly_cost
from skyrelay.views.private_path import (
    forwarded_domains,
    peer_inside_cidrs,
    private_vpn_accounts,
    vpn_regions,
    vpn_stack_name,
)
from skyrelay.views.reachability import CROSS_REGION, PATH_TEXT, PRIVATE_PATHS, route_reach
from skyrelay.views.vpn_cost import private_path_costs

ACCOUNT_PLACEHOLDER = "${AWS::AccountId}"


def _aws_plan(spec: Spec) -> list[dict[str, Any]]:
    if not spec.aws:
        return []
    account = spec.aws.account or ACCOUNT_PLACEHOLDER
    out = []
    for region, cfg in spec.aws.regions.items():
        arns = bedrock_invoke_arns(spec, region, account)
        out.append({
            "region": region,
            # The zones the network stack lays subnets in: zone_ids, else the defaults.
            "vpc": {"cidr": cfg.vpc_cidr, "az_count": len(cfg.zones(region)),
                    "zone_ids": list(cfg.zones(region))},
            "bedrock_models": [
                {"name": m.name, "model_id": m.model_id, "kind": m.kind,
                 "processing": regions.describe(
                     regions.processing_regions_for_bedrock(m.model_id, region,
                                                            m.destination_regions))}
                for m in cfg.bedrock_models
            ],
            "invoke_arns": arns.all(),
            "invocation_logging": spec.aws.invocation_logging.enabled,
            "fine_tuning_jobs": [j.name for j in spec.fine_tuning.jobs if j.region == region],
            "gateway": region in spec.gateway.regions,
        })
    return out


def _azure_plan(spec: Spec) -> list[dict[str, Any]]:
    if not spec.azure:
        return []
    deployments = azure_deployments(spec)
    return [
        {
            "account": acct.name,
            "location": acct.location,
            "endpoint": acct.endpoint,
            "public_network_access": acct.public_network_access,
            "deployments": [
                {"name": d.name, "model": d.model, "version": d.version, "sku": d.sku,
                 "capacity": d.capacity, "content_filter": d.content_filter,
                 "processing": d.processing}
                for d in deployments if d.account == acct.name
            ],
        }
        for acct in spec.azure.accounts
    ]


def _routes_plan(spec: Spec) -> list[dict[str, Any]]:
    index = target_index(spec)
    rules = {n: c.allowed_set() for n, c in spec.compliance.classifications.items()}
    out = []
    for route in spec.routes:
        targets = []
        for t in route.targets:
            resolved = index[t.key]
            targets.append({
                "key": t.key,
                "weight": t.weight,
                "processing": regions.describe(resolved.processing),
                "classifications": sorted(
                    n for n, allowed in rules.items()
                    if regions.satisfies(resolved.processing, allowed)),
            })
        out.append({"name": route.name, "kind": route.kind, "strategy": route.strategy,
                    "timeout_seconds": route.timeout_seconds,
                    "max_attempts": route.max_attempts, "targets": targets,
                    "tenants": [tn.name for tn in spec.tenants if route.name in tn.routes]})
    return out


def _gateways_plan(spec: Spec) -> list[dict[str, Any]]:
    """Per gateway region: its listener's TLS, and which targets each route can reach
    there, over which path (traffic that leaves the VPC is flagged)."""
    tls = spec.gateway.tls
    out = []
    for region in spec.gateway.regions:
        if tls.certificate == "private-ca":
            listener = {"protocol": "HTTPS", "port": 443, "certificate": "private-ca",
                        "domain_name": tls.domain_for(spec.name, region),
                        "note": "creates an ACM Private CA (billed monthly) and a private "
                                "certificate; clients trust the CA's certificate"}
        elif tls.certificate == "acm":
            listener = {"protocol": "HTTPS", "port": 443, "certificate": "acm",
                        "certificate_arn": tls.certificate_arns.get(region, "")}
        else:
            listener = {"protocol": "HTTP", "port": 80, "certificate": "plain-http",
                        "warning": "plain HTTP: tenant keys and prompts cross the VPC in "
                                   f"clear text (opt-out: {tls.plain_http_reason})"}
        routes: list[dict[str, Any]] = []
        for name, reach in route_reach(spec, region).items():
            targets: list[dict[str, Any]] = [
                {"key": key, "path": path, "leaves_vpc": path not in PRIVATE_PATHS,
                 "path_text": PATH_TEXT[path]}
                for key, path in reach if isinstance(path, str)]
            routes.append({
                "route": name, "targets": targets,
                "unreachable": [{"key": key, "reason": path.reason}
                                for key, path in reach if not isinstance(path, str)]})
        out.append({
            "region": region, "listener": listener,
            "cross_region_bedrock": list(spec.gateway.cross_region_bedrock.get(region, ())),
            "cross_region_warning": any(t["path"] == CROSS_REGION
                                        for r in routes for t in r["targets"]),
            "routes": routes,
        })
    return out


def _private_paths_plan(spec: Spec) -> list[dict[str, Any]]:
    """Per gateway region, the private VPN to each private-vpn account and its monthly cost
    (the region's AWS part; the Azure part is per account, shared by every region)."""
    accounts = private_vpn_accounts(spec)
    if not accounts:
        return []
    cost = private_path_costs(spec)
    out = []
    for region in vpn_regions(spec):
        scope = f"aws:{region}"
        out.append({
            "region": region,
            "stack": vpn_stack_name(spec.name, region),
            "accounts": [{"account": a.name, "vnet_cidr": a.vnet_cidr,
                          "forwarded_domains": list(forwarded_domains(a)),
                          "azure_cost": [ln.as_dict() for ln in cost.lines
                                         if ln.scope == f"azure:{a.name}"]}
                         for a in accounts],
            "connections": 2, "tunnels": 4, "routing": "BGP",
            "tunnel_inside_cidrs": [c for pair in peer_inside_cidrs(spec, region) for c in pair],
            "cost": [ln.as_dict() for ln in cost.lines if ln.scope == scope],
            "monthly_cost": cost.total(scope),
            "missing_prices": [f"{ln.scope}: {ln.item} ({ln.source})" for ln in cost.missing],
            "needs_link": "the stack is synthesized only after `pulumi up` and `skyrelay "
                          "link` (step 2) have given it the Azure gateway's addresses",
        })
    return out


def build_plan(spec: Spec, traffic: TrafficProfile | None = None) -> dict[str, Any]:
    """Build the plan document for a validated spec."""
    traffic = traffic or TrafficProfile()
    cost = estimate_monthly_cost(spec, traffic)
    return {
        "name": spec.name,
        "aws": _aws_plan(spec),
        "azure": _azure_plan(spec),
        "routes": _routes_plan(spec),
        "gateways": _gateways_plan(spec),
        "private_paths": _private_paths_plan(spec),
        "tenants": [
            {"name": t.name, "classification": t.classification, "routes": list(t.routes),
             "monthly_budget": t.monthly_budget}
            for t in spec.tenants
        ],
        "cost": {
            "currency": cost.currency,
            "traffic": {
                "requests_per_month_per_route": traffic.default.requests_per_month,
                "input_tokens": traffic.default.input_tokens,
                "output_tokens": traffic.default.output_tokens,
            },
            "routes": [{"route": r.route, "by_target": r.by_target, "total": round(r.total, 2)}
                       for r in cost.routes],
            "fixed": cost.fixed,
        },
        "totals": {"monthly_cost": round(cost.total, 2), "currency": cost.currency},
    }
