"""A BGP site-to-site VPN from one or more VPCs to another cloud's VPN gateway, with DNS forwarding.

Built for an active-active Azure VPN gateway (two public addresses), as Microsoft lays it out in
https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-howto-aws-bgp: one customer gateway
and one VPN connection (two tunnels, BGP) per remote address, so four tunnels in all. Works the
same for any remote peer that speaks IKEv2 and BGP.

* One VPC: a virtual private gateway attached to it. Several VPCs: a Transit Gateway with one
  attachment per VPC, and a static route per remote CIDR in the routed subnets' tables.
* Customer gateways from ``remote_gateways`` (public address + the remote BGP ASN).
* Each tunnel's pre-shared key is generated into its own Secrets Manager secret (KMS-encrypted)
  and reaches CloudFormation only as a ``{{resolve:secretsmanager:...}}`` dynamic reference,
  which "can be used in all resource properties" and is never persisted by CloudFormation
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references-secretsmanager.html).
  The other side reads the same secrets (``psk_secrets``) at link time.
* Routes learned over BGP are propagated to the route tables of ``routed_subnets`` only.
* One CloudWatch alarm per connection on ``AWS/VPN`` ``TunnelState`` by ``VpnId``: for a BGP
  VPN, 1 is ESTABLISHED and 0 anything else, and an aggregate between 0 and 1 means at least
  one tunnel is not up (https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-cloudwatch-vpn.html).
* With ``dns``: a Route 53 Resolver outbound endpoint and one forwarding rule per given domain
  to the remote resolver's addresses, associated with every VPC, so those names (and only
  those) resolve on the other side.

Example::

    from skyrelay.constructs.site_to_site_vpn import (
        DnsForwarding, RemoteVpnGateway, RoutedNetwork, SiteToSiteVpn)

    vpn = SiteToSiteVpn(
        stack, "ToAzure",
        networks=[RoutedNetwork(vpc=vpc, subnets=ec2.SubnetSelection(subnet_group_name="private"))],
        remote_gateways=[RemoteVpnGateway("20.1.2.3"), RemoteVpnGateway("20.1.2.4")],
        remote_asn=65515,
        remote_cidrs=["10.100.0.0/22"],
        dns=DnsForwarding(domains=["contoso.openai.azure.com"], target_ips=["10.100.1.4"]),
        alarm_topic=topic,
    )
    vpn.connections[0].ref     # the VPN connection id (vpn-...)
    vpn.psk_secrets[0][1]      # the secret holding tunnel 2's key of connection 1
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53resolver as resolver
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from skyrelay.constructs.secure_defaults import acknowledge, data_key
from skyrelay.vpn_plan import AWS_RESERVED_INSIDE, LINK_LOCAL, inside_cidrs

#: Inside /30s that AWS refuses for a tunnel, and the range they come from (skyrelay.vpn_plan).
RESERVED_INSIDE_CIDRS = AWS_RESERVED_INSIDE
#: The default ASN of a virtual private gateway / Transit Gateway ("Amazon default ASN").
AMAZON_DEFAULT_ASN = 64512
#: Characters of a generated key. AWS allows letters, digits, '.' and '_', 8-64 long, not
#: starting with 0; '0' is left out entirely so no key can start with it.
PSK_EXCLUDED = "0"
PSK_LENGTH = 48
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def default_inside_cidrs(index: int) -> tuple[str, str]:
    """The two tunnel /30s for remote gateway ``index``, as in Microsoft's AWS tutorial:
    169.254.21.(4i)/30 and 169.254.22.(4i)/30 (inside Azure's APIPA range for VPN)."""
    if not 0 <= index < 64:
        raise ValueError(f"no default inside CIDRs for remote gateway {index}")
    return inside_cidrs(index // 2)[index % 2]


def check_inside_cidr(where: str, cidr: str) -> ipaddress.IPv4Network:
    """``cidr`` as a tunnel inside network: a /30 in 169.254.0.0/16 that AWS does not reserve."""
    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise ValueError(f"{where}: {cidr!r} is not an IPv4 CIDR ({exc})") from None
    if net.prefixlen != 30 or not net.subnet_of(LINK_LOCAL):
        raise ValueError(f"{where}: {cidr} must be a /30 inside 169.254.0.0/16")
    if net in RESERVED_INSIDE_CIDRS:
        raise ValueError(f"{where}: {cidr} is reserved by AWS for tunnels")
    return net


@dataclass(frozen=True)
class RemoteVpnGateway:
    """One public address of the remote VPN gateway (one instance of an active-active pair).

    ``public_ip`` may be a token (e.g. an SSM parameter read at deploy time). The connection to
    it gets two tunnels with ``tunnel_inside_cidrs`` (default: :func:`default_inside_cidrs`).
    """

    public_ip: str
    tunnel_inside_cidrs: tuple[str, str] | None = None


@dataclass(frozen=True)
class RoutedNetwork:
    """A VPC and the subnets whose route tables learn the remote routes (and only those)."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection


@dataclass(frozen=True)
class DnsForwarding:
    """Forward exactly ``domains`` (and names under them) to the remote ``target_ips``.

    The outbound endpoint takes one address in each of ``subnets`` of the first network's VPC
    (default: its routed subnets); Route 53 Resolver needs at least two.
    """

    domains: Sequence[str]
    target_ips: Sequence[str]
    subnets: ec2.SubnetSelection | None = None
    port: int = 53


class SiteToSiteVpn(Construct):
    """Site-to-site VPN with BGP, keys in Secrets Manager, alarms and DNS forwarding.

    See the module docstring. Attributes: ``vpn_gateway`` or ``transit_gateway`` (the other is
    None), ``customer_gateways``, ``connections`` (one per remote gateway), ``psk_secrets``
    (per connection, one secret per tunnel), ``tunnel_inside_cidrs`` (per connection),
    ``alarms``, ``resolver_endpoint`` and ``resolver_rules`` (domain -> rule) when ``dns``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        networks: Sequence[RoutedNetwork],
        remote_gateways: Sequence[RemoteVpnGateway],
        remote_asn: int,
        remote_cidrs: Sequence[str],
        amazon_side_asn: int = AMAZON_DEFAULT_ASN,
        use_transit_gateway: bool | None = None,
        dns: DnsForwarding | None = None,
        alarm_topic: sns.ITopic | None = None,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not networks:
            raise ValueError("networks: give at least one VPC with its routed subnets")
        if not remote_gateways:
            raise ValueError("remote_gateways: give the remote VPN gateway's public addresses")
        _check_asns(remote_asn, amazon_side_asn)
        self.remote_cidrs = [str(_private_cidr("remote_cidrs", c)) for c in remote_cidrs]
        if not self.remote_cidrs:
            raise ValueError("remote_cidrs: name the remote address ranges")
        self.tunnel_inside_cidrs = _inside_cidrs(remote_gateways)
        transit = len(networks) > 1 if use_transit_gateway is None else use_transit_gateway
        if len(networks) > 1 and not transit:
            raise ValueError("several VPCs need a Transit Gateway (use_transit_gateway=True)")
        self.encryption_key = encryption_key or data_key(self, "KeyEncryption",
                                                         "site-to-site VPN pre-shared keys")

        self.vpn_gateway: ec2.CfnVPNGateway | None = None
        self.transit_gateway: ec2.CfnTransitGateway | None = None
        target = (self._transit(networks, amazon_side_asn) if transit
                  else self._virtual_private_gateway(networks[0], amazon_side_asn))

        self.customer_gateways: list[ec2.CfnCustomerGateway] = []
        self.connections: list[ec2.CfnVPNConnection] = []
        self.psk_secrets: list[list[secretsmanager.Secret]] = []
        self.alarms: list[cloudwatch.Alarm] = []
        for index, remote in enumerate(remote_gateways):
            self._connection(index, remote, remote_asn, target, alarm_topic)

        self.resolver_endpoint: resolver.CfnResolverEndpoint | None = None
        self.resolver_rules: dict[str, resolver.CfnResolverRule] = {}
        if dns is not None:
            self._dns(dns, networks)

    # --- the AWS end of the tunnels -------------------------------------------------------

    def _virtual_private_gateway(self, network: RoutedNetwork, asn: int) -> dict[str, str]:
        gateway = ec2.CfnVPNGateway(self, "VpnGateway", type="ipsec.1", amazon_side_asn=asn)
        attachment = ec2.CfnVPCGatewayAttachment(
            self, "VpnGatewayAttachment", vpc_id=network.vpc.vpc_id,
            vpn_gateway_id=gateway.ref)
        propagation = ec2.CfnVPNGatewayRoutePropagation(
            self, "RoutePropagation", vpn_gateway_id=gateway.ref,
            route_table_ids=_route_table_ids(network))
        propagation.node.add_dependency(attachment)  # a detached gateway cannot propagate
        self.vpn_gateway = gateway
        return {"vpn_gateway_id": gateway.ref}

    def _transit(self, networks: Sequence[RoutedNetwork], asn: int) -> dict[str, str]:
        tgw = ec2.CfnTransitGateway(
            self, "TransitGateway", amazon_side_asn=asn,
            description="skyrelay: site-to-site VPN hub",
            auto_accept_shared_attachments="disable",
            default_route_table_association="enable",
            default_route_table_propagation="enable",
            dns_support="enable", vpn_ecmp_support="enable")
        for n, network in enumerate(networks):
            selected = _select(network.vpc, network.subnets)
            one_per_zone: dict[str, str] = {}
            for subnet in selected.subnets:
                one_per_zone.setdefault(subnet.availability_zone, subnet.subnet_id)
            attachment = ec2.CfnTransitGatewayVpcAttachment(
                self, f"Attachment{n}", transit_gateway_id=tgw.ref, vpc_id=network.vpc.vpc_id,
                subnet_ids=list(one_per_zone.values()))
            # A Transit Gateway does not propagate into VPC route tables: each routed subnet
            # gets a static route per remote range, nothing else does.
            for s, route_table_id in enumerate(_route_table_ids(network)):
                for c, cidr in enumerate(self.remote_cidrs):
                    route = ec2.CfnRoute(self, f"Route{n}x{s}x{c}", route_table_id=route_table_id,
                                         destination_cidr_block=cidr, transit_gateway_id=tgw.ref)
                    route.node.add_dependency(attachment)
        self.transit_gateway = tgw
        return {"transit_gateway_id": tgw.ref}

    def _connection(self, index: int, remote: RemoteVpnGateway, remote_asn: int,
                    target: dict[str, str], alarm_topic: sns.ITopic | None) -> None:
        _check_public_ip(f"remote_gateways[{index}].public_ip", remote.public_ip)
        n = index + 1
        customer = ec2.CfnCustomerGateway(
            self, f"CustomerGateway{n}", type="ipsec.1", bgp_asn=remote_asn,
            ip_address=remote.public_ip,
            tags=[cdk.CfnTag(key="Name", value=f"{self.node.path}/remote-{n}")])
        secrets, tunnels = [], []
        for t, inside in enumerate(self.tunnel_inside_cidrs[index], start=1):
            secret = secretsmanager.Secret(
                self, f"Connection{n}Tunnel{t}Key",
                description=f"Pre-shared key of tunnel {t} of VPN connection {n} "
                            f"({self.node.path})",
                encryption_key=self.encryption_key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=PSK_LENGTH, exclude_punctuation=True, include_space=False,
                    exclude_characters=PSK_EXCLUDED))
            acknowledge(
                secret,
                "A tunnel key changes only together with both VPN ends: CloudFormation reads the "
                "dynamic reference on a stack update of the connection, and the remote gateway "
                "reads the secret at link time, so rotation is a planned redeploy, not a Lambda",
                "AwsSolutions-SMG4", "NIST.800.53.R5-SecretsManagerRotationEnabled")
            secrets.append(secret)
            tunnels.append(ec2.CfnVPNConnection.VpnTunnelOptionsSpecificationProperty(
                # A token that synthesizes to {{resolve:secretsmanager:<arn>:SecretString:::}}.
                pre_shared_key=secret.secret_value.unsafe_unwrap(),
                tunnel_inside_cidr=inside,
                ike_versions=[ec2.CfnVPNConnection.IKEVersionsRequestListValueProperty(
                    value="ikev2")],
                startup_action="start"))
        connection = ec2.CfnVPNConnection(
            self, f"Connection{n}", type="ipsec.1", customer_gateway_id=customer.ref,
            static_routes_only=False, vpn_tunnel_options_specifications=tunnels,
            tags=[cdk.CfnTag(key="Name", value=f"{self.node.path}/connection-{n}")], **target)
        self.customer_gateways.append(customer)
        self.connections.append(connection)
        self.psk_secrets.append(secrets)
        alarm = cloudwatch.Alarm(
            self, f"Connection{n}TunnelDown",
            alarm_description=f"A tunnel of VPN connection {n} ({self.node.path}) is not "
                              "ESTABLISHED (BGP)",
            metric=cloudwatch.Metric(namespace="AWS/VPN", metric_name="TunnelState",
                                     dimensions_map={"VpnId": connection.ref},
                                     statistic="Minimum", period=cdk.Duration.minutes(5)),
            threshold=1, evaluation_periods=3,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # No data from a connection means no tunnel reports: that is down, not healthy.
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING)
        if alarm_topic is not None:
            alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
            alarm.add_ok_action(cw_actions.SnsAction(alarm_topic))
        self.alarms.append(alarm)

    # --- DNS ----------------------------------------------------------------------------

    def _dns(self, dns: DnsForwarding, networks: Sequence[RoutedNetwork]) -> None:
        domains = [_check_domain(d) for d in dns.domains]
        if not domains or len(set(domains)) != len(domains):
            raise ValueError("dns.domains: give each forwarded domain once")
        targets = [str(_private_ip("dns.target_ips", ip)) for ip in dns.target_ips]
        if not targets:
            raise ValueError("dns.target_ips: give the remote resolver's addresses")
        home = networks[0]
        subnets = _select(home.vpc, dns.subnets or home.subnets).subnets
        if len({s.availability_zone for s in subnets}) < 2:
            raise ValueError("dns.subnets: the outbound endpoint needs subnets in two zones")
        group = ec2.SecurityGroup(
            self, "ResolverSecurityGroup", vpc=home.vpc, allow_all_outbound=False,
            description="Route 53 Resolver outbound endpoint: DNS to the remote resolver only")
        for ip in targets:
            group.add_egress_rule(ec2.Peer.ipv4(f"{ip}/32"), ec2.Port.udp(dns.port), "DNS (UDP)")
            group.add_egress_rule(ec2.Peer.ipv4(f"{ip}/32"), ec2.Port.tcp(dns.port), "DNS (TCP)")
        self.resolver_endpoint = resolver.CfnResolverEndpoint(
            self, "OutboundEndpoint", direction="OUTBOUND",
            security_group_ids=[group.security_group_id],
            ip_addresses=[resolver.CfnResolverEndpoint.IpAddressRequestProperty(
                subnet_id=s.subnet_id) for s in subnets])
        for r, domain in enumerate(domains):
            rule = resolver.CfnResolverRule(
                self, f"Forward{r}", domain_name=domain, rule_type="FORWARD",
                resolver_endpoint_id=self.resolver_endpoint.attr_resolver_endpoint_id,
                target_ips=[resolver.CfnResolverRule.TargetAddressProperty(
                    ip=ip, port=str(dns.port)) for ip in targets])
            for n, network in enumerate(networks):
                resolver.CfnResolverRuleAssociation(
                    self, f"Forward{r}Vpc{n}", resolver_rule_id=rule.attr_resolver_rule_id,
                    vpc_id=network.vpc.vpc_id)
            self.resolver_rules[domain] = rule


def _select(vpc: ec2.IVpc, selection: ec2.SubnetSelection) -> ec2.SelectedSubnets:
    # jsii structs keep their fields in _values; select_subnets takes them as keywords.
    return vpc.select_subnets(**selection._values)


def _route_table_ids(network: RoutedNetwork) -> list[str]:
    subnets = _select(network.vpc, network.subnets).subnets
    if not subnets:
        raise ValueError("networks: the routed subnet selection matches no subnet")
    return list(dict.fromkeys(s.route_table.route_table_id for s in subnets))


def _inside_cidrs(remotes: Sequence[RemoteVpnGateway]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: dict[ipaddress.IPv4Network, str] = {}
    for i, remote in enumerate(remotes):
        pair = remote.tunnel_inside_cidrs or default_inside_cidrs(i)
        if len(pair) != 2:
            raise ValueError(f"remote_gateways[{i}].tunnel_inside_cidrs: give two /30s")
        for t, cidr in enumerate(pair):
            where = f"remote_gateways[{i}].tunnel_inside_cidrs[{t}]"
            net = check_inside_cidr(where, cidr)
            clash = next((w for other, w in seen.items() if other.overlaps(net)), None)
            if clash:
                raise ValueError(f"{where}: {cidr} overlaps {clash}")
            seen[net] = where
        out.append((str(pair[0]), str(pair[1])))
    return out


def _check_asns(remote: int, amazon: int) -> None:
    for name, asn in (("remote_asn", remote), ("amazon_side_asn", amazon)):
        if not 1 <= asn <= 4294967294:
            raise ValueError(f"{name}: {asn} is not a BGP ASN")
    if remote == amazon:
        raise ValueError(f"remote_asn and amazon_side_asn are both {remote}: eBGP needs two")


def _check_public_ip(where: str, value: str) -> None:
    if cdk.Token.is_unresolved(value):
        return
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an IPv4 address") from None
    if not ip.is_global:
        raise ValueError(f"{where}: {value} is not a public address")


def _private_ip(where: str, value: str) -> ipaddress.IPv4Address:
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an IPv4 address") from None
    if not ip.is_private or ip in LINK_LOCAL:
        raise ValueError(f"{where}: {value} is not a private address")
    return ip


def _private_cidr(where: str, value: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise ValueError(f"{where}: {value!r} is not an IPv4 CIDR ({exc})") from None
    if not net.is_private:
        raise ValueError(f"{where}: {value} is not a private range")
    return net


def _check_domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    if not _DOMAIN.match(name) or name.count(".") < 2:
        raise ValueError(f"dns.domains: {value!r} must be a host or zone name with at least "
                         "three labels (forwarding a whole top-level domain is refused)")
    return name
