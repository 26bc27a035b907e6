"""Bedrock models served through bedrock-runtime's OpenAI-compatible endpoint (``api: openai``).

The spec chooses the API and the auth per Bedrock model; the derived gateway config must
carry both, and the variable the gateway reads the Bedrock API key from must be the one the
gateway stack fills from the key's secret: a name that differs on either side is a target
that fails only after deploy (the openai_compatible key bug of issue 23).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from skyrelay.gateway.envnames import reference_env_name
from skyrelay.spec import Spec
from skyrelay.spec.loader import SpecError, parse_spec_text
from skyrelay.stacks.gateway import reference_secrets
from skyrelay.views.gateway_config import gateway_config

ROOT = Path(__file__).resolve().parents[3]


def spec_with(model: dict[str, object]) -> Spec:
    """The default spec with ``model`` added to us-east-1 and a route ``oss`` to it (and to
    an Azure deployment every gateway region reaches)."""
    data = yaml.safe_load((ROOT / "examples" / "platform.yaml").read_text())
    price = {"input_per_million": 0.15, "output_per_million": 0.6}
    data["aws"]["regions"]["us-east-1"]["bedrock_models"].append({"price": price, **model})
    # The Azure deployment as a second target: the eu-central-1 gateway may not call
    # us-east-1's Bedrock, and validate refuses a route it could not serve at all.
    data["routes"].append({"name": "oss", "targets": [
        {"cloud": "bedrock", "region": "us-east-1", "model": model["name"]},
        {"cloud": "azure", "account": "acme-openai-swc", "deployment": "gpt-4o-mini"}]})
    return parse_spec_text(yaml.safe_dump(data), "platform.yaml")


def test_converse_is_the_default_and_adds_nothing_to_the_config(default_spec: Spec) -> None:
    cfg = gateway_config(default_spec)
    for key, entry in cfg["targets"].items():
        if entry["cloud"] == "bedrock":
            assert "api" not in entry and "api_key" not in entry, key


def test_sigv4_openai_endpoint_target() -> None:
    spec = spec_with({"name": "gpt-oss", "model_id": "openai.gpt-oss-120b-1:0",
                      "api": "openai"})
    entry = gateway_config(spec)["targets"]["bedrock:us-east-1/gpt-oss"]
    assert entry["api"] == "openai"
    assert "api_key" not in entry  # the task role signs (SigV4)
    assert entry["endpoint"] == "https://bedrock-runtime.us-east-1.amazonaws.com"


def test_api_key_variable_is_the_one_the_stack_injects() -> None:
    spec = spec_with({"name": "gpt-oss", "model_id": "openai.gpt-oss-120b-1:0",
                      "api": "openai", "api_key": {"secret": "acme/bedrock-key"}})
    entry = gateway_config(spec)["targets"]["bedrock:us-east-1/gpt-oss"]
    assert entry["api_key"] == {"secret": "acme/bedrock-key"}  # a reference, not the key
    injected = reference_secrets(spec)
    # the variable the stack fills is the one the provider reads the reference from
    assert injected[reference_env_name(entry["api_key"])] == "acme/bedrock-key"


def test_stack_wiring_and_provider_agree_on_the_key(tmp_path: Path) -> None:
    """The stack's environment for the reference, given to the provider, reaches Bedrock."""
    import asyncio

    from skyrelay.gateway.config import GatewayConfig
    from skyrelay.gateway.providers.bedrock_openai import BedrockOpenAIProvider
    from skyrelay.gateway.providers.http import HttpClient
    from skyrelay.gateway.testing.bedrock_openai_upstream import BedrockOpenAIUpstream

    spec = spec_with({"name": "gpt-oss", "model_id": "openai.gpt-oss-120b-1:0",
                      "api": "openai", "api_key": {"secret": "acme/bedrock-key"}})
    cfg = gateway_config(spec)
    environ = {var: "bedrock-key-from-secrets-manager" for var in reference_secrets(spec)}
    with BedrockOpenAIUpstream(api_key="bedrock-key-from-secrets-manager") as up:
        cfg["targets"]["bedrock:us-east-1/gpt-oss"]["endpoint"] = up.url
        target = GatewayConfig.from_dict(cfg).targets["bedrock:us-east-1/gpt-oss"]

        async def call() -> dict[str, object]:
            http = HttpClient()
            try:
                return await BedrockOpenAIProvider(http, environ=environ).chat(
                    target, {"messages": [{"role": "user", "content": "hi"}]},
                    deadline=asyncio.get_running_loop().time() + 5)
            finally:
                await http.aclose()
        answer = asyncio.run(call())
        assert up.auth == ["Bearer"]
    assert answer["object"] == "chat.completion"


def test_api_key_from_an_env_reference_keeps_its_name() -> None:
    spec = spec_with({"name": "gpt-oss", "model_id": "openai.gpt-oss-20b-1:0",
                      "api": "openai", "api_key": {"env": "BEDROCK_KEY_US"}})
    entry = gateway_config(spec)["targets"]["bedrock:us-east-1/gpt-oss"]
    assert entry["api_key"] == {"env": "BEDROCK_KEY_US"}
    assert "BEDROCK_KEY_US" in reference_secrets(spec)


@pytest.mark.parametrize(("model", "words"), [
    ({"api": "converse", "api_key": {"env": "K"}}, "needs api: openai"),
    ({"api_key": {"env": "K"}}, "needs api: openai"),
    ({"api": "openai", "kind": "embedding"}, "chat models only"),
    ({"api": "chat"}, "converse"),
])
def test_bad_combinations_are_refused_naming_the_field(model: dict[str, object],
                                                        words: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec_with({"name": "gpt-oss", "model_id": "openai.gpt-oss-120b-1:0", **model})
    text = str(caught.value)
    assert words in text
    assert "bedrock_models" in text
