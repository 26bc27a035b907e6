"""Per-region routing (issue 20, failure 1): each gateway region holds only what it can call.

The eu-central-1 gateway's task role may invoke eu-central-1's Bedrock, and only through
that region's VPC endpoint (``aws:SourceVpce``). Handed a us-east-1 target it would get
AccessDenied on every attempt, waste the request's attempts and trip breakers on healthy
upstreams. Calling another region's Bedrock is an explicit spec choice
(``gateway.cross_region_bedrock``), granted without the endpoint condition, and ``plan``
says that traffic leaves the VPC.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.spec import SpecError, parse_spec_text
from skyrelay.spec.models import Spec
from skyrelay.views.gateway_config import gateway_config
from skyrelay.views.plan import build_plan
from skyrelay.views.reachability import CROSS_REGION, NAT, VPC_ENDPOINT, reachable_targets

DEFAULT_SPEC_TEXT = (Path(__file__).resolve().parents[3] / "examples" / "platform.yaml").read_text()


def spec_with(change: Any) -> Spec:
    doc = yaml.safe_load(DEFAULT_SPEC_TEXT)
    change(doc)
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")


def allow_eu_to_us(doc: dict[str, Any]) -> None:
    doc["gateway"]["cross_region_bedrock"] = {"eu-central-1": ["us-east-1"]}


def test_the_eu_gateway_holds_no_us_bedrock_target_by_default(default_spec: Spec) -> None:
    cfg = gateway_config(default_spec, "eu-central-1")
    assert cfg["region"] == "eu-central-1"
    bedrock = [k for k, t in cfg["targets"].items() if t["cloud"] == "bedrock"]
    assert bedrock and all(cfg["targets"][k]["region"] == "eu-central-1" for k in bedrock)
    # The routes lost their us-east-1 targets, not their own-region or Azure ones.
    assert [t["key"] for t in cfg["routes"]["gpt-4o"]["targets"]] == [
        "azure:acme-openai-swc/gpt-4o"]
    assert [t["key"] for t in cfg["routes"]["claude-sonnet"]["targets"]] == [
        "bedrock:eu-central-1/claude-sonnet"]
    for route in cfg["routes"].values():
        assert all(t["key"] in cfg["targets"] for t in route["targets"])
    # And the us gateway symmetrically holds no eu-central-1 Bedrock target.
    us = gateway_config(default_spec, "us-east-1")
    assert not [k for k in us["targets"] if k.startswith("bedrock:eu-central-1/")]
    assert "bedrock:us-east-1/nova-pro" in us["targets"]


def test_without_a_region_the_config_is_the_whole_table(default_spec: Spec) -> None:
    # A local gateway (skyrelay gateway serve --spec) has no AWS path to judge.
    whole = gateway_config(default_spec)
    assert "region" not in whole
    assert {"bedrock:us-east-1/nova-pro", "bedrock:eu-central-1/nova-pro"} <= set(whole["targets"])


def test_paths_by_target_kind(default_spec: Spec) -> None:
    paths = reachable_targets(default_spec, "eu-central-1")
    assert paths["bedrock:eu-central-1/claude-sonnet"] == VPC_ENDPOINT
    assert paths["azure:acme-openai-swc/gpt-4o"] == NAT
    assert "bedrock:us-east-1/claude-sonnet" not in paths


def test_cross_region_is_an_explicit_choice_and_residency_still_applies() -> None:
    spec = spec_with(allow_eu_to_us)
    cfg = gateway_config(spec, "eu-central-1")
    assert reachable_targets(spec, "eu-central-1")["bedrock:us-east-1/nova-pro"] == CROSS_REGION
    assert "bedrock:us-east-1/nova-pro" in cfg["targets"]
    # The us-east-1 target keeps its US processing set, which the gateway's residency
    # check compares per request: EU-only data still never goes there.
    assert cfg["targets"]["bedrock:us-east-1/nova-pro"]["processing"] == ["aws:us-east-1"]
    eu_only = cfg["classifications"]["eu-personal"]["processing_allowed"]
    assert "aws:us-east-1" not in eu_only
    # The us gateway was not given eu-central-1 by that choice.
    assert "bedrock:eu-central-1/nova-pro" not in gateway_config(spec, "us-east-1")["targets"]


def _issues(change: Any) -> list[tuple[str, str]]:
    doc = yaml.safe_load(DEFAULT_SPEC_TEXT)
    change(doc)
    with pytest.raises(SpecError) as info:
        parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")
    return [(i.dotted, i.message) for i in info.value.issues]


def test_validate_refuses_a_route_no_target_of_which_a_gateway_region_can_call() -> None:
    def us_only_route(doc: dict[str, Any]) -> None:
        doc["routes"].append({"name": "nova-us", "targets": [
            {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"}]})

    found = _issues(us_only_route)
    index = len(yaml.safe_load(DEFAULT_SPEC_TEXT)["routes"])
    assert len(found) == 1, found
    where, message = found[0]
    assert where == f"routes[{index}].targets"
    assert "eu-central-1" in message and "nova-us" in message
    assert "gateway.cross_region_bedrock.eu-central-1" in message
    # The explicit allowance makes the same spec valid.
    def allowed(doc: dict[str, Any]) -> None:
        us_only_route(doc)
        allow_eu_to_us(doc)
    assert spec_with(allowed).routes[-1].name == "nova-us"


@pytest.mark.parametrize(("allow", "where", "text"), [
    ({"ap-south-1": ["us-east-1"]}, "gateway.cross_region_bedrock.ap-south-1",
     "not a gateway region"),
    ({"eu-central-1": ["eu-central-1"]}, "gateway.cross_region_bedrock.eu-central-1[0]",
     "own Bedrock"),
    ({"eu-central-1": ["us-west-2"]}, "gateway.cross_region_bedrock.eu-central-1[0]",
     "not under aws.regions"),
])
def test_bad_cross_region_allowances(allow: dict[str, list[str]], where: str,
                                     text: str) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["gateway"]["cross_region_bedrock"] = allow
    found = _issues(change)
    assert [w for w, _ in found] == [where] and text in found[0][1], found


def test_a_filtered_route_may_not_go_cross_region() -> None:
    # Guardrails are regional: the eu gateway has only eu-central-1's guardrail ids.
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        next(r for r in doc["routes"] if r["name"] == "claude-sonnet")["content_filter"] = \
            "strict"
    found = _issues(change)
    assert len(found) == 1 and "guardrails are regional" in found[0][1], found
    assert found[0][0].startswith("routes[2].targets[0]")


def test_plan_shows_per_gateway_region_what_each_route_reaches(default_spec: Spec) -> None:
    plan = build_plan(default_spec)
    by_region = {g["region"]: g for g in plan["gateways"]}
    assert list(by_region) == ["us-east-1", "eu-central-1"]
    eu = {r["route"]: r for r in by_region["eu-central-1"]["routes"]}
    assert [t["key"] for t in eu["gpt-4o"]["targets"]] == ["azure:acme-openai-swc/gpt-4o"]
    assert [u["key"] for u in eu["gpt-4o"]["unreachable"]] == ["bedrock:us-east-1/nova-pro"]
    assert eu["claude-sonnet"]["targets"][0] == {
        "key": "bedrock:eu-central-1/claude-sonnet", "path": VPC_ENDPOINT,
        "leaves_vpc": False, "path_text": eu["claude-sonnet"]["targets"][0]["path_text"]}
    assert by_region["eu-central-1"]["cross_region_warning"] is False
    cross = {g["region"]: g for g in build_plan(spec_with(allow_eu_to_us))["gateways"]}
    assert cross["eu-central-1"]["cross_region_warning"] is True
    reach = {r["route"]: r for r in cross["eu-central-1"]["routes"]}
    us_nova = next(t for t in reach["gpt-4o"]["targets"]
                   if t["key"] == "bedrock:us-east-1/nova-pro")
    assert us_nova["path"] == CROSS_REGION and us_nova["leaves_vpc"] is True
    assert "leaves the VPC" in us_nova["path_text"]


def test_the_copy_of_the_default_spec_is_the_default_spec(default_spec: Spec) -> None:
    assert spec_with(lambda doc: None) == default_spec
    assert copy.deepcopy(default_spec) == default_spec
