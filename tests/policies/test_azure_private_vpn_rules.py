"""The rules that keep a private-vpn account private (SKY-AZ-009) and its path up (SKY-AZ-010).

SKY-AZ-002 accepts a public endpoint with default deny and allow-listed addresses; for an
account the spec puts on the private VPN that is not enough, since prompts could still
cross the internet. And a private account without its VPN gateway (or with BGP off) is
unreachable: no route to its network would ever be learnt.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import (
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions

from skyrelay.policies import azure_graph as az
from skyrelay.policies.check import azure_allowed
from skyrelay.policies.crossguard.validations import build_policies
from skyrelay.spec import Spec

ACCT_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1"
PRIVATE = {"disableLocalAuth": True, "publicNetworkAccess": "Disabled",
           "networkAcls": {"defaultAction": "Deny", "bypass": "None", "ipRules": []}}
GATEWAY = {"virtualNetworkGatewayName": "vgw-a1", "gatewayType": "Vpn", "vpnType": "RouteBased",
           "enableBgp": True, "bgpSettings": {"asn": 65515}}
CONNECTION = {"virtualNetworkGatewayConnectionName": "cn-a1-eu-west-1-0-0", "enableBgp": True}
ALLOWED = az.AzureAllowed({}, None, frozenset({"a1"}))


def graph(account: dict[str, Any] | None = None, gateway: dict[str, Any] | None = None,
          connection: dict[str, Any] | None = None) -> list[az.Entry]:
    props = {"accountName": "a1", "location": "swedencentral", "kind": "AIServices",
             "properties": {**PRIVATE, **(account or {})}}
    entries: list[az.Entry] = [
        (az.ACCOUNT, props, "a1"),
        (az.PRIVATE_ENDPOINT, {"privateLinkServiceConnections": [
            {"privateLinkServiceId": ACCT_ID}]}, "pe"),
        (az.DIAGNOSTIC_SETTING, {"resourceUri": ACCT_ID, "logs": [{"enabled": True}]}, "diag"),
        (az.VPN_CONNECTION, {**CONNECTION, **(connection or {})}, "a1-aws-0-0-connection")]
    if gateway is not None:
        entries.append((az.VPN_GATEWAY, gateway, "a1-gateway"))
    return entries


def found(entries: list[az.Entry], allowed: az.AzureAllowed = ALLOWED
          ) -> list[tuple[str, str, str]]:
    return [(v.rule, v.resource, v.message) for v in az.check_graph(entries, allowed)]


def test_a_private_account_with_its_gateway_passes() -> None:
    assert found(graph(gateway=GATEWAY)) == []


def test_an_allow_listed_public_endpoint_passes_sky_az_002_but_not_009() -> None:
    entries = graph({"publicNetworkAccess": "Enabled",
                     "networkAcls": {"defaultAction": "Deny",
                                     "ipRules": [{"value": "203.0.113.10"}]}}, GATEWAY)
    assert found(entries) == [
        ("SKY-AZ-009", "a1", "gateway_path private-vpn, but publicNetworkAccess is 'Enabled', "
                             "not 'Disabled'"),
        ("SKY-AZ-009", "a1", "gateway_path private-vpn, but networkAcls allow-lists "
                             "['203.0.113.10']")]


def test_ip_rules_left_on_a_disabled_endpoint_are_still_refused() -> None:
    # Turning public access back on would open those addresses at once.
    entries = graph({"networkAcls": {"defaultAction": "Deny",
                                     "ipRules": [{"value": "198.51.100.7"}]}}, GATEWAY)
    assert [r for r, _, _ in found(entries)] == ["SKY-AZ-009"]


def test_the_rules_leave_public_allowlist_accounts_alone() -> None:
    entries = graph({"publicNetworkAccess": "Enabled",
                     "networkAcls": {"defaultAction": "Deny",
                                     "ipRules": [{"value": "203.0.113.10"}]}})
    assert found(entries, az.AzureAllowed({}, None)) == []
    # Without spec data (the structural rules only) they do not run at all.
    assert [v.rule for v in az.check_graph(entries)] == []


def test_a_private_account_without_its_gateway_is_refused() -> None:
    other = {**GATEWAY, "virtualNetworkGatewayName": "vgw-someone-else"}
    assert found(graph(gateway=other)) == [
        ("SKY-AZ-010", "a1", "gateway_path private-vpn, but no VPN gateway vgw-a1 is in the "
                             "stack")]


def test_a_gateway_without_bgp_is_refused() -> None:
    for change in ({"enableBgp": False}, {"vpnType": "PolicyBased"}, {"bgpSettings": None}):
        assert found(graph(gateway={**GATEWAY, **change})) == [
            ("SKY-AZ-010", "a1", "VPN gateway vgw-a1 must be route-based with BGP on and an "
                                 "ASN")], change


def test_a_connection_without_bgp_is_refused() -> None:
    assert found(graph(gateway=GATEWAY, connection={"enableBgp": False})) == [
        ("SKY-AZ-010", "cn-a1-eu-west-1-0-0", "VPN connection without BGP: the tunnel would "
                                              "carry no routes")]


def test_azure_allowed_names_the_specs_private_vpn_accounts() -> None:
    doc = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" /
                          "platform.yaml").read_text())
    for deployment in doc["azure"]["accounts"][0]["deployments"]:
        deployment["version"] = str(deployment["version"])
    assert azure_allowed(Spec.model_validate(doc)).private_vpn_accounts == frozenset()
    private = copy.deepcopy(doc)
    private["azure"]["accounts"][0].update(gateway_path="private-vpn",
                                           public_network_access="disabled")
    assert azure_allowed(Spec.model_validate(private)).private_vpn_accounts == {
        "acme-openai-swc"}


def _run_pack(entries: list[az.Entry]) -> list[str]:
    """Every CrossGuard policy's validate callback over a graph, as the engine calls them."""
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    opts = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [])
    resources = [PolicyResource(t, p, f"urn:{n}", n, opts, None, None, [], {})
                 for t, p, n in entries]
    for policy in build_policies(ALLOWED):
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                policy.validate(ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name,
                                                       opts, None), report)
        elif isinstance(policy, StackValidationPolicy):
            policy.validate(StackValidationArgs(resources), report)
    return messages


def test_crossguard_enforces_both_rules_at_preview() -> None:
    assert _run_pack(graph(gateway=GATEWAY)) == []
    messages = _run_pack(graph({"publicNetworkAccess": "Enabled"}))
    assert messages == [
        "[SKY-AZ-009] a1: gateway_path private-vpn, but publicNetworkAccess is 'Enabled', not "
        "'Disabled'",
        "[SKY-AZ-010] a1: gateway_path private-vpn, but no VPN gateway vgw-a1 is in the stack"]
    policies = {p.name: p for p in build_policies(ALLOWED)}
    assert {policies["sky-az-009"].enforcement_level.value,
            policies["sky-az-010"].enforcement_level.value} == {"mandatory"}
