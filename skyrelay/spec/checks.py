"""Whole-document checks: references between sections, duplicates and residency.

Each check returns ``(path, message)`` pairs so the loader can attach file and line. All
checks run; every problem is reported at once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from typing import Any

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import target_index

Problem = tuple[tuple[str | int, ...], str]


def _duplicates(items: Iterable[Any], path: tuple[str | int, ...], what: str,
                attr: str = "name") -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        name = getattr(item, attr)
        if name in seen:
            yield (*path, i, attr), f"duplicate {what} {name!r} (first at index {seen[name]})"
        else:
            seen[name] = i


def _check_duplicates(spec: Spec) -> Iterator[Problem]:
    if spec.aws:
        for region, cfg in spec.aws.regions.items():
            yield from _duplicates(cfg.bedrock_models, ("aws", "regions", region, "bedrock_models"),
                                   "Bedrock model name")
    if spec.azure:
        yield from _duplicates(spec.azure.accounts, ("azure", "accounts"), "Azure account name")
        yield from _duplicates(spec.azure.content_filters, ("azure", "content_filters"),
                               "content filter name")
        subdomains: dict[str, int] = {}
        for i, acct in enumerate(spec.azure.accounts):
            yield from _duplicates(acct.deployments, ("azure", "accounts", i, "deployments"),
                                   "deployment name")
            if acct.subdomain in subdomains and acct.name != spec.azure.accounts[
                    subdomains[acct.subdomain]].name:
                yield (("azure", "accounts", i, "custom_subdomain"),
                       f"custom subdomain {acct.subdomain!r} is used by another account")
            subdomains.setdefault(acct.subdomain, i)
    for i, ep in enumerate(spec.openai_compatible):
        yield from _duplicates(ep.models, ("openai_compatible", i, "models"), "model name")
    yield from _duplicates(spec.openai_compatible, ("openai_compatible",), "endpoint name")
    yield from _duplicates(spec.routes, ("routes",), "route name")
    yield from _duplicates(spec.tenants, ("tenants",), "tenant name")
    yield from _duplicates(spec.fine_tuning.jobs, ("fine_tuning", "jobs"), "job name")


def _check_network(spec: Spec) -> Iterator[Problem]:
    if not spec.aws:
        return
    nets = [(r, ipaddress.ip_network(c.vpc_cidr)) for r, c in spec.aws.regions.items()]
    for i, (region, net) in enumerate(nets):
        for other, other_net in nets[:i]:
            if net.overlaps(other_net):
                yield (("aws", "regions", region, "vpc_cidr"),
                       f"overlaps the VPC of {other} ({other_net}); regions need distinct ranges")


def _check_azure(spec: Spec) -> Iterator[Problem]:
    if not spec.azure:
        return
    filters = {f.name for f in spec.azure.content_filters}
    for i, acct in enumerate(spec.azure.accounts):
        geo = regions.AZURE_REGIONS[acct.location]
        for j, dep in enumerate(acct.deployments):
            at = ("azure", "accounts", i, "deployments", j)
            if dep.content_filter and dep.content_filter not in filters:
                yield ((*at, "content_filter"),
                       f"content filter {dep.content_filter!r} is not defined under "
                       f"azure.content_filters (defined: {sorted(filters) or 'none'})")
            if dep.sku.startswith("DataZone") and geo not in regions.AZURE_DATA_ZONES:
                yield ((*at, "sku"),
                       f"DataZoneStandard needs an account in a data zone (US or EU); "
                       f"{acct.location} is in {geo}")


def _check_routes(spec: Spec) -> Iterator[Problem]:
    index = target_index(spec)
    for i, route in enumerate(spec.routes):
        for j, target in enumerate(route.targets):
            at = ("routes", i, "targets", j)
            resolved = index.get(target.key)
            if resolved is None:
                yield at, _missing_target_message(spec, target.key, index)
            elif resolved.kind != route.kind:
                yield at, (f"target {target.key} serves {resolved.kind} but route "
                           f"{route.name!r} is a {route.kind} route")
        if route.strategy == "weighted" and sum(t.weight for t in route.targets) == 0:
            yield ("routes", i, "targets"), "a weighted route needs at least one weight above 0"


def _missing_target_message(spec: Spec, key: str, index: dict[str, Any]) -> str:
    cloud, _, rest = key.partition(":")
    place, _, name = rest.partition("/")
    known = sorted(k for k in index if k.startswith(f"{cloud}:"))
    if cloud == "bedrock" and (not spec.aws or place not in spec.aws.regions):
        return f"target {key}: region {place!r} is not under aws.regions"
    if cloud == "azure" and (not spec.azure or place not in {a.name for a in spec.azure.accounts}):
        return f"target {key}: account {place!r} is not under azure.accounts"
    if cloud == "openai" and place not in {e.name for e in spec.openai_compatible}:
        return f"target {key}: endpoint {place!r} is not under openai_compatible"
    what = {"bedrock": "Bedrock model", "azure": "deployment", "openai": "model"}[cloud]
    return f"target {key}: no {what} named {name!r} in {place} (declared: {', '.join(known)})"


def _check_tenants(spec: Spec) -> Iterator[Problem]:
    routes = {r.name: r for r in spec.routes}
    index = target_index(spec)
    rules = spec.compliance.classifications
    for i, tenant in enumerate(spec.tenants):
        rule = rules.get(tenant.classification)
        if rule is None:
            yield (("tenants", i, "classification"),
                   f"classification {tenant.classification!r} is not under "
                   f"compliance.classifications (defined: {', '.join(sorted(rules))})")
        allowed = rule.allowed_set() if rule else None
        for j, name in enumerate(tenant.routes):
            route = routes.get(name)
            if route is None:
                yield (("tenants", i, "routes", j),
                       f"route {name!r} does not exist (routes: {', '.join(sorted(routes))})")
                continue
            if rule is None or allowed is None or not any(t.key in index for t in route.targets):
                continue  # nothing to judge: the missing targets are reported on the route
            servable = [
                t.key for t in route.targets
                if t.key in index and regions.satisfies(index[t.key].processing, allowed)
            ]
            if not servable:
                where = "; ".join(
                    f"{t.key} processes in {regions.describe(index[t.key].processing)}"
                    for t in route.targets if t.key in index
                )
                yield (("tenants", i, "routes", j),
                       f"tenant {tenant.name!r} has classification {tenant.classification!r} "
                       f"(allowed: {', '.join(rule.allowed)}) but no target of route {name!r} "
                       f"may process its data there ({where})")


def _check_aws_refs(spec: Spec) -> Iterator[Problem]:
    aws_regions = set(spec.aws.regions) if spec.aws else set()
    for i, region in enumerate(spec.gateway.regions):
        if region not in aws_regions:
            yield (("gateway", "regions", i),
                   f"gateway region {region!r} must also be under aws.regions (it needs the VPC)")
    for i, job in enumerate(spec.fine_tuning.jobs):
        if job.region not in aws_regions:
            yield (("fine_tuning", "jobs", i, "region"),
                   f"job region {job.region!r} is not under aws.regions")


def cross_checks(spec: Spec) -> list[Problem]:
    """Run every whole-document check; return all problems found."""
    problems: list[Problem] = []
    for check in (_check_duplicates, _check_network, _check_azure, _check_routes,
                  _check_tenants, _check_aws_refs):
        problems.extend(check(spec))
    return problems
