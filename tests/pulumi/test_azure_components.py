"""The components on their own (no spec), under ``pulumi.runtime.set_mocks``.

Each test sets the mocks first, builds a component inside a ``@pulumi.runtime.test``
function that returns an Output whose ``apply`` checks resolved values, then reads the
inputs the recording monitor saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from pulumi_mocks import recording_pulumi_mocks

from skyrelay.pulumi.components import (
    ContentFilterPolicy,
    ExistingNetwork,
    ModelDeployment,
    OpenAIAccount,
    OpenAIAccountArgs,
)
from skyrelay.pulumi.offline import RecordingMonitor
from skyrelay.pulumi.type_tokens import (
    ACCOUNT,
    DEPLOYMENT,
    DIAGNOSTIC_SETTING,
    PRIVATE_ENDPOINT,
    RESOURCE_GROUP,
    ROLE_ASSIGNMENT,
    STACK,
    SUBNET,
    VIRTUAL_NETWORK,
    VNET_LINK,
    WORKSPACE,
)

SUBNET_ID = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/hub/providers/"
             "Microsoft.Network/virtualNetworks/hub-vnet/subnets/endpoints")
VNET_ID = SUBNET_ID.rsplit("/subnets/", 1)[0]
WORKSPACE_ID = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/ops/"
                "providers/Microsoft.OperationalInsights/workspaces/central")


@pytest.fixture
def monitor() -> Iterator[RecordingMonitor]:
    """Mocks set before anything is built; the monitor records every registration."""
    with recording_pulumi_mocks("skyrelay", "unit") as recorder:
        yield recorder


def _inputs(monitor: RecordingMonitor, type_token: str) -> list[dict[str, Any]]:
    return [r["inputs"] for r in monitor.records.values() if r["type"] == type_token]


def _deployments(n: int) -> list[ModelDeployment]:
    return [ModelDeployment(name=f"d{i}", model="gpt-4o-mini", version="2024-07-18",
                            sku="GlobalStandard", capacity=10 * (i + 1),
                            content_filter="strict" if i % 2 == 0 else None)
            for i in range(n)]


def test_gateway_egress_only_opens_to_the_egress_addresses(monitor: RecordingMonitor) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        account = OpenAIAccount("egress", OpenAIAccountArgs(
            account_name="contoso-egress", location="eastus2", deployments=_deployments(1),
            content_filters=[ContentFilterPolicy(name="strict")],
            public_network_access="gateway-egress-only",
            gateway_egress_ips=["198.51.100.7", "203.0.113.0/28"],
            gateway_principal_id="6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d"))

        def check(values: list[Any]) -> None:
            endpoint, names = values
            assert endpoint == "https://contoso-egress.openai.azure.com/"
            assert names == ["d0"]
        return pulumi.Output.all(account.endpoint, account.deployment_names).apply(check)

    build()
    (props,) = [i["properties"] for i in _inputs(monitor, ACCOUNT)]
    assert props["publicNetworkAccess"] == "Enabled"
    # Open to the internet only for the gateway's NAT addresses; everything else is denied.
    assert props["networkAcls"] == {"defaultAction": "Deny", "bypass": "None", "ipRules": [
        {"value": "198.51.100.7"}, {"value": "203.0.113.0/28"}]}
    assert props["disableLocalAuth"] is True
    # The private endpoint is still built: the gateway's VPC path does not change.
    assert len(_inputs(monitor, PRIVATE_ENDPOINT)) == 1


def test_existing_network_workspace_and_group_are_reused(monitor: RecordingMonitor) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        account = OpenAIAccount("reuse", OpenAIAccountArgs(
            account_name="contoso-reuse", location="swedencentral", deployments=_deployments(2),
            content_filters=[ContentFilterPolicy(name="strict", severity_threshold="High")],
            resource_group_name="rg-existing",
            existing_network=ExistingNetwork(subnet_id=SUBNET_ID, virtual_network_id=VNET_ID),
            log_analytics_workspace_id=WORKSPACE_ID))
        return account.resource_group_name.apply(lambda rg: rg == "rg-existing" or pytest.fail())

    build()
    for token in (VIRTUAL_NETWORK, SUBNET, WORKSPACE, RESOURCE_GROUP, ROLE_ASSIGNMENT):
        assert _inputs(monitor, token) == [], f"{token} should not be created"
    (pe,) = _inputs(monitor, PRIVATE_ENDPOINT)
    assert pe["subnet"]["id"] == SUBNET_ID
    assert {link["virtualNetwork"]["id"] for link in _inputs(monitor, VNET_LINK)} == {VNET_ID}
    (diag,) = _inputs(monitor, DIAGNOSTIC_SETTING)
    assert diag["workspaceId"] == WORKSPACE_ID
    assert {d["resourceGroupName"] for d in _inputs(monitor, DEPLOYMENT)} == {"rg-existing"}


def test_long_deployment_chain_is_serial(monitor: RecordingMonitor) -> None:
    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        account = OpenAIAccount("chain", OpenAIAccountArgs(
            account_name="contoso-chain", location="westeurope", deployments=_deployments(5),
            content_filters=[ContentFilterPolicy(name="strict")]))
        return account.deployment_names.apply(
            lambda names: names == [f"d{i}" for i in range(5)] or pytest.fail(str(names)))

    build()
    records = {r["name"]: (urn, r) for urn, r in monitor.records.items()
               if r["type"] == DEPLOYMENT}
    for i in range(1, 5):
        prev_urn, _ = records[f"contoso-chain-d{i - 1}"]
        _, rec = records[f"contoso-chain-d{i}"]
        assert prev_urn in rec["dependencies"]
        # Only the direct predecessor: the chain is a line, not a fan-in.
        others = {records[f"contoso-chain-d{j}"][0] for j in range(5) if j not in (i - 1,)}
        assert not others & set(rec["dependencies"])
    assert records["contoso-chain-d0"][1]["inputs"]["properties"]["raiPolicyName"] == "strict"
    assert "raiPolicyName" not in records["contoso-chain-d1"][1]["inputs"]["properties"]
    (pe_urn,) = [u for u, r in monitor.records.items() if r["type"] == PRIVATE_ENDPOINT]
    assert records["contoso-chain-d4"][0] in monitor.records[pe_urn]["dependencies"]


def test_bad_args_fail_before_any_resource(monitor: RecordingMonitor) -> None:
    with pytest.raises(ValueError, match="capacity"):
        OpenAIAccount("bad", OpenAIAccountArgs(
            account_name="contoso-bad", location="swedencentral",
            deployments=[ModelDeployment(name="d", model="m", version="1", sku="Standard",
                                         capacity=0)]))
    assert [r for r in monitor.records.values() if r["type"] != STACK] == []


def test_components_build_after_an_asyncio_run_in_the_same_thread() -> None:
    """An earlier ``asyncio.run()`` (any SDK or server test) leaves the main thread without an
    event loop; Pulumi's runtime needs one, so the shared mocks bring their own. This was an
    order-dependent failure of the README example test."""
    async def nothing() -> int:
        return 1

    assert asyncio.run(nothing()) == 1

    @pulumi.runtime.test
    def build() -> pulumi.Output[Any]:
        return OpenAIAccount("after-run", OpenAIAccountArgs(
            account_name="contoso-after", location="eastus2",
            deployments=[ModelDeployment(name="d", model="gpt-4o-mini", version="2024-07-18",
                                         sku="GlobalStandard", capacity=10)])).endpoint

    with recording_pulumi_mocks() as recorder:
        build()
    assert ACCOUNT in {r["type"] for r in recorder.records.values()}
