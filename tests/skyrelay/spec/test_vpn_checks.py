"""The checks of ``gateway_path: private-vpn`` accounts (``skyrelay.spec.vpn_checks``).

Each refusal stops a spec that would deploy a VPN that cannot come up or cannot route: a
GatewaySubnet Azure refuses, subnets on top of each other, networks the tunnels would join
with overlapping ranges, an ASN eBGP or Azure refuses, a zone-redundant gateway where there
are no zones. The specs are built with pydantic alone (``Spec.model_validate``): the loader
would also add the "not built yet" refusal, which these tests leave aside.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay import regions
from skyrelay.spec import Spec, SpecError, parse_spec_text
from skyrelay.spec.vpn_checks import (
    AZURE_NO_ZONE_LOCATIONS,
    AZURE_ZONE_LOCATIONS,
    VpnLayout,
    check_private_vpn,
    check_vpn_address_plan,
    vpn_layout,
    vpn_slots,
)
from skyrelay.vpn_plan import inside_cidrs

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BASE = yaml.safe_load((EXAMPLES / "platform.yaml").read_text())
Change = Callable[[dict[str, Any]], None]


def private_doc(change: Change | None = None, **account: Any) -> dict[str, Any]:
    """The default spec with its account on the private path (public access off)."""
    doc = copy.deepcopy(BASE)
    for acct in doc["azure"]["accounts"]:
        for deployment in acct["deployments"]:
            deployment["version"] = str(deployment["version"])  # safe_load made it a date
    doc["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                       public_network_access="disabled", **account)
    if change:
        change(doc)
    return doc


def spec_of(change: Change | None = None, **account: Any) -> Spec:
    return Spec.model_validate(private_doc(change, **account))


def found(spec: Spec) -> list[tuple[str, str]]:
    """(dotted path, message) of every private-vpn problem but the one-account refusal."""
    return [(".".join(map(str, path)), message) for path, message in check_private_vpn(spec)
            if "only one Azure account per platform" not in message]


def second_account(**values: Any) -> Change:
    def change(doc: dict[str, Any]) -> None:
        other = copy.deepcopy(doc["azure"]["accounts"][0])
        other.update(name="acme-openai-gwc", location="germanywestcentral", **values)
        doc["azure"]["accounts"].append(other)
    return change


def test_the_default_account_on_the_private_path_has_no_problem() -> None:
    assert list(check_private_vpn(spec_of())) == []


def test_default_layout_endpoints_first_half_then_gateway_then_resolver() -> None:
    (acct,) = spec_of().azure.accounts  # type: ignore[union-attr]
    assert vpn_layout(acct) == VpnLayout("10.100.0.0/25", "10.100.0.128/27", "10.100.0.160/28")
    big = spec_of(vnet_cidr="10.100.0.0/22").azure.accounts[0]  # type: ignore[union-attr]
    assert vpn_layout(big) == VpnLayout("10.100.0.0/23", "10.100.2.0/27", "10.100.2.32/28")
    given = spec_of(vpn={"gateway_subnet": "10.100.0.192/26"}).azure.accounts[0]  # type: ignore[union-attr]
    # The resolver follows a larger GatewaySubnet the spec gives.
    assert vpn_layout(given).resolver == "10.100.1.0/28"


def test_a_gateway_subnet_smaller_than_a_27_is_refused() -> None:
    assert found(spec_of(vpn={"gateway_subnet": "10.100.0.128/28"})) == [
        ("azure.accounts.0.vpn.gateway_subnet",
         "account 'acme-openai-swc': the GatewaySubnet 10.100.0.128/28 is smaller than the /27 "
         "Azure asks for (https://learn.microsoft.com/azure/vpn-gateway/"
         "vpn-gateway-about-vpn-gateway-settings#gwsub): give a /27 or larger")]


def test_a_resolver_subnet_outside_28_to_24_is_refused() -> None:
    assert found(spec_of(vpn={"resolver_subnet": "10.100.0.160/29"})) == [
        ("azure.accounts.0.vpn.resolver_subnet",
         "account 'acme-openai-swc': the resolver's inbound subnet 10.100.0.160/29 must be a "
         "/28 to /24 (https://learn.microsoft.com/azure/dns/"
         "dns-private-resolver-overview#subnet-restrictions)")]


def test_a_given_subnet_outside_the_vnet_is_refused() -> None:
    assert found(spec_of(vpn={"gateway_subnet": "10.101.0.0/27"})) == [
        ("azure.accounts.0.vpn.gateway_subnet",
         "account 'acme-openai-swc': the GatewaySubnet 10.101.0.0/27 lies outside vnet_cidr "
         "10.100.0.0/24")]


def test_a_vnet_too_small_for_the_default_layout_names_vnet_cidr() -> None:
    # A /26: endpoints .0/27, GatewaySubnet .32/27, and no room left for the resolver's /28.
    assert found(spec_of(vnet_cidr="10.100.0.0/26")) == [
        ("azure.accounts.0.vnet_cidr",
         "account 'acme-openai-swc': vnet_cidr 10.100.0.0/26 has no room for the resolver's "
         "inbound subnet 10.100.0.64/28 after the private endpoints' half (10.100.0.0/27): use "
         "a /25 or larger vnet_cidr, or give vpn.resolver_subnet inside it")]
    assert found(spec_of(vnet_cidr="10.100.0.0/25")) == []


def test_a_gateway_subnet_in_the_private_endpoints_half_is_refused() -> None:
    assert found(spec_of(vpn={"gateway_subnet": "10.100.0.64/27",
                              "resolver_subnet": "10.100.0.128/28"})) == [
        ("azure.accounts.0.vpn.gateway_subnet",
         "account 'acme-openai-swc': the GatewaySubnet 10.100.0.64/27 overlaps the private "
         "endpoints' subnet 10.100.0.0/25 (the first half of vnet_cidr)")]


def test_a_resolver_subnet_inside_the_gateway_subnet_is_refused() -> None:
    assert found(spec_of(vpn={"resolver_subnet": "10.100.0.144/28"})) == [
        ("azure.accounts.0.vpn.resolver_subnet",
         "account 'acme-openai-swc': the resolver's inbound subnet 10.100.0.144/28 overlaps "
         "the GatewaySubnet 10.100.0.128/27")]


def test_a_subnet_that_is_no_cidr_block_is_refused_without_a_traceback() -> None:
    ((path, message),) = found(spec_of(vpn={"gateway_subnet": "10.100.0.129/27"}))
    assert path == "azure.accounts.0.vpn"
    assert message.startswith("account 'acme-openai-swc': vpn.gateway_subnet "
                              "'10.100.0.129/27' is not an IPv4 CIDR block: ")
    assert "has host bits set" in message


def test_a_vnet_overlapping_a_gateway_regions_vpc_is_refused() -> None:
    # us-east-1's VPC is 10.10.0.0/16: routes to the VNet would point into the VPC itself.
    assert found(spec_of(vnet_cidr="10.10.200.0/24")) == [
        ("azure.accounts.0.vnet_cidr",
         "10.10.200.0/24 overlaps AWS VPC us-east-1 (10.10.0.0/16): the VPN joins these "
         "networks, so their ranges must not overlap (BGP would route one range two ways)")]


def test_two_private_vpn_vnets_that_overlap_are_refused() -> None:
    spec = spec_of(second_account(vnet_cidr="10.100.0.0/23"))
    assert found(spec) == [
        ("azure.accounts.1.vnet_cidr",
         "10.100.0.0/23 overlaps Azure VNet acme-openai-swc (10.100.0.0/24): the VPN joins "
         "these networks, so their ranges must not overlap (BGP would route one range two "
         "ways)")]


def test_a_public_allowlist_account_is_outside_the_address_plan() -> None:
    # Its VNet is never announced over BGP: the same range does no harm.
    def change(doc: dict[str, Any]) -> None:
        second_account()(doc)
        doc["azure"]["accounts"][1].update(gateway_path="public-allowlist",
                                           public_network_access="gateway-egress-only")
    assert found(spec_of(change)) == []


def test_overlapping_vpcs_are_left_to_the_network_check() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["aws"]["regions"]["eu-central-1"]["vpc_cidr"] = doc["aws"]["regions"][
            "us-east-1"]["vpc_cidr"]
    assert list(check_vpn_address_plan(spec_of(change))) == []


def test_every_account_and_region_pair_gets_its_own_inside_addresses() -> None:
    spec = spec_of(second_account(vnet_cidr="10.101.0.0/24"))
    slots = vpn_slots(spec)
    assert slots == {("acme-openai-swc", "us-east-1"): 0, ("acme-openai-swc", "eu-central-1"): 1,
                     ("acme-openai-gwc", "us-east-1"): 2, ("acme-openai-gwc", "eu-central-1"): 3}
    cidrs = [c for slot in slots.values() for pair in inside_cidrs(slot) for c in pair]
    assert len(cidrs) == len(set(cidrs)) == 16
    assert found(spec) == []


def test_more_connections_than_azures_apipa_range_holds_are_refused() -> None:
    def change(doc: dict[str, Any]) -> None:
        first = doc["azure"]["accounts"][0]
        for k in range(1, 17):  # 17 accounts x 2 gateway regions = 34 > 32
            other = copy.deepcopy(first)
            other.update(name=f"acct-{k:02d}", vnet_cidr=f"10.{100 + k}.0.0/24")
            doc["azure"]["accounts"].append(other)
    assert found(spec_of(change)) == [
        ("gateway.regions",
         "17 private-vpn account(s) x 2 gateway regions need 34 VPN connections' inside "
         "addresses, but Azure's APIPA range for BGP (169.254.21.0-169.254.22.255) holds 32")]


@pytest.mark.parametrize(("asn", "expected"), [
    (64512, "vpn.asn 64512 is the AWS side's ASN (the Amazon-side default of the gateway "
            "regions' VPN gateways); eBGP needs two: keep Azure's 65515"),
    (65517, "vpn.asn 65517 is reserved by Azure (8074, 8075, 12076, 65515, 65517-65520: "
            "https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-vpn-faq#bgp); use a "
            "private ASN such as 65515 (Azure's default) or 64513-65514"),
    (8075, "vpn.asn 8075 is reserved by Azure (8074, 8075, 12076, 65515, 65517-65520: "
           "https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-vpn-faq#bgp); use a "
           "private ASN such as 65515 (Azure's default) or 64513-65514"),
    (23456, "vpn.asn 23456 is reserved by IANA (23456, 64496-64511, 65535-65551, "
            "4294967295); use a private ASN such as 65515 (Azure's default) or 64513-65514"),
    (4294967295, "vpn.asn 4294967295 is reserved by IANA (23456, 64496-64511, 65535-65551, "
                 "4294967295); use a private ASN such as 65515 (Azure's default) or "
                 "64513-65514"),
])
def test_an_asn_bgp_or_azure_refuses_is_refused(asn: int, expected: str) -> None:
    assert found(spec_of(vpn={"asn": asn})) == [
        ("azure.accounts.0.vpn.asn", f"account 'acme-openai-swc': {expected}")]


@pytest.mark.parametrize("asn", [65515, 64513, 65514, 65521, 4200000000])
def test_usable_asns_pass(asn: int) -> None:
    assert found(spec_of(vpn={"asn": asn})) == []


def test_a_location_without_availability_zones_is_refused() -> None:
    assert found(spec_of(location="westus")) == [
        ("azure.accounts.0.location",
         "account 'acme-openai-swc': westus has no availability zones "
         "(https://learn.microsoft.com/azure/reliability/regions-list), and the VPN gateway's "
         "SKU VpnGw1AZ is zone-redundant, which needs them: put the account in a location "
         "with zones, or use gateway_path: public-allowlist")]


def test_every_known_azure_location_is_judged_for_zones() -> None:
    # A location added to the catalogue must be put on one side, not silently refused.
    assert set(regions.AZURE_REGIONS) == AZURE_ZONE_LOCATIONS | AZURE_NO_ZONE_LOCATIONS
    assert not AZURE_ZONE_LOCATIONS & AZURE_NO_ZONE_LOCATIONS


def test_the_loader_locates_a_vpn_problem_on_its_line() -> None:
    text = yaml.safe_dump(private_doc(vpn={"asn": 64512}), sort_keys=False)
    with pytest.raises(SpecError) as info:
        parse_spec_text(text, "spec.yaml")
    asn = next(i for i in info.value.issues if i.dotted == "azure.accounts[0].vpn.asn")
    assert asn.line == next(n for n, line in enumerate(text.splitlines(), 1)
                            if line.strip() == "asn: 64512")
