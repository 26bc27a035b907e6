"""Which targets each gateway region can call, and over which path (DESIGN: truth at deploy).

A regional gateway's task role may invoke its own region's Bedrock models only through that
region's bedrock-runtime VPC endpoint (the grant carries ``aws:SourceVpce``), so a Bedrock
target in another region is callable only where the spec says so
(``gateway.cross_region_bedrock``): then the stacks grant that region's ARNs without the
endpoint condition and the traffic leaves the VPC through its NAT gateways to the other
region's public runtime endpoint. Azure accounts and OpenAI-compatible endpoints are reached
through the NAT gateways as well (the Azure network rules admit their addresses), except an
Azure account with ``gateway_path: private-vpn``: every gateway region reaches its private
endpoint over that region's site-to-site VPN (``<name>-<region>-vpn``, BGP over IPsec, DNS
forwarded to Azure's resolver), so the traffic never crosses the internet in the clear and
the account's public endpoint stays off.

One function answers it for the gateway config, ``validate`` and ``plan``.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.reachability import reachable_targets
    paths = reachable_targets(load_spec("examples/platform.yaml"), "eu-central-1")
    assert "bedrock:us-east-1/nova-pro" not in paths
"""

from __future__ import annotations

from dataclasses import dataclass

from skyrelay.spec.models import Spec

#: Paths a gateway uses to reach a target.
VPC_ENDPOINT = "vpc-endpoint"
CROSS_REGION = "cross-region"
NAT = "nat"
PRIVATE_VPN = "private-vpn"

#: What each path means, for ``plan``.
PATH_TEXT = {
    VPC_ENDPOINT: "own region, through the bedrock-runtime VPC endpoint (stays in the VPC)",
    CROSS_REGION: "another region's Bedrock: leaves the VPC through the NAT gateways to the "
                  "public runtime endpoint (gateway.cross_region_bedrock)",
    NAT: "leaves the VPC through the NAT gateways to the target's endpoint",
    PRIVATE_VPN: "the region's site-to-site VPN (IPsec, BGP) to the Azure account's private "
                 "endpoint; never the internet in the clear (gateway_path: private-vpn)",
}
#: Paths whose traffic stays on private networks end to end.
PRIVATE_PATHS = frozenset({VPC_ENDPOINT, PRIVATE_VPN})

#: Azure ``public_network_access`` values a gateway in AWS can reach (the public endpoint
#: with the gateways' NAT addresses allowed; ``skyrelay.spec.checks.REACHABLE_ACCESS``).
_REACHABLE_AZURE = frozenset({"gateway-egress-only"})


@dataclass(frozen=True)
class Unreachable:
    """Why a target cannot be called from a gateway region."""

    key: str
    reason: str


def has_egress(spec: Spec, region: str) -> bool:
    """True when the region's VPC gets NAT gateways (as ``stacks/network.py`` decides)."""
    return region in spec.gateway.regions and bool(spec.azure or spec.openai_compatible)


def target_path(spec: Spec, region: str, key: str) -> str | Unreachable:
    """The path from the gateway in ``region`` to the target ``key``, or why there is none.

    ``key`` is a route target key (``bedrock:us-east-1/nova-pro``); an unknown one is
    reported by the route checks, here it is merely unreachable.
    """
    cloud, _, rest = key.partition(":")
    place = rest.partition("/")[0]
    if cloud == "bedrock":
        if place == region:
            return VPC_ENDPOINT
        allowed = spec.gateway.cross_region_bedrock.get(region, ())
        if place not in allowed:
            return Unreachable(key, f"a Bedrock target in {place}: the gateway in {region} "
                                    f"may call only {region}'s Bedrock, through its VPC "
                                    "endpoint, unless gateway.cross_region_bedrock."
                                    f"{region} lists {place}")
        if not has_egress(spec, region):
            return Unreachable(key, f"the VPC in {region} has no NAT gateways (no target "
                                    "outside AWS), so there is no path to another region's "
                                    "public Bedrock endpoint")
        return CROSS_REGION
    if cloud == "azure":
        account = next((a for a in (spec.azure.accounts if spec.azure else ())
                        if a.name == place), None)
        if account is not None and account.gateway_path == PRIVATE_VPN:
            return PRIVATE_VPN
        if account is not None and account.public_network_access not in _REACHABLE_AZURE:
            return Unreachable(key, f"Azure account {place} answers only on its private "
                                    "endpoint, which no gateway VPC has a path to")
        return NAT
    return NAT


def reachable_targets(spec: Spec, region: str) -> dict[str, str]:
    """Every route target the gateway in ``region`` can call -> its path (sorted keys)."""
    keys = sorted({t.key for r in spec.routes for t in r.targets})
    out: dict[str, str] = {}
    for key in keys:
        path = target_path(spec, region, key)
        if isinstance(path, str):
            out[key] = path
    return out


def route_reach(spec: Spec, region: str) -> dict[str, list[tuple[str, str | Unreachable]]]:
    """Per route, each target with its path (or why it is unreachable) from ``region``."""
    return {r.name: [(t.key, target_path(spec, region, t.key)) for t in r.targets]
            for r in spec.routes}
