"""Errors the gateway answers with, in OpenAI's shape.

Every error response is ``{"error": {"message", "type", "param", "code"}}`` with the status
the official SDKs map to the right exception class (400 ``BadRequestError``, 401
``AuthenticationError``, 403 ``PermissionDeniedError``, 404 ``NotFoundError``, 429
``RateLimitError``, 5xx ``InternalServerError``). Messages never echo a key or a traceback.

Example::

    raise GatewayError.model_not_found("gpt-9")
    # -> 404 {"error": {"message": "The model `gpt-9` does not exist or you do not have
    #    access to it.", "type": "invalid_request_error", "param": "model",
    #    "code": "model_not_found"}}
"""

from __future__ import annotations

import math

import orjson

from skyrelay.gateway.providers.base import ProviderError

#: OpenAI ``type`` per HTTP status, for errors that do not name one.
_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",  # what OpenAI itself answers for a bad key
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class GatewayError(Exception):
    """An error answered to the client: status, OpenAI error fields, extra headers.

    ``retry_after`` (seconds) becomes a ``Retry-After`` header (rounded up) and
    ``retry-after-ms``; ``should_retry=False`` adds ``x-should-retry: false``, which the
    official OpenAI SDKs obey (no automatic retry of an answer that cannot change soon).
    """

    __slots__ = ("status", "message", "type", "param", "code", "retry_after", "should_retry")

    def __init__(self, status: int, message: str, *, type: str | None = None,
                 param: str | None = None, code: str | None = None,
                 retry_after: float | None = None, should_retry: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPES.get(status, "server_error")
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.should_retry = should_retry

    def body(self) -> bytes:
        """The JSON body: ``{"error": {...}}``."""
        return orjson.dumps({"error": self.payload()})

    def payload(self) -> dict[str, str | None]:
        """The inner ``error`` object (also used for SSE error events)."""
        return {"message": self.message, "type": self.type, "param": self.param,
                "code": self.code}

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Extra response headers (``retry-after``, ``retry-after-ms``, ``x-should-retry``)."""
        out: list[tuple[bytes, bytes]] = []
        if self.retry_after is not None:
            out.append((b"retry-after", str(max(1, math.ceil(self.retry_after))).encode()))
            out.append((b"retry-after-ms",
                        str(max(1, math.ceil(self.retry_after * 1000))).encode()))
        if self.should_retry is not None:
            out.append((b"x-should-retry", b"true" if self.should_retry else b"false"))
        return out

    # --- the common cases ---------------------------------------------------------------

    @classmethod
    def bad_request(cls, message: str, param: str | None = None,
                    code: str | None = None) -> GatewayError:
        """400 ``invalid_request_error``."""
        return cls(400, message, param=param, code=code)

    @classmethod
    def unauthorized(cls) -> GatewayError:
        """401: no key, or a key no tenant holds. Never echoes the key."""
        return cls(401, "Incorrect or missing API key. Pass your tenant key as "
                        "'Authorization: Bearer <key>' or in the 'api-key' header.",
                   code="invalid_api_key")

    @classmethod
    def model_not_found(cls, model: str) -> GatewayError:
        """404 for a route that does not exist or that the tenant may not use."""
        shown = model if len(model) <= 200 else model[:200] + "..."
        return cls(404, f"The model `{shown}` does not exist or you do not have access to it.",
                   param="model", code="model_not_found")

    @classmethod
    def too_large(cls, limit: int) -> GatewayError:
        """413 for a body over the size limit."""
        return cls(413, f"Request body too large: the limit is {limit} bytes.",
                   code="request_too_large")

    @classmethod
    def not_found(cls, path: str) -> GatewayError:
        """404 for an unknown path."""
        shown = path if len(path) <= 200 else path[:200] + "..."
        return cls(404, f"Unknown request URL: {shown}.", code="unknown_url")

    @classmethod
    def method_not_allowed(cls, method: str, path: str) -> GatewayError:
        """405 for a known path with the wrong method."""
        return cls(405, f"Method {method} is not allowed on {path}.",
                   code="method_not_allowed")

    @classmethod
    def deadline(cls, seconds: float, attempts: int) -> GatewayError:
        """504: the route's deadline passed across all attempts."""
        return cls(504, f"The route's deadline of {seconds:g}s passed after {attempts} "
                        "attempt(s).", type="timeout", code="deadline_exceeded")

    @classmethod
    def rate_limited_upstream(cls, route: str, retry_after: float | None) -> GatewayError:
        """429: every eligible target of the route is cooling down after upstream 429s."""
        return cls(429, f"Every eligible target of route '{route}' is rate limited by its "
                        "provider; retry after the Retry-After interval.",
                   type="rate_limit_error", code="rate_limit_exceeded",
                   retry_after=retry_after if retry_after else 1.0)

    @classmethod
    def unavailable(cls, route: str, retry_after: float | None) -> GatewayError:
        """503: every eligible target of the route is cooling down."""
        return cls(503, f"Every eligible target of route '{route}' is cooling down after "
                        "upstream failures; retry later.", type="server_error",
                   code="upstream_unavailable", retry_after=retry_after)

    @classmethod
    def internal(cls) -> GatewayError:
        """500 for a bug in the gateway: logged server-side, never shown."""
        return cls(500, "The gateway failed to handle the request; it has been logged.",
                   type="server_error", code="internal_error")


#: Status the client sees for an upstream failure of each kind, when it ends the request.
_UPSTREAM_STATUS = {
    "rate_limit": 429, "server": 502, "timeout": 504, "connection": 502,
    "content_filter": 400, "bad_request": 400, "auth": 502, "protocol": 502,
}


def from_provider(err: ProviderError) -> GatewayError:
    """Translate the provider error that ended a request into the client's error.

    A content-filter refusal is what OpenAI answers (400, ``code: content_filter``); a
    request the upstream found invalid keeps its 4xx status; upstream credential problems
    and server faults are the gateway's upstream failing (502), never the client's 401.
    """
    if err.kind == "content_filter":
        return GatewayError(400, err.message or "The request was refused by the content "
                            "filter of the model's provider.", type="invalid_request_error",
                            param=err.param, code="content_filter")
    if err.kind == "bad_request":
        status = err.status if 400 <= err.status < 500 and err.status not in (401, 403,
                                                                               429) else 400
        return GatewayError(status, err.message, type="invalid_request_error",
                            param=err.param, code=err.code)
    status = _UPSTREAM_STATUS.get(err.kind, 502)
    kind_type = {"rate_limit": "rate_limit_error", "timeout": "timeout"}.get(err.kind,
                                                                             "server_error")
    # The upstream's own code is kept, except for credential failures: the upstream's
    # "invalid_api_key" would tell the client its (valid) gateway key is wrong.
    code = err.code if err.code and err.kind != "auth" else f"upstream_{err.kind}"
    return GatewayError(status, f"Upstream {err.kind} error: {err.message}", type=kind_type,
                        param=err.param, code=code, retry_after=err.retry_after)
