"""SiteVpn on its own (no spec), under Pulumi mocks: the Azure end of the path to AWS.

The component is built twice: as on the first deploy (no AWS tunnels known yet: gateway,
addresses and resolver only) and as after ``skyrelay link`` (four tunnels). The recording
monitor keeps the inputs each resource was registered with.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from skyrelay.pulumi.azure_mocks import MOCK_SUBSCRIPTION, AzureMocks
from skyrelay.pulumi.components.site_vpn import (
    AwsPeer,
    AwsTunnel,
    SiteVpn,
    SiteVpnArgs,
    default_inside_cidrs,
)
from skyrelay.pulumi.components.validation import AzureArgsError
from skyrelay.pulumi.offline import RecordingMonitor
from skyrelay.pulumi.type_tokens import (
    DIAGNOSTIC_SETTING,
    DNS_INBOUND_ENDPOINT,
    DNS_RESOLVER,
    LOCAL_GATEWAY,
    PUBLIC_IP,
    SUBNET,
    VPN_CONNECTION,
    VPN_GATEWAY,
)

RG = f"/subscriptions/{MOCK_SUBSCRIPTION}/resourceGroups/rg-contoso"
VNET_ID = f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet-contoso"
WORKSPACE_ID = f"{RG}/providers/Microsoft.OperationalInsights/workspaces/law-contoso"
#: The AWS side after its deploy: tunnel outside addresses per (instance, tunnel).
OUTSIDE = {(0, 0): "3.120.1.10", (0, 1): "3.120.1.11", (1, 0): "18.184.2.20",
           (1, 1): "18.184.2.21"}
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value


@pytest.fixture
def monitor() -> Iterator[RecordingMonitor]:
    recorder = RecordingMonitor(AzureMocks())
    pulumi.runtime.set_mocks(recorder.mocks, project="skyrelay", stack="unit", preview=False,
                             monitor=recorder)
    yield recorder


def _args(**overrides: Any) -> SiteVpnArgs:
    values: dict[str, Any] = dict(
        resource_group_name="rg-contoso", location="swedencentral",
        virtual_network_name="vnet-contoso", virtual_network_id=VNET_ID,
        gateway_subnet_cidr="10.100.1.0/27", resolver_subnet_cidr="10.100.1.32/28",
        workspace_id=WORKSPACE_ID)
    values.update(overrides)
    return SiteVpnArgs(**values)


def _tunnels() -> list[AwsTunnel]:
    return [AwsTunnel(instance=i, tunnel=t, outside_ip=ip,
                      shared_key=pulumi.Output.secret(f"key{i}{t}SecretFromLink"))
            for (i, t), ip in OUTSIDE.items()]


def _build(args: SiteVpnArgs) -> dict[str, Any]:
    got: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        vpn = SiteVpn("contoso", args)
        got["vpn"] = vpn
        return pulumi.Output.all(vpn.public_ip_addresses, vpn.gateway_id).apply(
            lambda v: got.update(ips=v[0], gateway_id=v[1]))

    run()
    return got


def _of(monitor: RecordingMonitor, type_token: str) -> list[dict[str, Any]]:
    return [r["inputs"] for r in monitor.records.values() if r["type"] == type_token]


def test_first_deploy_builds_gateway_and_resolver_without_tunnels(
        monitor: RecordingMonitor) -> None:
    # The AWS side needs the two public addresses and the resolver address before any
    # tunnel can exist; no connection may be half-configured on this deploy.
    got = _build(_args())
    assert len(got["ips"]) == 2 and len(set(got["ips"])) == 2
    assert not _of(monitor, LOCAL_GATEWAY) and not _of(monitor, VPN_CONNECTION)
    assert got["vpn"].resolver_ip == "10.100.1.36"  # first address Azure lets /28 .32 use


def test_gateway_is_route_based_zone_redundant_active_active_with_bgp(
        monitor: RecordingMonitor) -> None:
    got = _build(_args())
    (gateway,) = _of(monitor, VPN_GATEWAY)
    assert (gateway["gatewayType"], gateway["vpnType"]) == ("Vpn", "RouteBased")
    assert gateway["sku"] == {"name": "VpnGw1AZ", "tier": "VpnGw1AZ"}
    assert gateway["vpnGatewayGeneration"] == "Generation1"
    # Active-active: one instance per AWS customer gateway; BGP with custom APIPA addresses,
    # the second host of each AWS inside /30 (AWS uses the first).
    assert gateway["activeActive"] is True and gateway["enableBgp"] is True
    peering = gateway["bgpSettings"]["bgpPeeringAddresses"]
    assert [p["customBgpIpAddresses"] for p in peering] == [
        ["169.254.21.2", "169.254.22.2"], ["169.254.21.6", "169.254.22.6"]]
    # Each names its own IP configuration by the id the gateway will have.
    assert [p["ipconfigurationId"] for p in peering] == [
        f"{got['gateway_id']}/ipConfigurations/default",
        f"{got['gateway_id']}/ipConfigurations/activeActive"]
    ips = _of(monitor, PUBLIC_IP)
    assert len(ips) == 2
    for ip in ips:
        assert ip["sku"]["name"] == "Standard" and ip["zones"] == ["1", "2", "3"]
        assert ip["publicIPAllocationMethod"] == "Static"


def test_gateway_subnet_and_resolver_subnet_as_azure_requires(monitor: RecordingMonitor) -> None:
    _build(_args())
    subnets = {s["subnetName"]: s for s in _of(monitor, SUBNET)}
    assert subnets["GatewaySubnet"]["addressPrefix"] == "10.100.1.0/27"
    assert "networkSecurityGroup" not in subnets["GatewaySubnet"]
    inbound = subnets["dns-inbound"]
    assert inbound["delegations"] == [{"name": "Microsoft.Network.dnsResolvers",
                                       "serviceName": "Microsoft.Network/dnsResolvers"}]
    (resolver,) = _of(monitor, DNS_RESOLVER)
    assert resolver["virtualNetwork"] == {"id": VNET_ID}
    (endpoint,) = _of(monitor, DNS_INBOUND_ENDPOINT)
    (config,) = endpoint["ipConfigurations"]
    # Static, so the AWS forwarding rules can name it before this deploy finishes.
    assert config["privateIpAllocationMethod"] == "Static"
    assert config["privateIpAddress"] == "10.100.1.36"
    assert config["subnet"]["id"].endswith("/subnets/dns-inbound")


def test_one_local_gateway_and_bgp_connection_per_aws_tunnel(monitor: RecordingMonitor) -> None:
    got = _build(_args(tunnels=_tunnels()))
    locals_ = {g["gatewayIpAddress"]: g for g in _of(monitor, LOCAL_GATEWAY)}
    assert set(locals_) == set(OUTSIDE.values())
    # AWS's BGP address is the first host of each inside /30, with Amazon's ASN.
    assert {ip: g["bgpSettings"]["bgpPeeringAddress"] for ip, g in locals_.items()} == {
        "3.120.1.10": "169.254.21.1", "3.120.1.11": "169.254.22.1",
        "18.184.2.20": "169.254.21.5", "18.184.2.21": "169.254.22.5"}
    assert {g["bgpSettings"]["asn"] for g in locals_.values()} == {64512}
    connections = _of(monitor, VPN_CONNECTION)
    assert len(connections) == 4
    for c in connections:
        assert (c["connectionType"], c["connectionProtocol"], c["enableBgp"]) == (
            "IPsec", "IKEv2", True)
        assert c["virtualNetworkGateway1"] == {"id": got["gateway_id"]}
        custom = c["gatewayCustomBgpIpAddresses"]
        assert [x["ipConfigurationId"].rsplit("/", 1)[-1] for x in custom] == [
            "default", "activeActive"]
    by_name = {c["virtualNetworkGatewayConnectionName"]: c for c in connections}
    # The tunnel's own address on its instance, the other instance's first elsewhere.
    assert [x["customBgpIpAddress"] for x in
            by_name["cn-contoso-aws-1-1"]["gatewayCustomBgpIpAddresses"]] == [
        "169.254.21.2", "169.254.22.6"]


def test_shared_keys_are_pulumi_secrets(monitor: RecordingMonitor) -> None:
    # A plain key would be stored readable in the stack's state and shown by `pulumi stack`.
    # Even a key handed over as a plain string is registered as a secret.
    _build(_args(tunnels=[AwsTunnel(0, 0, OUTSIDE[(0, 0)], "plainKeyFromLink1")]))
    (connection,) = _of(monitor, VPN_CONNECTION)
    assert SECRET_SIG in connection["sharedKey"]
    assert connection["sharedKey"]["value"] == "plainKeyFromLink1"


def test_gateway_connection_logs_go_to_log_analytics(monitor: RecordingMonitor) -> None:
    got = _build(_args())
    (setting,) = _of(monitor, DIAGNOSTIC_SETTING)
    assert setting["resourceUri"] == got["gateway_id"]
    assert setting["workspaceId"] == WORKSPACE_ID
    assert {log["category"] for log in setting["logs"] if log["enabled"]} >= {
        "TunnelDiagnosticLog", "GatewayDiagnosticLog", "IKEDiagnosticLog"}


def test_zones_of_another_network_are_linked_for_the_resolver(monitor: RecordingMonitor) -> None:
    zone_id = f"{RG}/providers/Microsoft.Network/privateDnsZones/privatelink.openai.azure.com"
    _build(_args(link_dns_zones={"privatelink.openai.azure.com": zone_id}))
    links = [r["inputs"] for r in monitor.records.values()
             if r["type"] == "azure-native:privatedns:VirtualNetworkLink"]
    assert [(x["privateZoneName"], x["virtualNetwork"]["id"]) for x in links] == [
        ("privatelink.openai.azure.com", VNET_ID)]


def test_every_gateway_region_gets_its_own_tunnels_on_one_gateway(
        monitor: RecordingMonitor) -> None:
    # Two AWS regions, each its own VPN end: the gateway instances carry the APIPA addresses
    # of both, and no address is shared (Azure would pick the wrong BGP session).
    peers = [AwsPeer("eu-west-1", default_inside_cidrs(0)),
             AwsPeer("eu-central-1", default_inside_cidrs(1), asn=64513)]
    tunnels = [AwsTunnel(i, t, f"3.120.{p}.{2 * i + t + 1}", f"k{p}{i}{t}", peer=peer.name)
               for p, peer in enumerate(peers) for i in range(2) for t in range(2)]
    _build(_args(peers=peers, tunnels=tunnels))
    (gateway,) = _of(monitor, VPN_GATEWAY)
    peering = gateway["bgpSettings"]["bgpPeeringAddresses"]
    per_instance = [p["customBgpIpAddresses"] for p in peering]
    assert per_instance == [["169.254.21.2", "169.254.22.2", "169.254.21.10", "169.254.22.10"],
                            ["169.254.21.6", "169.254.22.6", "169.254.21.14", "169.254.22.14"]]
    locals_ = _of(monitor, LOCAL_GATEWAY)
    assert len(locals_) == 8 and len(_of(monitor, VPN_CONNECTION)) == 8
    assert sorted({g["bgpSettings"]["asn"] for g in locals_}) == [64512, 64513]
    names = {c["virtualNetworkGatewayConnectionName"] for c in _of(monitor, VPN_CONNECTION)}
    assert "cn-contoso-eu-central-1-1-1" in names


@pytest.mark.parametrize(("overrides", "message"), [
    ({"gateway_subnet_cidr": "10.100.1.0/28"}, "smaller than the /27"),
    ({"resolver_subnet_cidr": "10.100.1.0/28"}, "overlaps"),
    ({"resolver_subnet_cidr": "10.100.2.0/29"}, "/28 to /24"),
    ({"resolver_ip": "10.100.1.33"}, "resolver_ip"),
    ({"sku": "VpnGw1"}, "zone-redundant"),
    ({"asn": 64512}, "eBGP needs two"),
    ({"peers": [AwsPeer(inside_cidrs=(("169.254.30.0/30", "169.254.22.0/30"),
                                      ("169.254.21.4/30", "169.254.22.4/30")))]}, "APIPA range"),
    ({"peers": [AwsPeer(inside_cidrs=(("169.254.21.0/30", "169.254.22.0/30"),
                                      ("169.254.21.0/30", "169.254.22.4/30")))]}, "used twice"),
    ({"peers": [AwsPeer("eu-west-1"), AwsPeer("eu-central-1")]}, "used twice"),
    ({"peers": [AwsPeer("Eu West")]}, "lowercase"),
    ({"tunnels": [AwsTunnel(2, 0, "3.1.1.1", "k")]}, "tunnels"),
    ({"tunnels": [AwsTunnel(0, 0, "3.1.1.1", "k", peer="us-east-1")]}, "tunnels"),
])
def test_bad_args_are_refused_naming_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(AzureArgsError, match=message):
        _args(**overrides)
