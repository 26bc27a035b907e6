"""Program paths that depend on the spec's Azure options and on the stack config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skyrelay.pulumi.offline import run_offline
from skyrelay.pulumi.program import ProgramError
from skyrelay.pulumi.type_tokens import (
    ACCOUNT,
    PRIVATE_ENDPOINT,
    ROLE_ASSIGNMENT,
    SUBNET,
    VIRTUAL_NETWORK,
    VNET_LINK,
)

WriteSpec = Callable[[Callable[[dict[str, Any]], None]], Path]
SUB = "12345678-aaaa-bbbb-cccc-1234567890ab"
SUBNET_ID = (f"/subscriptions/{SUB}/resourceGroups/hub/providers/Microsoft.Network/"
             "virtualNetworks/hub/subnets/pe")


def test_spec_subscription_is_pinned_by_an_explicit_provider(write_spec: WriteSpec) -> None:
    graph = run_offline(write_spec(lambda d: d["azure"].update(subscription=SUB)))
    (provider,) = graph.of_type("pulumi:providers:azure-native")
    assert provider.inputs["subscriptionId"] == SUB
    (account,) = graph.of_type(ACCOUNT)
    assert account.id and account.id.startswith(f"/subscriptions/{SUB}/")
    (role,) = graph.of_type(ROLE_ASSIGNMENT)
    assert role.inputs["roleDefinitionId"].startswith(f"/subscriptions/{SUB}/providers/")


def test_gateway_egress_only_account_through_the_program(write_spec: WriteSpec) -> None:
    spec = write_spec(lambda d: d["azure"]["accounts"][0].update(
        public_network_access="gateway-egress-only"))
    graph = run_offline(spec, {"gatewayEgressIps": ["198.51.100.7", "198.51.100.8"]})
    (account,) = graph.of_type(ACCOUNT)
    props = account.inputs["properties"]
    assert props["publicNetworkAccess"] == "Enabled"
    assert props["networkAcls"]["defaultAction"] == "Deny"
    assert [r["value"] for r in props["networkAcls"]["ipRules"]] == ["198.51.100.7",
                                                                     "198.51.100.8"]


def test_existing_network_from_config(write_spec: WriteSpec) -> None:
    vnet_id = SUBNET_ID.rsplit("/subnets/", 1)[0]
    graph = run_offline(write_spec(lambda d: None), {"existingNetworks": {
        "acme-openai-swc": {"subnetId": SUBNET_ID, "virtualNetworkId": vnet_id}}})
    assert graph.of_type(VIRTUAL_NETWORK) == [] and graph.of_type(SUBNET) == []
    (pe,) = graph.of_type(PRIVATE_ENDPOINT)
    assert pe.inputs["subnet"]["id"] == SUBNET_ID
    assert {link.inputs["virtualNetwork"]["id"] for link in graph.of_type(VNET_LINK)} == {
        vnet_id}


@pytest.mark.parametrize(("config", "expected"), [
    ({"existingNetworks": {"nope": {"subnetId": "x", "virtualNetworkId": "y"}}},
     "config skyrelay:existingNetworks names unknown accounts ['nope']"),
    ({"existingNetworks": {"acme-openai-swc": {"subnetId": "x"}}},
     "skyrelay:existingNetworks.acme-openai-swc needs both 'subnetId' and 'virtualNetworkId'"),
    ({"gatewayEgressIps": "198.51.100.7"}, "skyrelay:gatewayEgressIps must be a list"),
    ({"gatewayPrincipalType": "Robot"}, "gateway_principal_type: 'Robot' is not one of"),
])
def test_bad_config(config: dict[str, Any], expected: str, write_spec: WriteSpec) -> None:
    with pytest.raises(ProgramError) as info:
        run_offline(write_spec(lambda d: None), config)
    assert expected in str(info.value)
