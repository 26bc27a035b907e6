"""The private endpoints' subnet may take part of the network (room for a VPN gateway's).

A private-vpn account keeps its endpoints in the first half of ``vnet_cidr``; the component
argument that allows it must refuse a subnet Azure would refuse (outside the network), and
one that cannot apply (an existing network brings its own subnet).
"""

from __future__ import annotations

from typing import Any

import pytest

from skyrelay.pulumi.components import AzureArgsError, ExistingNetwork, ModelDeployment
from skyrelay.pulumi.components import OpenAIAccountArgs as Args
from skyrelay.pulumi.components.private_link import ACCOUNT_DNS_ZONES, PrivateLinkArgs


def _args(**values: Any) -> Args:
    return Args(account_name="acct", location="swedencentral", deployments=[ModelDeployment(
        name="d", model="gpt-4o", version="2024-11-20", sku="Standard", capacity=1)], **values)


def test_an_endpoint_subnet_inside_the_network_is_kept() -> None:
    assert _args(endpoint_subnet_cidr="10.100.0.0/25").endpoint_subnet_cidr == "10.100.0.0/25"
    assert _args().endpoint_subnet_cidr is None  # default: one subnet spanning the network


@pytest.mark.parametrize(("cidr", "message"), [
    ("10.101.0.0/25", "10.101.0.0/25 is not inside the virtual network's 10.100.0.0/24"),
    ("10.100.0.1/25", "is not a CIDR block"),
])
def test_an_endpoint_subnet_azure_would_refuse_is_refused(cidr: str, message: str) -> None:
    with pytest.raises(AzureArgsError, match=f"endpoint_subnet_cidr.*{message}"):
        _args(endpoint_subnet_cidr=cidr)


def test_an_endpoint_subnet_with_an_existing_network_is_refused() -> None:
    with pytest.raises(AzureArgsError, match="an existing_network brings its own subnet"):
        _args(endpoint_subnet_cidr="10.100.0.0/25",
              existing_network=ExistingNetwork(subnet_id="s", virtual_network_id="v"))


def test_private_link_checks_its_subnet_too() -> None:
    with pytest.raises(AzureArgsError, match="subnet_cidr: 10.0.0.0/25 is not inside"):
        PrivateLinkArgs(resource_group_name="rg", location="swedencentral",
                        target_resource_id="id", group_id="account",
                        dns_zone_names=ACCOUNT_DNS_ZONES, subnet_cidr="10.0.0.0/25")
