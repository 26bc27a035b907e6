"""The optional parts of the gateway config: the Azure classic API, a route's content filter,
the deployed guardrail ids, and the config sized for its SSM parameter.

Each is read by the running gateway (``skyrelay.gateway.config.GatewayConfig``): an Azure
account set to the classic API but written as v1 gets 404 on every call; a route's content
filter that does not reach the gateway leaves that route's calls unfiltered (a compliance
promise broken silently); guardrail ids under another key make every filtered Bedrock call
fail closed; and a config sized without its guardrails passes ``validate`` and then does not
fit the parameter at deploy.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.providers.bedrock_guardrails import choose
from skyrelay.link import config_json
from skyrelay.spec import Spec, parse_spec_text
from skyrelay.views.gateway_config import gateway_config, sized_for_deploy, with_guardrails

BASE = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "examples" / "platform.yaml").read_text())
AZURE_KEY = "azure:acme-openai-swc/gpt-4o"


def spec_with(change: Any) -> Spec:
    doc = copy.deepcopy(BASE)
    change(doc)
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")


def classic(api_version: str | None) -> Spec:
    def change(doc: dict[str, Any]) -> None:
        account = doc["azure"]["accounts"][0]
        account["api"] = "classic"
        if api_version is not None:
            account["api_version"] = api_version
    return spec_with(change)


def test_a_classic_azure_account_reaches_the_gateway_with_its_api_version() -> None:
    """The gateway picks the request path from ``api`` and the query from ``api_version``."""
    cfg = gateway_config(classic("2025-04-01-preview"))
    for key, entry in cfg["targets"].items():
        if entry["cloud"] == "azure":
            assert (entry["api"], entry["api_version"]) == ("classic", "2025-04-01-preview"), key
    target = GatewayConfig.from_dict(cfg).targets[AZURE_KEY]
    assert (target.api, target.api_version) == ("classic", "2025-04-01-preview")
    # Bedrock targets of the same spec keep Converse: the setting is the Azure account's.
    assert "api" not in cfg["targets"]["bedrock:eu-central-1/claude-sonnet"]


def test_classic_without_a_version_leaves_the_gateway_default() -> None:
    """No api_version in the spec: none in the config, so the gateway's default applies
    (an empty value must not be sent as ``?api-version=``)."""
    entry = gateway_config(classic(None))["targets"][AZURE_KEY]
    assert entry["api"] == "classic" and "api_version" not in entry
    assert GatewayConfig.from_dict(gateway_config(classic(None))).targets[AZURE_KEY].api_version \
        == ""


def test_v1_accounts_add_nothing(default_spec: Spec) -> None:
    """v1 is the gateway's default: configs of specs that do not choose classic stay as
    they were (no field, so no config change and no task roll)."""
    for entry in gateway_config(default_spec)["targets"].values():
        assert "api" not in entry and "api_version" not in entry


def test_a_routes_content_filter_reaches_the_gateway(default_spec: Spec) -> None:
    """The gateway applies a route's filter to every caller of the route that has none of
    its own; lost in the config, those calls would run unfiltered."""
    def change(doc: dict[str, Any]) -> None:
        next(r for r in doc["routes"] if r["name"] == "chat-default")["content_filter"] = \
            "strict"
    cfg = gateway_config(spec_with(change), "us-east-1")
    assert cfg["routes"]["chat-default"]["content_filter"] == "strict"
    assert "content_filter" not in cfg["routes"]["gpt-4o"]
    chosen = choose(GatewayConfig.from_dict(cfg), tenant="research", route="chat-default")
    assert chosen is not None and chosen.filter == "strict"
    # Without the route's filter, the same tenant runs unfiltered there.
    plain = GatewayConfig.from_dict(gateway_config(default_spec, "us-east-1"))
    assert choose(plain, tenant="research", route="chat-default") is None


DEPLOYED = {"strict": {"eu-central-1": {"identifier": "a1b2c3d4e5f6", "version": "3",
                                        "definition": "0123456789ab"}}}


def test_deployed_guardrails_are_what_the_gateway_reads(default_spec: Spec) -> None:
    """The stack adds the deployed ids; the gateway's guardrail choice must find them."""
    cfg = with_guardrails(gateway_config(default_spec, "eu-central-1"), DEPLOYED)
    chosen = choose(GatewayConfig.from_dict(cfg), tenant="eu-support", route="chat-eu")
    assert chosen is not None and chosen.filter == "strict"
    assert dict(chosen.regions) == DEPLOYED["strict"]


def test_no_guardrails_leave_the_config_as_it_was(default_spec: Spec) -> None:
    """A region without guardrails stores the same config as before they existed (the
    config's hash labels the tasks: a new key would roll them for nothing), and the caller's
    dict is never changed in place."""
    cfg = gateway_config(default_spec, "us-east-1")
    before = copy.deepcopy(cfg)
    out = with_guardrails(cfg, {})
    assert out == before and "guardrails" not in out and out is not cfg
    with_guardrails(cfg, DEPLOYED)
    assert cfg == before


def test_sized_for_deploy_is_the_regional_config_with_room_for_its_guardrails(
        default_spec: Spec) -> None:
    """``validate`` sizes the SSM parameter with this: it must be the region's own config
    (only the targets that gateway calls) plus one guardrail entry per content filter, each
    at least as long as the ids the stack writes after the deploy; else a spec passes
    validate and its parameter overflows at deploy."""
    for region in ("us-east-1", "eu-central-1"):
        sized = sized_for_deploy(default_spec, region)
        regional = gateway_config(default_spec, region)
        assert {k: v for k, v in sized.items() if k != "guardrails"} == regional
        assert set(sized["guardrails"]) == {"strict"}
        assert set(sized["guardrails"]["strict"]) == {region}
        entry = sized["guardrails"]["strict"][region]
        assert set(entry) == {"identifier", "version", "definition"}
        # At least as long as a deployed entry with the longest version Bedrock allows (8
        # digits, https://docs.aws.amazon.com/bedrock/latest/APIReference/API_GuardrailConfiguration.html),
        # a 12-character id and the stack's 12-hex-digit definition digest.
        deployed = with_guardrails(regional, {"strict": {region: {
            "identifier": "a1b2c3d4e5f6", "version": "99999999",
            "definition": "0123456789ab"}}})
        assert len(config_json(sized)) >= len(config_json(deployed))
        assert json.loads(config_json(sized)) == sized


def _no_bedrock_in_eu(doc: dict[str, Any]) -> None:
    """eu-central-1 keeps its gateway (Azure targets) but declares no Bedrock model."""
    doc["aws"]["regions"]["eu-central-1"]["bedrock_models"] = []
    doc["routes"] = [r for r in doc["routes"] if r["name"] != "claude-sonnet"]
    for route in doc["routes"]:
        route["targets"] = [t for t in route["targets"] if t.get("region") != "eu-central-1"]
    for tenant in doc["tenants"]:
        tenant["routes"] = [r for r in tenant["routes"] if r != "claude-sonnet"]


def test_a_region_without_bedrock_models_gets_no_guardrails() -> None:
    """Guardrails are made only where Bedrock models run: the eu-central-1 gateway then calls
    only Azure (whose filter is its RAI policy) and stores no guardrail entry."""
    spec = spec_with(_no_bedrock_in_eu)
    sized = sized_for_deploy(spec, "eu-central-1")
    assert "guardrails" not in sized
    assert sized == gateway_config(spec, "eu-central-1")
    assert set(sized_for_deploy(spec, "us-east-1")["guardrails"]) == {"strict"}


def test_a_spec_without_content_filters_sizes_no_guardrails() -> None:
    def change(doc: dict[str, Any]) -> None:
        del doc["azure"]["content_filters"]
        del doc["azure"]["accounts"][0]["deployments"][0]["content_filter"]
        del doc["tenants"][2]["content_filter"]
    spec = spec_with(change)
    assert sized_for_deploy(spec, "us-east-1") == gateway_config(spec, "us-east-1")
