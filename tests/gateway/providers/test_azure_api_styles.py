"""Azure's v1 data-plane API by default, the classic api-version path per account, and the
spec's ``endpoint_url`` overrides, from the spec down to the request the upstream sees."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.testing.upstreams import OpenAIUpstream
from skyrelay.spec import load_spec
from skyrelay.spec.models import AzureAccount, BedrockModel
from skyrelay.views.gateway_config import gateway_config

REPO = Path(__file__).resolve().parents[3]
MSG = [{"role": "user", "content": "hi"}]


def _spec(tmp_path: Path, url: str, account_extra: str) -> GatewayConfig:
    text = (REPO / "examples" / "local-clouds.yaml").read_text()
    text = text.replace("http://127.0.0.1:9100", url)
    text = text.replace("      endpoint_url: " + url + "/",
                        "      endpoint_url: " + url + "/" + account_extra, 1)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return GatewayConfig.from_dict(gateway_config(load_spec(path)))


def _call(config: GatewayConfig, key: str, environ: dict[str, str], op: str = "chat") -> Any:
    async def main() -> Any:
        registry = ProviderRegistry(config, environ=environ)
        target = config.targets[key]
        provider = registry.for_target(target)
        deadline = asyncio.get_running_loop().time() + 10
        try:
            if op == "chat":
                return await provider.chat(target, {"model": "x", "messages": MSG},
                                           deadline=deadline)
            return await provider.embeddings(target, {"model": "x", "input": "a"},
                                             deadline=deadline)
        finally:
            await registry.aclose()
    return asyncio.run(main())


ENV = {"SKYRELAY_AZURE_KEY_LOCAL_AOAI": "k-az"}


def test_v1_is_the_default(tmp_path: Path) -> None:
    with OpenAIUpstream(api_key="k-az", max_lifetime=30) as up:
        config = _spec(tmp_path, up.url, "")
        target = config.targets["azure:local-aoai/gpt"]
        assert target.endpoint == up.url + "/" and target.api == ""
        assert _call(config, target.key, ENV)["choices"]
        sent = up.requests[-1]
        assert sent["path"] == "/openai/v1/chat/completions" and sent["query"] == {}
        assert orjson.loads(sent["body"])["model"] == "gpt"  # the deployment, in the body
        assert sent["headers"]["api-key"] == "k-az"


def test_classic_is_selectable_per_account_with_its_api_version(tmp_path: Path) -> None:
    with OpenAIUpstream(api_key="k-az", max_lifetime=30) as up:
        config = _spec(tmp_path, up.url,
                       "\n      api: classic\n      api_version: 2025-04-01-preview")
        target = config.targets["azure:local-aoai/gpt"]
        assert (target.api, target.api_version) == ("classic", "2025-04-01-preview")
        assert _call(config, target.key, ENV)["choices"]
        sent = up.requests[-1]
        assert sent["path"] == "/openai/deployments/gpt/chat/completions"
        assert sent["query"] == {"api-version": "2025-04-01-preview"}


def test_endpoint_url_overrides_and_their_checks() -> None:
    base = {"name": "m", "model_id": "amazon.nova-pro-v1:0"}
    assert BedrockModel(**base, endpoint_url="https://vpce-1.bedrock-runtime.us-east-1."
                        "vpce.amazonaws.com").endpoint_url
    with pytest.raises(ValidationError, match="use https://"):
        BedrockModel(**base, endpoint_url="http://bedrock.example.com")
    with pytest.raises(ValidationError):
        BedrockModel(**base, endpoint_url="https://user:pw@host")
    dep = {"name": "gpt", "model": "gpt-5.5", "version": "2026-04-24",
           "sku": "DataZoneStandard", "capacity": 1}
    with pytest.raises(ValidationError, match="api: classic only"):
        AzureAccount(name="acct", location="swedencentral", deployments=[dep],
                     api_version="2024-10-21")
