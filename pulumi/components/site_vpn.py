"""SiteVpn: the Azure end of a BGP site-to-site VPN to AWS, and a DNS resolver AWS can ask.

In an existing virtual network (the Azure OpenAI account's, whose private DNS zones are linked
to it) this creates, as Microsoft's AWS guide lays it out
(https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-howto-aws-bgp):

* a ``GatewaySubnet`` (the name Azure requires; /27 or larger, as Azure recommends:
  https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-gateway-settings#gwsub),
* two Standard, static, zone-redundant public IPv4 addresses (zones 1-3), one per instance,
* a route-based, active-active, zone-redundant virtual network gateway (``VpnGw1AZ`` by
  default; the AZ SKUs are the zone-redundant ones:
  https://learn.microsoft.com/azure/vpn-gateway/about-zone-redundant-vnet-gateway) with BGP and
  custom APIPA addresses: per instance, the second address of each AWS tunnel's inside /30
  (AWS takes the first), all inside Azure's APIPA range 169.254.21.0-169.254.22.255,
* per AWS peer (a virtual private gateway or Transit Gateway, one per gateway region) and
  tunnel, once known from ``skyrelay link``: a local network gateway (the tunnel's
  outside address, the AWS ASN and BGP peer address) and an IKEv2 connection with BGP whose
  shared key is a Pulumi secret,
* an Azure DNS Private Resolver with an inbound endpoint at a static address in its own subnet
  (delegated to ``Microsoft.Network/dnsResolvers``, /28 to /24:
  https://learn.microsoft.com/azure/dns/dns-private-resolver-overview#subnet-restrictions); it
  answers from the private DNS zones linked to the network (plus ``link_dns_zones``),
* a diagnostic setting sending the gateway's connection logs (tunnel, IKE, route, gateway) and
  metrics to Log Analytics
  (https://learn.microsoft.com/azure/vpn-gateway/monitor-vpn-gateway-reference).

Without ``tunnels`` only the gateway and the resolver are built: that is the first deploy,
whose public addresses and resolver address the AWS side needs.

Example::

    from skyrelay.pulumi.components.site_vpn import (
        AwsPeer, AwsTunnel, SiteVpn, SiteVpnArgs, default_inside_cidrs)

    vpn = SiteVpn("contoso", SiteVpnArgs(
        resource_group_name="rg-contoso", location="swedencentral",
        virtual_network_name=vnet.name, virtual_network_id=vnet.id,
        gateway_subnet_cidr="10.100.1.0/27", resolver_subnet_cidr="10.100.1.32/28",
        workspace_id=workspace.id,
        peers=[AwsPeer("eu-west-1", default_inside_cidrs(0))],
        tunnels=[AwsTunnel(instance=0, tunnel=0, peer="eu-west-1", outside_ip="3.5.6.7",
                           shared_key=config.require_secret("psk-eu-west-1-0-0"))],
    ))
    pulumi.export("vpnPublicIps", vpn.public_ip_addresses)
    pulumi.export("resolverInboundIp", vpn.resolver_ip)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import dnsresolver, monitor, network, privatedns

from skyrelay.pulumi.components.validation import AzureArgsError, check_cidr, fail
from skyrelay.vpn_plan import AZURE_APIPA_FIRST, AZURE_APIPA_LAST, inside_cidrs

#: Zone-redundant VPN SKUs and the gateway generation each is offered in.
ZONE_REDUNDANT_SKUS = {"VpnGw1AZ": "Generation1", "VpnGw2AZ": "Generation2",
                       "VpnGw3AZ": "Generation2", "VpnGw4AZ": "Generation2",
                       "VpnGw5AZ": "Generation2"}
#: Resource-log categories of a VPN gateway that tell whether connections are up.
GATEWAY_LOG_CATEGORIES = ("GatewayDiagnosticLog", "TunnelDiagnosticLog", "RouteDiagnosticLog",
                          "IKEDiagnosticLog")
#: Names of the gateway's two IP configurations (instance 0 and 1).
IP_CONFIGURATIONS = ("default", "activeActive")
AMAZON_DEFAULT_ASN = 64512
AZURE_DEFAULT_ASN = 65515


def default_inside_cidrs(peer: int = 0) -> tuple[tuple[str, str], tuple[str, str]]:
    """Per Azure instance, the inside /30s of the two tunnels of AWS peer ``peer`` ending on
    it. Peer 0 has the AWS construct's defaults (169.254.21.(4i)/30, 169.254.22.(4i)/30);
    peer ``p`` takes the next pair of slots, so no two peers share an address."""
    try:
        return inside_cidrs(peer)
    except ValueError as exc:
        raise AzureArgsError(f"site vpn: {exc}") from None


def _hosts(where: str, cidr: str) -> tuple[str, str]:
    """(AWS address, Azure address) of an inside /30, checked against Azure's APIPA range."""
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise fail(where, f"{cidr!r} is not an IPv4 CIDR ({exc})") from None
    if net.prefixlen != 30:
        raise fail(where, f"{cidr} must be a /30")
    if not (net[0] >= AZURE_APIPA_FIRST and net[-1] <= AZURE_APIPA_LAST):
        raise fail(where, f"{cidr} is outside Azure's APIPA range for VPN "
                          "(169.254.21.0-169.254.22.255)")
    return str(net[1]), str(net[2])


@dataclass(frozen=True)
class AwsPeer:
    """One AWS VPN end (a virtual private gateway or Transit Gateway, e.g. one per gateway
    region): ``inside_cidrs[i][t]`` is the inside /30 of tunnel ``t`` of its connection to
    Azure instance ``i``; ``asn`` its Amazon-side ASN."""

    name: str = "aws"
    inside_cidrs: Sequence[tuple[str, str]] = field(default_factory=default_inside_cidrs)
    asn: int = AMAZON_DEFAULT_ASN


@dataclass(frozen=True)
class AwsTunnel:
    """One AWS tunnel of ``peer``: it ends on Azure ``instance`` (0 or 1, the AWS connection
    to that instance's public address) and is that connection's ``tunnel`` (0 or 1)."""

    instance: int
    tunnel: int
    outside_ip: pulumi.Input[str]
    shared_key: pulumi.Input[str]
    peer: str = "aws"


@dataclass(frozen=True)
class SiteVpnArgs:
    """Arguments of :class:`SiteVpn` (see the module docstring).

    ``peers`` are the AWS ends (default: one, :class:`AwsPeer`); ``resolver_ip`` defaults to
    the first address Azure lets a subnet use (the fifth: Azure keeps the first four and the
    last). ``workspace_id`` receives the diagnostics. ``subnets_after``: resources the
    GatewaySubnet waits for, e.g. another subnet of the same network (ARM refuses parallel
    writes of one network's subnets).
    """

    resource_group_name: pulumi.Input[str]
    location: pulumi.Input[str]
    virtual_network_name: pulumi.Input[str]
    virtual_network_id: pulumi.Input[str]
    gateway_subnet_cidr: str
    resolver_subnet_cidr: str
    workspace_id: pulumi.Input[str]
    tunnels: Sequence[AwsTunnel] = ()
    peers: Sequence[AwsPeer] = (AwsPeer(),)
    asn: int = AZURE_DEFAULT_ASN
    sku: str = "VpnGw1AZ"
    resolver_ip: str | None = None
    link_dns_zones: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    subnets_after: Sequence[pulumi.Resource] = ()

    def __post_init__(self) -> None:
        where = "site vpn"
        check_cidr(f"{where}: gateway_subnet_cidr", self.gateway_subnet_cidr)
        gateway = ipaddress.IPv4Network(self.gateway_subnet_cidr)
        if gateway.prefixlen > 27:
            raise fail(f"{where}: gateway_subnet_cidr",
                       f"{gateway} is smaller than the /27 Azure asks for a GatewaySubnet")
        check_cidr(f"{where}: resolver_subnet_cidr", self.resolver_subnet_cidr)
        resolver = ipaddress.IPv4Network(self.resolver_subnet_cidr)
        if not 24 <= resolver.prefixlen <= 28:
            raise fail(f"{where}: resolver_subnet_cidr",
                       f"{resolver} must be a /28 to /24 (DNS Private Resolver subnets)")
        if gateway.overlaps(resolver):
            raise fail(where, f"gateway subnet {gateway} overlaps resolver subnet {resolver}")
        if self.resolver_ip is None:
            object.__setattr__(self, "resolver_ip", str(resolver[4]))
        elif ipaddress.IPv4Address(self.resolver_ip) not in list(resolver.hosts())[3:]:
            raise fail(f"{where}: resolver_ip", f"{self.resolver_ip} is not an address Azure "
                                                f"lets {resolver} hand out")
        if self.sku not in ZONE_REDUNDANT_SKUS:
            raise fail(f"{where}: sku", f"{self.sku!r} is not a zone-redundant VPN SKU "
                                        f"({', '.join(ZONE_REDUNDANT_SKUS)})")
        names = [p.name for p in self.peers]
        if not names or len(set(names)) != len(names):
            raise fail(f"{where}: peers", "give each AWS peer once, by a unique name")
        bad = [n for n in names if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", n)]
        if bad:
            raise fail(f"{where}: peers", f"names {bad} must be lowercase letters, digits, '-'")
        seen: set[str] = set()
        for peer in self.peers:
            at = f"{where}: peers[{peer.name!r}]"
            if peer.asn == self.asn:
                raise fail(at, f"asn and the peer's asn are both {self.asn}: eBGP needs two")
            if len(peer.inside_cidrs) != 2 or any(len(x) != 2 for x in peer.inside_cidrs):
                raise fail(f"{at}.inside_cidrs", "give two /30s for each of the two instances")
            for i, pair in enumerate(peer.inside_cidrs):
                for t, cidr in enumerate(pair):
                    if cidr in seen:
                        raise fail(f"{at}.inside_cidrs[{i}][{t}]", f"{cidr} is used twice")
                    seen.add(cidr)
                    _hosts(f"{at}.inside_cidrs[{i}][{t}]", cidr)
        slots = [(t.peer, t.instance, t.tunnel) for t in self.tunnels]
        if any(p not in names or (i, t) not in {(0, 0), (0, 1), (1, 0), (1, 1)}
               for p, i, t in slots) or len(set(slots)) != len(slots):
            raise fail(f"{where}: tunnels", "each tunnel names a peer, an instance and a tunnel "
                                            "(0 or 1), and appears once")


class SiteVpn(pulumi.ComponentResource):
    """The Azure end of the VPN and a DNS resolver (see the module docstring).

    Attributes: ``gateway_subnet``, ``resolver_subnet``, ``public_ips``, ``gateway``,
    ``local_gateways`` and ``connections`` (per tunnel, keyed ``(peer, instance, tunnel)``),
    ``resolver``, ``inbound_endpoint``, ``diagnostics``; outputs ``public_ip_addresses``,
    ``resolver_ip``, ``gateway_id``.
    """

    def __init__(self, name: str, args: SiteVpnArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("skyrelay:azure:SiteVpn", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        rg, location = args.resource_group_name, args.location

        self.gateway_subnet = network.Subnet(
            f"{name}-gateway-subnet",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.subnets_after)),
            subnet_name="GatewaySubnet",
            virtual_network_name=args.virtual_network_name, resource_group_name=rg,
            address_prefix=args.gateway_subnet_cidr)
        self.resolver_subnet = network.Subnet(
            f"{name}-dns-inbound-subnet",
            # Subnets of one network are written one at a time: ARM refuses parallel PUTs.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.gateway_subnet]),
            subnet_name="dns-inbound", virtual_network_name=args.virtual_network_name,
            resource_group_name=rg, address_prefix=args.resolver_subnet_cidr,
            default_outbound_access=False,
            delegations=[network.DelegationArgs(name="Microsoft.Network.dnsResolvers",
                                                service_name="Microsoft.Network/dnsResolvers")])

        self.public_ips = [network.PublicIPAddress(
            f"{name}-vpn-ip-{i}", opts=child, public_ip_address_name=f"pip-vpn-{name}-{i}",
            resource_group_name=rg, location=location,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static", public_ip_address_version="IPv4",
            zones=["1", "2", "3"], tags=tags) for i in range(2)]

        gateway_name = f"vgw-{name}"
        ip_config_ids = [pulumi.Output.all(args.virtual_network_id, rg).apply(
            lambda v, c=c: _ip_configuration_id(v[0], v[1], gateway_name, c))
            for c in IP_CONFIGURATIONS]
        # Per instance, Azure's address of every tunnel ending on it, peer after peer.
        azure_addresses = [[_hosts("site vpn", peer.inside_cidrs[i][t])[1]
                            for peer in args.peers for t in range(2)] for i in range(2)]
        self.gateway = network.VirtualNetworkGateway(
            f"{name}-gateway", opts=child, virtual_network_gateway_name=gateway_name,
            resource_group_name=rg, location=location, gateway_type="Vpn",
            vpn_type="RouteBased", sku=network.VirtualNetworkGatewaySkuArgs(
                name=args.sku, tier=args.sku),
            vpn_gateway_generation=ZONE_REDUNDANT_SKUS[args.sku],
            active_active=True, enable_bgp=True,
            bgp_settings=network.BgpSettingsArgs(asn=args.asn, bgp_peering_addresses=[
                network.IPConfigurationBgpPeeringAddressArgs(
                    ipconfiguration_id=ip_config_ids[i],
                    custom_bgp_ip_addresses=azure_addresses[i]) for i in range(2)]),
            ip_configurations=[network.VirtualNetworkGatewayIPConfigurationArgs(
                name=IP_CONFIGURATIONS[i], private_ip_allocation_method="Dynamic",
                public_ip_address={"id": self.public_ips[i].id},
                subnet={"id": self.gateway_subnet.id}) for i in range(2)],
            tags=tags)

        self.local_gateways: dict[tuple[str, int, int], network.LocalNetworkGateway] = {}
        self.connections: dict[tuple[str, int, int],
                               network.VirtualNetworkGatewayConnection] = {}
        for tunnel in args.tunnels:
            self._tunnel(name, args, tunnel, ip_config_ids, azure_addresses, tags)

        self.resolver = dnsresolver.DnsResolver(
            f"{name}-resolver", opts=child, dns_resolver_name=f"dnspr-{name}",
            resource_group_name=rg, location=location,
            virtual_network={"id": args.virtual_network_id}, tags=tags)
        self.inbound_endpoint = dnsresolver.InboundEndpoint(
            f"{name}-resolver-inbound", opts=pulumi.ResourceOptions(parent=self.resolver),
            inbound_endpoint_name="inbound", dns_resolver_name=self.resolver.name,
            resource_group_name=rg, location=location,
            ip_configurations=[dnsresolver.IpConfigurationArgs(
                subnet={"id": self.resolver_subnet.id},
                private_ip_allocation_method="Static", private_ip_address=args.resolver_ip)],
            tags=tags)
        # Zones that are not linked to this network already (the account's own zones are,
        # by its PrivateLink): the resolver answers only from zones linked to its network.
        self.zone_links = {zone: privatedns.VirtualNetworkLink(
            f"{name}-resolver-{zone.replace('.', '-')}", opts=child,
            virtual_network_link_name=f"link-vpn-{name}",
            private_zone_name=pulumi.Output.from_input(zone_id).apply(
                lambda v: str(v).rstrip("/").rsplit("/", 1)[-1]),
            resource_group_name=rg, location="global", registration_enabled=False,
            virtual_network=privatedns.SubResourceArgs(id=args.virtual_network_id), tags=tags)
            for zone, zone_id in args.link_dns_zones.items()}

        self.diagnostics = monitor.DiagnosticSetting(
            f"{name}-gateway-diagnostics", opts=child, name=f"diag-vgw-{name}",
            resource_uri=self.gateway.id, workspace_id=args.workspace_id,
            logs=[monitor.DiagnosticsLogSettingsArgs(category=c, enabled=True)
                  for c in GATEWAY_LOG_CATEGORIES],
            metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)])

        self.public_ip_addresses: pulumi.Output[list[str]] = pulumi.Output.all(
            *[ip.ip_address for ip in self.public_ips]).apply(lambda v: [str(x) for x in v])
        self.resolver_ip: str = str(args.resolver_ip)
        self.gateway_id: pulumi.Output[str] = self.gateway.id
        self.register_outputs({"publicIpAddresses": self.public_ip_addresses,
                               "resolverIp": self.resolver_ip, "gatewayId": self.gateway_id})

    def _tunnel(self, name: str, args: SiteVpnArgs, tunnel: AwsTunnel,
                ip_config_ids: list[pulumi.Output[str]], azure_addresses: list[list[str]],
                tags: dict[str, str]) -> None:
        i, t = tunnel.instance, tunnel.tunnel
        peer = next(p for p in args.peers if p.name == tunnel.peer)
        aws_address, azure_address = _hosts("site vpn", peer.inside_cidrs[i][t])
        label = f"{name}-{peer.name}-{i}-{t}"
        local = network.LocalNetworkGateway(
            f"{label}-lgw", opts=pulumi.ResourceOptions(parent=self),
            local_network_gateway_name=f"lgw-{label}", resource_group_name=args.resource_group_name,
            location=args.location, gateway_ip_address=tunnel.outside_ip,
            bgp_settings=network.BgpSettingsArgs(asn=peer.asn,
                                                 bgp_peering_address=aws_address),
            tags=tags)
        # One custom BGP address per gateway instance: this tunnel's on its own instance, the
        # other instance's first (unused by this connection, as Microsoft's table shows).
        custom = [network.GatewayCustomBgpIpAddressIpConfigurationArgs(
            ip_configuration_id=ip_config_ids[k],
            custom_bgp_ip_address=azure_address if k == i else azure_addresses[k][0])
            for k in range(2)]
        self.local_gateways[(peer.name, i, t)] = local
        self.connections[(peer.name, i, t)] = network.VirtualNetworkGatewayConnection(
            f"{label}-connection",
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["sharedKey"]),
            virtual_network_gateway_connection_name=f"cn-{label}",
            resource_group_name=args.resource_group_name, location=args.location,
            connection_type="IPsec", connection_protocol="IKEv2", enable_bgp=True,
            virtual_network_gateway1={"id": self.gateway.id},
            local_network_gateway2={"id": local.id},
            shared_key=pulumi.Output.secret(tunnel.shared_key),
            gateway_custom_bgp_ip_addresses=custom, tags=tags)


def _ip_configuration_id(vnet_id: str, resource_group: str, gateway: str, config: str) -> str:
    """The ARM id of a gateway IP configuration, known before the gateway exists (its BGP
    settings name it): the subscription comes from the virtual network's id."""
    parts = str(vnet_id).split("/")
    if len(parts) < 3 or parts[1].lower() != "subscriptions":
        raise AzureArgsError(f"site vpn: virtual_network_id {vnet_id!r} is not an ARM id")
    return (f"/subscriptions/{parts[2]}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Network/virtualNetworkGateways/{gateway}/ipConfigurations/{config}")
