"""The faults the local OpenAI / Azure OpenAI upstream plays, and how it answers them.

:data:`FAULTS` names them (``"name"`` or ``"name:arg"``); :func:`answer_fault` answers the
ones decided before the body (HTTP errors, delays, resets, bad bodies); the stream faults
(``cut_stream``, ``stall``, ``invalid_json``, ``stream_error``) are played by the stream.

Example::

    answer = await answer_fault(request, "429", "2", stream=False, sleep=server_sleep)
    assert answer.status == 429
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from skyrelay.gateway.testing.loopback_server import reset_connection

#: Fault names and their optional argument.
FAULTS = {
    "429": "HTTP 429 with Retry-After: arg seconds (default 1)",
    "429ms": "HTTP 429 with retry-after-ms and x-ms-retry-after-ms: arg ms (default 1500)",
    "500": "HTTP 500 in OpenAI's error shape",
    "503": "HTTP 503 with Retry-After: arg seconds if given",
    "400": "HTTP 400 invalid_request_error (not a content filter; param temperature unless "
           "arg gives the message)",
    "401": "HTTP 401 invalid api key",
    "delay": "sleep arg seconds (default 1), then answer normally",
    "reset_before_headers": "TCP reset before any response byte",
    "reset_after_headers": "status line and headers, then a TCP reset",
    "cut_stream": "stream: arg chunks (default 2) then a reset without [DONE]; JSON: half a body",
    "stall": "stream: arg chunks (default 1) then silence for 30 s; JSON: silence",
    "invalid_json": "HTTP 200 whose JSON is not JSON; stream: arg chunks (default 1), then "
                    "an SSE data line that is not JSON",
    "invalid_sse": "HTTP 200 text/event-stream whose lines are not SSE",
    "content_filter": "HTTP 400 in Azure's exact content-filter shape (arg 'slow': in 2 writes)",
    "stream_error": "stream: arg chunks (default 1) then an in-stream error event",
    "long_event": "stream: arg 8 KiB data lines (default 4000) never ended by a blank line",
}

#: A stalled answer stays silent this long (or until the server stops).
STALL_SECONDS = 30.0

#: Azure's answer to a prompt its content filter blocks (shape as documented by Microsoft).
AZURE_CONTENT_FILTER_ERROR: dict[str, Any] = {"error": {
    "message": ("The response was filtered due to the prompt triggering Azure OpenAI's "
                "content management policy. Please modify your prompt and retry. To learn "
                "more about our content filtering policies please read our documentation: "
                "https://go.microsoft.com/fwlink/?linkid=2198766"),
    "type": None, "param": "prompt", "code": "content_filter", "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
        "hate": {"filtered": False, "severity": "safe"},
        "jailbreak": {"filtered": False, "detected": False},
        "self_harm": {"filtered": False, "severity": "safe"},
        "sexual": {"filtered": False, "severity": "safe"},
        "violence": {"filtered": True, "severity": "medium"}}}}}

#: The server's sleep: ``sleep(seconds, request=None)``.
Sleep = Callable[..., Awaitable[None]]


def error_response(status: int, message: str, type_: str | None, code: str | None,
                   headers: dict[str, str] | None = None, param: str | None = None) -> web.Response:
    """An error answer in OpenAI's shape (``{"error": {message, type, param, code}}``)."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.Response(status=status, body=orjson.dumps(body), headers=headers,
                        content_type="application/json")


async def answer_fault(request: web.Request, name: str, arg: str, stream: bool,
                       sleep: Sleep) -> web.StreamResponse | None:
    """Answer fault ``name`` (with ``arg``), or None to answer normally (maybe a stream
    fault, which the stream itself plays). ``sleep(seconds, request=None)`` is the
    server's sleep (it ends early when the server stops, or ``request``'s client left)."""
    if name == "429":
        seconds = arg or "1"
        return error_response(429, "Rate limit reached for requests. Please retry after "
                              f"{seconds} seconds.", "requests", "rate_limit_exceeded",
                              {"retry-after": seconds})
    if name == "429ms":
        ms = arg or "1500"
        return error_response(429, "Requests have exceeded the token rate limit of your current "
                              "pricing tier.", None, "429",
                              {"retry-after-ms": ms, "x-ms-retry-after-ms": ms})
    if name in ("500", "503"):
        headers = {"retry-after": arg} if arg else None
        return error_response(int(name), "The server had an error while processing your request.",
                              "server_error", None, headers)
    if name == "400":
        return error_response(400, arg or "Invalid value for 'temperature'.",
                              "invalid_request_error", "invalid_value",
                              param=None if arg else "temperature")
    if name == "401":
        return error_response(401, "Incorrect API key provided.", "invalid_request_error",
                              "invalid_api_key")
    if name == "content_filter":
        payload = orjson.dumps(AZURE_CONTENT_FILTER_ERROR)
        if arg != "slow":
            return web.Response(status=400, body=payload, content_type="application/json")
        # the same body in two TCP writes 50 ms apart: readers must not stop at the first
        resp = web.StreamResponse(status=400, headers={
            "content-type": "application/json", "content-length": str(len(payload))})
        await resp.prepare(request)
        await resp.write(payload[:40])
        await sleep(0.05)
        await resp.write(payload[40:])
        await resp.write_eof()
        return resp
    if name == "delay":
        await sleep(float(arg or 1), request)
        return None
    if name == "reset_before_headers":
        reset_connection(request)
        return web.Response(status=500)  # never written: the socket is gone
    if name in ("reset_after_headers", "cut_stream") and not stream:
        resp = web.StreamResponse(headers={"content-type": "application/json",
                                           "content-length": "4096"})
        await resp.prepare(request)
        if name == "cut_stream":
            await resp.write(b'{"id": "chatcmpl-cut", "choices": [')
        reset_connection(request)
        return resp
    if name == "reset_after_headers":
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        reset_connection(request)
        return resp
    if name == "stall" and not stream:
        await sleep(STALL_SECONDS)
        return None
    if name == "invalid_json" and not stream:
        return web.Response(body=b'{"id": "chatcmpl-x", "choices": [', status=200,
                            content_type="application/json")
    if name == "long_event" and stream:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        line = b"data: " + b"x" * 8186 + b"\n"
        try:
            for _ in range(int(arg or 4000)):
                await resp.write(line)
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass  # the gateway gave up on the stream: that is the point
        return resp
    if name == "invalid_sse":
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"<html><body>502 Bad Gateway</body></html>\n\n")
        await resp.write_eof()
        return resp
    return None  # stream faults (cut_stream, stall, invalid_json, stream_error)
