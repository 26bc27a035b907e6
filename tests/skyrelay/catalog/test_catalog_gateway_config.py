"""The derived gateway config carries each target's capabilities from the catalog, and the
gateway reads them from the config (it never imports the catalog at request time)."""

from __future__ import annotations

import json
from pathlib import Path

from skyrelay.gateway.config import GatewayConfig
from skyrelay.spec import load_spec
from skyrelay.views.gateway_config import gateway_config

ROOT = Path(__file__).resolve().parents[3]


def test_capabilities_travel_through_the_derived_config() -> None:
    cfg = gateway_config(load_spec(ROOT / "examples" / "platform.yaml"))
    nova = cfg["targets"]["bedrock:us-east-1/nova-pro"]["capabilities"]
    assert nova == {"document_input": True, "image_input": True, "streaming_tool_use": True,
                    "system_prompt": True, "tool_use": True}
    # Unknown flags are absent, not guessed (Claude Sonnet 4's tool rows were not confirmed).
    claude = cfg["targets"]["bedrock:us-east-1/claude-sonnet"]["capabilities"]
    assert "tool_use" not in claude and claude["image_input"] is True
    gw = GatewayConfig.from_dict(json.loads(json.dumps(cfg)))
    target = gw.targets["bedrock:us-east-1/nova-pro"]
    assert target.supports("tool_use") is True
    assert gw.targets["bedrock:us-east-1/claude-sonnet"].supports("tool_use") is None
    assert gw.targets["azure:acme-openai-swc/gpt-4o"].capabilities == {}


def test_config_without_capabilities_still_loads() -> None:
    cfg = gateway_config(load_spec(ROOT / "examples" / "minimal.yaml"))
    for t in cfg["targets"].values():
        del t["capabilities"]
    gw = GatewayConfig.from_dict(cfg)
    assert all(t.supports("tool_use") is None for t in gw.targets.values())


def test_the_gateway_never_imports_the_catalog() -> None:
    # Capabilities reach the gateway only through its config (DESIGN: the gateway reads the
    # derived config, never the catalog package at request time).
    gateway = ROOT / "gateway"
    offenders = [p for p in gateway.rglob("*.py")
                 if "skyrelay.catalog" in p.read_text() or "from skyrelay import catalog"
                 in p.read_text()]
    assert offenders == []
    assert any(gateway.rglob("*.py"))


def test_structured_output_follows_the_catalog_into_the_field_decision(tmp_path: Path) -> None:
    """response_format json_schema is translated (Converse outputConfig) for Claude Sonnet 4.5,
    which AWS lists for structured outputs, and refused for Claude Sonnet 4, which it does not:
    the catalog decides, through the derived config, at request time."""
    from skyrelay.gateway.hub import fields

    text = (ROOT / "examples" / "platform.yaml").read_text()
    newer = text.replace("model_id: us.anthropic.claude-sonnet-4-20250514-v1:0",
                         "model_id: us.anthropic.claude-sonnet-4-5-20250929-v1:0\n"
                         "          price: {input_per_million: 3.0, output_per_million: 15.0}", 1)
    assert newer != text
    (tmp_path / "platform.yaml").write_text(newer)
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object"}}}}
    for spec_path, decided in ((tmp_path / "platform.yaml", None),
                               (ROOT / "examples" / "platform.yaml", "response_format")):
        cfg = GatewayConfig.from_dict(json.loads(json.dumps(gateway_config(load_spec(spec_path)))))
        target = cfg.targets["bedrock:us-east-1/claude-sonnet"]
        refusal = fields.refusal("openai_chat", body, target)
        assert (refusal.param if refusal else None) == decided, spec_path
