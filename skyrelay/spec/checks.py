"""Whole-document checks: references between sections, duplicates and residency.

Each check returns ``(path, message)`` pairs so the loader can attach file and line. All
checks run; every problem is reported at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

from skyrelay import aws_zones, regions
from skyrelay.gateway.envnames import RESERVED_ENV  # noqa: F401 - used and re-exported
from skyrelay.spec.gateway_checks import (
    check_content_filter_refs,
    check_gateway_paths,
    check_gateway_tls,
)
from skyrelay.spec.models import SecretRef, Spec
from skyrelay.spec.resolve import target_index
from skyrelay.spec.vpn_checks import check_private_vpn

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
    # The fine-tuning stack names each job's resources after its name without hyphens.
    squeezed: dict[str, str] = {}
    for i, job in enumerate(spec.fine_tuning.jobs):
        key = re.sub("-+", "-", job.name)
        first = squeezed.setdefault(key, job.name)
        if first != job.name:
            yield (("fine_tuning", "jobs", i, "name"),
                   f"job names {first!r} and {job.name!r} differ only in repeated hyphens; "
                   "the fine-tuning stack would give both jobs the same resource names")


#: Subnet masks of a region's VPC per availability zone, in allocation order, as
#: ``constructs/network.py`` (EGRESS_SUBNET_MASKS, ISOLATED_SUBNET_MASKS) lays them out:
#: public, private and data subnets where the gateway needs NAT egress, else one isolated one.
VPC_SUBNET_MASKS = {True: (24, 20, 24), False: (20,)}


def vpc_addresses_needed(zones: int, egress: bool) -> int:
    """Addresses a VPC needs for its subnets: each group in turn, each subnet aligned to its
    own size (how CDK allocates them)."""
    end = 0
    for mask in VPC_SUBNET_MASKS[egress]:
        size = 2 ** (32 - mask)
        for _ in range(zones):
            end = -(-end // size) * size + size
    return end


def needs_egress(spec: Spec, region: str) -> bool:
    """True when the region's VPC gets NAT gateways (``stacks/network.py``): the gateway runs
    there and has targets outside AWS."""
    return region in spec.gateway.regions and bool(spec.azure or spec.openai_compatible)


def _check_gateway_tracing(spec: Spec) -> Iterator[Problem]:
    tracing = spec.gateway.tracing
    if tracing.exporter != "adot-xray" or tracing.collector_image:
        return
    # ECR Public has no VPC endpoint: pulling the pinned collector image needs NAT.
    closed = [r for r in spec.gateway.regions if not needs_egress(spec, r)]
    if closed:
        yield (("gateway", "tracing", "exporter"),
               f"adot-xray pulls the collector from ECR Public, but the VPC of "
               f"{', '.join(closed)} has no NAT (the gateway there has no targets outside "
               "AWS): give collector_image (an image in private ECR, e.g. an ECR "
               "pull-through cache of public.ecr.aws/aws-observability/aws-otel-collector)")


def _check_network(spec: Spec) -> Iterator[Problem]:
    if not spec.aws:
        return
    nets = [(r, ipaddress.ip_network(c.vpc_cidr)) for r, c in spec.aws.regions.items()]
    for i, (region, net) in enumerate(nets):
        for other, other_net in nets[:i]:
            if net.overlaps(other_net):
                yield (("aws", "regions", region, "vpc_cidr"),
                       f"overlaps the VPC of {other} ({other_net}); regions need distinct ranges")
    for region, cfg in spec.aws.regions.items():
        at = ("aws", "regions", region)
        known = aws_zones.zone_ids(region)
        for i, zone in enumerate(cfg.zone_ids):
            if zone not in known:
                yield ((*at, "zone_ids", i),
                       f"{zone!r} is not an availability zone ID of {region} "
                       f"(expected one of {', '.join(known) or 'none known'}; "
                       f"source: {aws_zones.SOURCE})")
            elif zone in cfg.zone_ids[:i]:
                yield ((*at, "zone_ids", i), f"{zone!r} is listed twice")
        if cfg.zone_ids and "az_count" in cfg.model_fields_set \
                and cfg.az_count != len(cfg.zone_ids):
            yield ((*at, "az_count"),
                   f"az_count is {cfg.az_count} but zone_ids names {len(cfg.zone_ids)} "
                   "zones; give one of the two")
        if not cfg.zone_ids and cfg.az_count > len(known):
            yield ((*at, "az_count"),
                   f"{region} has {len(known)} availability zones usable in every account "
                   f"({', '.join(known)}); az_count is {cfg.az_count}")
        zone_count = len(cfg.zone_ids) or cfg.az_count
        if region in spec.gateway.regions and zone_count < 2:
            yield ((*at, "zone_ids" if cfg.zone_ids else "az_count"),
                   "the gateway runs here and its load balancer needs subnets in at least 2 "
                   "availability zones; "
                   + ("name 2 or more zone_ids" if cfg.zone_ids else "set az_count to 2 or more"))
        egress = needs_egress(spec, region)
        needed = vpc_addresses_needed(zone_count, egress)
        net = ipaddress.ip_network(cfg.vpc_cidr)
        if needed > net.num_addresses:
            prefix = 32 - (needed - 1).bit_length()
            layout = ("a /24 public, a /20 private and a /24 data subnet per zone, as the "
                      "gateway here reaches other clouds" if egress else "a /20 subnet per zone")
            yield ((*at, "vpc_cidr"),
                   f"{cfg.vpc_cidr} is too small for {zone_count} availability zone(s) "
                   f"({layout}): use a /{prefix} or larger")


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


#: How a gateway in AWS reaches an Azure account, by ``public_network_access``: the public
#: endpoint through the VPC's NAT gateways (whose addresses the account's network rules
#: allow), or nothing yet for a private-only account (a private path between the clouds is
#: a separate spec choice still to come).
REACHABLE_ACCESS = frozenset({"gateway-egress-only"})


def _check_reachability(spec: Spec) -> Iterator[Problem]:
    """Every Azure account is reachable from every gateway region (DESIGN: truth at deploy).

    A ``disabled`` account answers only on its private endpoint, in an Azure virtual network
    that no gateway VPC has a path to: every call would get 403. With no gateway region yet
    there is nothing to reach it from, so nothing to judge.
    """
    if not spec.azure or not spec.gateway.regions:
        return
    for i, acct in enumerate(spec.azure.accounts):
        if acct.public_network_access in REACHABLE_ACCESS \
                or acct.gateway_path == "private-vpn":  # judged by check_private_vpn
            continue
        gateways = ", ".join(spec.gateway.regions)
        yield (("azure", "accounts", i, "public_network_access"),
               f"account {acct.name!r} cannot be reached from any gateway region ({gateways}): "
               f"'{acct.public_network_access}' leaves only its private endpoint, in an Azure "
               "virtual network no gateway VPC has a path to, so every call would get 403; "
               "set public_network_access: gateway-egress-only (public endpoint, default "
               "deny, only the gateways' NAT addresses allowed), or gateway_path: private-vpn "
               "(a site-to-site VPN to the private endpoint)")


def _check_azure_resource_names(spec: Spec) -> Iterator[Problem]:
    """Names the Azure program would use twice.

    Pulumi names resources within a type by name alone, so the names the program derives
    (``<account>-<deployment>``, ``<account>-rai-<filter>``, as in
    ``pulumi/components/openai_account.py``) must not repeat across accounts: the engine
    refuses a duplicate URN.
    """
    if not spec.azure:
        return
    seen: dict[tuple[str, str], tuple[str | int, ...]] = {}
    for i, acct in enumerate(spec.azure.accounts):
        at = ("azure", "accounts", i)
        named: list[tuple[tuple[str, str], tuple[str | int, ...]]] = [
            (("Deployment", f"{acct.name}-{d.name}"), (*at, "deployments", j, "name"))
            for j, d in enumerate(acct.deployments)
        ]
        used = sorted({d.content_filter for d in acct.deployments if d.content_filter})
        named += [(("RaiPolicy", f"{acct.name}-rai-{f}"), (*at, "name")) for f in used]
        for key, path in named:
            first = seen.setdefault(key, path)
            if first != path:
                yield (path, f"the Azure program would name this {key[0]} {key[1]!r}, like "
                             f"the one at {dotted_path(first[:-1])}; Pulumi needs unique names "
                             "(rename the deployment or the account)")


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
    size = spec.gateway.fargate_size_problem()
    if size:
        yield ("gateway", "memory_mib"), size
    aws_regions = set(spec.aws.regions) if spec.aws else set()
    for i, region in enumerate(spec.gateway.regions):
        if region not in aws_regions:
            yield (("gateway", "regions", i),
                   f"gateway region {region!r} must also be under aws.regions (it needs the VPC)")
    for i, job in enumerate(spec.fine_tuning.jobs):
        if job.region not in aws_regions:
            yield (("fine_tuning", "jobs", i, "region"),
                   f"job region {job.region!r} is not under aws.regions")


def _rules_summary(spec: Spec) -> str:
    return "; ".join(f"{n}: {', '.join(c.allowed)}"
                     for n, c in spec.compliance.classifications.items())


def residency_problems(spec: Spec) -> Iterator[Problem]:
    """Places the spec builds in that no classification allows.

    * an AWS region (its stacks keep invocation logs, and the gateway handles requests
      there) outside the union of the classifications' allowed sets (``skyrelay check``
      rule SKY-AWS-006);
    * an Azure account location outside it (the account keeps data at rest; SKY-AZ-006);
    * an Azure deployment whose processing set no single classification allows (no tenant's
      data may ever be sent to it; typically ``GlobalStandard`` under EU-only rules).

    The Azure program refuses the last two as well (``skyrelay.pulumi.residency``).
    """
    rules = {name: c.allowed_set() for name, c in spec.compliance.classifications.items()}
    union = frozenset().union(*rules.values())
    if regions.ANY not in union and spec.aws:
        for region in spec.aws.regions:
            if f"aws:{region}" not in union:
                yield (("aws", "regions", region),
                       f"{region} ({regions.AWS_REGIONS[region]}) is outside every region the "
                       f"compliance classifications allow ({_rules_summary(spec)})")
    if not spec.azure:
        return
    for i, acct in enumerate(spec.azure.accounts):
        if regions.ANY not in union and f"azure:{acct.location}" not in union:
            yield (("azure", "accounts", i, "location"),
                   f"{acct.location} ({regions.AZURE_REGIONS[acct.location]}) is outside every "
                   f"region the compliance classifications allow ({_rules_summary(spec)})")
        for j, dep in enumerate(acct.deployments):
            processing = regions.processing_regions_for_azure(dep.sku, acct.location)
            if not any(regions.satisfies(processing, allowed) for allowed in rules.values()):
                yield (("azure", "accounts", i, "deployments", j, "sku"),
                       f"a {dep.sku} deployment ({dep.name}) processes data in "
                       f"{regions.describe(processing)}, which no compliance classification "
                       f"allows ({_rules_summary(spec)})")


#: Environment variables the gateway's container gets from the platform itself (its config,
#: its shared-state connection, its Entra credential, its own settings), named once in
#: ``skyrelay.gateway.envnames``. A key reference may not take one of them.
def _check_key_refs(spec: Spec) -> Iterator[Problem]:
    """Each key reference reaches the gateway through its own environment variable."""
    from skyrelay.gateway.envnames import secret_env_name

    refs: list[tuple[tuple[str | int, ...], SecretRef]] = [
        (("tenants", i, "api_key"), t.api_key) for i, t in enumerate(spec.tenants)]
    refs += [(("openai_compatible", i, "api_key"), e.api_key)
             for i, e in enumerate(spec.openai_compatible) if e.api_key is not None]
    seen: dict[str, tuple[SecretRef, tuple[str | int, ...]]] = {}
    for path, ref in refs:
        if ref.env is not None:
            var, what = ref.env, f"env {ref.env}"
        else:
            assert ref.secret is not None
            var, what = secret_env_name(ref.secret), f"secret {ref.secret}"
        if var in RESERVED_ENV:  # only an env reference can name one (secrets get a prefix)
            yield ((*path, "env"),
                   f"{var} is set by the platform itself (reserved: "
                   f"{', '.join(sorted(RESERVED_ENV))}); name another variable")
            continue
        first = seen.setdefault(var, (ref, path))
        if first[0] != ref:
            other = dotted_path(first[1])
            yield (path, f"{what} reaches the gateway as variable {var}, like the different "
                         f"reference at {other}; names must differ in more than case and "
                         "punctuation")


def dotted_path(path: tuple[str | int, ...]) -> str:
    """``("tenants", 0, "api_key")`` -> ``tenants[0].api_key``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


#: The largest gateway config the gateway stack stores (an advanced-tier SSM parameter,
#: ``constructs/gateway_service.py`` MAX_CONFIG_BYTES).
MAX_GATEWAY_CONFIG_BYTES = 8192


def _check_gateway_config_size(spec: Spec) -> Iterator[Problem]:
    from skyrelay.link import config_json
    from skyrelay.views.gateway_config import gateway_config, sized_for_deploy

    # Each gateway region stores its own config (only the targets it can call), with its
    # guardrails' deployed ids added by the stack.
    size = max((len(config_json(sized_for_deploy(spec, region)).encode())
                for region in spec.gateway.regions),
               default=len(config_json(gateway_config(spec)).encode()))
    if size > MAX_GATEWAY_CONFIG_BYTES:
        yield (("gateway",),
               f"the gateway config derived from this spec is {size} bytes; its SSM parameter "
               f"holds at most {MAX_GATEWAY_CONFIG_BYTES} (fewer or shorter tenants, routes "
               "or targets)")


def cross_checks(spec: Spec) -> list[Problem]:
    """Run every whole-document check; return all problems found."""
    problems: list[Problem] = []
    for check in (_check_duplicates, _check_network, _check_azure, _check_reachability,
                  check_private_vpn,
                  _check_azure_resource_names, _check_routes,
                  _check_tenants, _check_aws_refs, residency_problems, _check_key_refs,
                  check_content_filter_refs, check_gateway_tls, _check_gateway_tracing):
        problems.extend(check(spec))
    if not problems:  # the config is only derivable from a spec whose references resolve
        problems.extend(check_gateway_paths(spec))
    if not problems:
        problems.extend(_check_gateway_config_size(spec))
    return problems
