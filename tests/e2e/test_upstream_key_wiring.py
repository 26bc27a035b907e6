"""The spec's ``openai_compatible[].api_key`` reaches the upstream (issue 23's production bug).

The stack's environment wiring (``stacks.gateway.reference_secrets``: the variables the ECS
task gets its secrets under) and the gateway's provider run together: the variables the
stack injects, with the values an operator stored, are all the gateway process has, and
the key-protected upstream must see its key. Before the fix the provider read
``SKYRELAY_OPENAI_KEY_<NAME>``, which nothing injects.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from skyrelay.gateway.config import GatewayConfig
from skyrelay.gateway.envnames import SECRETS_DIR_ENV, reference_env_name
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.registry import ProviderRegistry
from skyrelay.gateway.testing.upstreams import OpenAIUpstream
from skyrelay.spec import load_spec
from skyrelay.stacks.gateway import reference_secrets
from skyrelay.views.gateway_config import gateway_config

KEY_A, KEY_B = "sk-vllm-a-0123456789", "sk-vllm-b-9876543210"

SPEC = """
name: wiring
openai_compatible:
  - name: vllm-a
    base_url: {url_a}/v1
    api_key: {{env: VLLM_A_KEY}}
    processing: [any]
    models: [{{name: small, model: m-a, price: {{input_per_million: 0, output_per_million: 0}}}}]
  - name: vllm-b
    base_url: {url_b}/v1
    api_key: {{secret: acme/vllm-b}}
    processing: [any]
    models: [{{name: small, model: m-b, price: {{input_per_million: 0, output_per_million: 0}}}}]
routes:
  - name: a
    targets: [{{cloud: openai, endpoint: vllm-a, model: small}}]
  - name: b
    targets: [{{cloud: openai, endpoint: vllm-b, model: small}}]
tenants:
  - name: dev
    api_key: {{env: SKYRELAY_KEY_DEV}}
    routes: [a, b]
    classification: anywhere
    monthly_budget: 10
    requests_per_minute: 60
    tokens_per_minute: 100000
compliance:
  classifications:
    anywhere: {{allowed: [any]}}
gateway:
  regions: []
"""


def _chat(config: GatewayConfig, environ: dict[str, str], route: str) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        registry = ProviderRegistry(config, environ=environ)
        target = config.targets[config.routes[route].targets[0].key]
        try:
            loop = asyncio.get_running_loop()
            return await registry.for_target(target).chat(
                target, {"model": route, "messages": [{"role": "user", "content": "hi"}]},
                deadline=loop.time() + 10)
        finally:
            await registry.aclose()
    return asyncio.run(main())


@pytest.fixture
def wired(tmp_path: Path) -> Any:
    with OpenAIUpstream(api_key=KEY_A, max_lifetime=60) as a, \
            OpenAIUpstream(api_key=KEY_B, max_lifetime=60) as b:
        path = tmp_path / "spec.yaml"
        path.write_text(SPEC.format(url_a=a.url, url_b=b.url))
        spec = load_spec(path)
        config = GatewayConfig.from_dict(gateway_config(spec))
        yield spec, config, a, b


def test_the_variables_the_stack_injects_are_the_ones_the_provider_reads(wired: Any) -> None:
    spec, config, a, b = wired
    injected = reference_secrets(spec)  # env name -> Secrets Manager secret name
    assert injected["VLLM_A_KEY"] == "skyrelay/wiring/env/VLLM_A_KEY"
    assert injected[reference_env_name({"secret": "acme/vllm-b"})] == "acme/vllm-b"
    stored = {"skyrelay/wiring/env/VLLM_A_KEY": KEY_A, "acme/vllm-b": KEY_B}
    # what ECS gives the container: each injected variable holds its secret's value
    environ = {env: stored[secret] for env, secret in injected.items() if secret in stored}
    assert _chat(config, environ, "a")["choices"][0]["message"]["content"]
    assert _chat(config, environ, "b")["choices"][0]["message"]["content"]
    assert a.requests[-1]["headers"]["authorization"] == f"Bearer {KEY_A}"
    assert b.requests[-1]["headers"]["authorization"] == f"Bearer {KEY_B}"


def test_the_old_variable_name_does_not_stand_in_for_the_spec_reference(wired: Any) -> None:
    _, config, _, _ = wired
    with pytest.raises(ProviderError) as info:
        _chat(config, {"SKYRELAY_OPENAI_KEY_VLLM_A": KEY_A}, "a")
    assert info.value.kind == "auth"


def test_a_secret_reference_is_read_from_the_mounted_secrets_folder(wired: Any,
                                                                     tmp_path: Path) -> None:
    _, config, _, b = wired
    folder = tmp_path / "secrets"
    (folder / "acme").mkdir(parents=True)
    (folder / "acme" / "vllm-b").write_text(KEY_B + "\n")
    assert _chat(config, {SECRETS_DIR_ENV: str(folder)}, "b")["choices"]
    assert b.requests[-1]["headers"]["authorization"] == f"Bearer {KEY_B}"


def test_the_gateway_config_carries_the_reference_never_the_key(wired: Any) -> None:
    spec, _, _, _ = wired
    doc = gateway_config(spec)
    refs = {k: t.get("api_key") for k, t in doc["targets"].items()}
    assert refs == {"openai:vllm-a/small": {"env": "VLLM_A_KEY"},
                    "openai:vllm-b/small": {"secret": "acme/vllm-b"}}
    assert KEY_A not in str(doc) and KEY_B not in str(doc)
