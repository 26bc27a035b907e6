"""OpenAI's rate-limit headers from the tenant's limits.

``x-ratelimit-limit-requests`` / ``-tokens`` are the tenant's per-minute limits;
``x-ratelimit-remaining-*`` what is left in the sliding minute after this request, and
``x-ratelimit-reset-*`` when the window has rolled over, in OpenAI's duration format
(``"1s"``, ``"6m0s"``, ``"20ms"``), when the tenancy hooks counted the request (without
them only the limits are known and sent).

Example::

    ratelimit_headers(tenant, (used_requests, used_tokens, reset_seconds))
"""

from __future__ import annotations

from skyrelay.gateway.config import TenantConfig

Headers = list[tuple[bytes, bytes]]


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``"850ms"``, ``"12s"``, ``"1m5s"``.

    >>> duration(65.2)
    '1m5s'
    """
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def ratelimit_headers(tenant: TenantConfig,
                      counts: tuple[int, int, float] | None) -> Headers:
    """The ``x-ratelimit-*`` headers for one response of ``tenant``."""
    rpm, tpm = tenant.requests_per_minute, tenant.tokens_per_minute
    out = [(b"x-ratelimit-limit-requests", str(rpm).encode()),
           (b"x-ratelimit-limit-tokens", str(tpm).encode())]
    if counts is not None:
        used_requests, used_tokens, reset = counts
        reset_text = duration(reset).encode()
        out += [(b"x-ratelimit-remaining-requests", str(max(0, rpm - used_requests)).encode()),
                (b"x-ratelimit-remaining-tokens", str(max(0, tpm - used_tokens)).encode()),
                (b"x-ratelimit-reset-requests", reset_text),
                (b"x-ratelimit-reset-tokens", reset_text)]
    return out
