"""Azure rules: fixtures that break each rule, the offline graph, and the CrossGuard callbacks."""

from __future__ import annotations

import copy
from typing import Any

import pytest
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
from skyrelay.spec import load_spec

ACCT_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.CognitiveServices/accounts/a1"
ACCOUNT: dict[str, Any] = {
    "accountName": "a1", "location": "swedencentral", "kind": "AIServices",
    "properties": {"disableLocalAuth": True, "publicNetworkAccess": "Disabled",
                   "networkAcls": {"defaultAction": "Deny"}},
}
PE = {"privateLinkServiceConnections": [{"privateLinkServiceId": ACCT_ID}]}
DIAG = {"resourceUri": ACCT_ID, "logs": [{"category": "Audit", "enabled": True}]}
DEPLOY = {"accountName": "a1", "deploymentName": "d1", "sku": {"name": "Standard"},
          "properties": {"model": {"name": "gpt-4o", "version": "1"}}}
ALLOWED = az.AzureAllowed({("a1", "d1"): ("gpt-4o", "Standard")},
                          frozenset({"swedencentral", "westeurope"}))


def _graph(**changes: Any) -> list[az.Entry]:
    acct = copy.deepcopy(ACCOUNT)
    acct["properties"].update(changes)
    return [(az.ACCOUNT, acct, "a1"), (az.PRIVATE_ENDPOINT, PE, "pe"),
            (az.DIAGNOSTIC_SETTING, DIAG, "diag"), (az.DEPLOYMENT, DEPLOY, "a1-d1")]


def _rules(found: list[Any]) -> list[str]:
    return [v.rule for v in found]


def test_good_graph_passes() -> None:
    assert az.check_graph(_graph(), ALLOWED) == []


def test_local_auth_enabled_is_caught() -> None:
    found = az.check_graph(_graph(disableLocalAuth=False))
    assert _rules(found) == ["SKY-AZ-001"] and found[0].resource == "a1"
    assert "disableLocalAuth" in str(found[0])


@pytest.mark.parametrize("acl,caught", [({"defaultAction": "Allow"}, True),
                                        ({"defaultAction": "Deny"}, False)])
def test_public_access_needs_default_deny(acl: dict[str, str], caught: bool) -> None:
    found = az.check_graph(_graph(publicNetworkAccess="Enabled", networkAcls=acl))
    assert _rules(found) == (["SKY-AZ-002"] if caught else [])


def test_missing_private_endpoint_and_diagnostics_are_caught() -> None:
    entries = [e for e in _graph() if e[0] == az.ACCOUNT]
    found = az.check_graph(entries)
    assert sorted(_rules(found)) == ["SKY-AZ-003", "SKY-AZ-004"]
    assert all(v.resource == "a1" for v in found)
    # a private endpoint to another account does not count
    other = {"privateLinkServiceConnections": [{"privateLinkServiceId": ACCT_ID + "x"}]}
    assert "SKY-AZ-003" in _rules(az.check_graph(entries + [(az.PRIVATE_ENDPOINT, other, "p")]))


@pytest.mark.parametrize("field,value", [("model", "gpt-4.1"), ("sku", "GlobalStandard"),
                                         ("deploymentName", "undeclared")])
def test_undeclared_model_or_sku_is_caught(field: str, value: str) -> None:
    dep = copy.deepcopy(DEPLOY)
    if field == "model":
        dep["properties"]["model"]["name"] = value
    elif field == "sku":
        dep["sku"]["name"] = value
    else:
        dep["deploymentName"] = value
    found = az.check_model_sku(ALLOWED)(az.DEPLOYMENT, dep, "x")
    assert _rules(found) == ["SKY-AZ-005"] and found[0].resource.startswith("a1/")


def test_location_outside_classifications_is_caught() -> None:
    acct = dict(ACCOUNT, location="eastus")
    found = az.check_location(ALLOWED)(az.ACCOUNT, acct, "a1")
    assert _rules(found) == ["SKY-AZ-006"] and "eastus" in found[0].message


def test_default_spec_graph_passes_every_azure_rule(azure_plan: dict[str, Any]) -> None:
    entries = az.plan_entries(azure_plan)
    assert any(t == az.ACCOUNT for t, _, _ in entries)
    spec = load_spec("examples/platform.yaml")
    assert az.check_graph(entries, azure_allowed(spec)) == []
    declared = azure_allowed(spec).deployments
    assert declared[("acme-openai-swc", "gpt-4o")] == ("gpt-5.5", "DataZoneStandard")


def _run_pack(entries: list[az.Entry]) -> list[str]:
    """Run every CrossGuard policy's validate callback over a graph, as the engine would."""
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    opts = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [])
    resources = [PolicyResource(t, p, f"urn:{n}", n, opts, None, None, [], {})
                 for t, p, n in entries]
    for policy in build_policies(ALLOWED):
        validate = policy.validate
        if isinstance(policy, ResourceValidationPolicy):
            for r in resources:
                validate(ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, opts,
                                                None), report)
        elif isinstance(policy, StackValidationPolicy):
            validate(StackValidationArgs(resources), report)
    return messages


def test_crossguard_pack_callbacks_on_the_offline_graph(azure_plan: dict[str, Any]) -> None:
    spec = load_spec("examples/platform.yaml")
    entries = az.plan_entries(azure_plan)
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    for policy in build_policies(azure_allowed(spec)):
        if isinstance(policy, ResourceValidationPolicy):
            for t, p, n in entries:
                policy.validate(ResourceValidationArgs(t, p, f"urn:{n}", n, None, None), report)
    assert messages == []
    assert _run_pack(_graph()) == []


def test_crossguard_pack_callbacks_report_each_broken_rule() -> None:
    bad = [e for e in _graph(disableLocalAuth=False) if e[0] != az.DIAGNOSTIC_SETTING]
    messages = _run_pack(bad)
    assert any("SKY-AZ-001" in m and "a1" in m for m in messages)
    assert any("SKY-AZ-004" in m for m in messages)
    assert not any("SKY-AZ-003" in m for m in messages)


# --- content filters and account kinds (issue 21) -----------------------------------------

def _rai(filters: list[dict[str, Any]]) -> az.Entry:
    return (az.RAI_POLICY, {"accountName": "a1", "raiPolicyName": "strict",
                            "properties": {"contentFilters": filters}}, "a1-rai-strict")


def _default_filters() -> list[dict[str, Any]]:
    """The RAI policy the components write for ContentFilterPolicy(name=...) (all defaults)."""
    from skyrelay.pulumi.components.content_filter import ContentFilterPolicy

    camel = {"severity_threshold": "severityThreshold"}
    return [{camel.get(k, k): v for k, v in f.items()}
            for f in ContentFilterPolicy(name="strict").filters()]


def test_the_components_default_policy_meets_azures_default() -> None:
    filters = _default_filters()
    assert len(filters) == 12  # 4 harm categories x 2 sources + 4 detection models
    assert az.check_graph(_graph() + [_rai(filters)]) == []


@pytest.mark.parametrize(("change", "gap"), [
    (lambda f: f["name"] == "Indirect Attack" and f.update(enabled=False),
     "Indirect Attack detection on prompts is off"),
    (lambda f: f["name"] == "Protected Material Code" and f.update(enabled=False),
     "Protected Material Code detection on completions is off"),
    (lambda f: f["name"] == "Protected Material Text" and f.update(enabled=False),
     "Protected Material Text detection on completions is off"),
    (lambda f: f["name"] == "Jailbreak" and f.update(enabled=False),
     "Jailbreak detection on prompts is off"),
    (lambda f: (f["name"], f["source"]) == ("Selfharm", "Completion")
     and f.update(severityThreshold="High"),
     "Selfharm on completions is filtered at High, above the default Medium"),
    (lambda f: (f["name"], f["source"]) == ("Hate", "Prompt") and f.update(blocking=False),
     "Hate on prompts is not filtered (blocking)"),
])
def test_each_gap_from_the_default_policy_is_named(change: Any, gap: str) -> None:
    filters = _default_filters()
    for f in filters:
        change(f)
    found = az.check_graph(_graph() + [_rai(filters)])
    assert [(v.rule, v.resource, v.message) for v in found] == [
        ("SKY-AZ-007", "a1/strict", f"weaker than Azure's default safety policy: {gap}")]


def test_a_missing_filter_is_a_gap_and_kind_openai_is_flagged() -> None:
    filters = [f for f in _default_filters() if f["name"] != "Sexual"]
    found = az.check_graph(_graph() + [_rai(filters)])
    assert sorted(v.message.rsplit(": ", 1)[1] for v in found) == [
        "Sexual on completions is not filtered (blocking)",
        "Sexual on prompts is not filtered (blocking)"]
    acct = copy.deepcopy(ACCOUNT)
    acct["kind"] = "OpenAI"
    (kind,) = az.check_graph([(az.ACCOUNT, acct, "a1"), (az.PRIVATE_ENDPOINT, PE, "pe"),
                              (az.DIAGNOSTIC_SETTING, DIAG, "diag")])
    assert (kind.rule, kind.resource, kind.message) == (
        "SKY-AZ-008", "a1", "kind 'OpenAI': Microsoft upgrades eligible OpenAI accounts to "
        "Foundry (AIServices), after which the program shows drift")


def test_a_finding_on_a_resource_without_its_azure_name_names_the_program_s_resource() -> None:
    # Before the engine has resolved accountName (an output of another resource), the
    # violation must still point at something: the Pulumi resource name, never "None".
    acct = {k: v for k, v in ACCOUNT.items() if k != "accountName"} | {"kind": "OpenAI"}
    assert [(v.rule, v.resource) for v in az.check_account_kind(az.ACCOUNT, acct, "acct-1")] \
        == [("SKY-AZ-008", "acct-1")]
    rai = {"properties": {"contentFilters": []}}
    found = az.check_content_filter(az.RAI_POLICY, rai, "a1-rai-strict")
    assert found and {v.resource for v in found} == {"?/a1-rai-strict"}


def test_the_default_plan_passes_the_new_rules() -> None:
    from pathlib import Path

    from skyrelay.pulumi.offline import run_offline

    graph = run_offline(Path(__file__).resolve().parents[2] / "examples" / "platform.yaml")
    entries = az.plan_entries(graph.as_dict())
    assert [e for e in entries if e[0] == az.RAI_POLICY]  # the strict policy is there
    assert az.check_graph(entries) == []
