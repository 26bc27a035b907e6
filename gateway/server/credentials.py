"""One credential per request: the tenant key from exactly one header, once.

A request may carry its key as ``Authorization: Bearer <key>``, as ``api-key: <key>``
(Azure style) or as ``x-api-key: <key>`` (Anthropic style), not two with different
values, and no header twice (``api-key`` and ``x-api-key`` count as one header): a proxy or
a client library that adds its own credential next to the caller's would otherwise make
the gateway pick one of two tenants by header order. Such a request is refused with 400
``conflicting_credentials``, naming neither key. The same key in both headers is one
credential.

Example::

    authorization, api_key = single_credential(scope["headers"])   # or GatewayError 400
"""

from __future__ import annotations

from skyrelay.gateway.errors import GatewayError


def conflicting() -> GatewayError:
    """400 for a request with more than one credential (never echoes them)."""
    return GatewayError.bad_request(
        "The request carries more than one credential: send the tenant key once, either as "
        "'Authorization: Bearer <key>' or as 'api-key: <key>'.", code="conflicting_credentials")


def _bearer(value: bytes) -> bytes:
    return value[7:].strip() if value[:7].lower() == b"bearer " else value.strip()


def single_credential(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """``(authorization, api_key)`` header values (latin-1), or 400 when there are two
    different credentials or an auth header appears twice."""
    authorization: bytes | None = None
    api_key: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            if authorization is not None:
                raise conflicting()
            authorization = value
        elif name == b"api-key" or name == b"x-api-key":  # Azure style / Anthropic style
            if api_key is not None:
                raise conflicting()
            api_key = value
    if authorization is not None and api_key is not None:
        if _bearer(authorization) != api_key.strip():
            raise conflicting()
        authorization = None  # one credential, given twice the same
    return (authorization.decode("latin-1") if authorization is not None else None,
            api_key.decode("latin-1") if api_key is not None else None)
