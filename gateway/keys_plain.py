"""Tenant keys straight from the spec's references, with no limits (until tenancy lands).

Each tenant's ``api_key`` in the spec is a reference, never a value:

- ``{env: VAR}``: the environment variable ``VAR`` holds the key;
- ``{secret: name}``: the file ``$SKYRELAY_SECRETS_DIR/<name>`` holds it when that folder
  is set (how ECS and Kubernetes mount secrets), else the environment variable
  ``SKYRELAY_SECRET_<NAME>`` does, with the name upper-cased and every character outside
  ``A-Z0-9`` turned into ``_`` (``skyrelay/tenants/web-app`` ->
  ``SKYRELAY_SECRET_SKYRELAY_TENANTS_WEB_APP``).

A tenant whose key cannot be found cannot authenticate; the gateway still starts (and says
which tenants are without a key in its log, by tenant name only). Only SHA-256 digests of
the keys are kept, compared with :func:`hmac.compare_digest`.

The interface is one method, ``authenticate(authorization, api_key) -> TenantConfig | None``
(see :class:`Authenticator`); the tenancy module's hashed-key authenticator replaces this one
in ``skyrelay.gateway.serve.build_authenticator``.

Example::

    keys = PlainKeys(config, environ={"WEB_APP_KEY": "sk-123"})
    keys.authenticate("Bearer sk-123", None)   # -> TenantConfig of the tenant
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from skyrelay.gateway.config import GatewayConfig, TenantConfig
from skyrelay.gateway.envnames import (  # noqa: F401 - re-exported for callers
    SECRET_ENV_PREFIX,
    SECRETS_DIR_ENV,
    resolve_reference,
    secret_env_name,
)

log = logging.getLogger("skyrelay.gateway.keys")

#: Keys longer than this are refused before hashing (no tenant key is this long).
MAX_KEY_LENGTH = 512


class Authenticator(Protocol):
    """Turns the request's credentials into a tenant, or None for 401."""

    def authenticate(self, authorization: str | None,
                     api_key: str | None) -> TenantConfig | None:
        """``authorization`` is the raw ``Authorization`` header, ``api_key`` the ``api-key``."""
        ...


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key a request presents: a Bearer token, else the ``api-key`` header."""
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    if api_key and api_key.strip():
        return api_key.strip()
    return None


class PlainKeys:
    """The stand-in authenticator: keys resolved once from the spec's references."""

    def __init__(self, config: GatewayConfig, environ: Mapping[str, str] | None = None,
                 secrets_dir: Path | None = None) -> None:
        env = os.environ if environ is None else environ
        if secrets_dir is None and env.get(SECRETS_DIR_ENV):
            secrets_dir = Path(env[SECRETS_DIR_ENV])
        self._by_digest: dict[bytes, TenantConfig] = {}
        self.missing: list[str] = []
        for tenant in config.tenants.values():
            key = resolve_reference(tenant.api_key, env, secrets_dir)
            if key is None:
                self.missing.append(tenant.name)
                continue
            digest = hashlib.sha256(key.encode()).digest()
            if digest in self._by_digest:
                raise ValueError(f"tenants '{self._by_digest[digest].name}' and "
                                 f"'{tenant.name}' resolve to the same API key")
            self._by_digest[digest] = tenant
        if self.missing:
            log.warning("no API key available for tenant(s) %s: they cannot authenticate "
                        "(see skyrelay.gateway.keys_plain for where keys are read)",
                        ", ".join(sorted(self.missing)))

    def authenticate(self, authorization: str | None,
                     api_key: str | None) -> TenantConfig | None:
        """The tenant holding the presented key, or None."""
        key = presented_key(authorization, api_key)
        if key is None or len(key) > MAX_KEY_LENGTH:
            return None
        digest = hashlib.sha256(key.encode()).digest()
        found = None
        # Constant-time over the (few) tenants: no early exit that would time the match.
        for stored, tenant in self._by_digest.items():
            if hmac.compare_digest(stored, digest):
                found = tenant
        return found
