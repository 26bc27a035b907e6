"""Deployments, content filters and stack outputs match the spec they were built from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skyrelay.pulumi.offline import ResourceGraph, run_offline, tree, tree_lines
from skyrelay.pulumi.type_tokens import ACCOUNT, DEPLOYMENT, RAI_POLICY, RESOURCE_GROUP
from skyrelay.spec import load_spec
from skyrelay.views.gateway_config import gateway_config

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT / "examples" / "platform.yaml"


def _chain(graph: ResourceGraph) -> list[str]:
    """Deployment names in the order the explicit depends_on chain forces."""
    deps = graph.of_type(DEPLOYMENT)
    urns = {d.urn for d in deps}
    by_prev = {next((u for u in d.depends_on if u in urns), None): d for d in deps}
    order, prev = [], None
    while prev in by_prev:
        nxt = by_prev[prev]
        order.append(nxt.inputs["deploymentName"])
        prev = nxt.urn
    return order


def test_deployments_match_the_spec(default_graph: ResourceGraph) -> None:
    spec = load_spec(DEFAULT_SPEC)
    assert spec.azure
    (account,) = default_graph.of_type(ACCOUNT)
    built = {d.inputs["deploymentName"]: d for d in default_graph.of_type(DEPLOYMENT)}
    wanted = spec.azure.accounts[0].deployments
    assert list(built) and set(built) == {d.name for d in wanted}
    for d in wanted:
        inputs = built[d.name].inputs
        assert inputs["accountName"] == account.azure_name == "acme-openai-swc"
        assert inputs["sku"] == {"name": d.sku, "capacity": d.capacity}
        model = inputs["properties"]["model"]
        assert model == {"format": "OpenAI", "name": d.model, "version": d.version}
        assert inputs["properties"]["versionUpgradeOption"] == d.version_upgrade
        # The filter reference resolves to the RAI policy's Azure name, not a logical name.
        assert inputs["properties"].get("raiPolicyName") == d.content_filter


def test_deployments_are_created_one_after_another_in_spec_order(
        default_graph: ResourceGraph) -> None:
    spec = load_spec(DEFAULT_SPEC)
    assert spec.azure
    assert _chain(default_graph) == [d.name for d in spec.azure.accounts[0].deployments]
    first = default_graph.get(DEPLOYMENT, "acme-openai-swc-gpt-4o")
    assert not any("cognitiveservices:Deployment::" in u for u in first.depends_on)


def test_content_filter_policy_from_the_spec(default_graph: ResourceGraph) -> None:
    (rai,) = default_graph.of_type(RAI_POLICY)
    props = rai.inputs["properties"]
    assert rai.inputs["raiPolicyName"] == "strict"
    assert props["basePolicyName"] == "Microsoft.DefaultV2"
    harm = [f for f in props["contentFilters"] if "severityThreshold" in f]
    # Four harm categories on both prompt and completion, at the spec's threshold, blocking;
    # the spec relaxes violence on completions to Medium (still Azure's default).
    assert {(f["name"], f["source"]) for f in harm} == {
        (c, s) for c in ("Hate", "Sexual", "Violence", "Selfharm")
        for s in ("Prompt", "Completion")}
    levels = {(f["name"], f["source"]): f["severityThreshold"] for f in harm}
    assert levels.pop(("Violence", "Completion")) == "Medium"
    assert set(levels.values()) == {"Low"}
    assert {(f["blocking"], f["enabled"]) for f in harm} == {(True, True)}
    detections = {(f["name"], f["source"]): (f["enabled"], f["blocking"])
                  for f in props["contentFilters"] if "severityThreshold" not in f}
    # Prompt shields on prompts, protected material on completions: all on and blocking.
    assert detections == {("Jailbreak", "Prompt"): (True, True),
                          ("Indirect Attack", "Prompt"): (True, True),
                          ("Protected Material Text", "Completion"): (True, True),
                          ("Protected Material Code", "Completion"): (True, True)}


def test_outputs_have_the_gateway_config_shape(default_graph: ResourceGraph) -> None:
    cfg = gateway_config(load_spec(DEFAULT_SPEC))
    azure_targets = {k: v for k, v in cfg["targets"].items() if k.startswith("azure:")}
    outputs = default_graph.outputs
    # Every Azure target the gateway routes to exists, at the endpoint the gateway expects.
    assert set(outputs["targets"]) == set(azure_targets)
    for key, target in azure_targets.items():
        assert outputs["targets"][key]["endpoint"] == target["endpoint"]
        assert outputs["targets"][key]["deployment"] == target["model"]
    (account,) = default_graph.of_type(ACCOUNT)
    acct = outputs["accounts"]["acme-openai-swc"]
    assert acct["id"] == account.id
    assert acct["deployments"] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-large"]
    assert acct["resourceGroupName"] == "rg-acme-openai-swc"


def test_tree_reads_top_down(default_graph: ResourceGraph) -> None:
    lines = list(tree_lines(tree(default_graph)))
    assert lines[0] == "azure:OpenAIAccount acme-openai-swc"
    names = [line.strip().split(":", 2)[1].split()[1] for line in lines
             if "cognitiveservices:Deployment" in line]
    assert names == ["acme-openai-swc-gpt-4o", "acme-openai-swc-gpt-4o-mini",
                     "acme-openai-swc-text-embedding-3-large"]


def test_runs_twice_in_one_process_with_different_specs(write_spec: Any) -> None:
    def two_accounts(d: dict[str, Any]) -> None:
        second = {**d["azure"]["accounts"][0], "name": "acme-openai-frc",
                  "location": "francecentral", "vnet_cidr": "10.101.0.0/24"}
        second["deployments"] = [dict(second["deployments"][2], capacity=30)]
        d["azure"]["accounts"].append(second)
        d["azure"]["resource_group"] = "rg-acme-ai"

    first = run_offline(DEFAULT_SPEC)
    second = run_offline(write_spec(two_accounts))
    assert len(first.of_type(ACCOUNT)) == 1
    assert sorted(a.inputs["accountName"] for a in second.of_type(ACCOUNT)) == [
        "acme-openai-frc", "acme-openai-swc"]
    # One shared resource group when the spec names one; no per-account groups.
    (rg,) = second.of_type(RESOURCE_GROUP)
    assert rg.inputs["resourceGroupName"] == "rg-acme-ai"
    assert {d.inputs["resourceGroupName"] for d in second.of_type(DEPLOYMENT)} == {"rg-acme-ai"}
    frc = second.get(DEPLOYMENT, "acme-openai-frc-text-embedding-3-large")
    assert frc.inputs["sku"]["capacity"] == 30
    assert second.outputs["targets"]["azure:acme-openai-frc/text-embedding-3-large"][
        "endpoint"] == "https://acme-openai-frc.openai.azure.com/"
