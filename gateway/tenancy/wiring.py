"""Choose the tenancy parts from the environment: the state backend and the meter.

``SKYRELAY_REDIS_URL`` set (``redis://`` or ``rediss://``, password in the URL or in
``SKYRELAY_REDIS_PASSWORD``): limits and budgets live in Redis, shared by every replica.
Unset: in-process state, correct for one replica.

Example::

    hooks = build_hooks(os.environ)
    app = build_app(config, hooks=hooks, authenticator=HashedKeys(config))
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from skyrelay.gateway.envnames import REDIS_PASSWORD_ENV, REDIS_URL_ENV
from skyrelay.gateway.metering import Meter
from skyrelay.gateway.tenancy.hooks import TenancyHooks
from skyrelay.gateway.tenancy.state import MemoryState, StateBackend
from skyrelay.gateway.tenancy.state_redis import RedisState


def redis_url(environ: Mapping[str, str]) -> str | None:
    """The Redis URL with the password from its own variable (an ECS secret) folded in."""
    url = environ.get(REDIS_URL_ENV)
    if not url:
        return None
    password = environ.get(REDIS_PASSWORD_ENV)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"{REDIS_URL_ENV} must start with redis:// or rediss://")
    if password and not parts.password:
        netloc = f":{quote(password, safe='')}@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url


def build_state(environ: Mapping[str, str]) -> StateBackend:
    """Redis when configured, else in-process."""
    url = redis_url(environ)
    return RedisState(url) if url else MemoryState()


def build_hooks(environ: Mapping[str, str], meter: Meter | None = None) -> TenancyHooks:
    """Limits, budgets and metering for the gateway's request path."""
    return TenancyHooks(build_state(environ), meter if meter is not None else Meter())
