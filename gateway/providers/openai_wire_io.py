"""Reading OpenAI-wire answers (JSON bodies and SSE streams) off an upstream response.

Shared by the providers whose upstream speaks OpenAI's wire format but is reached with its
own URL and auth (Bedrock's OpenAI-compatible endpoint, Azure OpenAI v1 for Responses):
bounded reads, the deadline, and every failure as a :class:`ProviderError` the router can
act on. Also how a Responses answer reports usage, in the gateway's (OpenAI chat) names.

Example::

    resp = await post(http, target, url, body, headers, deadline)   # 200, or ProviderError
    async for name, event in sse_events(target, resp, deadline, end="response.completed"):
        ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.deadlines import deadline_at, deadline_in
from skyrelay.gateway.hub.events import NativeEvent
from skyrelay.gateway.hub.request import API_RESPONSES
from skyrelay.gateway.hub.response import Result
from skyrelay.gateway.providers.base import ProviderError
from skyrelay.gateway.providers.http import HttpClient, UpstreamResponse
from skyrelay.gateway.providers.openai_errors import (
    MAX_ERROR_BYTES,
    connection_error,
    error_from_response,
    protocol,
    timeout_error,
)
from skyrelay.gateway.providers.openai_sse import SSEParser
from skyrelay.gateway.telemetry.propagation import with_trace

#: Responses stream events after which the stream is over.
RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: A non-streamed answer larger than this is refused (memory stays bounded per request).
MAX_BODY_BYTES = 64 * 1024 * 1024


async def read_up_to(resp: UpstreamResponse, limit: int) -> bytes:
    """The body up to ``limit`` bytes (all segments, not just the first that arrived)."""
    parts: list[bytes] = []
    size = 0
    async for part in resp.iter_any():
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


async def drain(resp: UpstreamResponse, limit: float = 2.0) -> None:
    """Read what is left of a finished stream, then pool the connection (or close it)."""
    try:
        with deadline_in(limit):
            while await resp.readany():
                pass
    except (TimeoutError, OSError):
        resp.close()
        return
    resp.release()


async def post(http: HttpClient, target: TargetConfig, url: str, body: bytes,
               headers: dict[str, str], deadline: float,
               credentials: Sequence[str] = ()) -> UpstreamResponse:
    """POST; the 200 response with its body unread, or the upstream's error classified
    (``credentials`` are redacted from its message)."""
    resp: UpstreamResponse | None = None
    headers = with_trace(headers)  # the attempt's W3C traceparent, when tracing is on
    try:
        with deadline_at(deadline):
            resp = await http.post(url, body, headers, deadline)
            if resp.status == 200:
                return resp
            raw = await read_up_to(resp, MAX_ERROR_BYTES)
    except TimeoutError:
        if resp is not None:
            resp.close()
        raise timeout_error(target) from None
    except OSError as err:
        if resp is not None:
            resp.close()
        raise connection_error(target, err) from None
    resp.close()  # the rest of an error body is not worth reading to keep the socket
    raise error_from_response(resp.status, resp.headers, raw, credentials)


async def read_json(target: TargetConfig, resp: UpstreamResponse,
                    deadline: float) -> dict[str, Any]:
    """The body as a JSON object (at most ``MAX_BODY_BYTES``, else ``protocol``)."""
    declared = resp.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        resp.close()
        raise protocol(target, f"the upstream's answer ({declared} bytes) exceeds "
                       f"{MAX_BODY_BYTES} bytes")
    try:
        if resp.arrived:  # the common small answer came with its head: no wait, no timer
            raw = await resp.read(MAX_BODY_BYTES + 1)
        else:
            with deadline_at(deadline):
                raw = await resp.read(MAX_BODY_BYTES + 1)
    except TimeoutError:
        resp.close()
        raise timeout_error(target) from None
    except OSError as err:
        resp.close()
        raise connection_error(target, err) from None
    if len(raw) > MAX_BODY_BYTES:
        resp.close()
        raise protocol(target, f"the upstream's answer exceeds {MAX_BODY_BYTES} bytes")
    resp.release()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise protocol(target, "the upstream answered invalid JSON") from None
    if not isinstance(value, dict):
        raise protocol(target, "the upstream answered JSON that is not an object")
    return value


async def read_chunk(target: TargetConfig, resp: UpstreamResponse,
                     deadline: float) -> bytes:
    """The next bytes of a streamed body (``b""`` at its end), before ``deadline``."""
    try:
        with deadline_at(deadline):
            return await resp.readany()
    except TimeoutError:
        raise timeout_error(target) from None
    except OSError as err:
        raise connection_error(target, err) from None


async def sse_events(target: TargetConfig, resp: UpstreamResponse, deadline: float,
                     *, end: frozenset[str] = RESPONSES_END
                     ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(event name, data object)`` per SSE event; the stream must reach an ``end`` event
    (by its ``type``) or ``data: [DONE]``, else it was cut (``connection``).

    An ``error`` event raises ``server`` with the upstream's message and code.
    """
    if not resp.headers.get("content-type", "").startswith("text/event-stream"):
        resp.close()
        raise protocol(target, "a stream was answered without text/event-stream")
    parser = SSEParser()
    finished = False
    try:
        while not finished:
            data = await read_chunk(target, resp, deadline)
            for name, payload in (parser.feed(data) if data else parser.close()):
                if payload == b"[DONE]":
                    finished = True
                    break
                try:
                    event = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    raise protocol(target, "the stream sent data that is not JSON") from None
                if not isinstance(event, dict):
                    raise protocol(target, "the stream sent data that is not an object")
                kind = event.get("type", name)
                if kind == "error" or name == "error":
                    inner = event.get("error")
                    err: dict[str, Any] = inner if isinstance(inner, dict) else event
                    code = err.get("code")
                    raise ProviderError("server", 502, f"{target.key}: the upstream stream "
                                        f"failed: {str(err.get('message'))[:500]}",
                                        code=code if isinstance(code, str) else None,
                                        retryable=True)
                yield str(kind), event
                if kind in end:
                    finished = True
                    break
            if not data and not finished:
                raise ProviderError("connection", 502, f"{target.key}: the upstream stream "
                                    "ended before its last event", retryable=True)
    finally:
        resp.close()


def responses_usage(response: Any) -> dict[str, Any] | None:
    """The usage of a Responses ``response`` object in OpenAI chat names (raw, unvalidated).

    >>> responses_usage({"usage": {"input_tokens": 5, "output_tokens": 2,
    ...     "input_tokens_details": {"cached_tokens": 1}}})["prompt_tokens_details"]
    {'cached_tokens': 1}
    """
    usage = response.get("usage") if isinstance(response, dict) else None
    if not isinstance(usage, dict):
        return None
    out: dict[str, Any] = {"prompt_tokens": usage.get("input_tokens"),
                           "completion_tokens": usage.get("output_tokens")}
    details = usage.get("input_tokens_details")
    if isinstance(details, dict) and details.get("cached_tokens") is not None:
        out["prompt_tokens_details"] = {"cached_tokens": details["cached_tokens"]}
    return out


def delivered_chars(name: str, event: dict[str, Any]) -> int:
    """Model output characters a Responses stream event carries (for billing a cut stream)."""
    if name in ("response.output_text.delta", "response.function_call_arguments.delta",
                "response.refusal.delta"):
        delta = event.get("delta")
        return len(delta) if isinstance(delta, str) else 0
    return 0


def responses_body(target: TargetConfig, native: dict[str, Any], stream: bool) -> bytes:
    """The client's Responses body for ``target``: its model, the stream flag, and
    ``store: false`` unless the client said so itself (the gateway keeps no responses, so
    the upstream should not either; ``store: true`` was refused at the door)."""
    return orjson.dumps({**native, "model": target.model, "stream": stream,
                         "store": native.get("store", False)})


async def native_responses(target: TargetConfig, resp: UpstreamResponse,
                           deadline: float) -> AsyncIterator[NativeEvent]:
    """A Responses SSE stream as :class:`NativeEvent` items, usage read off the last one."""
    async for name, event in sse_events(target, resp, deadline):
        usage = responses_usage(event.get("response")) if name in RESPONSES_END else None
        yield NativeEvent(API_RESPONSES, name, event, usage, delivered_chars(name, event))


def responses_result(target: TargetConfig, value: dict[str, Any]) -> Result:
    """A Responses ``response`` object as the hub's :class:`Result` (checked first)."""
    if value.get("object") != "response" or not isinstance(value.get("output"), list):
        raise protocol(target, "the answer is not a Responses 'response' object")
    return Result(value, API_RESPONSES, responses_usage(value))
