"""Tenant API keys: issued once, stored only as salted hashes, checked in constant time.

A key looks like ``sk-sr-<keyid>-<secret>``: ``keyid`` is 12 hex characters (public, used
to find the stored hash in O(1)), ``secret`` is 256 random bits in URL-safe base64. What is
stored (in the environment variable or secret the tenant's ``api_key`` reference names) is
``sha256$<keyid>$<salt>$<hex digest of salt + key>``.

A fast salted hash is the right tool here, not a slow password KDF: the secret has 256
bits of entropy, so guessing it is infeasible however fast the hash is, and a per-request
scrypt or bcrypt would cost milliseconds on every call. The salt keeps equal keys from
having equal hashes across deployments.

Where the stored hash is read from follows :mod:`skyrelay.gateway.keys_plain`: ``{env: VAR}``
reads ``VAR``; ``{secret: name}`` reads ``$SKYRELAY_SECRETS_DIR/<name>`` or, without that
folder, ``SKYRELAY_SECRET_<NAME>`` (how ECS injects a Secrets Manager secret).

Example::

    key, stored = new_key()
    keys = HashedKeys(config, environ={"KEY_APP": stored})
    keys.authenticate(f"Bearer {key}", None)   # -> the tenant
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from skyrelay.gateway.config import GatewayConfig, TenantConfig
from skyrelay.gateway.keys_plain import MAX_KEY_LENGTH, SECRETS_DIR_ENV, secret_env_name

log = logging.getLogger("skyrelay.gateway.keys")

KEY_PREFIX = "sk-sr-"
_KEY = re.compile(r"^sk-sr-([0-9a-f]{12})-([A-Za-z0-9_-]{43})$")
_STORED = re.compile(r"^sha256\$([0-9a-f]{12})\$([0-9a-f]{32})\$([0-9a-f]{64})$")


def _digest(salt: str, key: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and the hash string to store for it."""
    key_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    key = f"{KEY_PREFIX}{key_id}-{secret}"
    salt = secrets.token_hex(16)
    return key, f"sha256${key_id}${salt}${_digest(salt, key)}"


def parse_stored(stored: str) -> tuple[str, str, str] | None:
    """``(key_id, salt, digest)`` of a stored hash string, or None if malformed."""
    match = _STORED.match(stored.strip())
    return match.groups() if match else None  # type: ignore[return-value]


def _bearer(authorization: str | None, api_key: str | None) -> str | None:
    if api_key:
        return api_key.strip()
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


class HashedKeys:
    """Authenticator over salted key hashes (see the module docstring)."""

    def __init__(self, config: GatewayConfig, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self._by_id: dict[str, tuple[str, str, TenantConfig]] = {}
        self.missing: list[str] = []
        for tenant in config.tenants.values():
            stored = _read_reference(tenant.api_key, env)
            parsed = parse_stored(stored) if stored else None
            if parsed is None:
                self.missing.append(tenant.name)
                continue
            key_id, salt, digest = parsed
            self._by_id[key_id] = (salt, digest, tenant)
        if self.missing:
            log.warning("tenants without a usable key hash (cannot authenticate): %s",
                        ", ".join(sorted(self.missing)))

    def authenticate(self, authorization: str | None,
                     api_key: str | None) -> TenantConfig | None:
        """The tenant whose key this is, or None (never says why: no oracle)."""
        key = _bearer(authorization, api_key)
        if not key or len(key) > MAX_KEY_LENGTH:
            return None
        match = _KEY.match(key)
        if not match:
            return None
        entry = self._by_id.get(match.group(1))
        if entry is None:
            return None
        salt, digest, tenant = entry
        return tenant if hmac.compare_digest(_digest(salt, key), digest) else None


def _read_reference(ref: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    if "env" in ref:
        return env.get(ref["env"])
    name = ref.get("secret")
    if not name:
        return None
    folder = env.get(SECRETS_DIR_ENV)
    if folder:
        path = Path(folder) / name
        try:
            return path.read_text().strip()
        except OSError:
            return None
    return env.get(secret_env_name(name))
