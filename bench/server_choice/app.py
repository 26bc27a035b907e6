"""Minimal ASGI apps shaped like the gateway's hot path, for choosing the ASGI server.

``echo``: read the JSON body, parse it, build a chat-completion dict, serialise, send.
``proxy``: the same, plus one POST to an upstream through a pooled aiohttp session (what a
gateway request does). ``BENCH_JSON=stdlib`` swaps orjson for the standard library.

Served by ``bench/server_choice/run.py``; not part of the gateway.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import orjson

if os.environ.get("BENCH_JSON") == "stdlib":
    def loads(data: bytes) -> Any:  # noqa: D103
        return json.loads(data)

    def dumps(obj: Any) -> bytes:  # noqa: D103
        return json.dumps(obj, separators=(",", ":")).encode()
else:
    loads = orjson.loads
    dumps = orjson.dumps

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "")
HEADERS = [(b"content-type", b"application/json")]
_session: Any = None


async def _body(receive: Any) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The benchmark app (echo or proxy, by ``BENCH_UPSTREAM``)."""
    global _session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _session is not None:
                    await _session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    request = loads(await _body(receive))
    if UPSTREAM:
        if _session is None:
            import aiohttp
            _session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30))
        async with _session.post(UPSTREAM, data=dumps(request),
                                 headers={"content-type": "application/json"}) as resp:
            answer = loads(await resp.read())
    else:
        answer = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
            "model": request["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Proxies relay."}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        }
    body = dumps(answer)
    await send({"type": "http.response.start", "status": 200,
                "headers": [*HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
