"""Whole-document checks of the gateway regions (issue 20): what each can call, content
filters and their guardrails, and the listener's certificate.

Each returns ``(path, message)`` pairs like :mod:`skyrelay.spec.checks`, which runs them.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.spec.gateway_checks import check_gateway_paths
    assert list(check_gateway_paths(load_spec("examples/platform.yaml"))) == []
"""

from __future__ import annotations

from collections.abc import Iterator

from skyrelay import regions
from skyrelay.spec.models import Spec
from skyrelay.spec.resolve import target_index

Problem = tuple[tuple[str | int, ...], str]


def check_gateway_paths(spec: Spec) -> Iterator[Problem]:
    """Each gateway region can call at least one target of every route (issue 20).

    A regional gateway reaches its own region's Bedrock through the VPC endpoint, another
    region's only where ``gateway.cross_region_bedrock`` allows it, and targets outside AWS
    through its NAT gateways (:mod:`skyrelay.views.reachability`).
    """
    from skyrelay.views.reachability import Unreachable, route_reach

    aws_regions = set(spec.aws.regions) if spec.aws else set()
    for region, others in spec.gateway.cross_region_bedrock.items():
        at = ("gateway", "cross_region_bedrock", region)
        if region not in spec.gateway.regions:
            yield at, (f"{region} is not a gateway region (gateway.regions: "
                       f"{', '.join(spec.gateway.regions) or 'none'})")
        for k, other in enumerate(others):
            if other == region:
                yield (*at, k), f"{region} calls its own Bedrock through its VPC endpoint"
            elif other not in aws_regions:
                yield (*at, k), f"{other} is not under aws.regions (it has no Bedrock models)"
    for region in spec.gateway.regions:
        if region not in aws_regions:
            continue  # reported by _check_aws_refs
        for i, (route, reach) in enumerate(route_reach(spec, region).items()):
            if any(isinstance(path, str) for _, path in reach):
                continue
            why = "; ".join(p.reason for _, p in reach if isinstance(p, Unreachable))
            yield (("routes", i, "targets"),
                   f"route {route!r} has no target the gateway in {region} can call ({why}); "
                   f"add a target in {region} or outside AWS, or allow the region under "
                   f"gateway.cross_region_bedrock.{region}")


def check_content_filter_refs(spec: Spec) -> Iterator[Problem]:
    """Routes and tenants name defined filters; a filtered Bedrock call has a guardrail."""
    from skyrelay.views.reachability import CROSS_REGION, target_path

    filters = {f.name for f in spec.azure.content_filters} if spec.azure else set()
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("routes", i, "content_filter"), r.content_filter)
        for i, r in enumerate(spec.routes) if r.content_filter]
    named += [(("tenants", i, "content_filter"), t.content_filter)
              for i, t in enumerate(spec.tenants) if t.content_filter]
    for path, name in named:
        if name not in filters:
            yield path, (f"content filter {name!r} is not defined under azure.content_filters "
                         f"(defined: {sorted(filters) or 'none'})")
    # Guardrails are regional (Converse takes one of the called region's): a filtered call
    # from a gateway to another region's Bedrock would need that region's guardrail id,
    # which the gateway stack of another region cannot reference. A tenant's filter counts
    # only for the targets its classification may use at all.
    index = target_index(spec)
    rules = {n: c.allowed_set() for n, c in spec.compliance.classifications.items()}
    for i, route in enumerate(spec.routes):
        users = [t for t in spec.tenants if t.content_filter and route.name in t.routes]
        for region in spec.gateway.regions:
            for j, target in enumerate(route.targets):
                if not target.key.startswith("bedrock:") or target.key not in index or \
                        target_path(spec, region, target.key) != CROSS_REGION:
                    continue
                processing = index[target.key].processing
                if not route.content_filter and not any(
                        regions.satisfies(processing, rules.get(t.classification, frozenset()))
                        for t in users):
                    continue
                yield (("routes", i, "targets", j),
                       f"route {route.name!r} is content-filtered, and its target "
                       f"{target.key} is called cross-region from the gateway in "
                       f"{region}: guardrails are regional and that gateway has only "
                       f"{region}'s; drop the cross-region allowance or the filter")


def check_gateway_tls(spec: Spec) -> Iterator[Problem]:
    tls = spec.gateway.tls
    if tls.certificate != "acm":
        return
    for region in spec.gateway.regions:
        if region not in tls.certificate_arns:
            yield (("gateway", "tls", "certificate_arns"),
                   f"certificate: acm needs an ACM certificate ARN for every gateway region; "
                   f"{region} has none")
    for region in tls.certificate_arns:
        if region not in spec.gateway.regions:
            yield (("gateway", "tls", "certificate_arns", region),
                   f"{region} is not a gateway region")
