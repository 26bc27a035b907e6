"""ASGI types and the small send helpers every handler uses.

Example::

    await send_json(send, 200, b'{"ok":true}', [(b"x-request-id", b"abc")])
    await send_error(send, GatewayError.not_found("/x"), [])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from skyrelay.gateway.errors import GatewayError
from skyrelay.gateway.server.validate import MAX_HEADER_BYTES

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_HEADER = (b"content-type", b"application/json")


async def send_json(send: Send, status: int, body: bytes, extra: Headers) -> None:
    """A complete JSON response."""
    await send({"type": "http.response.start", "status": status,
                "headers": [JSON_HEADER, (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, err: GatewayError, extra: Headers,
                     body: bytes | None = None) -> None:
    """An error response: ``err``'s status and headers, OpenAI's body unless ``body``
    (a door's own error shape) is given. 413 and 431 close the connection."""
    headers = [*extra, *err.headers()]
    if err.status in (413, 431):
        headers.append((b"connection", b"close"))
    await send_json(send, err.status, err.body() if body is None else body, headers)


def headers_too_large(scope: Scope) -> GatewayError | None:
    """431 when the request's header names and values exceed :data:`MAX_HEADER_BYTES`."""
    if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEADER_BYTES:
        return GatewayError(431, f"Request headers too large: the limit is {MAX_HEADER_BYTES} "
                                 "bytes.", type="invalid_request_error",
                            code="request_header_fields_too_large")
    return None


def request_path(scope: Scope) -> str:
    """The path to route on, as sent: a percent-encoded ``/`` is not a separator
    (``/v1%2Fchat%2Fcompletions`` is no endpoint), whatever the parser decoded."""
    raw_path = scope.get("raw_path")
    return raw_path.decode("latin-1") if raw_path and b"%" in raw_path else scope["path"]
