"""The gateway-region checks of ``validate`` (``skyrelay.spec.gateway_checks``).

They stop specs that would deploy and then fail on every call: a route a gateway region
cannot serve, a filtered call that would leave for a region whose guardrail that gateway
does not have (unfiltered, or refused, in production), a content filter nobody defined, a
certificate for a region without a gateway. Each problem must name the field to fix and say
why, and the checks must not crash on specs that other checks refuse (the operator would get
a traceback instead of the list of problems).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.spec import Spec, SpecError, parse_spec_text
from skyrelay.spec.gateway_checks import check_gateway_paths

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BASE = yaml.safe_load((EXAMPLES / "platform.yaml").read_text())
MINIMAL = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
ARN = "arn:aws:acm:{r}:111122223333:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def parse(doc: dict[str, Any]) -> Spec:
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")


def issues(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse(doc)
    return [(i.dotted, i.message) for i in info.value.issues]


def platform(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def allow_eu_to_us(doc: dict[str, Any]) -> None:
    doc["gateway"]["cross_region_bedrock"] = {"eu-central-1": ["us-east-1"]}


def route_index(doc: dict[str, Any], name: str) -> int:
    return next(i for i, r in enumerate(doc["routes"]) if r["name"] == name)


# --- content filters --------------------------------------------------------------------

def test_a_filter_named_without_any_azure_section_is_reported_at_its_field() -> None:
    """An AWS-only spec has no content filters at all: naming one is an error on the route's
    field (not a crash on the missing section)."""
    doc = copy.deepcopy(MINIMAL)
    doc["routes"][0]["content_filter"] = "strict"
    assert issues(doc) == [("routes[0].content_filter",
                            "content filter 'strict' is not defined under "
                            "azure.content_filters (defined: none)")]


def test_every_undefined_filter_is_reported_routes_and_tenants_alike() -> None:
    """All the problems at once, each at its own field: a fix-one-rerun loop per field is
    what the error list exists to avoid."""
    def change(doc: dict[str, Any]) -> None:
        doc["routes"][1]["content_filter"] = "lenient"
        doc["tenants"][0]["content_filter"] = "medium"
    # validate lists problems in the order of the document: routes come before tenants.
    assert issues(platform(change)) == [
        ("routes[1].content_filter", "content filter 'lenient' is not defined under "
                                     "azure.content_filters (defined: ['strict'])"),
        ("tenants[0].content_filter", "content filter 'medium' is not defined under "
                                      "azure.content_filters (defined: ['strict'])"),
    ]


def _cross_region_problems(doc: dict[str, Any]) -> list[str]:
    return [where for where, message in issues(doc) if "guardrails are regional" in message]


def test_a_filtered_tenant_blocks_cross_region_only_on_its_own_routes() -> None:
    """A tenant's filter is a guardrail on the tenant's calls: the routes it uses may not send
    them to another region's Bedrock, but a route it does not use is not its concern."""
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        research = next(t for t in doc["tenants"] if t["name"] == "research")
        research["content_filter"] = "strict"  # public data: every target may serve it
    doc = platform(change)
    # research uses chat-default, claude-sonnet and gpt-4o; text-embedding's us-east-1
    # target is cross-region too, but only eu-support (EU-only data) is filtered there, and
    # its data may not go to us-east-1 anyway.
    assert sorted(_cross_region_problems(doc)) == sorted([
        f"routes[{route_index(doc, 'gpt-4o')}].targets[1]",
        f"routes[{route_index(doc, 'chat-default')}].targets[1]",
        f"routes[{route_index(doc, 'claude-sonnet')}].targets[0]"])


def test_a_tenants_filter_counts_only_for_targets_its_data_may_use() -> None:
    """The router never sends a tenant's data to a target outside its classification, so a
    cross-region target it can never use needs no guardrail; the next target it can use
    does."""
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        doc["aws"]["regions"]["us-east-1"]["bedrock_models"].append({
            "name": "claude-global",
            "model_id": "global.anthropic.claude-sonnet-4-20250514-v1:0",  # any region
            "price": {"input_per_million": 3.0, "output_per_million": 15.0}})
        doc["routes"].append({"name": "mixed", "targets": [
            {"cloud": "bedrock", "region": "us-east-1", "model": "claude-global"},
            {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"}]})
        doc["tenants"].append({
            "name": "us-team", "api_key": {"secret": "skyrelay/tenants/us-team"},
            "routes": ["mixed"], "classification": "internal", "content_filter": "strict",
            "monthly_budget": 100, "requests_per_minute": 60, "tokens_per_minute": 1000})
    doc = platform(change)
    mixed = route_index(doc, "mixed")
    # internal data (us, eu) never goes to the global profile (targets[0]), but to nova-pro.
    assert [w for w in _cross_region_problems(doc) if w.startswith(f"routes[{mixed}]")] == [
        f"routes[{mixed}].targets[1]"]


def test_a_filtered_route_is_checked_past_its_first_target() -> None:
    """The cross-region target may come after targets that stay in the region or leave AWS."""
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        doc["routes"][route_index(doc, "gpt-4o")]["content_filter"] = "strict"
    doc = platform(change)
    found = [(w, m) for w, m in issues(doc) if "guardrails are regional" in m]
    assert found == [(
        f"routes[{route_index(doc, 'gpt-4o')}].targets[1]",
        "route 'gpt-4o' is content-filtered, and its target bedrock:us-east-1/nova-pro is "
        "called cross-region from the gateway in eu-central-1: guardrails are regional and "
        "that gateway has only eu-central-1's; drop the cross-region allowance or the filter")]


def test_an_undeclared_model_in_an_allowed_region_is_an_unknown_target() -> None:
    """The filter check looks up each cross-region target's processing set; a target naming
    no declared model must be left to the route check, which names it, not crash it."""
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        doc["routes"][0]["targets"].append(
            {"cloud": "bedrock", "region": "us-east-1", "model": "no-such"})
        doc["routes"][0]["content_filter"] = "strict"
    found = issues(platform(change))
    unknown = [(w, m) for w, m in found if "no-such" in m]
    assert len(unknown) == 1 and unknown[0][0] == "routes[0].targets[2]", found
    assert "no Bedrock model named 'no-such' in us-east-1" in unknown[0][1]


def test_a_filtered_tenant_with_an_undefined_classification_gets_that_error() -> None:
    """The undefined classification is the problem to report, not a crash of the filter
    check that looks its rules up."""
    def change(doc: dict[str, Any]) -> None:
        allow_eu_to_us(doc)
        research = next(t for t in doc["tenants"] if t["name"] == "research")
        research.update(classification="secret", content_filter="strict")
    found = issues(platform(change))
    assert ("tenants[1].classification",
            "classification 'secret' is not under compliance.classifications (defined: "
            "eu-personal, internal, public)") in found
    # Its rules are unknown, so its filter asks nothing of the cross-region targets.
    assert not [w for w, m in found if "guardrails are regional" in m]


# --- gateway paths ----------------------------------------------------------------------

def test_an_allowance_for_a_region_without_gateway_lists_the_gateway_regions() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["gateway"]["cross_region_bedrock"] = {"ap-south-1": ["us-east-1"]}
    assert issues(platform(change)) == [(
        "gateway.cross_region_bedrock.ap-south-1",
        "ap-south-1 is not a gateway region (gateway.regions: us-east-1, eu-central-1)")]

    def no_gateway(doc: dict[str, Any]) -> None:
        doc["gateway"]["regions"] = []
        doc["gateway"]["cross_region_bedrock"] = {"us-east-1": ["eu-central-1"]}
    assert issues(platform(no_gateway)) == [(
        "gateway.cross_region_bedrock.us-east-1",
        "us-east-1 is not a gateway region (gateway.regions: none)")]


def test_an_azure_only_spec_without_gateway_regions_validates() -> None:
    """No AWS section at all (the routes and tenants are validated before any gateway
    runs): the path check has no region to judge and must not need aws.regions."""
    doc = copy.deepcopy(BASE)
    del doc["aws"], doc["fine_tuning"]
    doc["gateway"]["regions"] = []
    doc["routes"] = [{**r, "targets": [t for t in r["targets"] if t["cloud"] == "azure"]}
                     for r in doc["routes"] if r["name"] != "claude-sonnet"]
    for tenant in doc["tenants"]:
        tenant["routes"] = [r for r in tenant["routes"] if r != "claude-sonnet"]
        tenant["classification"] = "public"
    spec = parse(doc)
    assert spec.aws is None and list(check_gateway_paths(spec)) == []


def test_a_route_no_gateway_target_can_serve_gives_every_reason() -> None:
    """The refusal quotes why each target is out of reach, all of them, so the operator
    sees every way to fix it."""
    def change(doc: dict[str, Any]) -> None:
        doc["routes"].append({"name": "us-only", "targets": [
            {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"},
            {"cloud": "bedrock", "region": "us-east-1", "model": "claude-sonnet"}]})
    doc = platform(change)
    reason = ("a Bedrock target in us-east-1: the gateway in eu-central-1 may call only "
              "eu-central-1's Bedrock, through its VPC endpoint, unless "
              "gateway.cross_region_bedrock.eu-central-1 lists us-east-1")
    assert issues(doc) == [(
        f"routes[{route_index(doc, 'us-only')}].targets",
        f"route 'us-only' has no target the gateway in eu-central-1 can call ({reason}; "
        f"{reason}); add a target in eu-central-1 or outside AWS, or allow the region under "
        "gateway.cross_region_bedrock.eu-central-1")]


def test_a_gateway_region_outside_aws_does_not_stop_the_check_of_the_others() -> None:
    """Called on its own (``validate`` reports the region outside aws.regions first), the
    path check skips that region and still judges every later one."""
    doc = copy.deepcopy(BASE)
    doc["gateway"]["regions"] = ["ap-south-1", "eu-central-1"]
    doc["routes"].append({"name": "us-only", "targets": [
        {"cloud": "bedrock", "region": "us-east-1", "model": "nova-pro"}]})
    for deployment in doc["azure"]["accounts"][0]["deployments"]:
        deployment["version"] = str(deployment["version"])  # safe_load made it a date
    found = list(check_gateway_paths(Spec.model_validate(doc)))
    assert [(path, message.split(" (")[0]) for path, message in found] == [
        (("routes", len(doc["routes"]) - 1, "targets"),
         "route 'us-only' has no target the gateway in eu-central-1 can call")]


# --- TLS ----------------------------------------------------------------------------------

def test_a_certificate_for_a_region_without_gateway_is_reported_at_that_region() -> None:
    """A certificate ARN under a region no gateway runs in is a typo or a leftover; the
    problem points at that region's entry."""
    def change(doc: dict[str, Any]) -> None:
        doc["gateway"]["tls"] = {"certificate": "acm", "certificate_arns": {
            r: ARN.format(r=r) for r in ("us-east-1", "eu-central-1", "ap-south-1")}}
    assert issues(platform(change)) == [("gateway.tls.certificate_arns.ap-south-1",
                                         "ap-south-1 is not a gateway region")]
