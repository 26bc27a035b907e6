"""The derived views on the default spec: gateway config, Bedrock ARNs, Azure deployments,
cost estimate and residency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skyrelay import regions
from skyrelay.spec import Spec, load_spec
from skyrelay.views.azure_deployments import azure_deployments
from skyrelay.views.bedrock_arns import bedrock_invoke_arns
from skyrelay.views.cost import RouteTraffic, TrafficProfile, estimate_monthly_cost, request_cost
from skyrelay.views.gateway_config import gateway_config
from skyrelay.views.plan import build_plan

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(ROOT / "examples" / "platform.yaml")


def test_both_examples_validate() -> None:
    assert load_spec(ROOT / "examples" / "minimal.yaml").name == "minimal"
    full = load_spec(ROOT / "examples" / "platform.yaml")
    assert full.aws and set(full.aws.regions) == {"us-east-1", "eu-central-1"}
    assert full.azure and len(full.azure.accounts[0].deployments) == 3
    assert len(full.tenants) == 3 and len(full.fine_tuning.jobs) == 1


def test_spec_is_immutable(spec: Spec) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


def test_gateway_config_is_json_without_secrets(spec: Spec) -> None:
    cfg = gateway_config(spec)
    text = json.dumps(cfg)
    assert json.loads(text) == cfg
    assert cfg["tenants"]["eu-support"]["api_key"] == {"secret": "skyrelay/tenants/eu-support"}
    # Only targets some route uses are shipped, each with where it may process data.
    assert set(cfg["targets"]) == {t.key for r in spec.routes for t in r.targets}
    assert cfg["targets"]["azure:acme-openai-swc/gpt-4o-mini"]["processing"] == ["*"]
    assert cfg["targets"]["azure:acme-openai-swc/gpt-4o"]["endpoint"] == (
        "https://acme-openai-swc.openai.azure.com/")
    assert "aws:eu-central-1" in cfg["targets"]["bedrock:eu-central-1/claude-sonnet"]["processing"]


def test_gateway_config_classifications_per_route(spec: Spec) -> None:
    routes = gateway_config(spec)["routes"]
    # chat-eu has only EU targets, so EU personal data may use it.
    assert "eu-personal" in routes["chat-eu"]["classifications"]
    # claude-sonnet: the US profile is not EU, but the EU profile is.
    assert "eu-personal" in routes["claude-sonnet"]["classifications"]
    assert routes["chat-eu"]["targets"][0] == {"key": "azure:acme-openai-swc/gpt-4o", "weight": 3}


def test_bedrock_arns_profile_needs_every_destination(spec: Spec) -> None:
    arns = bedrock_invoke_arns(spec, "us-east-1", "111122223333")
    profile = ("arn:aws:bedrock:us-east-1:111122223333:inference-profile/"
               "us.anthropic.claude-sonnet-4-20250514-v1:0")
    assert profile in arns.inference_profiles
    # The catalog's destination list of this profile, not the "us" prefix guess (which
    # also held us-west-1, where the profile does not route).
    fm = "anthropic.claude-sonnet-4-20250514-v1:0"
    claude = {a for a in arns.foundation_models if a.endswith(f"/{fm}")}
    assert claude == {f"arn:aws:bedrock:{r}::foundation-model/{fm}"
                      for r in ("us-east-1", "us-east-2", "us-west-2")}
    # An in-region model: one foundation-model ARN, no account in it.
    nova = [a for a in arns.all() if a.endswith("/amazon.nova-pro-v1:0")]
    assert nova == ["arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"]
    assert not any("*" in a for a in arns.all())
    assert all(":111122223333:" not in a for a in arns.foundation_models)


def test_bedrock_arns_stay_in_their_region(spec: Spec) -> None:
    eu = bedrock_invoke_arns(spec, "eu-central-1", "111122223333").all()
    assert eu and not any(":us-" in a for a in eu)


def test_global_profile_arns() -> None:
    from skyrelay.spec.models import BedrockModel, Price
    from skyrelay.views.bedrock_arns import model_arns

    m = BedrockModel(name="g", model_id="global.anthropic.claude-sonnet-4-v1:0",
                     price=Price(input_per_million=1, output_per_million=1))
    arns = model_arns(m, "eu-west-1", "111122223333")
    assert "arn:aws:bedrock:::foundation-model/anthropic.claude-sonnet-4-v1:0" in arns.all()
    assert regions.processing_regions_for_bedrock(m.model_id, "eu-west-1") == {regions.ANY}


def test_azure_deployments_in_spec_order(spec: Spec) -> None:
    deps = azure_deployments(spec)
    assert [d.name for d in deps] == ["gpt-4o", "gpt-4o-mini", "text-embedding-3-large"]
    assert deps[0].sku == "DataZoneStandard" and deps[0].capacity == 100
    assert deps[1].processing == "any region"


def test_residency_rules() -> None:
    eu = regions.expand_allowed(["eu"])
    assert regions.satisfies(regions.processing_regions_for_azure("DataZoneStandard",
                                                                  "swedencentral"), eu)
    assert not regions.satisfies(regions.processing_regions_for_azure("GlobalStandard",
                                                                      "swedencentral"), eu)
    assert regions.satisfies(regions.processing_regions_for_azure("Standard", "westeurope"), eu)
    # London is not in the EU.
    assert not regions.satisfies(regions.processing_regions_for_azure("Standard", "uksouth"), eu)
    assert not regions.satisfies(regions.processing_regions_for_bedrock(
        "us.meta.llama3-v1:0", "us-east-1"), eu)
    assert regions.satisfies(frozenset({regions.ANY}), regions.expand_allowed(["any"]))


def test_cost_estimate_follows_strategies(spec: Spec) -> None:
    traffic = TrafficProfile(RouteTraffic(requests_per_month=1_000_000, input_tokens=1000,
                                          output_tokens=1000))
    est = {r.route: r for r in estimate_monthly_cost(spec, traffic).routes}
    # priority: all on the first target (Azure gpt-4o: 2.75 + 11.0 per million each way).
    assert est["gpt-4o"].by_target == {"azure:acme-openai-swc/gpt-4o": pytest.approx(13_750.0)}
    # lowest-cost: Nova Pro (the catalog's price, 0.80 + 3.20) is below the gpt-5 global
    # deployment; us-east-1 and eu-central-1 cost the same, so the first in route order wins.
    assert list(est["chat-default"].by_target) == ["bedrock:us-east-1/nova-pro"]
    assert est["chat-default"].by_target["bedrock:us-east-1/nova-pro"] == pytest.approx(4_000.0)
    # weighted 3:1.
    chat_eu = est["chat-eu"].by_target
    assert chat_eu["azure:acme-openai-swc/gpt-4o"] == pytest.approx(0.75 * 13_750.0)
    assert chat_eu["bedrock:eu-central-1/claude-sonnet"] == pytest.approx(0.25 * 18_000.0)


def test_request_cost() -> None:
    from skyrelay.spec.models import Price

    assert request_cost(Price(input_per_million=3, output_per_million=15), 1_000_000, 0) == 3.0


def test_plan_document(spec: Spec) -> None:
    plan = build_plan(spec)
    assert [r["region"] for r in plan["aws"]] == ["us-east-1", "eu-central-1"]
    assert plan["azure"][0]["deployments"][0]["sku"] == "DataZoneStandard"
    routes = {r["name"]: r for r in plan["routes"]}
    assert routes["chat-eu"]["tenants"] == ["eu-support"]
    assert plan["totals"]["monthly_cost"] == pytest.approx(
        sum(r["total"] for r in plan["cost"]["routes"]) + sum(plan["cost"]["fixed"].values()))


def test_plan_shows_the_zones_the_network_stack_uses(
        spec: Spec, capsys: pytest.CaptureFixture[str]) -> None:
    """By zone ID, the spec's own or the region's defaults for az_count: a plan that showed
    az_count while zone_ids named three zones would promise a different network."""
    from skyrelay.render_console import render_plan

    three = spec.model_copy(deep=True)
    assert three.aws is not None
    three.aws.regions["us-east-1"] = three.aws.regions["us-east-1"].model_copy(
        update={"zone_ids": ("use1-az1", "use1-az2", "use1-az4")})
    vpc = {r["region"]: r["vpc"] for r in build_plan(three)["aws"]}
    assert vpc["us-east-1"] == {"cidr": "10.10.0.0/16", "az_count": 3,
                                "zone_ids": ["use1-az1", "use1-az2", "use1-az4"]}
    assert vpc["eu-central-1"]["zone_ids"] == list(
        three.aws.regions["eu-central-1"].zones("eu-central-1"))
    render_plan(build_plan(three))
    assert "VPC 10.10.0.0/16 (use1-az1, use1-az2, use1-az4)" in capsys.readouterr().out
