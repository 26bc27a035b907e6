"""The gateway residency rules SKY-GW-001/002 (``skyrelay.policies.gateway_rules``).

SKY-GW-001 is the promise that every route a tenant was given can serve it; SKY-GW-002
lists the targets a tenant's requests will always skip. A rule that judged by overlap, or
that took a missing processing list for "nowhere", would pass a config that sends EU data
to a global deployment.
"""

from __future__ import annotations

import copy
from typing import Any

from skyrelay.policies.gateway_rules import check_gateway_config
from skyrelay.spec import Spec
from skyrelay.views.gateway_config import gateway_config

EU = ["aws:eu-central-1", "azure:swedencentral"]


def cfg(tenants: dict[str, Any], targets: dict[str, Any] | None = None,
        routes: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "classifications": {"eu": {"processing_allowed": EU},
                            "public": {"processing_allowed": ["*"]}},
        "targets": targets if targets is not None else {
            "fra": {"processing": ["aws:eu-central-1"]},
            "both": {"processing": ["aws:eu-central-1", "aws:us-east-1"]},
            "global": {"processing": ["*"]},
            "unknown": {}},
        "routes": routes if routes is not None else {
            "mixed": {"targets": [{"key": "fra"}, {"key": "both"}, {"key": "global"}]},
            "us": {"targets": [{"key": "both"}, {"key": "global"}]},
            "bare": {"targets": [{"key": "unknown"}]},
            "ghost": {"targets": [{"key": "nobody"}]},
            "empty": {"targets": []}},
        "tenants": tenants,
    }


def found(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(v.rule, v.resource, v.message) for v in check_gateway_config(config)]


def test_the_default_spec_keeps_every_promise(default_spec: Spec) -> None:
    violations = check_gateway_config(gateway_config(default_spec))
    assert not [v for v in violations if v.rule == "SKY-GW-001"]
    # Internal data skips the global gpt-4o-mini; EU-only data skips the US Claude profile
    # and the US Titan embeddings.
    assert [(v.rule, v.resource, v.message) for v in violations] == [
        ("SKY-GW-002", "tenant web-app / route chat-default",
         "targets skipped for 'internal' data: azure:acme-openai-swc/gpt-4o-mini"),
        ("SKY-GW-002", "tenant eu-support / route claude-sonnet",
         "targets skipped for 'eu-personal' data: bedrock:us-east-1/claude-sonnet"),
        ("SKY-GW-002", "tenant eu-support / route text-embedding",
         "targets skipped for 'eu-personal' data: bedrock:us-east-1/titan-embed")]


def test_a_route_with_only_overlapping_targets_serves_no_eu_data() -> None:
    assert found(cfg({"acme": {"classification": "eu", "routes": ["us"]}})) == [
        ("SKY-GW-001", "tenant acme / route us",
         "no target may process 'eu' data (both, global)")]


def test_skipped_targets_are_listed_in_route_order() -> None:
    assert found(cfg({"acme": {"classification": "eu", "routes": ["mixed"]}})) == [
        ("SKY-GW-002", "tenant acme / route mixed", "targets skipped for 'eu' data: both, global")]


def test_unrestricted_data_may_use_every_known_target() -> None:
    assert found(cfg({"pub": {"classification": "public", "routes": ["mixed", "us"]}})) == []


def test_a_target_without_processing_counts_as_anywhere() -> None:
    assert found(cfg({"acme": {"classification": "eu", "routes": ["bare"]}})) == [
        ("SKY-GW-001", "tenant acme / route bare", "no target may process 'eu' data (unknown)")]
    assert found(cfg({"pub": {"classification": "public", "routes": ["bare"]}})) == []


def test_unknown_targets_and_empty_routes_serve_nobody() -> None:
    assert found(cfg({"pub": {"classification": "public", "routes": ["ghost", "empty"]}})) == [
        ("SKY-GW-001", "tenant pub / route ghost", "no target may process 'public' data (nobody)"),
        ("SKY-GW-001", "tenant pub / route empty",
         "no target may process 'public' data (no targets)")]


def test_an_unknown_route_name_is_a_route_without_targets() -> None:
    assert found(cfg({"pub": {"classification": "public", "routes": ["nope"]}})) == [
        ("SKY-GW-001", "tenant pub / route nope", "no target may process 'public' data "
         "(no targets)")]


def test_undefined_classification_is_reported_once_per_tenant() -> None:
    assert found(cfg({"x": {"classification": "secret", "routes": ["mixed", "us"]},
                      "y": {"classification": "eu", "routes": ["us"]}})) == [
        ("SKY-GW-001", "tenant x", "classification 'secret' is not defined"),
        ("SKY-GW-001", "tenant y / route us", "no target may process 'eu' data (both, global)")]


def test_a_classification_without_processing_allows_nothing() -> None:
    config = cfg({"acme": {"classification": "eu", "routes": ["mixed"]}})
    config["classifications"]["eu"] = {}
    assert found(config)[0][:2] == ("SKY-GW-001", "tenant acme / route mixed")


def test_every_tenant_and_route_is_judged() -> None:
    config = cfg({"a": {"classification": "eu", "routes": ["us", "mixed"]},
                  "b": {"classification": "eu", "routes": ["us"]}})
    assert [(r, w) for r, w, _ in found(config)] == [
        ("SKY-GW-001", "tenant a / route us"), ("SKY-GW-002", "tenant a / route mixed"),
        ("SKY-GW-001", "tenant b / route us")]


def test_empty_or_missing_sections_are_no_violation() -> None:
    assert check_gateway_config({}) == []
    config = cfg({"t": {"classification": "public"}})
    assert found(copy.deepcopy(config)) == []
