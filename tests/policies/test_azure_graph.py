"""The Azure rules (``skyrelay.policies.azure_graph``) with exact resources and messages.

A violation must name the account or deployment an operator has to fix (the Azure name
from the inputs, else the Pulumi resource name), and the whole-graph rules must match
references to the right account, not to any account.
"""

from __future__ import annotations

from typing import Any

from skyrelay.policies import azure_graph as az

SAFE = {"disableLocalAuth": True, "publicNetworkAccess": "Disabled"}


def account(name: str, *, azure_name: str | None = None, location: str = "swedencentral",
            **properties: Any) -> az.Entry:
    # kind AIServices: the Foundry kind the program builds (SKY-AZ-008 warns about OpenAI)
    props: dict[str, Any] = {"location": location, "kind": "AIServices",
                             "properties": {**SAFE, **properties}}
    if azure_name:
        props["accountName"] = azure_name
    return (az.ACCOUNT, props, name)


def endpoint(account_name: str) -> az.Entry:
    return (az.PRIVATE_ENDPOINT, {"privateLinkServiceConnections": [
        {"privateLinkServiceId": f"/subscriptions/s/resourceGroups/g/providers/"
                                 f"Microsoft.CognitiveServices/Accounts/{account_name}"}]},
        f"pe-{account_name}")


def diagnostics(account_name: str, enabled: bool = True) -> az.Entry:
    return (az.DIAGNOSTIC_SETTING, {
        "resourceUri": f"/subscriptions/s/providers/Microsoft.CognitiveServices/accounts/"
                       f"{account_name}", "logs": [{"enabled": False}, {"enabled": enabled}]},
        f"diag-{account_name}")


def found(entries: list[az.Entry], allowed: az.AzureAllowed | None = None
          ) -> list[tuple[str, str, str]]:
    return [(v.rule, v.resource, v.message) for v in az.check_graph(entries, allowed)]


def test_a_complete_account_passes() -> None:
    assert found([account("a", azure_name="acct"), endpoint("acct"), diagnostics("acct")]) == []


def test_violations_name_the_azure_account_else_the_resource() -> None:
    entries = [account("res-a", azure_name="acct-a", disableLocalAuth=False,
                       publicNetworkAccess="Enabled"),
               account("res-b", publicNetworkAccess="disabled", disableLocalAuth=None)]
    assert found(entries) == [
        ("SKY-AZ-001", "acct-a", "local (key) auth is not disabled (disableLocalAuth must be "
                                 "true)"),
        ("SKY-AZ-002", "acct-a", "publicly reachable: publicNetworkAccess is not Disabled and "
                                 "networkAcls.defaultAction is not Deny"),
        ("SKY-AZ-001", "res-b", "local (key) auth is not disabled (disableLocalAuth must be "
                                "true)"),
        ("SKY-AZ-002", "res-b", "publicly reachable: publicNetworkAccess is not Disabled and "
                                "networkAcls.defaultAction is not Deny"),
        ("SKY-AZ-003", "acct-a", "no private endpoint connects to this account"),
        ("SKY-AZ-003", "res-b", "no private endpoint connects to this account"),
        ("SKY-AZ-004", "acct-a", "no diagnostic setting with enabled logs"),
        ("SKY-AZ-004", "res-b", "no diagnostic setting with enabled logs"),
    ]


def test_enabled_public_access_behind_default_deny_passes() -> None:
    entries = [account("a", publicNetworkAccess="Enabled",
                       networkAcls={"defaultAction": "Deny"}), endpoint("a"), diagnostics("a")]
    assert found(entries) == []


def test_endpoints_and_diagnostics_must_target_that_account() -> None:
    entries = [account("a"), account("b"), endpoint("a"), diagnostics("b"),
               diagnostics("a", enabled=False),
               (az.PRIVATE_ENDPOINT, {"privateLinkServiceConnections": [{}]}, "pe-empty"),
               (az.DIAGNOSTIC_SETTING, {"logs": [{"enabled": True}]}, "diag-nowhere"),
               # A setting of another type that happens to name the account does not count.
               (az.PRIVATE_ENDPOINT, {"resourceUri": "/accounts/a",
                                      "logs": [{"enabled": True}]}, "odd")]
    assert found(entries) == [
        ("SKY-AZ-003", "b", "no private endpoint connects to this account"),
        ("SKY-AZ-004", "a", "no diagnostic setting with enabled logs")]


ALLOWED = az.AzureAllowed({("acct", "gpt"): ("gpt-4o", "DataZoneStandard")},
                          frozenset({"swedencentral"}))


def deployment(name: str, model: str, sku: str, *, azure_name: str | None = None) -> az.Entry:
    props: dict[str, Any] = {"accountName": "acct", "properties": {"model": {"name": model}},
                             "sku": {"name": sku}}
    if azure_name:
        props["deploymentName"] = azure_name
    return (az.DEPLOYMENT, props, name)


def test_spec_rules_run_with_the_spec_data_besides_the_others() -> None:
    entries = [account("res", azure_name="acct", location="eastus", disableLocalAuth=False),
               endpoint("acct"), diagnostics("acct"),
               deployment("gpt", "gpt-4o", "DataZoneStandard"),
               deployment("res-mini", "gpt-4o-mini", "GlobalStandard", azure_name="mini"),
               deployment("x", "gpt-4o", "GlobalStandard", azure_name="gpt")]
    assert found(entries, ALLOWED) == [
        ("SKY-AZ-001", "acct", "local (key) auth is not disabled (disableLocalAuth must be "
                               "true)"),
        ("SKY-AZ-006", "acct", "location eastus is outside every compliance classification"),
        ("SKY-AZ-005", "acct/mini", "deployment not declared in the spec"),
        ("SKY-AZ-005", "acct/gpt", "deploys gpt-4o (GlobalStandard), the spec declares gpt-4o "
                                   "(DataZoneStandard)"),
    ]
    # Without spec data only the spec-free rules run.
    assert [v[0] for v in found(entries)] == ["SKY-AZ-001"]


def test_location_rule_names_the_resource_when_no_azure_name() -> None:
    check = az.check_location(ALLOWED)
    assert [(v.resource, v.message) for v in check(az.ACCOUNT, {"location": "westus"}, "r")] == [
        ("r", "location westus is outside every compliance classification")]
    assert az.check_location(az.AzureAllowed({}, None))(az.ACCOUNT, {"location": "x"}, "r") == []


def test_plan_entries_are_the_custom_resources() -> None:
    plan = {"resources": [
        {"type": az.ACCOUNT, "name": "a", "custom": True, "inputs": {"location": "x"}},
        {"type": az.DEPLOYMENT, "name": "d", "custom": True},
        {"type": "pulumi:providers:azure-native", "name": "p", "custom": False},
        {"type": "skyrelay:component", "name": "c"}]}
    assert az.plan_entries(plan) == [(az.ACCOUNT, {"location": "x"}, "a"),
                                     (az.DEPLOYMENT, {}, "d")]
    assert az.plan_entries({}) == []
