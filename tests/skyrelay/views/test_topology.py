"""The topology model (issue 26): what the diagram holds, derived from the spec."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from skyrelay.spec import Spec, load_spec
from skyrelay.spec.loader import parse_spec_text
from skyrelay.views.reachability import reachable_targets
from skyrelay.views.topology import Topology, build_topology

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def variant(name: str, change: Callable[[dict[str, Any]], None]) -> Spec:
    """An example spec with one change, validated like a file."""
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    change(doc)
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), str(EXAMPLES / name))


def path_edges(topo: Topology) -> dict[tuple[str, str], Any]:
    return {(e.source, e.target): e for e in topo.edges if e.kind == "path"}


def test_nodes_and_edges_follow_the_spec(default_spec: Spec) -> None:
    topo = build_topology(default_spec)
    keys = {t.key for r in default_spec.routes for t in r.targets}
    assert {n.name for n in topo.of_kind("tenant")} == {t.name for t in default_spec.tenants}
    assert [n.name for n in topo.of_kind("route")] == [r.name for r in default_spec.routes]
    assert {n.id for n in topo.of_kind("target")} == keys
    assert [n.id for n in topo.of_kind("gateway")] == ["gateway:us-east-1",
                                                        "gateway:eu-central-1"]
    assert [n.id for n in topo.of_kind("endpoint")] == ["endpoint:azure:acme-openai-swc"]
    uses = {(e.source, e.target) for e in topo.edges if e.kind == "uses"}
    assert uses == {(f"tenant:{t.name}", f"route:{r}")
                    for t in default_spec.tenants for r in t.routes}
    assert sum(e.kind == "route" for e in topo.edges) == sum(
        len(r.targets) for r in default_spec.routes)
    # Every gateway -> Bedrock path is one the gateway config of that region holds, and no
    # other: the eu-central-1 gateway may not call us-east-1's Bedrock here.
    for region in default_spec.gateway.regions:
        bedrock = {k for k in reachable_targets(default_spec, region) if k.startswith("bedrock:")}
        drawn = {t for (s, t) in path_edges(topo) if s == f"gateway:{region}"
                 and t.startswith("bedrock:")}
        assert drawn == bedrock
    assert ("gateway:eu-central-1", "bedrock:us-east-1/nova-pro") not in path_edges(topo)
    # One network path per gateway to the Azure account, not one per deployment.
    assert [s for (s, t) in path_edges(topo) if t == "endpoint:azure:acme-openai-swc"] == [
        "gateway:us-east-1", "gateway:eu-central-1"]


def test_route_edges_carry_strategy_and_weight(default_spec: Spec) -> None:
    labels = {(e.source, e.target): e.label for e in build_topology(default_spec).edges
              if e.kind == "route"}
    assert labels[("route:chat-eu", "azure:acme-openai-swc/gpt-4o")] == "weight 3"
    assert labels[("route:chat-eu", "bedrock:eu-central-1/claude-sonnet")] == "weight 1"
    assert labels[("route:gpt-4o", "azure:acme-openai-swc/gpt-4o")] == "priority 1"
    assert labels[("route:gpt-4o", "bedrock:us-east-1/nova-pro")] == "priority 2"
    assert labels[("route:chat-default", "bedrock:us-east-1/nova-pro")] == "lowest-cost"


def test_paths_are_flagged_when_they_leave_the_vpc_or_cross_a_jurisdiction(
        default_spec: Spec) -> None:
    edges = path_edges(build_topology(default_spec))
    own = edges[("gateway:eu-central-1", "bedrock:eu-central-1/nova-pro")]
    assert (own.path, own.leaves_vpc, own.crosses_jurisdiction) == ("vpc-endpoint", False, False)
    # US gateway -> the account in Sweden: leaves the VPC, another cloud, US -> EU.
    us_azure = edges[("gateway:us-east-1", "endpoint:azure:acme-openai-swc")]
    assert us_azure.leaves_vpc and us_azure.crosses_cloud
    assert us_azure.crossing == "us → eu"
    # The EU gateway -> the same account stays in the EU jurisdiction.
    eu_azure = edges[("gateway:eu-central-1", "endpoint:azure:acme-openai-swc")]
    assert eu_azure.leaves_vpc and not eu_azure.crosses_jurisdiction


def test_cross_region_bedrock_is_a_crossing_edge() -> None:
    def allow(doc: dict[str, Any]) -> None:
        doc["gateway"]["cross_region_bedrock"] = {"eu-central-1": ["us-east-1"]}

    edges = path_edges(build_topology(variant("platform.yaml", allow)))
    edge = edges[("gateway:eu-central-1", "bedrock:us-east-1/nova-pro")]
    assert edge.path == "cross-region" and edge.leaves_vpc and not edge.crosses_cloud
    assert edge.crossing == "eu → us"


def test_a_spec_within_one_jurisdiction_has_no_crossing() -> None:
    topo = build_topology(load_spec(EXAMPLES / "minimal.yaml"))
    assert [(e.source, e.target, e.path) for e in topo.edges if e.kind == "path"] == [
        ("gateway:us-east-1", "bedrock:us-east-1/nova-lite", "vpc-endpoint")]
    assert not any(e.crosses_jurisdiction or e.leaves_vpc for e in topo.edges)


def test_compatible_endpoint_that_processes_anywhere_crosses() -> None:
    def in_us(doc: dict[str, Any]) -> None:
        doc["gateway"]["regions"] = ["us-east-1"]

    spec = variant("local-clouds.yaml", in_us)
    topo = build_topology(spec)
    endpoint = next(n for n in topo.of_kind("endpoint") if n.id == "endpoint:openai:vllm")
    assert endpoint.name == "http://127.0.0.1:9100/v1"
    assert "processes in: any region" in endpoint.detail
    assert spec.gateway.regions
    for region in spec.gateway.regions:
        edge = path_edges(topo)[(f"gateway:{region}", "endpoint:openai:vllm")]
        assert edge.path == "nat" and edge.crossing.endswith("→ any")


def test_a_private_only_account_has_no_path_and_says_so() -> None:
    def private(doc: dict[str, Any]) -> None:
        doc["azure"]["accounts"][0]["public_network_access"] = "disabled"
        doc["gateway"]["regions"] = []  # validate refuses it while a gateway must reach it

    topo = build_topology(variant("platform.yaml", private))
    endpoint = topo.of_kind("endpoint")[0]
    assert endpoint.detail == ("private endpoint only", "no path from a gateway")
    assert not [e for e in topo.edges if e.kind == "path"]
    assert not topo.of_kind("gateway")
