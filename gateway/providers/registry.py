"""Which :class:`~skyrelay.gateway.providers.base.Provider` serves a target.

``azure`` and ``openai`` targets share one :class:`OpenAICompatProvider` (one connection
pool); ``bedrock`` targets go to ``BedrockProvider`` from
``skyrelay.gateway.providers.bedrock``, imported on first use so that a missing or broken
Bedrock module fails only Bedrock targets (as a ``connection`` :class:`ProviderError` the
router falls back from), never the gateway's start-up.

Example::

    registry = ProviderRegistry(config)
    provider = registry.for_target(config.targets["azure-gpt4o"])
    ...
    await registry.aclose()
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from skyrelay.gateway.config import GatewayConfig, TargetConfig
from skyrelay.gateway.envnames import AZURE_API_VERSION_ENV
from skyrelay.gateway.providers.base import Provider, ProviderError
from skyrelay.gateway.providers.http import HttpClient
from skyrelay.gateway.providers.openai_compat import (
    DEFAULT_AZURE_API_VERSION,
    EntraTokenCache,
    OpenAICompatProvider,
)

log = logging.getLogger("skyrelay.gateway.providers")



class ProviderRegistry:
    """Long-lived providers per cloud, created on first use; :meth:`aclose` closes them.

    ``config`` is accepted for symmetry with the server's ``build_providers`` (and checked
    for unknown clouds up front); ``http`` is the shared pool, ``environ`` where keys and
    ``SKYRELAY_AZURE_API_VERSION`` are read, ``tokens`` the Entra token cache.
    """

    def __init__(self, config: GatewayConfig | None = None, *, http: HttpClient | None = None,
                 environ: Mapping[str, str] | None = None,
                 azure_api_version: str | None = None,
                 tokens: EntraTokenCache | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.http = http or HttpClient()
        version = (azure_api_version or self.environ.get(AZURE_API_VERSION_ENV)
                   or DEFAULT_AZURE_API_VERSION)
        self._openai = OpenAICompatProvider(self.http, azure_api_version=version,
                                            environ=self.environ, tokens=tokens)
        self._bedrock: Any = None
        self._bedrock_openai: Any = None  # bedrock-runtime's /openai/v1 (api: openai)
        if config is not None:
            unknown = sorted({t.cloud for t in config.targets.values()}
                             - {"azure", "openai", "bedrock"})
            if unknown:
                raise ValueError(f"no provider for cloud(s) {', '.join(unknown)}")

    def for_target(self, target: TargetConfig) -> Provider:
        """The provider for ``target`` (raises ProviderError if it cannot be had)."""
        cloud = target.cloud
        if cloud in ("azure", "openai"):
            return self._openai
        if cloud == "bedrock" and target.api == "openai":
            if self._bedrock_openai is None:
                from skyrelay.gateway.providers.bedrock_openai import BedrockOpenAIProvider
                self._bedrock_openai = BedrockOpenAIProvider(self.http, environ=self.environ)
            return self._bedrock_openai
        if cloud == "bedrock":
            if self._bedrock is None:
                self._bedrock = self._make_bedrock()
            return self._bedrock
        raise ProviderError("bad_request", 400, f"{target.key}: no provider for cloud "
                            f"{cloud!r}")

    def _make_bedrock(self) -> Any:
        try:
            from skyrelay.gateway.providers.bedrock import BedrockProvider
        except Exception as err:  # ImportError, or a bug at import time: fail Bedrock only
            log.error("the Bedrock provider cannot be loaded: %s: %s", type(err).__name__, err)
            raise ProviderError("connection", 502, "the Bedrock provider is not available "
                                f"({type(err).__name__}: {err})", retryable=True) from None
        return BedrockProvider(self.http)

    async def aclose(self) -> None:
        """Close every provider created (each failure logged, none raised)."""
        providers: list[Any] = [self._openai]
        providers += [p for p in (self._bedrock, self._bedrock_openai) if p is not None]
        for provider in providers:
            try:
                await provider.aclose()
            except Exception:
                log.exception("closing provider %s failed", type(provider).__name__)
