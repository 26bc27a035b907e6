"""Address facts of an AWS-Azure site-to-site VPN, written once for both ends and for checks.

* Each AWS tunnel has an inside /30 from 169.254.0.0/16, except seven /30s AWS reserves
  (TunnelInsideCidr in
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ec2-vpnconnection-vpntunneloptionsspecification.html).
* Azure's custom BGP (APIPA) addresses for a VPN gateway lie in 169.254.21.0-169.254.22.255,
  and AWS uses the first host of the /30, Azure the second
  (https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-howto-aws-bgp).
* The address plans of everything the tunnels join must not overlap: routes learned over BGP
  for one range cannot lead to two places.

:func:`inside_cidrs` hands out the /30s: AWS peer ``p`` (one VPN end, e.g. one gateway
region), its connection to Azure instance ``i``, tunnel ``t`` gets
``169.254.(21 + t).(8p + 4i)/30``, which is the layout of Microsoft's guide for peer 0.

Example::

    from skyrelay.vpn_plan import address_plan_problems, inside_cidrs
    inside_cidrs(0)   # (("169.254.21.0/30", "169.254.22.0/30"), ("169.254.21.4/30", ...))
    address_plan_problems({"eu-west-1": "10.20.0.0/16"}, {"contoso": "10.20.128.0/22"}, {})
    # [("azure.accounts.contoso", "10.20.128.0/22 overlaps AWS VPC eu-west-1 (10.20.0.0/16)")]
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
AWS_RESERVED_INSIDE = tuple(ipaddress.IPv4Network(c) for c in (
    "169.254.0.0/30", "169.254.1.0/30", "169.254.2.0/30", "169.254.3.0/30", "169.254.4.0/30",
    "169.254.5.0/30", "169.254.169.252/30"))
AZURE_APIPA_FIRST = ipaddress.IPv4Address("169.254.21.0")
AZURE_APIPA_LAST = ipaddress.IPv4Address("169.254.22.255")
#: Peers that fit in Azure's APIPA range with :func:`inside_cidrs` (8 addresses per peer).
MAX_PEERS = 32

Problem = tuple[str, str]


def inside_cidrs(peer: int) -> tuple[tuple[str, str], tuple[str, str]]:
    """The inside /30s of peer ``peer``: ``[instance][tunnel]`` (see the module docstring)."""
    if not 0 <= peer < MAX_PEERS:
        raise ValueError(f"peer {peer}: only {MAX_PEERS} AWS peers fit Azure's APIPA range")
    return tuple(  # type: ignore[return-value]
        tuple(f"169.254.{21 + t}.{8 * peer + 4 * i}/30" for t in range(2)) for i in range(2))


def inside_cidr_problem(cidr: str) -> str | None:
    """Why ``cidr`` cannot be a tunnel's inside network on both clouds, or None."""
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        return f"{cidr!r} is not an IPv4 CIDR ({exc})"
    if net.prefixlen != 30 or not net.subnet_of(LINK_LOCAL):
        return f"{cidr} must be a /30 inside 169.254.0.0/16"
    if net in AWS_RESERVED_INSIDE:
        return f"{cidr} is reserved by AWS for tunnels"
    if not (net[0] >= AZURE_APIPA_FIRST and net[-1] <= AZURE_APIPA_LAST):
        return f"{cidr} is outside Azure's APIPA range for VPN (169.254.21.0-169.254.22.255)"
    return None


def address_plan_problems(aws_vpcs: Mapping[str, str], azure_vnets: Mapping[str, str],
                          inside: Mapping[str, Sequence[str]]) -> list[Problem]:
    """Every overlap and bad inside /30 of one private path, as (where, what) pairs.

    ``aws_vpcs``: region -> VPC CIDR; ``azure_vnets``: account -> VNet CIDR; ``inside``:
    region -> that peer's inside /30s. Locations read like spec paths
    (``aws.regions.<region>``, ``azure.accounts.<account>``).
    """
    problems: list[Problem] = []
    seen: list[tuple[str, str, ipaddress.IPv4Network]] = []
    for kind, where, plan in (("AWS VPC", "aws.regions", aws_vpcs),
                              ("Azure VNet", "azure.accounts", azure_vnets)):
        for name, cidr in plan.items():
            net = ipaddress.IPv4Network(cidr)
            for other_kind, other_name, other in seen:
                if net.overlaps(other):
                    problems.append((f"{where}.{name}", f"{net} overlaps {other_kind} "
                                                        f"{other_name} ({other})"))
            seen.append((kind, name, net))
    used: dict[ipaddress.IPv4Network, str] = {}
    for region, cidrs in inside.items():
        for k, cidr in enumerate(cidrs):
            where = f"aws.regions.{region}.tunnel_inside_cidrs[{k}]"
            problem = inside_cidr_problem(cidr)
            if problem:
                problems.append((where, problem))
                continue
            net = ipaddress.IPv4Network(cidr)
            clash = next((w for other, w in used.items() if other.overlaps(net)), None)
            if clash:
                problems.append((where, f"{cidr} overlaps {clash}: Azure would answer both "
                                        "tunnels' BGP sessions from one address"))
            used[net] = where
    return problems
