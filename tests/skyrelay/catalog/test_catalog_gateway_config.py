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
