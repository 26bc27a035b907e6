"""Both ends of the private path, in the deploy order, agree with each other.

Azure's first ``pulumi up`` (under mocks) -> link step 2 -> the AWS construct synthesized with
what the link gave it -> the AWS deploy's outputs and a DescribeVpnConnections answer made
from that template (the cloud is what is simulated) -> link step 4 -> Azure's second
``pulumi up``. Every value one side uses must be the one the other side built: BGP peer
addresses, ASNs, customer gateway addresses, the resolver address the forwarding rules name.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pulumi

from skyrelay.pulumi.azure_mocks import MOCK_SUBSCRIPTION, AzureMocks
from skyrelay.pulumi.components.site_vpn import AwsPeer, AwsTunnel, SiteVpn, SiteVpnArgs
from skyrelay.pulumi.offline import RecordingMonitor
from skyrelay.pulumi.type_tokens import DNS_INBOUND_ENDPOINT, LOCAL_GATEWAY, VPN_GATEWAY
from skyrelay.vpn_link import AwsVpnOutputs, aws_link_values, azure_tunnels, secret_settings

RG = f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/rg-contoso"
VNET_ID = f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet-contoso"
HOSTNAMES = ["contoso-eu.openai.azure.com", "contoso-eu.privatelink.openai.azure.com"]
PEER = "eu-west-1"


def _azure(tunnels: list[AwsTunnel]) -> tuple[dict[str, Any], RecordingMonitor]:
    # pulumi.runtime.test runs on the current loop: an earlier asyncio.run() in this process
    # leaves none set
    asyncio.set_event_loop(asyncio.new_event_loop())
    recorder = RecordingMonitor(AzureMocks())
    pulumi.runtime.set_mocks(recorder.mocks, project="skyrelay", stack="e2e", preview=False,
                             monitor=recorder)
    got: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        vpn = SiteVpn("contoso", SiteVpnArgs(
            resource_group_name="rg-contoso", location="swedencentral",
            virtual_network_name="vnet-contoso", virtual_network_id=VNET_ID,
            gateway_subnet_cidr="10.100.1.0/27", resolver_subnet_cidr="10.100.1.32/28",
            workspace_id=f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law",
            peers=[AwsPeer(PEER)], tunnels=tunnels))
        return vpn.public_ip_addresses.apply(lambda ips: got.update(
            outputs={"accounts": {"contoso-eu": {"vpn": {
                "publicIps": ips, "resolverIp": vpn.resolver_ip, "asn": 65515}}}}))

    run()
    return got["outputs"], recorder


def _aws(link: dict[str, Any]) -> dict[str, Any]:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from skyrelay.constructs.site_to_site_vpn import (
        DnsForwarding,
        RemoteVpnGateway,
        RoutedNetwork,
        SiteToSiteVpn,
    )

    stack = cdk.Stack(cdk.App(), "demo-eu-west-1-vpn",
                      env=cdk.Environment(account="111122223333", region=PEER))
    vpc = ec2.Vpc(stack, "Vpc", ip_addresses=ec2.IpAddresses.cidr("10.20.0.0/16"),
                  availability_zones=["eu-west-1a", "eu-west-1b"], nat_gateways=0,
                  subnet_configuration=[ec2.SubnetConfiguration(
                      name="private", cidr_mask=24, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    SiteToSiteVpn(stack, "ToAzure",
                  networks=[RoutedNetwork(vpc, ec2.SubnetSelection(subnet_group_name="private"))],
                  remote_gateways=[RemoteVpnGateway(ip) for ip in link["remoteGatewayIps"]],
                  remote_asn=link["remoteAsn"], remote_cidrs=["10.100.0.0/22"],
                  dns=DnsForwarding(domains=HOSTNAMES, target_ips=[link["resolverIp"]]))
    template: dict[str, Any] = cdk.assertions.Template.from_stack(stack).to_json()
    return template


def _deployed(template: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """What CloudFormation and EC2 would report for this template once deployed."""
    res = template["Resources"]
    connections = sorted(k for k, r in res.items() if r["Type"] == "AWS::EC2::VPNConnection")
    ids, cgw_ips, cidrs, arns, described = [], [], [], [], []
    for n, logical in enumerate(connections, start=1):
        props = res[logical]["Properties"]
        ids.append(f"vpn-0a1b2c3d4e5f6000{n}")
        cgw_ips.append(res[props["CustomerGatewayId"]["Ref"]]["Properties"]["IpAddress"])
        options = []
        for t, tunnel in enumerate(props["VpnTunnelOptionsSpecifications"], start=1):
            cidrs.append(tunnel["TunnelInsideCidr"])
            secret = tunnel["PreSharedKey"]["Fn::Join"][1][1]["Ref"]
            arns.append(f"arn:aws:secretsmanager:{PEER}:111122223333:secret:{secret}-Ab12Cd")
            options.append({"TunnelInsideCidr": tunnel["TunnelInsideCidr"],
                            "OutsideIpAddress": f"52.48.{n}.{t}"})
        described.append({"VpnConnectionId": ids[-1], "State": "available",
                          "Options": {"TunnelOptions": options}})
    outputs = {"VpnConnectionIds": ",".join(ids), "VpnCustomerGatewayIps": ",".join(cgw_ips),
               "VpnTunnelInsideCidrs": ",".join(cidrs), "VpnKeySecretArns": ",".join(arns)}
    return outputs, {"VpnConnections": described}


def test_the_two_ends_agree_across_the_deploy_order() -> None:
    first, _ = _azure([])                                        # 1. pulumi up
    link = aws_link_values(first, ["contoso-eu"])["contoso-eu"]   # 2. skyrelay link
    template = _aws(link)                                        # 3. cdk deploy
    outputs, described = _deployed(template)
    aws = AwsVpnOutputs.from_stack_outputs(outputs, "demo-eu-west-1-vpn")
    tunnels = azure_tunnels(aws, link["remoteGatewayIps"], described, peer=PEER)  # 4. link
    keys = {t.key_arn: f"K{t.instance}{t.tunnel}.from_secrets_manager" for t in tunnels}
    settings = secret_settings("contoso-eu", tunnels, keys.__getitem__, stack="prod")
    second, recorder = _azure([AwsTunnel(t.instance, t.tunnel, t.outside_ip, s.stdin, peer=PEER)
                               for t, s in zip(tunnels, settings, strict=True)])  # 5. pulumi up
    assert second == first  # the second deploy keeps the addresses AWS was built against

    res = template["Resources"]
    of = lambda type_: [r["Properties"] for r in res.values() if r["Type"] == type_]  # noqa: E731
    (gateway,) = [r["inputs"] for r in recorder.records.values() if r["type"] == VPN_GATEWAY]
    (vgw,) = of("AWS::EC2::VPNGateway")
    # ASNs: AWS's customer gateways carry Azure's, Azure's local gateways carry Amazon's.
    assert {c["BgpAsn"] for c in of("AWS::EC2::CustomerGateway")} == {
        gateway["bgpSettings"]["asn"]}
    locals_ = [r["inputs"] for r in recorder.records.values() if r["type"] == LOCAL_GATEWAY]
    assert {g["bgpSettings"]["asn"] for g in locals_} == {vgw["AmazonSideAsn"]}
    # BGP addresses: per tunnel, AWS the first host of its /30 (Azure's peer address for
    # it), Azure the second (on the instance the tunnel ends on).
    by_outside = {g["gatewayIpAddress"]: g["bgpSettings"]["bgpPeeringAddress"] for g in locals_}
    azure_custom = gateway["bgpSettings"]["bgpPeeringAddresses"]
    for tunnel in tunnels:
        net = ipaddress.ip_network(aws.inside_cidrs[tunnel.instance][tunnel.tunnel])
        assert by_outside[tunnel.outside_ip] == str(net[1])
        assert str(net[2]) in azure_custom[tunnel.instance]["customBgpIpAddresses"]
    # DNS: the AWS rules forward to exactly the address Azure's inbound endpoint holds.
    (endpoint,) = [r["inputs"] for r in recorder.records.values()
                   if r["type"] == DNS_INBOUND_ENDPOINT]
    resolver_ip = endpoint["ipConfigurations"][0]["privateIpAddress"]
    assert {t["Ip"] for r in of("AWS::Route53Resolver::ResolverRule")
            for t in r["TargetIps"]} == {resolver_ip}
