"""A local Bedrock runtime that speaks the real wire formats, for tests and benchmarks.

``/model/{id}/converse`` answers Converse JSON; ``/model/{id}/converse-stream`` answers AWS
event-stream frames (prelude with total and header lengths and its CRC32, string headers
``:event-type``/``:content-type``/``:message-type``, JSON payload, message CRC32) exactly as
botocore's ``EventStreamBuffer`` decodes them; ``/model/{id}/invoke`` answers Titan
embeddings. Requests must carry a SigV4 ``Authorization`` header.

Faults, queued per request with :meth:`BedrockUpstream.fault`: ``throttle`` (429
ThrottlingException), ``500``, ``503``, ``reset`` (connection closed before any answer),
``cut`` (stream ends after two events), ``stall`` (stream stops sending), ``exception``
(an in-stream throttlingException frame after two events), ``badcrc`` (a frame with a
wrong message CRC). ``tools=True`` answers with two parallel tool calls.

Example::

    with BedrockUpstream() as up:
        target = TargetConfig(..., endpoint=up.url)
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import contextlib
import json
import struct
import threading
from typing import Any

from aiohttp import web

TEXT = ["Hello", " from", " Bedrock"]
USAGE = {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10, "cacheReadInputTokens": 2}


def encode_frame(headers: dict[str, str], payload: bytes, *, corrupt: bool = False) -> bytes:
    """One event-stream message with string-typed headers and correct (or broken) CRCs."""
    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += struct.pack("!B", len(raw_name)) + raw_name + b"\x07"
        head += struct.pack("!H", len(raw_value)) + raw_value
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    crc = binascii.crc32(body) & 0xFFFFFFFF
    return body + struct.pack("!I", crc ^ 1 if corrupt else crc)


def event(name: str, payload: dict[str, Any], *, corrupt: bool = False) -> bytes:
    """An ``event`` message as ConverseStream sends it."""
    return encode_frame({":event-type": name, ":content-type": "application/json",
                         ":message-type": "event"}, json.dumps(payload).encode(),
                        corrupt=corrupt)


def exception(name: str, message: str) -> bytes:
    """An in-stream ``exception`` message."""
    return encode_frame({":exception-type": name, ":content-type": "application/json",
                         ":message-type": "exception"}, json.dumps({"message": message}).encode())


def stream_events(tools: bool) -> list[bytes]:
    """A whole ConverseStream answer: text, or two parallel tool calls in fragments."""
    out = [event("messageStart", {"role": "assistant"})]
    if tools:
        for block, (tid, name, parts) in enumerate(
                [("tu-1", "get_weather", ['{"city": ', '"Paris"}']),
                 ("tu-2", "get_time", ['{"tz": "', 'CET"}'])]):
            out.append(event("contentBlockStart", {"contentBlockIndex": block, "start": {
                "toolUse": {"toolUseId": tid, "name": name}}}))
            for part in parts:
                out.append(event("contentBlockDelta", {"contentBlockIndex": block,
                                                       "delta": {"toolUse": {"input": part}}}))
            out.append(event("contentBlockStop", {"contentBlockIndex": block}))
        stop = "tool_use"
    else:
        for piece in TEXT:
            out.append(event("contentBlockDelta", {"contentBlockIndex": 0,
                                                   "delta": {"text": piece}}))
        out.append(event("contentBlockStop", {"contentBlockIndex": 0}))
        stop = "end_turn"
    out.append(event("messageStop", {"stopReason": stop}))
    out.append(event("metadata", {"usage": USAGE, "metrics": {"latencyMs": 12}}))
    return out


class BedrockUpstream:
    """The server, on 127.0.0.1 in a background thread; stops itself after ``max_lifetime``."""

    def __init__(self, *, tools: bool = False, max_lifetime: float = 120.0) -> None:
        self.tools = tools
        self.max_lifetime = max_lifetime
        self.hits: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict[str, Any]] = []
        self._faults: collections.deque[str] = collections.deque()
        self._port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (the runtime endpoint)."""
        return f"http://127.0.0.1:{self._port}"

    def fault(self, *names: str) -> None:
        """Queue faults, one per coming request."""
        self._faults.extend(names)

    def __enter__(self) -> BedrockUpstream:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("bedrock upstream did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/model/{model}/{op}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.max_lifetime)
        await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        self.hits[f"/model/{request.match_info['model']}/{op}"] += 1
        body = await request.json()
        self.bodies.append(body)
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return web.json_response({"message": "missing signature"}, status=403,
                                     headers={"x-amzn-errortype": "UnrecognizedClientException"})
        fault = self._faults.popleft() if self._faults else ""
        if fault == "throttle":
            return web.json_response({"message": "Too many requests"}, status=429,
                                     headers={"x-amzn-errortype": "ThrottlingException:http://internal",
                                              "retry-after": "2"})
        if fault in ("500", "503"):
            name = "InternalServerException" if fault == "500" else "ServiceUnavailableException"
            return web.json_response({"message": "upstream broke"}, status=int(fault),
                                     headers={"x-amzn-errortype": name})
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if op == "invoke":
            text = body.get("inputText", "")
            return web.json_response({"embedding": [0.1] * 4,
                                      "inputTextTokenCount": len(text.split())})
        if op == "converse":
            return web.json_response(self._converse())
        return await self._stream(request, fault)

    def _converse(self) -> dict[str, Any]:
        if self.tools:
            content: list[dict[str, Any]] = [
                {"toolUse": {"toolUseId": "tu-1", "name": "get_weather",
                             "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "tu-2", "name": "get_time", "input": {"tz": "CET"}}}]
            stop = "tool_use"
        else:
            content, stop = [{"text": "".join(TEXT)}], "end_turn"
        return {"output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop, "usage": USAGE, "metrics": {"latencyMs": 12}}

    async def _stream(self, request: web.Request, fault: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        frames = stream_events(self.tools)
        for i, frame in enumerate(frames):
            if i == 2 and fault == "cut":
                assert request.transport is not None
                request.transport.abort()
                return resp
            if i == 2 and fault == "stall":
                await asyncio.sleep(30)
            if i == 2 and fault == "exception":
                await resp.write(exception("throttlingException", "slow down"))
                break
            if i == 2 and fault == "badcrc":
                await resp.write(event("contentBlockDelta", {"delta": {"text": "x"}},
                                       corrupt=True))
                break
            await resp.write(frame)
        await resp.write_eof()
        return resp
