"""The Pulumi program for a ``gateway_path: private-vpn`` account, run under mocks.

The program reads its config as ``pulumi up`` would (``read_settings``: the tunnels from
``skyrelay:vpnTunnels``, each key from its own secret) and builds the spec with ``build``;
the spec is validated with pydantic alone, because ``load_spec`` still refuses private-vpn
until both sides are merged. Each test says why a property matters for a path that must
come up and stay private.
Update the snapshot with: pytest tests/pulumi/test_azure_private_vpn_program.py --snapshot-update
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.config import _SECRET_KEYS, CONFIG
from pulumi.runtime.settings import ROOT, reset_options
from syrupy.extensions.json import JSONSnapshotExtension

from skyrelay.pulumi.azure_mocks import AzureMocks
from skyrelay.pulumi.components.private_link import ACCOUNT_DNS_ZONES
from skyrelay.pulumi.offline import STACK_TYPE, RecordingMonitor, ResourceGraph
from skyrelay.pulumi.program import ProgramError, build, read_settings
from skyrelay.pulumi.type_tokens import (
    ACCOUNT,
    DNS_INBOUND_ENDPOINT,
    DNS_RESOLVER,
    LOCAL_GATEWAY,
    SITE_VPN_COMPONENT,
    SUBNET,
    VIRTUAL_NETWORK,
    VNET_LINK,
    VPN_CONNECTION,
    VPN_GATEWAY,
)
from skyrelay.spec import Spec
from skyrelay.vpn_link import AzureVpnOutputs, TunnelLink, secret_config_key

ROOT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT_DIR / "examples" / "platform.yaml"
ACCT = "acme-openai-swc"
PRINCIPAL = "00000000-0000-0000-0000-00000000face"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret value
REGIONS = ("us-east-1", "eu-central-1")  # the default spec's gateway regions, in order
#: What `skyrelay link` (step 4) hands over: per region, connection, tunnel.
LINKS = [TunnelLink(r, i, t, f"3.{80 + p}.{i}.{t + 1}", f"arn:key-{p}{i}{t}")
         for p, r in enumerate(REGIONS) for i in range(2) for t in range(2)]


def key_of(link: TunnelLink) -> str:
    return f"fakeKey{link.peer.replace('-', '')}{link.instance}{link.tunnel}ForTests"


def private_spec(change: Callable[[dict[str, Any]], None] | None = None) -> Spec:
    doc = yaml.safe_load(DEFAULT_SPEC.read_text())
    for acct in doc["azure"]["accounts"]:
        for deployment in acct["deployments"]:
            deployment["version"] = str(deployment["version"])  # safe_load made it a date
    doc["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                       public_network_access="disabled")
    if change:
        change(doc)
    return Spec.model_validate(doc)


def vpn_config(links: list[TunnelLink]) -> tuple[dict[str, Any], set[str]]:
    """Stack config as `skyrelay link` leaves it: plain tunnels and one secret per key."""
    config: dict[str, Any] = {"spec": str(DEFAULT_SPEC), "gatewayPrincipalId": PRINCIPAL}
    if links:
        config["vpnTunnels"] = {ACCT: [link.config() for link in links]}
    secrets = set()
    for link in links:
        name = secret_config_key(ACCT, link.peer, link.instance, link.tunnel).split(":", 1)[1]
        config[name] = key_of(link)
        secrets.add(name)
    return config, secrets


def run_program(spec: Spec, config: dict[str, Any], secrets: set[str] = frozenset()  # type: ignore[assignment]
                ) -> ResourceGraph:
    """``read_settings`` + ``build`` + exports under mocks, like ``main()`` with ``spec``."""
    raw = {f"skyrelay:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    monitor = RecordingMonitor(AzureMocks())
    saved = CONFIG.get(), _SECRET_KEYS.get()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def program() -> None:
        for key, value in build(spec, read_settings()).items():
            pulumi.export(key, value)

    try:
        reset_options()
        pulumi.runtime.set_all_config(raw, [f"skyrelay:{k}" for k in secrets])
        pulumi.runtime.set_mocks(monitor.mocks, project="skyrelay", stack="offline",
                                 preview=False, monitor=monitor)
        ROOT.set(None)
        loop.run_until_complete(pulumi.runtime.run_in_stack(program))
    finally:
        loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())
        reset_options()
        CONFIG.set(saved[0])
        _SECRET_KEYS.set(saved[1])
    return monitor.graph("private-vpn", config)


@pytest.fixture(scope="module")
def first_deploy() -> ResourceGraph:
    return run_program(private_spec(), *vpn_config([]))


@pytest.fixture(scope="module")
def linked() -> ResourceGraph:
    return run_program(private_spec(), *vpn_config(LINKS))


def inputs(graph: ResourceGraph, type_token: str) -> list[dict[str, Any]]:
    return [r.inputs for r in graph.of_type(type_token)]


def plain_strings(value: Any) -> Iterator[str]:
    """Every string in ``value`` that is not inside a Pulumi secret."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return
        for k, v in value.items():
            yield str(k)
            yield from plain_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from plain_strings(v)
    elif isinstance(value, str):
        yield value


def test_first_deploy_builds_gateway_and_resolver_and_exports_what_aws_needs(
        first_deploy: ResourceGraph) -> None:
    # No tunnel is known before the AWS side exists: nothing half-configured is created.
    assert not inputs(first_deploy, LOCAL_GATEWAY) and not inputs(first_deploy, VPN_CONNECTION)
    assert len(inputs(first_deploy, VPN_GATEWAY)) == 1
    assert len(inputs(first_deploy, DNS_INBOUND_ENDPOINT)) == 1
    # Step 2 of the deploy order reads exactly this export.
    azure = AzureVpnOutputs.from_account_outputs(first_deploy.outputs, ACCT)
    assert len(set(azure.public_ips)) == 2
    assert (azure.resolver_ip, azure.asn) == ("10.100.0.164", 65515)


def test_network_layout_gateway_subnet_as_azure_requires(linked: ResourceGraph) -> None:
    (vnet,) = inputs(linked, VIRTUAL_NETWORK)
    assert vnet["addressSpace"]["addressPrefixes"] == ["10.100.0.0/24"]
    subnets = {s["subnetName"]: s for s in inputs(linked, SUBNET)}
    assert set(subnets) == {"private-endpoints", "GatewaySubnet", "dns-inbound"}
    assert {s["virtualNetworkName"] for s in subnets.values()} == {vnet["virtualNetworkName"]}
    # The endpoints keep the first half; Azure's gateway must sit in a subnet named exactly
    # GatewaySubnet, /27 or larger (vpn-gateway-about-vpn-gateway-settings#gwsub).
    assert subnets["private-endpoints"]["addressPrefix"] == "10.100.0.0/25"
    assert subnets["GatewaySubnet"]["addressPrefix"] == "10.100.0.128/27"
    assert subnets["dns-inbound"]["addressPrefix"] == "10.100.0.160/28"
    assert subnets["dns-inbound"]["delegations"] == [{
        "name": "Microsoft.Network.dnsResolvers",
        "serviceName": "Microsoft.Network/dnsResolvers"}]
    # ARM refuses parallel writes of one network's subnets: each waits for the one before.
    by_name = {r.inputs.get("subnetName"): r for r in linked.of_type(SUBNET)}
    assert by_name["private-endpoints"].urn in by_name["GatewaySubnet"].depends_on
    assert by_name["GatewaySubnet"].urn in by_name["dns-inbound"].depends_on


def test_gateway_is_zone_redundant_route_based_with_bgp_for_every_region(
        linked: ResourceGraph) -> None:
    (gateway,) = inputs(linked, VPN_GATEWAY)
    assert gateway["sku"] == {"name": "VpnGw1AZ", "tier": "VpnGw1AZ"}
    assert (gateway["vpnType"], gateway["activeActive"], gateway["enableBgp"]) == (
        "RouteBased", True, True)
    assert gateway["bgpSettings"]["asn"] == 65515
    # us-east-1 is slot 0, eu-central-1 slot 1: the second host of each inside /30.
    assert [p["customBgpIpAddresses"] for p in gateway["bgpSettings"]["bgpPeeringAddresses"]] \
        == [["169.254.21.2", "169.254.22.2", "169.254.21.10", "169.254.22.10"],
            ["169.254.21.6", "169.254.22.6", "169.254.21.14", "169.254.22.14"]]


def test_one_bgp_connection_per_configured_tunnel(linked: ResourceGraph) -> None:
    connections = inputs(linked, VPN_CONNECTION)
    assert len(connections) == len(LINKS) == 8
    assert all(c["enableBgp"] is True and c["connectionProtocol"] == "IKEv2"
               for c in connections)
    locals_ = inputs(linked, LOCAL_GATEWAY)
    assert sorted(g["gatewayIpAddress"] for g in locals_) == sorted(x.outside_ip for x in LINKS)
    assert {g["bgpSettings"]["asn"] for g in locals_} == {64512}


def test_only_the_tunnels_configured_get_connections() -> None:
    half = [x for x in LINKS if x.peer == "us-east-1"]
    graph = run_program(private_spec(), *vpn_config(half))
    names = sorted(c["virtualNetworkGatewayConnectionName"]
                   for c in inputs(graph, VPN_CONNECTION))
    assert names == [f"cn-{ACCT}-us-east-1-{i}-{t}" for i in range(2) for t in range(2)]


def test_shared_keys_are_secrets_and_never_plain_anywhere(linked: ResourceGraph) -> None:
    by_ip = {x.outside_ip: key_of(x) for x in LINKS}
    locals_ = {r.urn: r.inputs["gatewayIpAddress"] for r in linked.of_type(LOCAL_GATEWAY)}
    for connection in linked.of_type(VPN_CONNECTION):
        key = connection.inputs["sharedKey"]
        assert SECRET_SIG in key  # stored encrypted in the state, masked by `pulumi stack`
        ip = next(ip for urn, ip in locals_.items() if urn in connection.depends_on)
        assert key["value"] == by_ip[ip]  # each connection has its own tunnel's key
    # Nowhere in any resource's inputs or registered outputs, nor in the stack outputs (the
    # recorded config is what this test set, not something the program wrote).
    document = linked.as_dict()
    plain = list(plain_strings([document["resources"], document["outputs"]]))
    assert not [s for s in plain for k in by_ip.values() if k in s]
    assert [k for k in by_ip.values() if k in json.dumps(document["resources"])]


def test_a_missing_key_is_refused_before_anything_is_built() -> None:
    config, secrets = vpn_config(LINKS)
    dropped = secret_config_key(ACCT, "eu-central-1", 1, 0)
    del config[dropped.split(":", 1)[1]]
    with pytest.raises(ProgramError, match=f"no pre-shared key for tunnel.s. {dropped}: run "
                                           r"`skyrelay link` after `cdk deploy` \(step 4\)"):
        run_program(private_spec(), config, secrets - {dropped.split(":", 1)[1]})


def test_a_tunnel_from_a_region_without_a_gateway_is_refused() -> None:
    stranger = TunnelLink("us-west-2", 0, 0, "3.90.0.1", "arn:k")
    with pytest.raises(ProgramError, match=r"names \['us-west-2'\], which are not gateway "
                                           r"regions \(us-east-1, eu-central-1\)"):
        run_program(private_spec(), *vpn_config([stranger]))


def test_malformed_tunnel_config_names_the_entry() -> None:
    config, secrets = vpn_config([])
    config["vpnTunnels"] = {ACCT: [{"peer": "us-east-1", "instance": 2, "tunnel": 0,
                                    "outsideIp": "10.0.0.1"}]}
    with pytest.raises(ProgramError, match=r"skyrelay:vpnTunnels.acme-openai-swc\[0\].instance "
                                           "must be 0 or 1, got 2"):
        run_program(private_spec(), config, secrets)


def test_the_resolver_answers_from_the_accounts_privatelink_zones(linked: ResourceGraph) -> None:
    # The resolver answers only from zones linked to its own network: all three of the
    # account's zones must be linked to the network the resolver sits in.
    (resolver,) = inputs(linked, DNS_RESOLVER)
    links = inputs(linked, VNET_LINK)
    assert sorted(x["privateZoneName"] for x in links) == sorted(ACCOUNT_DNS_ZONES)
    assert {x["virtualNetwork"]["id"] for x in links} == {resolver["virtualNetwork"]["id"]}
    (endpoint,) = inputs(linked, DNS_INBOUND_ENDPOINT)
    (ip_config,) = endpoint["ipConfigurations"]
    assert ip_config["subnet"]["id"].endswith("/subnets/dns-inbound")
    assert ip_config["privateIpAddress"] == "10.100.0.164"


def test_the_account_of_a_private_path_has_no_public_endpoint(linked: ResourceGraph) -> None:
    (account,) = inputs(linked, ACCOUNT)
    props = account["properties"]
    assert props["publicNetworkAccess"] == "Disabled"
    assert not props["networkAcls"].get("ipRules")


def test_a_public_allowlist_account_next_to_it_builds_exactly_as_before() -> None:
    def add_public(doc: dict[str, Any]) -> None:
        other = copy.deepcopy(doc["azure"]["accounts"][0])
        other.update(name="acme-openai-gwc", location="germanywestcentral",
                     gateway_path="public-allowlist", public_network_access="gateway-egress-only",
                     vnet_cidr="10.101.0.0/24")
        doc["azure"]["accounts"].append(other)

    def public_only(doc: dict[str, Any]) -> None:
        add_public(doc)
        doc["azure"]["accounts"][0].update(gateway_path="public-allowlist")

    config, secrets = vpn_config([])
    config["gatewayEgressIps"] = ["203.0.113.10"]

    def of_gwc(graph: ResourceGraph) -> list[tuple[str, str, str, Any]]:
        return sorted((r.urn, r.type, r.name, json.dumps(r.inputs, sort_keys=True))
                      for r in graph.resources if "acme-openai-gwc" in r.urn)

    mixed = run_program(private_spec(add_public), config, secrets)
    before = run_program(private_spec(public_only), config, secrets)
    assert of_gwc(mixed) == of_gwc(before) and of_gwc(mixed)
    assert "vpn" not in mixed.outputs["accounts"]["acme-openai-gwc"]
    assert [r.name for r in mixed.of_type(SITE_VPN_COMPONENT)] == [ACCT]


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return "<secret>"
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def test_private_vpn_graph_snapshot(linked: ResourceGraph, snapshot: Any) -> None:
    doc = _redacted(linked.as_dict())
    doc["config"] = {k: "<secret>" if k.startswith("vpnKey-") else v
                     for k, v in {**doc["config"], "spec": "examples/platform.yaml"}.items()}
    assert [r["type"] for r in doc["resources"]].count(STACK_TYPE) == 1
    assert doc == snapshot.use_extension(JSONSnapshotExtension)


def test_the_built_graph_passes_every_azure_rule_with_the_private_path(
        linked: ResourceGraph) -> None:
    from skyrelay.policies import azure_graph
    from skyrelay.policies.check import azure_allowed

    allowed = azure_allowed(private_spec())
    assert allowed.private_vpn_accounts == {ACCT}
    entries = azure_graph.plan_entries(linked.as_dict())
    assert azure_graph.check_graph(entries, allowed) == []
    # The rule reads the gateway this program names: without it, the path is refused.
    without = [e for e in entries if e[0] != VPN_GATEWAY]
    assert [v.rule for v in azure_graph.check_graph(without, allowed)] == ["SKY-AZ-010"]


def test_an_existing_network_for_a_private_vpn_account_is_refused() -> None:
    config, secrets = vpn_config([])
    config["existingNetworks"] = {ACCT: {"subnetId": "s", "virtualNetworkId": "v"}}
    with pytest.raises(ProgramError, match="a private-vpn account builds its own network"):
        run_program(private_spec(), config, secrets)


def test_tunnels_for_an_account_not_on_the_private_path_are_refused() -> None:
    config, secrets = vpn_config([])
    config["vpnTunnels"] = {"acme-openai-other": []}
    with pytest.raises(ProgramError, match="names 'acme-openai-other', which is no "
                                           "private-vpn account of the spec"):
        run_program(private_spec(), config, secrets)
