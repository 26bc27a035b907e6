"""What a gateway region can call (``skyrelay.views.reachability``), target kind by kind.

This view decides which targets land in each region's gateway config and which routes
``validate`` refuses; ``plan`` and ``validate`` print its reasons to the operator. A target
judged reachable that is not gets AccessDenied or a 403 on every attempt in production
(and trips breakers on healthy upstreams); a reason that names the wrong spec key sends the
operator to the wrong place. The tests below pin each path and each reason.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay import link
from skyrelay.spec import Spec, SpecError, parse_spec_text
from skyrelay.spec import checks as spec_checks
from skyrelay.views.reachability import (
    CROSS_REGION,
    NAT,
    VPC_ENDPOINT,
    Unreachable,
    has_egress,
    reachable_targets,
    route_reach,
    target_path,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PLATFORM = yaml.safe_load((EXAMPLES / "platform.yaml").read_text())
# The spec loader keeps `version: 2026-04-24` a string; yaml.safe_load makes it a date.
for _account in PLATFORM["azure"]["accounts"]:
    for _deployment in _account["deployments"]:
        _deployment["version"] = str(_deployment["version"])
MINIMAL = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())


def aws_only_two_regions(cross: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The minimal spec (AWS only: no Azure, no OpenAI-compatible endpoint) with a second
    gateway region, eu-central-1, and the route ``chat`` served only from us-east-1."""
    doc = copy.deepcopy(MINIMAL)
    doc["aws"]["regions"]["eu-central-1"] = {
        "vpc_cidr": "10.20.0.0/16",
        "bedrock_models": [{"name": "nova-pro", "model_id": "eu.amazon.nova-pro-v1:0"}]}
    doc["gateway"]["regions"] = ["us-east-1", "eu-central-1"]
    doc["compliance"]["classifications"]["internal"]["allowed"] = ["us", "eu"]
    if cross is not None:
        doc["gateway"]["cross_region_bedrock"] = cross
    return doc


def unchecked(doc: dict[str, Any]) -> Spec:
    """A spec that passed the model's field validation but not the whole-document checks:
    the view must still answer (and not crash) for one ``validate`` would refuse."""
    return Spec.model_validate(doc)


def test_own_region_bedrock_goes_through_the_vpc_endpoint(default_spec: Spec) -> None:
    """The task role's grant carries aws:SourceVpce: only this path stays in the VPC."""
    assert target_path(default_spec, "us-east-1", "bedrock:us-east-1/nova-pro") == VPC_ENDPOINT
    assert target_path(default_spec, "eu-central-1",
                       "bedrock:eu-central-1/claude-sonnet") == VPC_ENDPOINT


def test_another_regions_bedrock_is_unreachable_and_the_reason_names_the_switch(
        default_spec: Spec) -> None:
    """The operator reads this reason in ``validate``/``plan``: it must name the target it is
    about and the exact spec key that would allow the call."""
    key = "bedrock:us-east-1/nova-pro"
    assert target_path(default_spec, "eu-central-1", key) == Unreachable(
        key, "a Bedrock target in us-east-1: the gateway in eu-central-1 may call only "
             "eu-central-1's Bedrock, through its VPC endpoint, unless "
             "gateway.cross_region_bedrock.eu-central-1 lists us-east-1")


def test_a_cross_region_allowance_needs_nat_gateways_to_leave_the_vpc() -> None:
    """Another region's public Bedrock endpoint is reached through the NAT gateways; an
    AWS-only spec gets none (stacks/network.py), so even an allowed call has no path, and
    the gateway config must not offer that target."""
    spec = unchecked(aws_only_two_regions({"eu-central-1": ["us-east-1"]}))
    assert has_egress(spec, "eu-central-1") is False
    key = "bedrock:us-east-1/nova-lite"
    assert target_path(spec, "eu-central-1", key) == Unreachable(
        key, "the VPC in eu-central-1 has no NAT gateways (no target outside AWS), so there "
             "is no path to another region's public Bedrock endpoint")
    assert reachable_targets(spec, "eu-central-1") == {}
    assert reachable_targets(spec, "us-east-1") == {key: VPC_ENDPOINT}


def test_validate_explains_a_route_that_only_an_allowance_without_nat_would_serve() -> None:
    """End to end: the refusal quotes the no-NAT reason, so the operator knows the allowance
    alone is not enough."""
    with pytest.raises(SpecError) as info:
        parse_spec_text(yaml.safe_dump(aws_only_two_regions({"eu-central-1": ["us-east-1"]})),
                        "spec.yaml")
    [(where, message)] = [(i.dotted, i.message) for i in info.value.issues]
    assert where == "routes[0].targets"
    assert "the VPC in eu-central-1 has no NAT gateways" in message


def test_with_an_endpoint_outside_aws_the_allowance_goes_cross_region() -> None:
    """An OpenAI-compatible endpoint gives the VPC NAT gateways, and with them the path to
    the other region's Bedrock (the reason it leaves the VPC, which plan warns about)."""
    doc = aws_only_two_regions({"eu-central-1": ["us-east-1"]})
    doc["openai_compatible"] = [{
        "name": "vllm", "base_url": "https://llm.example.com/v1", "processing": ["us"],
        "models": [{"name": "llama", "model": "meta/llama-3",
                    "price": {"input_per_million": 0.1, "output_per_million": 0.1}}]}]
    spec = unchecked(doc)
    assert has_egress(spec, "eu-central-1") is True
    assert target_path(spec, "eu-central-1", "bedrock:us-east-1/nova-lite") == CROSS_REGION
    # The endpoint itself is outside AWS: always over NAT, from every gateway region.
    assert target_path(spec, "us-east-1", "openai:vllm/llama") == NAT


def test_nat_gateways_only_where_a_gateway_runs() -> None:
    """A region under aws.regions without a gateway (fine-tuning only) gets no NAT gateways,
    even when the spec has Azure targets: three places decide it (this view, the network
    check and ``skyrelay link``) and the VPC the stack builds follows the same rule, so they
    must agree region by region, or plan promises a path the VPC does not have."""
    doc = copy.deepcopy(PLATFORM)
    doc["gateway"]["regions"] = ["eu-central-1"]
    spec = unchecked(doc)
    assert has_egress(spec, "eu-central-1") is True
    assert has_egress(spec, "us-east-1") is False
    for region in ("us-east-1", "eu-central-1", "ap-south-1"):
        assert has_egress(spec, region) == spec_checks.needs_egress(spec, region) \
            == link.needs_egress(spec, region), region


def private_only_account() -> dict[str, Any]:
    doc = copy.deepcopy(PLATFORM)
    doc["azure"]["accounts"][0]["public_network_access"] = "disabled"
    return doc


def test_a_private_only_azure_account_is_unreachable() -> None:
    """'disabled' leaves only the private endpoint, which no gateway VPC has a path to: every
    call would get 403, so the view must say so (validate refuses such an account too, but
    plan and the per-region configs take their answer from here)."""
    spec = unchecked(private_only_account())
    key = "azure:acme-openai-swc/gpt-4o"
    expected = Unreachable(key, "Azure account acme-openai-swc answers only on its private "
                                "endpoint, which no gateway VPC has a path to")
    assert target_path(spec, "eu-central-1", key) == expected
    assert target_path(spec, "us-east-1", key) == expected
    assert not any(k.startswith("azure:") for k in reachable_targets(spec, "us-east-1"))
    # Only that account's targets: another account open to the gateways stays reachable.
    doc = private_only_account()
    open_account = copy.deepcopy(doc["azure"]["accounts"][0])
    open_account.update(name="acme-openai-frc", location="francecentral",
                        public_network_access="gateway-egress-only")
    doc["azure"]["accounts"].insert(0, open_account)
    both = unchecked(doc)
    assert target_path(both, "us-east-1", "azure:acme-openai-frc/gpt-4o") == NAT
    assert target_path(both, "us-east-1", key) == expected


@pytest.mark.parametrize("deployment", ["gpt-4o", "gpt-4o/2024-11-20", "ft:gpt-4o:acme",
                                        "no-such-deployment"])
def test_reaching_an_azure_target_depends_only_on_its_account(deployment: str) -> None:
    """A route's Azure deployment is free text (one that is not declared is reported by the
    route checks): whatever it says, the account part decides the path, so a private-only
    account is never reported as reachable because of a slash or colon in a name."""
    spec = unchecked(private_only_account())
    path = target_path(spec, "us-east-1", f"azure:acme-openai-swc/{deployment}")
    assert isinstance(path, Unreachable)
    assert "Azure account acme-openai-swc answers only on its private endpoint" in path.reason


def test_an_open_azure_account_is_reached_over_nat(default_spec: Spec) -> None:
    assert target_path(default_spec, "us-east-1", "azure:acme-openai-swc/gpt-4o") == NAT


def test_unknown_targets_are_left_to_the_route_checks() -> None:
    """A key naming no declared account (a typo, or a spec without an azure section) must not
    crash the view: validate reports it as an unknown target, naming the field, and only
    then may the operator see the rest."""
    assert target_path(unchecked(PLATFORM), "us-east-1", "azure:no-such-account/x") == NAT
    doc = copy.deepcopy(MINIMAL)
    doc["routes"][0]["targets"].append({"cloud": "azure", "account": "acct", "deployment": "d"})
    assert target_path(unchecked(doc), "us-east-1", "azure:acct/d") == NAT
    with pytest.raises(SpecError) as info:
        parse_spec_text(yaml.safe_dump(doc), "spec.yaml")
    assert [i.dotted for i in info.value.issues] == ["routes[0].targets[1]"]


def test_route_reach_pairs_every_target_with_its_path(default_spec: Spec) -> None:
    """``plan`` lists, per route and gateway region, each target with its path or reason."""
    reach = route_reach(default_spec, "eu-central-1")
    assert list(reach) == [r.name for r in default_spec.routes]
    gpt = dict(reach["gpt-4o"])
    assert gpt["azure:acme-openai-swc/gpt-4o"] == NAT
    unreachable = gpt["bedrock:us-east-1/nova-pro"]
    assert isinstance(unreachable, Unreachable)
    assert unreachable.key == "bedrock:us-east-1/nova-pro"
