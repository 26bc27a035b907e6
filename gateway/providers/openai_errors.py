"""OpenAI/Azure upstream failures as :class:`ProviderError` (one place for the mapping).

How a non-200 answer is classified (:func:`error_from_response`, including Azure's content
filter and ``Retry-After``), and the errors every OpenAI-wire reader raises for a deadline,
a failed connection or an answer that is not the API.

Example::

    err = error_from_response(429, {"retry-after": "2"}, b'{"error": {"message": "slow"}}')
    assert (err.kind, err.retry_after) == ("rate_limit", 2.0)
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping, Sequence

import orjson

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.providers.base import ProviderError, redact
from skyrelay.gateway.providers.http_wire import UpstreamUnreachable

#: Inner codes Azure uses for a prompt its content filter refused.
_FILTER_CODES = frozenset({"content_filter", "ResponsibleAIPolicyViolation", "ContentFiltered"})
#: Error bodies are read up to this size only.
MAX_ERROR_BYTES = 64 * 1024
#: Retry-After values beyond this are treated as this (the breaker cools down, not forever).
MAX_RETRY_AFTER = 3600.0
#: An upstream's message is cut to this many characters.
MAX_MESSAGE = 1000


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``x-ms-retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date. Unparseable values give None; the
    result is clamped to ``[0, MAX_RETRY_AFTER]``.

    >>> parse_retry_after({"retry-after-ms": "1500"})
    1.5
    """
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is not None:
            try:
                return min(max(float(value) / 1000.0, 0.0), MAX_RETRY_AFTER)
            except ValueError:
                pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)


def error_from_response(status: int, headers: Mapping[str, str], raw: bytes,
                        credentials: Sequence[str] = ()) -> ProviderError:
    """Classify a non-200 upstream answer (OpenAI/Azure error shape, or anything else).

    ``credentials`` (what the request carried) are redacted from the upstream's message.

    >>> error_from_response(503, {}, b"").kind
    'server'
    """
    message = ""
    code: str | None = None
    param: str | None = None
    inner: str | None = None
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = redact(str(error.get("message") or ""), credentials)[:MAX_MESSAGE]
        code = error.get("code") if isinstance(error.get("code"), str) else None
        raw_param = error.get("param")
        param = raw_param[:200] if isinstance(raw_param, str) else None
        details = error.get("innererror")
        if isinstance(details, dict) and isinstance(details.get("code"), str):
            inner = details["code"]
    elif isinstance(error, str):  # some compatible servers answer {"error": "text"}
        message = redact(error, credentials)[:MAX_MESSAGE]
    if not message:
        snippet = (redact(raw[:MAX_ERROR_BYTES].decode("utf-8", "replace"), credentials)
                   [:200].strip() if body is None else "")
        message = f"upstream answered HTTP {status}" + (f": {snippet}" if snippet else "")
    if status == 400 and (code in _FILTER_CODES or inner in _FILTER_CODES):
        return ProviderError("content_filter", 400, message, code="content_filter",
                             retryable=False, param=param)
    if status == 429:
        return ProviderError("rate_limit", 429, message, code=code, retryable=True,
                             retry_after=parse_retry_after(headers))
    if status >= 500:
        return ProviderError("server", status, message, code=code, retryable=True,
                             retry_after=parse_retry_after(headers))
    if status in (401, 403):
        return ProviderError("auth", status, message, code=code, retryable=True)
    if status == 408:
        return ProviderError("timeout", 504, message, code=code, retryable=True)
    if 400 <= status < 500:
        return ProviderError("bad_request", status, message, code=code, retryable=False,
                             param=param)
    # 1xx/3xx (redirects are not followed): the upstream is not speaking the API.
    return ProviderError("protocol", 502, message, code=code, retryable=True)


def timeout_error(target: TargetConfig) -> ProviderError:
    """A ``timeout``: no (complete) answer from ``target`` before the deadline."""
    return ProviderError("timeout", 504, f"{target.key}: no answer before the deadline",
                         retryable=True)


def connection_error(target: TargetConfig, err: BaseException) -> ProviderError:
    """A ``connection`` failure (``unreachable`` when the connection was never made)."""
    return ProviderError("connection", 502, f"{target.key}: connection failed "
                         f"({type(err).__name__}: {str(err)[:200]})", retryable=True,
                         unreachable=isinstance(err, UpstreamUnreachable))


def protocol(target: TargetConfig, what: str) -> ProviderError:
    """A ``protocol`` error: the upstream answered something that is not the API."""
    return ProviderError("protocol", 502, f"{target.key}: {what}", retryable=True)
