"""Per gateway region: the AWS end of the private path to a ``gateway_path: private-vpn`` account.

``<name>-<region>-vpn`` instantiates :class:`skyrelay.constructs.site_to_site_vpn.SiteToSiteVpn`
in the region's VPC (the network stack's), with what step 2 of the deploy order
(:mod:`skyrelay.vpn_link`) linked from Azure: the VPN gateway's two public addresses, its BGP
ASN and the DNS Private Resolver's inbound address. So:

* one virtual private gateway, two customer gateways, two connections with two BGP tunnels
  each, whose inside /30s are this region's peer slot
  (:func:`skyrelay.views.private_path.peer_inside_cidrs`, the Azure side uses the same);
* the learned Azure routes propagate to the route tables of the gateway service's subnets
  only (the network's ``workload_subnets``), never to the data subnets;
* the Route 53 Resolver outbound endpoint sits in those subnets and forwards exactly the
  account's hostnames (:func:`skyrelay.views.private_path.forwarded_domains`);
* the tunnel alarms notify the region's alarm topic.

The outputs are the ``OUTPUT_*`` keys :class:`skyrelay.vpn_link.AwsVpnOutputs` reads in step 4.
The platform adds this stack only once the link values exist (see
:func:`skyrelay.stacks.platform.add_region_stacks`).

Example::

    VpnStack(app, "acme-eu-west-1-vpn", spec=spec, region="eu-west-1",
             network=network_stack.network, account=spec.azure.accounts[0],
             values={"remoteGatewayIps": ["20.61.10.1", "20.61.10.2"],
                     "resolverIp": "10.100.0.196", "remoteAsn": 65515},
             alarm_topic=observability.topic, env=env)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_sns as sns
from constructs import Construct

from skyrelay.constructs.network import IPrivateModelNetwork
from skyrelay.constructs.site_to_site_vpn import (
    DnsForwarding,
    RemoteVpnGateway,
    RoutedNetwork,
    SiteToSiteVpn,
)
from skyrelay.spec import Spec
from skyrelay.spec.models import AzureAccount
from skyrelay.stacks.common import RegionStack
from skyrelay.views.private_path import forwarded_domains, peer_inside_cidrs
from skyrelay.vpn_link import (
    OUTPUT_CONNECTIONS,
    OUTPUT_CUSTOMER_IPS,
    OUTPUT_INSIDE_CIDRS,
    OUTPUT_KEY_ARNS,
)


class VpnSpecError(ValueError):
    """The spec asks for a private path this version cannot build (the message says why)."""


class VpnStack(RegionStack):
    """The site-to-site VPN of one gateway region to one private-vpn Azure account.

    Attribute :attr:`vpn` is the construct (connections, key secrets, resolver rules).
    """

    def __init__(self, scope: Construct, id: str, *, spec: Spec, region: str,
                 network: IPrivateModelNetwork, account: AzureAccount,
                 values: Mapping[str, Any], alarm_topic: sns.ITopic | None = None,
                 **kwargs: Any) -> None:
        super().__init__(scope, id, spec=spec, region=region, **kwargs)
        settings = account.vpn_settings
        if settings is None:
            raise VpnSpecError(f"account {account.name!r} has no gateway_path: private-vpn")
        ips = list(values["remoteGatewayIps"])
        # The spec says what Azure was asked to build, the link what it built: they differ
        # only while a spec change is not deployed yet.
        if settings.asn != int(values["remoteAsn"]):
            raise VpnSpecError(f"account {account.name!r}: the linked Azure ASN "
                               f"{values['remoteAsn']} is not the spec's vpn.asn "
                               f"{settings.asn}: run `pulumi up`, then `skyrelay link` (stale)")
        if ipaddress.IPv4Address(values["resolverIp"]) not in ipaddress.IPv4Network(
                account.vnet_cidr):
            raise VpnSpecError(f"account {account.name!r}: the linked resolver address "
                               f"{values['resolverIp']} is outside vnet_cidr "
                               f"{account.vnet_cidr}: run `pulumi up`, then `skyrelay link` "
                               "(stale)")
        cidrs = peer_inside_cidrs(spec, region)
        self.vpn = SiteToSiteVpn(
            self, "ToAzure",
            networks=[RoutedNetwork(vpc=network.vpc, subnets=network.workload_subnets)],
            remote_gateways=[RemoteVpnGateway(ip, cidrs[i]) for i, ip in enumerate(ips)],
            remote_asn=int(values["remoteAsn"]),
            remote_cidrs=[account.vnet_cidr],
            dns=DnsForwarding(domains=list(forwarded_domains(account)),
                              target_ips=[str(values["resolverIp"])]),
            alarm_topic=alarm_topic)
        join = lambda xs: cdk.Fn.join(",", xs)  # noqa: E731
        cdk.CfnOutput(self, OUTPUT_CONNECTIONS, value=join([c.ref for c in self.vpn.connections]),
                      description="VPN connection ids, comma-separated (skyrelay link step 4)")
        cdk.CfnOutput(self, OUTPUT_CUSTOMER_IPS, value=",".join(ips),
                      description="The Azure addresses the customer gateways were built for")
        cdk.CfnOutput(self, OUTPUT_INSIDE_CIDRS,
                      value=",".join(c for pair in self.vpn.tunnel_inside_cidrs for c in pair),
                      description="Tunnel inside CIDRs, connection after connection")
        cdk.CfnOutput(self, OUTPUT_KEY_ARNS,
                      value=join([s.secret_arn for pair in self.vpn.psk_secrets for s in pair]),
                      description="ARNs of the tunnel key secrets (never the keys)")
