"""Security properties of the default spec's Azure resources, read from the resource graph.

Each assertion says why the property matters. The graph is the real program run under
mocks, with inputs in the camelCase names the engine (and a CrossGuard policy) sees.
"""

from __future__ import annotations

from skyrelay.pulumi.offline import PLACEHOLDER_CONFIG, ResourceGraph
from skyrelay.pulumi.type_tokens import (
    ACCOUNT,
    DEPLOYMENT,
    SUBNET,
    WORKSPACE,
)
from skyrelay.pulumi.type_tokens import (
    DIAGNOSTIC_SETTING as DIAG,
)
from skyrelay.pulumi.type_tokens import (
    DNS_ZONE_GROUP as ZONE_GROUP,
)
from skyrelay.pulumi.type_tokens import (
    PRIVATE_ENDPOINT as PE,
)
from skyrelay.pulumi.type_tokens import (
    PRIVATE_ZONE as ZONE,
)
from skyrelay.pulumi.type_tokens import (
    ROLE_ASSIGNMENT as ROLE,
)
from skyrelay.pulumi.type_tokens import (
    VIRTUAL_NETWORK as VNET,
)
from skyrelay.pulumi.type_tokens import (
    VNET_LINK as LINK,
)

OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"


def test_account_is_reachable_only_by_the_gateways_and_keyless(
        default_graph: ResourceGraph) -> None:
    (account,) = default_graph.of_type(ACCOUNT)
    props = account.inputs["properties"]
    # A Foundry resource: what Microsoft upgrades OpenAI accounts to, so no drift later.
    assert account.inputs["kind"] == "AIServices"
    assert props["allowProjectManagement"] is True
    # Keys cannot be scoped or audited per caller; Entra ID tokens only.
    assert props["disableLocalAuth"] is True
    # The gateway runs in AWS and comes through its NAT gateways: the public endpoint is on,
    # but every other source is denied (the offline plan's egress address is a placeholder).
    assert props["publicNetworkAccess"] == "Enabled"
    assert props["networkAcls"] == {"defaultAction": "Deny", "bypass": "None", "ipRules": [
        {"value": ip} for ip in PLACEHOLDER_CONFIG["gatewayEgressIps"]]}
    assert props["restrictOutboundNetworkAccess"] is True
    # A custom subdomain is required for Entra ID auth and private endpoints.
    assert props["customSubDomainName"] == "acme-openai-swc"
    assert account.inputs["identity"] == {"type": "SystemAssigned"}
    assert account.inputs["location"] == "swedencentral"


def test_private_endpoint_targets_the_account(default_graph: ResourceGraph) -> None:
    (account,) = default_graph.of_type(ACCOUNT)
    (pe,) = default_graph.of_type(PE)
    (subnet,) = default_graph.of_type(SUBNET)
    (conn,) = pe.inputs["privateLinkServiceConnections"]
    assert conn["privateLinkServiceId"] == account.id
    assert conn["groupIds"] == ["account"]
    assert pe.inputs["subnet"]["id"] == subnet.id
    # The subnet only hosts endpoints; it gets no implicit internet egress.
    assert subnet.inputs["defaultOutboundAccess"] is False
    (vnet,) = default_graph.of_type(VNET)
    assert vnet.inputs["addressSpace"]["addressPrefixes"] == ["10.100.0.0/24"]


def test_private_dns_zones_are_linked_and_grouped(default_graph: ResourceGraph) -> None:
    zones = {z.inputs["privateZoneName"]: z for z in default_graph.of_type(ZONE)}
    # Without these zones, clients in the network resolve the public address (Cognitive
    # Services, Azure OpenAI and Foundry endpoints of the account sub-resource).
    assert set(zones) == {"privatelink.openai.azure.com",
                          "privatelink.cognitiveservices.azure.com",
                          "privatelink.services.ai.azure.com"}
    assert all(z.inputs["location"] == "global" for z in zones.values())
    (vnet,) = default_graph.of_type(VNET)
    links = default_graph.of_type(LINK)
    assert sorted(link.inputs["privateZoneName"] for link in links) == sorted(zones)
    for link in links:
        assert link.inputs["virtualNetwork"] == {"id": vnet.id}
        assert link.inputs["registrationEnabled"] is False
    (group,) = default_graph.of_type(ZONE_GROUP)
    (pe,) = default_graph.of_type(PE)
    assert group.inputs["privateEndpointName"] == pe.azure_name == "pe-acme-openai-swc"
    assert {c["privateDnsZoneId"] for c in group.inputs["privateDnsZoneConfigs"]} == {
        z.id for z in zones.values()}


def test_diagnostics_go_to_the_workspace(default_graph: ResourceGraph) -> None:
    (account,) = default_graph.of_type(ACCOUNT)
    (workspace,) = default_graph.of_type(WORKSPACE)
    (diag,) = default_graph.of_type(DIAG)
    # Audit and request/response logs are the record of who called which deployment.
    assert diag.inputs["resourceUri"] == account.id
    assert diag.inputs["workspaceId"] == workspace.id
    assert {(e["category"], e["enabled"]) for e in diag.inputs["logs"]} == {
        ("Audit", True), ("RequestResponse", True)}
    assert diag.inputs["metrics"] == [{"category": "AllMetrics", "enabled": True}]
    # Retention comes from the spec (azure.log_retention_days: 90).
    assert workspace.inputs["retentionInDays"] == 90
    assert workspace.inputs["features"] == {"disableLocalAuth": True}


def test_gateway_gets_openai_user_on_the_account_only(default_graph: ResourceGraph) -> None:
    (account,) = default_graph.of_type(ACCOUNT)
    (role,) = default_graph.of_type(ROLE)
    # Least privilege: inference only (no keys, no deployment writes), scoped to one account.
    assert role.inputs["scope"] == account.id
    assert role.inputs["roleDefinitionId"] == (
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
        f"Microsoft.Authorization/roleDefinitions/{OPENAI_USER}")
    assert role.inputs["principalId"] == PLACEHOLDER_CONFIG["gatewayPrincipalId"]
    assert role.inputs["principalType"] == "ServicePrincipal"
    # A deterministic GUID name: re-running updates the same assignment.
    assert len(role.inputs["roleAssignmentName"]) == 36


def test_private_endpoint_waits_for_the_last_deployment(default_graph: ResourceGraph) -> None:
    deployments = {d.inputs["deploymentName"]: d for d in default_graph.of_type(DEPLOYMENT)}
    (pe,) = default_graph.of_type(PE)
    # Azure answers 409 to an endpoint created while deployments are still being written.
    assert deployments["text-embedding-3-large"].urn in pe.depends_on


def test_every_resource_is_tagged_with_the_spec_tags(default_graph: ResourceGraph) -> None:
    taggable = [r for r in default_graph.resources
                if r.custom and r.type not in (DIAG, ROLE, ZONE_GROUP, SUBNET)]
    assert taggable
    for r in taggable:
        assert r.inputs.get("tags") == {"owner": "platform-team", "cost-center": "ai-4711",
                                        "skyrelay-platform": "acme-ai"}, r.name
