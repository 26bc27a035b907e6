"""Checks of ``gateway_path: private-vpn`` accounts (the site-to-site VPN between the clouds).

The stacks (``stacks/vpn.py``), the Pulumi program (``pulumi/vpn_path.py``) and ``skyrelay
link`` (``skyrelay/link_vpn.py``) build the path; one account per platform may take it. Every
private-vpn account is checked as the Pulumi program will build it (:func:`vpn_layout`,
:func:`vpn_slots`):

* its subnets: the private endpoints in the first half of ``vnet_cidr``, the GatewaySubnet
  (/27 or larger:
  https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-gateway-settings#gwsub)
  and the resolver's inbound subnet (/28 to /24:
  https://learn.microsoft.com/azure/dns/dns-private-resolver-overview#subnet-restrictions)
  inside the VNet, none overlapping another;
* the address plan the tunnels join: the gateway regions' VPCs, the private-vpn VNets and the
  BGP inside /30s (:func:`skyrelay.vpn_plan.address_plan_problems`);
* the Azure gateway's BGP ASN: not the AWS side's, none Azure or IANA reserve;
* the location: the zone-redundant (AZ) gateway SKUs need availability zones.

Example::

    for path, message in check_private_vpn(spec):
        print(".".join(map(str, path)), message)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass

from skyrelay.spec.models import AzureAccount, Spec
from skyrelay.vpn_plan import MAX_PEERS, address_plan_problems, inside_cidrs

Problem = tuple[tuple[str | int, ...], str]

#: What a private-vpn account's public endpoint must be: the path is private only if the
#: public endpoint answers no one.
PRIVATE_VPN_ACCESS = "disabled"

#: The Amazon-side ASN of a virtual private gateway created without one
#: (AmazonSideAsn in https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVpnGateway.html).
AWS_DEFAULT_ASN = 64512
#: Azure's own ASN for its VPN gateways (the default of ``vpn.asn``), which Azure also lists
#: as reserved for the *other* side: an Azure gateway may keep it
#: (https://learn.microsoft.com/azure/vpn-gateway/bgp-howto).
AZURE_GATEWAY_DEFAULT_ASN = 65515
#: ASNs a VPN gateway cannot use: reserved by Azure (public 8074, 8075, 12076; private
#: 65515, 65517-65520) and by IANA (23456, 64496-64511, 65535-65551, 429496729), as the
#: VPN Gateway FAQ lists them (https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-vpn-faq#bgp,
#: linked from https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-bgp-overview), and
#: 4294967295 (RFC 7300: the last ASN is reserved).
AZURE_RESERVED_ASNS = frozenset({8074, 8075, 12076, 65515, *range(65517, 65521)})
IANA_RESERVED_ASNS = frozenset({23456, *range(64496, 64512), *range(65535, 65552),
                                429496729, 4294967295})

#: Azure locations (of :data:`skyrelay.regions.AZURE_REGIONS`) with availability zones, and
#: those without, from the "Availability zone support" column of
#: https://learn.microsoft.com/azure/reliability/regions-list (page dated 2025-09-23,
#: checked 2026-12-02). The AZ gateway SKUs deploy only where zones exist
#: (https://learn.microsoft.com/azure/vpn-gateway/about-zone-redundant-vnet-gateway).
AZURE_ZONE_LOCATIONS = frozenset({
    "australiaeast", "brazilsouth", "canadacentral", "centralindia", "centralus", "eastasia",
    "eastus", "eastus2", "francecentral", "germanywestcentral", "israelcentral", "italynorth",
    "japaneast", "japanwest", "koreacentral", "mexicocentral", "northeurope", "norwayeast",
    "polandcentral", "qatarcentral", "southafricanorth", "southcentralus", "southeastasia",
    "spaincentral", "swedencentral", "switzerlandnorth", "uaenorth", "uksouth", "westeurope",
    "westus2", "westus3"})
AZURE_NO_ZONE_LOCATIONS = frozenset({
    "australiasoutheast", "canadaeast", "northcentralus", "southindia", "switzerlandwest",
    "ukwest", "westcentralus", "westindia", "westus"})

GATEWAY_SUBNET_MAX_PREFIX = 27
RESOLVER_SUBNET_PREFIXES = range(24, 29)


@dataclass(frozen=True)
class VpnLayout:
    """The subnets of a private-vpn account's VNet: private endpoints, GatewaySubnet,
    DNS resolver inbound endpoint (CIDR strings)."""

    endpoints: str
    gateway: str
    resolver: str


def _after(net: ipaddress.IPv4Network, prefix: int) -> ipaddress.IPv4Network:
    """The first /``prefix`` that starts at or after the end of ``net``, aligned to its size."""
    size = 2 ** (32 - prefix)
    start = -(-(int(net.broadcast_address) + 1) // size) * size
    return ipaddress.IPv4Network((min(start, 2 ** 32 - size), prefix))


def vpn_layout(acct: AzureAccount) -> VpnLayout:
    """How the program lays out a private-vpn account's VNet; ``ValueError`` for a subnet
    that is no CIDR block.

    Example (an account with the default ``vnet_cidr`` 10.100.0.0/24 and no subnets given)::

        vpn_layout(acct)
        # VpnLayout(endpoints='10.100.0.0/25', gateway='10.100.0.128/27',
        #           resolver='10.100.0.160/28')
    """
    settings = acct.vpn_settings
    if settings is None:
        raise ValueError(f"account {acct.name!r} has no private-vpn path")
    vnet = ipaddress.IPv4Network(acct.vnet_cidr)
    endpoints = next(vnet.subnets(prefixlen_diff=1)) if vnet.prefixlen < 32 else vnet

    def given(value: str | None, field: str) -> ipaddress.IPv4Network | None:
        if value is None:
            return None
        try:
            return ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(f"vpn.{field} {value!r} is not an IPv4 CIDR block: {exc}") from None

    gateway = given(settings.gateway_subnet, "gateway_subnet") or _after(
        endpoints, GATEWAY_SUBNET_MAX_PREFIX)
    resolver = given(settings.resolver_subnet, "resolver_subnet") or _after(
        gateway, RESOLVER_SUBNET_PREFIXES[-1])
    return VpnLayout(str(endpoints), str(gateway), str(resolver))


def private_vpn_accounts(spec: Spec) -> list[tuple[int, AzureAccount]]:
    """(index, account) of every private-vpn account, in spec order."""
    if not spec.azure:
        return []
    return [(i, a) for i, a in enumerate(spec.azure.accounts) if a.gateway_path == "private-vpn"]


def vpn_slots(spec: Spec) -> dict[tuple[str, str], int]:
    """(account, gateway region) -> its slot for :func:`skyrelay.vpn_plan.inside_cidrs`.

    Account after account, region after region (``gateway.regions`` order), so every AWS
    VPN connection gets inside /30s no other connection of the platform has: AWS wants them
    unique per virtual private gateway, Azure per gateway. With one account, a region's
    slot is its index in ``gateway.regions`` (slot 0: the AWS construct's defaults).
    """
    pairs = [(a.name, r) for _, a in private_vpn_accounts(spec) for r in spec.gateway.regions]
    return {pair: k for k, pair in enumerate(pairs)}


def check_private_vpn(spec: Spec) -> Iterator[Problem]:
    """Every private-vpn account: public access disabled, its layout, address plan, ASN and
    location (see the module docstring); at most one such account."""
    if not spec.azure:
        return
    yield from check_vpn_layout(spec)
    yield from check_vpn_address_plan(spec)
    yield from check_vpn_asn(spec)
    yield from check_vpn_zones(spec)
    for i, acct in enumerate(spec.azure.accounts):
        if acct.gateway_path != "private-vpn":
            continue
        at: tuple[str | int, ...] = ("azure", "accounts", i)
        if acct.public_network_access != PRIVATE_VPN_ACCESS:
            yield ((*at, "public_network_access"),
                   f"account {acct.name!r} has gateway_path: private-vpn, so its public "
                   f"endpoint must be off: set public_network_access: {PRIVATE_VPN_ACCESS} "
                   f"(now '{acct.public_network_access}', which would let prompts reach it "
                   "over the internet)")
    private = private_vpn_accounts(spec)
    for i, acct in private[1:]:
        yield (("azure", "accounts", i, "gateway_path"),
               f"account {acct.name!r}: only one Azure account per platform can take "
               f"gateway_path: private-vpn (here also {private[0][1].name!r}): a VPC has one "
               "virtual private gateway, and each region's VPN stack joins one Azure gateway; "
               "put the deployments of both into one account, or keep this one on "
               "public-allowlist")


def check_vpn_layout(spec: Spec) -> Iterator[Problem]:
    """The GatewaySubnet and the resolver's subnet: their sizes, inside ``vnet_cidr``, and
    overlapping neither each other nor the private endpoints' half."""
    for i, acct in private_vpn_accounts(spec):
        at: tuple[str | int, ...] = ("azure", "accounts", i)
        settings = acct.vpn_settings
        assert settings is not None  # a private-vpn account has settings
        try:
            layout = vpn_layout(acct)
        except ValueError as exc:
            yield ((*at, "vpn"), f"account {acct.name!r}: {exc}")
            continue
        vnet = ipaddress.IPv4Network(acct.vnet_cidr)
        endpoints = ipaddress.IPv4Network(layout.endpoints)
        gateway = ipaddress.IPv4Network(layout.gateway)
        resolver = ipaddress.IPv4Network(layout.resolver)
        subnets = {"gateway_subnet": ("the GatewaySubnet", gateway, settings.gateway_subnet),
                   "resolver_subnet": ("the resolver's inbound subnet", resolver,
                                       settings.resolver_subnet)}
        if gateway.prefixlen > GATEWAY_SUBNET_MAX_PREFIX:
            yield ((*at, "vpn", "gateway_subnet"),
                   f"account {acct.name!r}: the GatewaySubnet {gateway} is smaller than the "
                   "/27 Azure asks for (https://learn.microsoft.com/azure/vpn-gateway/"
                   "vpn-gateway-about-vpn-gateway-settings#gwsub): give a /27 or larger")
        if resolver.prefixlen not in RESOLVER_SUBNET_PREFIXES:
            yield ((*at, "vpn", "resolver_subnet"),
                   f"account {acct.name!r}: the resolver's inbound subnet {resolver} must be "
                   "a /28 to /24 (https://learn.microsoft.com/azure/dns/"
                   "dns-private-resolver-overview#subnet-restrictions)")
        inside: list[str] = []
        for field, (label, net, written) in subnets.items():
            path = (*at, "vpn", field) if written else (*at, "vnet_cidr")
            if net.subnet_of(vnet):
                inside.append(field)
            elif not written and field == "resolver_subnet" \
                    and settings.gateway_subnet is not None and "gateway_subnet" not in inside:
                continue  # it follows a GatewaySubnet already reported as misplaced
            elif written:
                yield (path, f"account {acct.name!r}: {label} {net} lies outside vnet_cidr "
                             f"{vnet}")
            else:
                yield (path, f"account {acct.name!r}: vnet_cidr {vnet} has no room for "
                             f"{label} {net} after the private endpoints' half "
                             f"({endpoints}): use a /25 or larger vnet_cidr, or give "
                             f"vpn.{field} inside it")
        for field in inside:
            label, net, written = subnets[field]
            if net.overlaps(endpoints):
                yield ((*at, "vpn", field) if written else (*at, "vnet_cidr"),
                       f"account {acct.name!r}: {label} {net} overlaps the private "
                       f"endpoints' subnet {endpoints} (the first half of vnet_cidr)")
        if inside == list(subnets) and gateway.overlaps(resolver):
            field = "resolver_subnet" if settings.resolver_subnet is not None \
                else "gateway_subnet"
            yield ((*at, "vpn", field),
                   f"account {acct.name!r}: the resolver's inbound subnet {resolver} overlaps "
                   f"the GatewaySubnet {gateway}")


def _plan_path(where: str, accounts: dict[str, int]) -> tuple[str | int, ...]:
    """A spec path for a location of :func:`address_plan_problems`."""
    parts = where.split(".")
    if parts[:2] == ["azure", "accounts"]:
        return ("azure", "accounts", accounts[parts[2]], "vnet_cidr")
    if len(parts) == 3:
        return ("aws", "regions", parts[2], "vpc_cidr")
    return ("gateway", "regions")


def check_vpn_address_plan(spec: Spec) -> Iterator[Problem]:
    """The networks the tunnels join (the gateway regions' VPCs, the private-vpn VNets) and
    the BGP inside /30s do not overlap, and the inside /30s fit Azure's APIPA range."""
    accounts = private_vpn_accounts(spec)
    if not accounts:
        return
    slots = vpn_slots(spec)
    inside: dict[str, list[str]] = {}
    if len(slots) > MAX_PEERS:
        yield (("gateway", "regions"),
               f"{len(accounts)} private-vpn account(s) x {len(spec.gateway.regions)} gateway "
               f"regions need {len(slots)} VPN connections' inside addresses, but Azure's "
               f"APIPA range for BGP (169.254.21.0-169.254.22.255) holds {MAX_PEERS}")
    else:
        for (_, region), slot in slots.items():
            inside.setdefault(region, []).extend(c for pair in inside_cidrs(slot) for c in pair)
    aws = {r: spec.aws.regions[r].vpc_cidr for r in spec.gateway.regions
           if spec.aws and r in spec.aws.regions}
    vnets = {a.name: a.vnet_cidr for _, a in accounts}
    index = {a.name: i for i, a in accounts}
    for where, what in address_plan_problems(aws, vnets, inside):
        if where.startswith("aws.regions.") and "overlaps AWS VPC" in what:
            continue  # two VPCs: the network check reports it for every spec
        yield (_plan_path(where, index),
               f"{what}: the VPN joins these networks, so their ranges must not overlap "
               "(BGP would route one range two ways)")


def check_vpn_asn(spec: Spec) -> Iterator[Problem]:
    """The Azure gateway's ASN differs from the AWS side's and is none Azure or IANA reserve."""
    for i, acct in private_vpn_accounts(spec):
        settings = acct.vpn_settings
        assert settings is not None
        asn, path = settings.asn, ("azure", "accounts", i, "vpn", "asn")
        if asn == AWS_DEFAULT_ASN:
            yield (path, f"account {acct.name!r}: vpn.asn {asn} is the AWS side's ASN (the "
                         "Amazon-side default of the gateway regions' VPN gateways); eBGP "
                         f"needs two: keep Azure's {AZURE_GATEWAY_DEFAULT_ASN}")
        elif asn in AZURE_RESERVED_ASNS and asn != AZURE_GATEWAY_DEFAULT_ASN:
            yield (path, f"account {acct.name!r}: vpn.asn {asn} is reserved by Azure "
                         "(8074, 8075, 12076, 65515, 65517-65520: https://learn.microsoft.com/"
                         "azure/vpn-gateway/vpn-gateway-vpn-faq#bgp); use a private ASN "
                         "such as 65515 (Azure's default) or 64513-65514")
        elif asn in IANA_RESERVED_ASNS:
            yield (path, f"account {acct.name!r}: vpn.asn {asn} is reserved by IANA "
                         "(23456, 64496-64511, 65535-65551, 4294967295); use a private ASN "
                         "such as 65515 (Azure's default) or 64513-65514")


def check_vpn_zones(spec: Spec) -> Iterator[Problem]:
    """A private-vpn account's location has availability zones (its gateway SKU needs them)."""
    for i, acct in private_vpn_accounts(spec):
        if acct.location in AZURE_ZONE_LOCATIONS:
            continue
        settings = acct.vpn_settings
        assert settings is not None
        yield (("azure", "accounts", i, "location"),
               f"account {acct.name!r}: {acct.location} has no availability zones "
               "(https://learn.microsoft.com/azure/reliability/regions-list), and the VPN "
               f"gateway's SKU {settings.sku} is zone-redundant, which needs them: put the "
               "account in a location with zones, or use gateway_path: public-allowlist")
