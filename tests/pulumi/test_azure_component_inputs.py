"""Components as a Pulumi user drives them: Outputs as arguments, outputs to wire, renames.

Under ``pulumi.runtime.set_mocks``: a resource group's location, a principal and egress
addresses come from *other mock resources* (Outputs, not strings); the DNS links of shared
zones depend on their zones; renaming the component in code keeps every child's URN and
Azure name when the account name stays.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi_azure_native import managedidentity, resources
from pulumi_mocks import recording_pulumi_mocks

from skyrelay.pulumi.components import (
    AzureArgsError,
    ContentFilterPolicy,
    ModelDeployment,
    OpenAIAccount,
    OpenAIAccountArgs,
)
from skyrelay.pulumi.components.diagnostics import DiagnosticsArgs
from skyrelay.pulumi.offline import RecordingMonitor, run_offline
from skyrelay.pulumi.type_tokens import ACCOUNT, PRIVATE_ZONE, ROLE_ASSIGNMENT, STACK, VNET_LINK

PRINCIPAL = "6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d"


@pytest.fixture
def monitor() -> Iterator[RecordingMonitor]:
    with recording_pulumi_mocks("skyrelay", "unit") as recorder:
        yield recorder


def _one(name: str = "chat") -> list[ModelDeployment]:
    return [ModelDeployment(name=name, model="gpt-5", version="2025-08-07",
                            sku="GlobalStandard", capacity=10, content_filter="strict")]


def _by_type(monitor: RecordingMonitor, token: str) -> dict[str, dict[str, Any]]:
    return {urn: r for urn, r in monitor.records.items() if r["type"] == token}


def test_outputs_from_other_resources_feed_the_account(monitor: RecordingMonitor) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        group = resources.ResourceGroup("rg", resource_group_name="rg-app",
                                        location="swedencentral")
        identity = managedidentity.UserAssignedIdentity(
            "gw", resource_group_name=group.name, location=group.location)
        # The mock identity has no principalId; an apply fabricates one from its id, as a
        # StackReference or azuread lookup would hand over an Output.
        principal = identity.id.apply(lambda _: PRINCIPAL)
        egress = group.name.apply(lambda _: ["198.51.100.7", "203.0.113.40"])
        account = OpenAIAccount("acct", OpenAIAccountArgs(
            account_name="contoso-out", location=group.location, deployments=_one(),
            content_filters=[ContentFilterPolicy(name="strict")],
            resource_group_name=group.name, public_network_access="gateway-egress-only",
            gateway_egress_ips=egress, gateway_principal_id=principal))

        def check(values: list[Any]) -> None:
            account_id, endpoint, foundry, identity_id, vnet, subnet = values
            assert account_id.endswith("/Microsoft.CognitiveServices/accounts/contoso-out")
            assert endpoint == "https://contoso-out.openai.azure.com/"
            assert foundry == "https://contoso-out.services.ai.azure.com/"
            assert len(identity_id) == 36 and identity_id.count("-") == 4
            assert vnet.endswith("/virtualNetworks/vnet-contoso-out")
            assert subnet == f"{vnet}/subnets/private-endpoints"
        return pulumi.Output.all(account.account_id, account.openai_endpoint,
                                 account.foundry_endpoint, account.principal_id,
                                 account.virtual_network_id, account.subnet_id).apply(check)

    build()
    (acct,) = _by_type(monitor, ACCOUNT).values()
    assert acct["inputs"]["location"] == "swedencentral"
    assert acct["inputs"]["properties"]["networkAcls"]["ipRules"] == [
        {"value": "198.51.100.7"}, {"value": "203.0.113.40"}]
    # The account waits for the group whose location and name it took.
    (rg_urn,) = _by_type(monitor, "azure-native:resources:ResourceGroup")
    assert rg_urn in acct["dependencies"]
    (role,) = _by_type(monitor, ROLE_ASSIGNMENT).values()
    assert role["inputs"]["principalId"] == PRINCIPAL


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("location", "nowhere", "'nowhere' is not an Azure region; valid: "),
    ("gateway_principal_id", "gateway", "'gateway' is not an Entra object id"),
    ("gateway_egress_ips", ["10.0.0.1"], "'10.0.0.1' is not a public address"),
])
def test_a_bad_output_value_fails_in_apply(monitor: RecordingMonitor, field: str, value: Any,
                                           expected: str) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        group = resources.ResourceGroup("rg", resource_group_name="rg-app", location="eastus2")
        args: dict[str, Any] = dict(
            account_name="contoso-late", location="eastus2", deployments=_one(),
            content_filters=[ContentFilterPolicy(name="strict")],
            public_network_access="gateway-egress-only", gateway_egress_ips=["198.51.100.7"])
        args[field] = group.name.apply(lambda _: value)  # only known after the group exists
        account = OpenAIAccount("acct", OpenAIAccountArgs(**args))
        return pulumi.Output.all(account.account_id, *[r.id for r in account.role_assignments])

    # The engine wraps it ("While processing input: 'location' ..."); the message survives.
    with pytest.raises(ValueError) as info:
        build()
    assert expected in str(info.value)


def test_plain_values_are_still_checked_at_once() -> None:
    with pytest.raises(AzureArgsError, match="'nowhere' is not an Azure region; valid: .*"
                                             "swedencentral"):
        DiagnosticsArgs(resource_group_name="rg", location="nowhere", resource_uri="/x",
                        log_categories=("Audit",))
    with pytest.raises(AzureArgsError, match="base_policy: 'Bogus' is not one of "
                                             "Microsoft.DefaultV2, Microsoft.Default"):
        ContentFilterPolicy(name="x", base_policy="Bogus")
    with pytest.raises(AzureArgsError, match="kind: 'Foundry' is not one of AIServices, OpenAI"):
        OpenAIAccountArgs(account_name="a1", location="eastus2", deployments=_one(),
                          kind="Foundry", content_filters=[ContentFilterPolicy(name="strict")])
    with pytest.raises(AzureArgsError, match="harm.violence.completion: 'None' is not one of "
                                             "Low, Medium, High, off"):
        ContentFilterPolicy(name="x", harm={"violence": {"completion": "None"}})
    with pytest.raises(AzureArgsError, match="log_categories: 'Everything' is not one of Audit"):
        DiagnosticsArgs(resource_group_name="rg", location="eastus2", resource_uri="/x",
                        log_categories=("Everything",))


def test_grant_more_principals(monitor: RecordingMonitor) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        account = OpenAIAccount("acct", OpenAIAccountArgs(
            account_name="contoso-roles", location="eastus2", deployments=_one(),
            content_filters=[ContentFilterPolicy(name="strict")], gateway_principal_id=PRINCIPAL))
        account.grant("0b1c2d3e-4f50-4617-8a9b-0c1d2e3f4a5b", "Azure AI User",
                      principal_type="Group")
        group = resources.ResourceGroup("rg", resource_group_name="rg-x", location="eastus2")
        account.grant(group.name.apply(lambda _: "11111111-2222-4333-8444-555555555555"),
                      "a001fd3d-188f-4b5d-821b-7da978bf7442", name="ops")
        with pytest.raises(AzureArgsError, match="give name=... for the Pulumi resource"):
            account.grant(group.name.apply(lambda _: PRINCIPAL))
        with pytest.raises(AzureArgsError, match="'Owner' is neither a role definition GUID"):
            account.grant(PRINCIPAL, "Owner")
        return pulumi.Output.all(*[r.id for r in account.role_assignments])

    build()
    roles = {r["name"]: r["inputs"] for r in _by_type(monitor, ROLE_ASSIGNMENT).values()}
    assert set(roles) == {"contoso-roles-gateway-openai-user", "contoso-roles-grant-ops",
                          next(n for n in roles if n.startswith("contoso-roles-grant-")
                               and n != "contoso-roles-grant-ops")}
    defs = {r["roleDefinitionId"].rsplit("/", 1)[-1]: r for r in roles.values()}
    assert set(defs) == {"5e0bd9bd-7b93-4f28-af87-19fc36ad61bd",
                         "53ca6127-db72-4b80-b1b0-d745d6d5456d",
                         "a001fd3d-188f-4b5d-821b-7da978bf7442"}
    assert defs["53ca6127-db72-4b80-b1b0-d745d6d5456d"]["principalType"] == "Group"
    # Distinct GUID names: one assignment per (scope, principal, role).
    assert len({r["roleAssignmentName"] for r in roles.values()}) == 3


def _urns_and_names(component_name: str) -> set[tuple[str, str | None]]:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        account = OpenAIAccount(component_name, OpenAIAccountArgs(
            account_name="contoso-fixed", location="eastus2", deployments=_one(),
            content_filters=[ContentFilterPolicy(name="strict")], gateway_principal_id=PRINCIPAL))
        return account.deployment_names

    with recording_pulumi_mocks() as recorder:
        build()
    return {(urn, r["id"]) for urn, r in recorder.records.items()
            if r["custom"] and r["type"] != STACK}


def test_renaming_the_component_replaces_nothing() -> None:
    before, after = _urns_and_names("openai"), _urns_and_names("openai-renamed")
    assert len(before) == 17  # every custom resource, with URN and Azure id
    assert before == after


def test_every_dns_link_depends_on_its_zone(write_spec: Any) -> None:
    # The shared resource group: zones at the top level, links inside each account's
    # private link, two accounts linking the same three zones.
    def shared(d: dict[str, Any]) -> None:
        d["azure"]["resource_group"] = "rg-acme-ai"
        second = {**d["azure"]["accounts"][0], "name": "acme-openai-gwc",
                  "location": "germanywestcentral", "vnet_cidr": "10.101.0.0/24"}
        second["deployments"] = [{**second["deployments"][2]}]  # the Standard embedding
        d["azure"]["accounts"].append(second)

    graph = run_offline(write_spec(shared))
    zones = {z.inputs["privateZoneName"]: z.urn for z in graph.of_type(PRIVATE_ZONE)}
    assert len(zones) == 3  # shared, not one set per account
    links = graph.of_type(VNET_LINK)
    assert len(links) == 6
    for link in links:
        assert zones[link.inputs["privateZoneName"]] in link.depends_on, link.name
    # Each account's links point at its own virtual network.
    assert len({link.inputs["virtualNetwork"]["id"] for link in links}) == 2
