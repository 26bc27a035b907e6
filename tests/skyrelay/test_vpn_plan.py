"""The address facts of a private path: the /30 layout and every refusal of a bad plan."""

from __future__ import annotations

import ipaddress

import pytest

from skyrelay.vpn_plan import MAX_PEERS, address_plan_problems, inside_cidr_problem, inside_cidrs

CLEAN_AWS = {"eu-west-1": "10.20.0.0/16", "eu-central-1": "10.21.0.0/16"}
CLEAN_AZURE = {"contoso-eu": "10.100.0.0/22"}
CLEAN_INSIDE = {"eu-west-1": [c for pair in inside_cidrs(0) for c in pair],
                "eu-central-1": [c for pair in inside_cidrs(1) for c in pair]}


def test_a_clean_plan_has_no_problem() -> None:
    assert address_plan_problems(CLEAN_AWS, CLEAN_AZURE, CLEAN_INSIDE) == []


def test_every_peer_layout_is_valid_on_both_clouds_and_disjoint() -> None:
    # 32 peers x 2 instances x 2 tunnels: each /30 AWS accepts and Azure's APIPA range holds,
    # none shared (Azure would pick one BGP session for two tunnels).
    nets = [ipaddress.ip_network(c) for p in range(MAX_PEERS) for pair in inside_cidrs(p)
            for c in pair]
    assert len(nets) == 4 * MAX_PEERS
    assert all(inside_cidr_problem(str(n)) is None for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    with pytest.raises(ValueError, match="fit Azure's APIPA range"):
        inside_cidrs(MAX_PEERS)


def test_microsofts_table_is_peer_zero() -> None:
    # https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-howto-aws-bgp ("Choosing BGP
    # APIPA addresses"): tunnel 1/2 to instance 0, then tunnel 1/2 to instance 1.
    assert inside_cidrs(0) == (("169.254.21.0/30", "169.254.22.0/30"),
                               ("169.254.21.4/30", "169.254.22.4/30"))


def test_both_ends_take_their_defaults_from_the_one_layout() -> None:
    from skyrelay.constructs.site_to_site_vpn import default_inside_cidrs as aws_default
    from skyrelay.pulumi.components.site_vpn import default_inside_cidrs as azure_default

    for peer in range(3):
        assert azure_default(peer) == inside_cidrs(peer)
        assert (aws_default(2 * peer), aws_default(2 * peer + 1)) == inside_cidrs(peer)


@pytest.mark.parametrize(("aws", "azure", "inside", "where", "message"), [
    ({"eu-west-1": "10.20.0.0/16", "eu-central-1": "10.20.128.0/17"}, CLEAN_AZURE, {},
     "aws.regions.eu-central-1", "overlaps AWS VPC eu-west-1"),
    (CLEAN_AWS, {"contoso-eu": "10.21.4.0/22"}, {},
     "azure.accounts.contoso-eu", "overlaps AWS VPC eu-central-1"),
    (CLEAN_AWS, {"a": "10.100.0.0/22", "b": "10.100.2.0/24"}, {},
     "azure.accounts.b", "overlaps Azure VNet a"),
    (CLEAN_AWS, CLEAN_AZURE, {"eu-west-1": ["169.254.0.0/30"]},
     "aws.regions.eu-west-1.tunnel_inside_cidrs[0]", "reserved by AWS"),
    (CLEAN_AWS, CLEAN_AZURE, {"eu-west-1": ["169.254.30.0/30"]},
     "aws.regions.eu-west-1.tunnel_inside_cidrs[0]", "outside Azure's APIPA range"),
    (CLEAN_AWS, CLEAN_AZURE, {"eu-west-1": ["169.254.21.0/29"]},
     "aws.regions.eu-west-1.tunnel_inside_cidrs[0]", "must be a /30"),
    (CLEAN_AWS, CLEAN_AZURE, {"eu-west-1": ["169.254.21.0/30"],
                              "eu-central-1": ["169.254.22.0/30", "169.254.21.0/30"]},
     "aws.regions.eu-central-1.tunnel_inside_cidrs[1]",
     r"overlaps aws.regions.eu-west-1.tunnel_inside_cidrs\[0\]"),
])
def test_each_bad_plan_is_refused_at_its_location(aws: dict[str, str], azure: dict[str, str],
                                                  inside: dict[str, list[str]], where: str,
                                                  message: str) -> None:
    import re

    problems = address_plan_problems(aws, azure, inside)
    assert len(problems) == 1, problems
    assert problems[0][0] == where and re.search(message, problems[0][1]), problems
