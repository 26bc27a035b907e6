"""``gateway.tracing``: OpenTelemetry traces off by default, ``otlp`` to an endpoint, or
``adot-xray`` (the collector sidecar on AWS); the choice reaches the gateway through the
derived config, and the gateway's settings read it back."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.envnames import SIDECAR_TRACES_ENDPOINT
from skyrelay.gateway.telemetry.settings import resolve
from skyrelay.spec import SpecError, parse_spec_text
from skyrelay.views.gateway_config import gateway_config

BASE = yaml.safe_load((Path(__file__).resolve().parents[3] / "examples" / "platform.yaml")
                      .read_text())


def load(tracing: dict[str, Any] | None, log_prompts: bool = False) -> Any:
    doc = copy.deepcopy(BASE)
    doc["gateway"].pop("tracing", None)
    if tracing is not None:
        doc["gateway"]["tracing"] = tracing
    doc["gateway"]["log_prompts"] = log_prompts
    return parse_spec_text(yaml.safe_dump(doc, sort_keys=False), "spec.yaml")


def issues(tracing: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        load(tracing)
    return [(i.dotted, i.message) for i in info.value.issues]


def test_off_by_default_and_absent_from_the_derived_config() -> None:
    spec = load(None)
    assert spec.gateway.tracing.exporter == "off"
    cfg = gateway_config(spec, "us-east-1")
    assert "tracing" not in cfg  # unchanged configs (and deployed SSM parameters) while off
    assert GatewayConfig.from_dict(cfg).tracing.exporter == "off"
    assert resolve(GatewayConfig.from_dict(cfg).tracing.as_dict(), {}) is None


def test_otlp_reaches_the_gateway_with_endpoint_ratio_and_log_prompts() -> None:
    spec = load({"exporter": "otlp", "endpoint": "https://otel.example.internal/v1/traces",
                 "sample_ratio": 0.1}, log_prompts=True)
    cfg = gateway_config(spec, "us-east-1")
    assert cfg["tracing"] == {"exporter": "otlp",
                              "endpoint": "https://otel.example.internal/v1/traces",
                              "sample_ratio": 0.1}
    gw = GatewayConfig.from_dict(cfg)
    settings = resolve(gw.tracing.as_dict(), {}, log_prompts=gw.log_prompts)
    assert settings is not None
    assert (settings.endpoint, settings.sample_ratio, settings.log_prompts) == (
        "https://otel.example.internal/v1/traces", 0.1, True)


def test_adot_xray_sends_to_the_sidecar_in_the_task() -> None:
    cfg = gateway_config(load({"exporter": "adot-xray"}), "us-east-1")
    assert cfg["tracing"]["endpoint"] == SIDECAR_TRACES_ENDPOINT == \
        "http://127.0.0.1:4318/v1/traces"
    settings = resolve(GatewayConfig.from_dict(cfg).tracing.as_dict(), {})
    assert settings is not None and settings.endpoint == SIDECAR_TRACES_ENDPOINT


@pytest.mark.parametrize(("tracing", "field", "says"), [
    ({"exporter": "adot-xray", "endpoint": "http://c:4318/v1/traces"}, "gateway.tracing",
     "endpoint applies only to exporter: otlp"),
    ({"exporter": "off", "endpoint": "http://c:4318/v1/traces"}, "gateway.tracing",
     "endpoint applies only to exporter: otlp"),
    ({"exporter": "otlp", "endpoint": "collector:4318"}, "gateway.tracing.endpoint",
     "is not an http(s) URL"),
    ({"exporter": "otlp", "sample_ratio": 1.5}, "gateway.tracing.sample_ratio", "1"),
    ({"exporter": "zipkin"}, "gateway.tracing.exporter", "otlp"),
])
def test_mistakes_name_their_field(tracing: dict[str, Any], field: str, says: str) -> None:
    found = issues(tracing)
    assert len(found) == 1, found
    assert found[0][0] == field and says in found[0][1]
