"""Microsoft Entra bearer tokens for Azure OpenAI targets that have no api key.

Example::

    tokens = EntraTokenCache()              # DefaultAzureCredential, built on first use
    bearer = await tokens.token(deadline)   # cached until 5 minutes before it expires
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from skyrelay.gateway.providers.base import ProviderError

#: The Entra scope of Azure OpenAI / Cognitive Services.
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"

CredentialFactory = Callable[[], Any]


def _default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


class EntraTokenCache:
    """Microsoft Entra bearer tokens for Azure OpenAI, cached and refreshed before expiry.

    ``credential_factory`` builds an azure-identity (sync) credential, by default
    ``DefaultAzureCredential()`` (managed identity, workload identity, environment, CLI).
    Building it and ``get_token`` run in a worker thread, never on the event loop; one
    refresh at a time (concurrent callers wait for it). A token is refreshed once it has
    less than ``refresh_margin`` seconds left.

    Example::

        tokens = EntraTokenCache(lambda: ManagedIdentityCredential(), refresh_margin=60)
    """

    def __init__(self, credential_factory: CredentialFactory | None = None, *,
                 scope: str = AZURE_SCOPE, refresh_margin: float = 300.0) -> None:
        self.credential_factory = credential_factory or _default_credential
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._credential: Any = None
        self._token = ""
        self._expires_on = 0.0
        self._lock: asyncio.Lock | None = None

    def _fresh(self) -> bool:
        return bool(self._token) and self._expires_on - self.refresh_margin > time.time()

    async def token(self, deadline: float) -> str:
        """A valid access token (fetched if needed before ``deadline``, loop time)."""
        if self._fresh():
            return self._token
        if self._lock is None:
            self._lock = asyncio.Lock()
        try:
            async with asyncio.timeout_at(deadline), self._lock:
                if self._fresh():
                    return self._token
                if self._credential is None:
                    self._credential = await asyncio.to_thread(self.credential_factory)
                access = await asyncio.to_thread(self._credential.get_token, self.scope)
        except TimeoutError:
            raise ProviderError("timeout", 504, "no Microsoft Entra token before the deadline",
                                retryable=True) from None
        except ImportError as err:
            raise ProviderError("auth", 401, f"azure-identity is not installed ({err}); set "
                                "an api key instead", retryable=True) from None
        except Exception as err:  # azure-identity raises many types; all mean "no token"
            raise ProviderError("auth", 401, "could not get a Microsoft Entra token: "
                                f"{type(err).__name__}: {str(err)[:300]}",
                                retryable=True) from None
        self._token, self._expires_on = access.token, float(access.expires_on)
        return self._token

    async def aclose(self) -> None:
        """Close the credential (its HTTP pipeline), off the loop."""
        credential, self._credential = self._credential, None
        close = getattr(credential, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
