"""Fixtures for the provider tests: local wire-format upstreams on loopback, targets."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.testing.upstreams import OpenAIUpstream

OPENAI_TEST_KEY = "sk-upstream-test"


@pytest.fixture
def openai_upstream() -> Iterator[OpenAIUpstream]:
    """An OpenAI/Azure upstream requiring ``OPENAI_TEST_KEY``; stops at teardown (or 60 s)."""
    with OpenAIUpstream(api_key=OPENAI_TEST_KEY, max_lifetime=60.0) as upstream:
        yield upstream


@pytest.fixture
def oc_target(openai_upstream: OpenAIUpstream) -> Callable[..., TargetConfig]:
    """Build a target served by ``openai_upstream``: ``oc_target("azure", model="dep")``
    (Azure targets use the classic api-version paths unless ``api="v1"``)."""

    def make(cloud: str = "openai", *, model: str = "gpt-test", account: str = "local",
             kind: str = "chat", key: str | None = None,
             api: str = "classic") -> TargetConfig:
        base = openai_upstream.url + ("/" if cloud == "azure" else "/v1")
        return TargetConfig(key=key or f"{cloud}-{model}", cloud=cloud, kind=kind,
                            region="swedencentral" if cloud == "azure" else "",
                            model=model, endpoint=base, price=TargetPrice(1.0, 2.0),
                            processing=frozenset({"*"}), account=account,
                            api=api if cloud == "azure" else "")

    return make
