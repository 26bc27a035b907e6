"""A local bedrock-runtime OpenAI-compatible endpoint (``/openai/v1``), for tests.

Serves ``POST /openai/v1/chat/completions`` (JSON, or SSE chunks ending ``data: [DONE]``)
and ``POST /openai/v1/responses`` (a ``response`` object, or the Responses SSE events ending
with ``response.completed``). Each request must carry either a SigV4 ``Authorization``
whose credential scope names the service ``bedrock``, or ``Bearer <api_key>`` when the
server was given one, or ``api-key: <azure_key>`` (Azure OpenAI v1 has the same paths);
anything else is answered 403 as Bedrock does. ``bodies`` and
``paths`` record what arrived; :meth:`BedrockOpenAIUpstream.fault` queues a ``throttle``
(429) or ``500`` for the next request.

Example::

    with BedrockOpenAIUpstream(api_key="bedrock-key") as up:
        target = TargetConfig(..., endpoint=up.url, auth="api_key", key_env="K")
"""

from __future__ import annotations

import collections
import json
from typing import Any

from aiohttp import web

from skyrelay.gateway.testing.loopback_server import LoopbackServer

TEXT = ["Hello", " from", " gpt-oss"]
USAGE_CHAT = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
USAGE_RESPONSES = {"input_tokens": 11, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 14}


def _sse(event: dict[str, Any], name: str | None = None) -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(event).encode() + b"\n\n"


def response_events(model: str) -> list[dict[str, Any]]:
    """A streamed Responses answer (one message), events without sequence numbers."""
    rid, mid = "resp_bdrk_1", "msg_bdrk_1"
    base = {"id": rid, "object": "response", "created_at": 1700000000, "model": model,
            "status": "in_progress", "output": [], "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "usage": None}
    text = "".join(TEXT)
    done_item = {"id": mid, "type": "message", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": text, "annotations": []}]}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": base},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {**done_item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.added", "item_id": mid, "output_index": 0,
         "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}},
    ]
    events += [{"type": "response.output_text.delta", "item_id": mid, "output_index": 0,
                "content_index": 0, "delta": piece, "logprobs": []} for piece in TEXT]
    events += [
        {"type": "response.output_text.done", "item_id": mid, "output_index": 0,
         "content_index": 0, "text": text, "logprobs": []},
        {"type": "response.content_part.done", "item_id": mid, "output_index": 0,
         "content_index": 0, "part": done_item["content"][0]},
        {"type": "response.output_item.done", "output_index": 0, "item": done_item},
        {"type": "response.completed", "response": {**base, "status": "completed",
                                                    "output": [done_item],
                                                    "usage": USAGE_RESPONSES}},
    ]
    for i, event in enumerate(events):
        event["sequence_number"] = i
    return events


class BedrockOpenAIUpstream(LoopbackServer):
    """The server, on 127.0.0.1 in a background thread."""

    server_name = "bedrock OpenAI upstream"

    def __init__(self, *, api_key: str | None = None, azure_key: str | None = None,
                 max_lifetime: float = 120.0) -> None:
        super().__init__(max_lifetime=max_lifetime)
        self.api_key = api_key
        self.azure_key = azure_key
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.auth: list[str] = []
        self._faults: collections.deque[str] = collections.deque()

    @property
    def url(self) -> str:
        """The runtime endpoint (the OpenAI base URL is this + ``/openai/v1``)."""
        return f"http://127.0.0.1:{self._port}"

    def fault(self, *names: str) -> None:
        """Queue ``throttle`` or ``500`` answers, one per coming request."""
        for name in names:
            if name not in ("throttle", "500"):
                raise ValueError(f"unknown fault {name!r}")
        self._faults.extend(names)

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/v1/{op:.*}", self._answer)

    def _authorized(self, header: str, azure_key: str) -> bool:
        if self.azure_key is not None and azure_key == self.azure_key:
            return True  # Azure OpenAI v1 serves the same /openai/v1 paths with api-key
        if header.startswith("AWS4-HMAC-SHA256 "):
            scope = header.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
            return len(scope) == 5 and scope[3] == "bedrock" and scope[4] == "aws4_request"
        return self.api_key is not None and header == f"Bearer {self.api_key}"

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        self.paths.append(request.path)
        header = request.headers.get("authorization", "")
        self.auth.append(header.split(" ", 1)[0])
        body = await request.json()
        self.bodies.append(body)
        if not self._authorized(header, request.headers.get("api-key", "")):
            return web.json_response({"message": "The security token included in the request "
                                                 "is invalid."}, status=403,
                                     headers={"x-amzn-errortype": "UnrecognizedClientException"})
        if self._faults:
            fault = self._faults.popleft()
            status = 429 if fault == "throttle" else 500
            return web.json_response({"error": {"message": f"fault {fault}", "type": "error",
                                                "code": fault}}, status=status,
                                     headers={"retry-after": "1"} if status == 429 else None)
        model = str(body.get("model"))
        if op == "chat/completions":
            return await self._chat(request, body, model)
        if op == "responses":
            return await self._responses(request, body, model)
        return web.json_response({"message": f"unknown operation {op}"}, status=404)

    async def _chat(self, request: web.Request, body: dict[str, Any],
                    model: str) -> web.StreamResponse:
        base = {"id": "chatcmpl-bdrk", "created": 1700000000, "model": model}
        if not body.get("stream"):
            return web.json_response({**base, "object": "chat.completion", "choices": [{
                "index": 0, "message": {"role": "assistant", "content": "".join(TEXT)},
                "finish_reason": "stop"}], "usage": USAGE_CHAT})
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        chunk = {**base, "object": "chat.completion.chunk"}
        for i, piece in enumerate(TEXT):
            delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
            await resp.write(_sse({**chunk, "choices": [{"index": 0, "delta": delta,
                                                         "finish_reason": None}]}))
        await resp.write(_sse({**chunk, "choices": [{"index": 0, "delta": {},
                                                     "finish_reason": "stop"}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(_sse({**chunk, "choices": [], "usage": USAGE_CHAT}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _responses(self, request: web.Request, body: dict[str, Any],
                         model: str) -> web.StreamResponse:
        events = response_events(model)
        if not body.get("stream"):
            return web.json_response(events[-1]["response"])
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for event in events:
            await resp.write(_sse(event, event["type"]))
        await resp.write_eof()
        return resp
