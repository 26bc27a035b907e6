"""A local Bedrock runtime that speaks the real wire formats, for tests and benchmarks.

``/model/{id}/converse`` answers Converse JSON; ``/model/{id}/converse-stream`` answers AWS
event-stream frames (prelude with total and header lengths and its CRC32, string headers
``:event-type``/``:content-type``/``:message-type``, JSON payload, message CRC32) exactly as
botocore's ``EventStreamBuffer`` decodes them; ``/model/{id}/invoke`` answers Titan
embeddings, or Claude's Anthropic Messages body (``invoke`` and
``invoke-with-response-stream``: :mod:`~skyrelay.gateway.testing.bedrock_anthropic`).
Requests must carry a SigV4 ``Authorization`` header.

Faults, queued per request with :meth:`BedrockUpstream.fault` (see :data:`FAULTS`):
throttling with Retry-After, 500 and 503, an answer after a delay, resets before and after
the headers, a stream cut or stalled midway, a body or event payload that is not JSON, an
in-stream exception frame and a frame with a bad CRC. :meth:`BedrockUpstream.fail_randomly`
draws a fault for a share of requests instead (seeded), for load tests. ``tools=True``
answers with two parallel tool calls.

Guardrails: a request with ``guardrailConfig`` naming a guardrail of ``guardrails`` (id ->
version; others get Bedrock's 400 ValidationException) is judged like a content filter
would: a prompt containing :data:`BLOCK_PROMPT` is blocked before the model runs, one
containing :data:`BLOCK_ANSWER` has its answer blocked; both end with
``stopReason: guardrail_intervened``, the guardrail's blocked message and, with ``trace``
enabled, the input or output assessment that says which
(:mod:`~skyrelay.gateway.testing.bedrock_guardrail`). Frames are built by
:mod:`~skyrelay.gateway.testing.bedrock_frames`.

Example::

    with BedrockUpstream() as up:
        target = TargetConfig(..., endpoint=up.url)
"""

from __future__ import annotations

import collections
import json
import random
from typing import Any

from aiohttp import web

from skyrelay.gateway.testing import bedrock_anthropic as claude
from skyrelay.gateway.testing import bedrock_guardrail as guardrail
from skyrelay.gateway.testing.bedrock_frames import encode_frame, event, exception
from skyrelay.gateway.testing.bedrock_guardrail import BLOCK_ANSWER, BLOCK_PROMPT, BLOCKED_TEXT
from skyrelay.gateway.testing.loopback_server import LoopbackServer, reset_connection
from skyrelay.gateway.testing.schema_examples import example_of

# Names tests import from here (the frames and the guardrail play have their own modules).
__all__ = ["BLOCKED_TEXT", "BLOCK_ANSWER", "BLOCK_PROMPT", "FAULTS", "BedrockUpstream",
           "encode_frame", "event", "exception", "example_of", "stream_events"]

TEXT = ["Hello", " from", " Bedrock"]
USAGE = {"inputTokens": 7, "outputTokens": 3, "totalTokens": 10, "cacheReadInputTokens": 2}
STALL_SECONDS = 30.0
#: Fault names (``name`` or ``name:arg``) and what they do.
FAULTS = {
    "throttle": "HTTP 429 ThrottlingException with Retry-After: arg seconds (default 2)",
    "500": "HTTP 500 InternalServerException",
    "503": "HTTP 503 ServiceUnavailableException",
    "delay": "sleep arg seconds (default 1), then answer normally",
    "reset": "TCP reset before any response byte",
    "reset_after_headers": "status line and headers, then a TCP reset",
    "cut": "stream: two events then a reset; Converse: half a JSON body then a reset",
    "stall": "stream: two events then silence; Converse: silence (both for 30 s)",
    "invalid_json": "Converse: HTTP 200 whose body is not JSON; stream: an event whose "
                    "payload is not JSON after two events",
    "exception": "stream: an in-stream throttlingException frame after two events",
    "badcrc": "stream: a frame with a wrong message CRC after two events",
}


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


def _schema_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of a Converse request's ``outputConfig.textFormat``, if any."""
    fmt = (body.get("outputConfig") or {}).get("textFormat") or {}
    schema = ((fmt.get("structure") or {}).get("jsonSchema") or {}).get("schema")
    return json.loads(schema) if isinstance(schema, str) else None


class BedrockUpstream(LoopbackServer):
    """The server, on 127.0.0.1 in a background thread; stops itself after ``max_lifetime``."""

    server_name = "bedrock upstream"

    def __init__(self, *, tools: bool = False, max_lifetime: float = 120.0,
                 guardrails: dict[str, str] | None = None, port: int = 0) -> None:
        super().__init__(max_lifetime=max_lifetime, port=port)
        self.tools = tools
        self.guardrails = dict(guardrails or {})
        self.hits: collections.Counter[str] = collections.Counter()
        self.bodies: list[dict[str, Any]] = []
        #: each request's headers (lower-case names), in arrival order
        self.headers: list[dict[str, str]] = []
        self._faults: collections.deque[str] = collections.deque()
        self._random: tuple[float, list[str], random.Random] | None = None

    @property
    def url(self) -> str:
        """Base URL (the runtime endpoint)."""
        return f"http://127.0.0.1:{self._port}"

    def fault(self, *names: str) -> None:
        """Queue faults, one per coming request."""
        for name in names:
            if name.partition(":")[0] not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        self._faults.extend(names)

    def fail_randomly(self, rate: float, faults: list[str], seed: int = 0) -> None:
        """When no fault is queued, answer ``rate`` of the requests with one of ``faults``."""
        self.fault(*faults)  # validates the names
        self._faults.clear()
        self._random = (rate, list(faults), random.Random(seed))

    def _next_fault(self) -> tuple[str, str]:
        if self._faults:
            name = self._faults.popleft()
        elif self._random is not None and self._random[2].random() < self._random[0]:
            name = self._random[2].choice(self._random[1])
        else:
            return "", ""
        fault, _, arg = name.partition(":")
        return fault, arg

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model}/{op}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer(request)
        except ConnectionResetError:  # the client gave up (deadline) while a fault slept
            return web.Response(status=499)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        op = request.match_info["op"]
        self.hits[f"/model/{request.match_info['model']}/{op}"] += 1
        body = await request.json()
        self.bodies.append(body)
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        if not request.headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return web.json_response({"message": "missing signature"}, status=403,
                                     headers={"x-amzn-errortype": "UnrecognizedClientException"})
        fault, arg = self._next_fault()
        if fault == "throttle":
            return web.json_response({"message": "Too many requests"}, status=429,
                                     headers={"x-amzn-errortype": "ThrottlingException:http://internal",
                                              "retry-after": arg or "2"})
        if fault in ("500", "503"):
            name = "InternalServerException" if fault == "500" else "ServiceUnavailableException"
            return web.json_response({"message": "upstream broke"}, status=int(fault),
                                     headers={"x-amzn-errortype": name})
        if fault == "delay":
            await self._sleep(float(arg or 1))
        if fault == "reset":
            reset_connection(request)
            return web.Response()
        if fault == "reset_after_headers":
            content_type = ("application/vnd.amazon.eventstream" if op == "converse-stream"
                            else "application/json")
            resp = web.StreamResponse(headers={"content-type": content_type,
                                               "content-length": "4096"})
            await resp.prepare(request)
            reset_connection(request)
            return resp
        if op.startswith("invoke") and "anthropic_version" in body:
            return await self._anthropic(request, op, body, fault)
        if op == "invoke":
            if "texts" in body:  # Cohere Embed v3: token count in a header
                words = sum(len(str(t).split()) for t in body["texts"])
                return web.json_response(
                    {"embeddings": [[0.25] * 4 for _ in body["texts"]], "id": "e1",
                     "response_type": "embeddings_floats", "texts": body["texts"]},
                    headers={"x-amzn-bedrock-input-token-count": str(words)})
            text = body.get("inputText", "")
            return web.json_response({"embedding": [0.1] * int(body.get("dimensions") or 4),
                                      "inputTextTokenCount": len(text.split())})
        verdict = guardrail.verdict(self.guardrails, body)
        if isinstance(verdict, web.Response):
            return verdict
        if verdict is not None:
            return await guardrail.intervene(request, op, body, verdict)
        if op == "converse":
            return await self._converse_answer(request, fault)
        return await self._stream(request, fault)

    async def _anthropic(self, request: web.Request, op: str, body: dict[str, Any],
                         fault: str) -> web.StreamResponse:
        """Claude's Messages body on InvokeModel (+WithResponseStream): bedrock_anthropic."""
        problem = claude.check_body(body)
        if problem is not None:
            return web.json_response({"message": problem}, status=400,
                                     headers={"x-amzn-errortype": "ValidationException"})
        model = request.match_info["model"]
        if op == "invoke":
            return web.json_response(claude.message(body, model))
        resp = web.StreamResponse(headers={"content-type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        for i, frame in enumerate(claude.stream_frames(body, model)):
            if i == 2 and fault == "cut":
                reset_connection(request)
                return resp
            if i == 2 and fault == "exception":
                await resp.write(exception("throttlingException", "slow down"))
                break
            await resp.write(frame)
        await resp.write_eof()
        return resp

    async def _converse_answer(self, request: web.Request, fault: str) -> web.StreamResponse:
        if fault == "stall":
            await self._sleep(STALL_SECONDS)
        if fault == "invalid_json":
            return web.Response(body=b'{"output": {"message": ', content_type="application/json")
        if fault == "cut":
            payload = json.dumps(self._converse()).encode()
            resp = web.StreamResponse(headers={"content-type": "application/json",
                                               "content-length": str(len(payload))})
            await resp.prepare(request)
            await resp.write(payload[: len(payload) // 2])
            reset_connection(request)
            return resp
        return web.json_response(self._converse(_schema_of(await request.json())))

    def _converse(self, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        if schema is not None:  # structured output asked: an instance of the schema
            content: list[dict[str, Any]] = [{"text": json.dumps(example_of(schema))}]
            return {"output": {"message": {"role": "assistant", "content": content}},
                    "stopReason": "end_turn", "usage": USAGE, "metrics": {"latencyMs": 12}}
        if self.tools:
            content = [
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
                reset_connection(request)
                return resp
            if i == 2 and fault == "stall":
                await self._sleep(STALL_SECONDS)
                return resp
            if i == 2 and fault == "invalid_json":
                await resp.write(encode_frame({":event-type": "contentBlockDelta",
                                               ":content-type": "application/json",
                                               ":message-type": "event"}, b"{not json"))
                break
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
