"""The private path in the views: reachability, topology, the gateway config and the plan
(per gateway region, with its monthly cost and the prices nobody could cite)."""

from __future__ import annotations

from typing import Any

import pytest
from vpn_platform import ACCOUNT, private_vpn_spec

from skyrelay.views.gateway_config import gateway_config
from skyrelay.views.plan import build_plan
from skyrelay.views.private_path import forwarded_domains, peer_inside_cidrs
from skyrelay.views.reachability import PRIVATE_VPN, target_path
from skyrelay.views.topology import build_topology
from skyrelay.views.vpn_cost import network_prices, private_path_costs

SPEC = private_vpn_spec()
KEY = f"azure:{ACCOUNT}/gpt-4o"


def test_every_gateway_region_reaches_the_account_over_its_vpn() -> None:
    for region in SPEC.gateway.regions:
        assert target_path(SPEC, region, KEY) == PRIVATE_VPN
        assert any(ACCOUNT in str(t) for t in gateway_config(SPEC, region)["targets"])


def test_the_default_spec_still_goes_through_nat(default_spec: Any) -> None:
    assert target_path(default_spec, "us-east-1", KEY) == "nat"


def test_topology_draws_the_private_vpn_as_private() -> None:
    edges = [e for e in build_topology(SPEC).edges
             if e.kind == "path" and e.target == f"endpoint:azure:{ACCOUNT}"]
    assert sorted(e.source for e in edges) == ["gateway:eu-central-1", "gateway:us-east-1"]
    assert {(e.label, e.leaves_vpc, e.crosses_cloud) for e in edges} == {
        ("private VPN (IPsec, BGP)", False, True)}
    (node,) = [n for n in build_topology(SPEC).nodes if n.id == f"endpoint:azure:{ACCOUNT}"]
    assert "private endpoint only" in node.detail and any("tunnels from" in d for d in node.detail)


def test_forwarded_names_are_the_pulumi_sides_privatelink_zones() -> None:
    from skyrelay.pulumi.components.private_link import ACCOUNT_DNS_ZONES

    names = forwarded_domains(SPEC.azure.accounts[0])
    assert {n.split(".", 1)[1] for n in names if ".privatelink." in n} == set(ACCOUNT_DNS_ZONES)
    assert all(n.startswith(f"{ACCOUNT}.") for n in names) and len(names) == 6


def test_peers_take_distinct_inside_slots() -> None:
    east, central = (peer_inside_cidrs(SPEC, r) for r in ("us-east-1", "eu-central-1"))
    assert not {c for p in east for c in p} & {c for p in central for c in p}


def test_plan_shows_the_path_per_region_with_its_cost() -> None:
    plan = build_plan(SPEC)
    paths = {p["region"]: p for p in plan["private_paths"]}
    assert sorted(paths) == ["eu-central-1", "us-east-1"]
    east = paths["us-east-1"]
    assert (east["stack"], east["tunnels"], east["routing"]) == ("acme-ai-us-east-1-vpn", 4, "BGP")
    # 2 connections x 730 h x USD 0.05, and 2 resolver addresses x 730 h x USD 0.125.
    assert [(c["item"].split(" (")[0], c["monthly"]) for c in east["cost"]] == [
        ("Site-to-Site VPN connections", 73.0),
        ("Route 53 Resolver outbound endpoint addresses", 182.5)]
    assert east["monthly_cost"] == 255.5
    assert all(c["source"].startswith("https://aws.amazon.com/") for c in east["cost"])
    # No citable Azure price: reported as missing, not guessed, and not in the total.
    (account,) = east["accounts"]
    assert [c["monthly"] for c in account["azure_cost"]] == [None, None]
    assert any("gateway_price_per_hour" in m for m in east["missing_prices"])
    assert plan["cost"]["fixed"]["private-vpn:aws:us-east-1"] == 255.5
    assert "private-vpn:azure:" + ACCOUNT not in plan["cost"]["fixed"]


def test_spec_given_azure_prices_are_used_and_named() -> None:
    spec = private_vpn_spec(vpn={"gateway_price_per_hour": 0.5,
                                 "resolver_endpoint_price_per_hour": 0.25})
    cost = private_path_costs(spec)
    azure = [c for c in cost.lines if c.scope == f"azure:{ACCOUNT}"]
    assert [c.monthly for c in azure] == [365.0, 182.5]
    assert all(c.source.startswith("spec: azure.accounts") for c in azure)
    assert not cost.missing
    assert build_plan(spec)["cost"]["fixed"][f"private-vpn:azure:{ACCOUNT}"] == 547.5


def test_usd_catalog_prices_are_not_used_for_another_currency() -> None:
    data = SPEC.model_dump(exclude_unset=True)
    from skyrelay.spec.models import Spec

    cost = private_path_costs(Spec.model_validate({**data, "currency": "EUR"}))
    assert all(c.monthly is None for c in cost.lines) and cost.total() == 0


@pytest.mark.parametrize("key", ["aws_vpn_connection_hour", "aws_resolver_endpoint_ip_hour",
                                 "azure_vpn_gateway_hour",
                                 "azure_dns_resolver_inbound_endpoint_hour"])
def test_each_catalog_price_cites_its_pricing_page(key: str) -> None:
    price = network_prices()[key]
    assert price.url in {"https://aws.amazon.com/vpn/pricing/",
                         "https://aws.amazon.com/route53/pricing/",
                         "https://azure.microsoft.com/pricing/details/vpn-gateway/",
                         "https://azure.microsoft.com/pricing/details/dns/"}
