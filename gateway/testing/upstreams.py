"""A local OpenAI / Azure OpenAI wire-format server with scriptable faults, for tests.

:class:`OpenAIUpstream` serves, on 127.0.0.1 and a free port, from a daemon thread with its
own event loop:

- ``POST .../chat/completions`` (JSON, or SSE with ``stream: true``: role chunk, one chunk
  per word, a ``finish_reason`` chunk, a usage chunk when ``stream_options.include_usage``,
  then ``data: [DONE]``),
- ``POST .../embeddings`` (deterministic vectors, usage),
- Azure paths ``/openai/deployments/{deployment}/...`` (``api-version`` query required;
  the deployment is the model; streams start with Azure's ``choices: []`` chunk carrying
  only ``prompt_filter_results``).

Faults are queued (:meth:`OpenAIUpstream.fault`) and consumed one per request, globally or
per model (deployment). A fault is ``"name"`` or ``"name:arg"``; see :data:`FAULTS`
(:mod:`~skyrelay.gateway.testing.openai_faults`, which also answers them).
:meth:`OpenAIUpstream.fail_randomly` draws a fault for a share of the requests instead
(seeded), for load tests.
Hits are counted per path; the last requests (headers and bodies) are kept, bounded.
The server stops by itself after ``max_lifetime`` seconds.

Example::

    with OpenAIUpstream(api_key="k") as up:
        up.fault("429:2", "500")
        client = openai.OpenAI(base_url=up.url + "/v1", api_key="k")
        ...
        assert up.hits["/v1/chat/completions"] == 3
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import random
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from skyrelay.gateway.testing.loopback_server import reset_connection
from skyrelay.gateway.testing.openai_faults import (
    AZURE_CONTENT_FILTER_ERROR,
    FAULTS,
    STALL_SECONDS,
    answer_fault,
    error_response,
)

# Names other code imports from here (the fault table lives in openai_faults).
__all__ = ["AZURE_CONTENT_FILTER_ERROR", "FAULTS", "MAX_RECORDED", "OpenAIUpstream"]

log = logging.getLogger("skyrelay.gateway.testing")

_SAFE = {"filtered": False, "severity": "safe"}
_PROMPT_FILTER_CHUNK: dict[str, Any] = {
    "choices": [], "created": 0, "id": "", "model": "", "object": "",
    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
        "hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE,
        "jailbreak": {"filtered": False, "detected": False}}}]}

MAX_RECORDED = 200


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v.get("text") if isinstance(v, dict) else v) for v in value)
    return 0


class OpenAIUpstream:
    """The fake OpenAI/Azure upstream (context manager; see the module docstring).

    ``reply`` is the assistant's text; ``api_key`` when set is required as ``api-key`` or
    ``Authorization: Bearer`` (``bearer_token`` may be accepted too); ``max_lifetime`` bounds
    how long the server runs; ``max_requests`` how many it answers (503 beyond); ``port``
    is the loopback port (0: a free one).
    """

    def __init__(self, *, reply: str = "Hello from the upstream", api_key: str | None = None,
                 bearer_token: str | None = None, max_lifetime: float = 120.0,
                 max_requests: int = 10_000, dimensions: int = 8,
                 chunk_delay: float = 0.0, usage: dict[str, Any] | None = None,
                 port: int = 0) -> None:
        self.reply = reply
        #: seconds between two stream chunks (lets a client leave mid-stream)
        self.chunk_delay = chunk_delay
        #: the usage figures to report instead of the counted ones (tests of bad upstreams)
        self.usage = usage
        #: requests whose client (the gateway) went away while this server was still working
        self.abandoned = 0
        self.api_key = api_key
        self.bearer_token = bearer_token
        self.max_lifetime = max_lifetime
        self.max_requests = max_requests
        self.dimensions = dimensions
        self.port = port  # 0: a free port, known once started
        self.hits: collections.Counter[str] = collections.Counter()
        self.connections: set[int] = set()  # client ports seen: one per TCP connection
        self.requests: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_RECORDED)
        self._faults: collections.deque[str] = collections.deque()
        self._model_faults: dict[str, collections.deque[str]] = {}
        self._random: tuple[float, list[str], random.Random] | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    # --- control (any thread) -----------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT`` (the OpenAI base is ``url + "/v1"``)."""
        return f"http://127.0.0.1:{self.port}"

    def fault(self, *faults: str, model: str | None = None) -> None:
        """Queue faults, one consumed per request (for requests to ``model`` if given)."""
        for f in faults:
            if f.partition(":")[0] not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            queue = (self._model_faults.setdefault(model, collections.deque())
                     if model is not None else self._faults)
            queue.extend(faults)

    def fail_randomly(self, rate: float, faults: list[str], seed: int = 0) -> None:
        """When no fault is queued, answer ``rate`` of the requests with one of ``faults``."""
        for f in faults:
            if f.partition(":")[0] not in FAULTS:
                raise ValueError(f"unknown fault {f!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._random = (rate, list(faults), random.Random(seed))

    def pending_faults(self) -> int:
        """Faults queued and not yet consumed."""
        with self._lock:
            return len(self._faults) + sum(len(q) for q in self._model_faults.values())

    def start(self, timeout: float = 10.0) -> OpenAIUpstream:
        """Start serving; returns once the port is bound."""
        self._thread = threading.Thread(target=self._run, name="openai-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"upstream server did not start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (idempotent) and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError("upstream server did not stop")

    def __enter__(self) -> OpenAIUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the server thread --------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to start() or logged
            self._error = err
            self._ready.set()
        finally:
            # handlers still sleeping (stall/delay) end here, not as "destroyed pending" tasks
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._ready.set()
        try:
            await asyncio.wait_for(self._stop.wait(), self.max_lifetime)
        except TimeoutError:
            log.warning("upstream server on port %s stopped after its %.0f s lifetime",
                        self.port, self.max_lifetime)
        finally:
            await runner.cleanup()

    # --- requests -----------------------------------------------------------------------

    async def _sleep(self, seconds: float, request: web.Request | None = None) -> None:
        """Sleep, but no longer than until the server stops (or ``request``'s client left,
        which is counted in :attr:`abandoned`)."""
        assert self._stop is not None
        if request is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)
            return
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._stop.is_set():
            transport = request.transport
            if transport is None or transport.is_closing():
                with self._lock:
                    self.abandoned += 1
                return
            await asyncio.sleep(min(0.02, max(0.0, end - time.monotonic())))

    def _next_fault(self, model: str) -> tuple[str, str]:
        with self._lock:
            queue = self._model_faults.get(model)
            if queue:
                name, _, arg = queue.popleft().partition(":")
            elif self._faults:
                name, _, arg = self._faults.popleft().partition(":")
            elif self._random is not None and self._random[2].random() < self._random[0]:
                name, _, arg = self._random[2].choice(self._random[1]).partition(":")
            else:
                return "", ""
        return name, arg

    def _authorized(self, request: web.Request) -> bool:
        if self.api_key is None and self.bearer_token is None:
            return True
        key = request.headers.get("api-key")
        auth = request.headers.get("authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else None
        accepted = {k for k in (self.api_key, self.bearer_token) if k}
        return (key is not None and key == self.api_key) or (bearer in accepted)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer(request)
        except ConnectionResetError:  # the client gave up (deadline) while a fault slept
            return web.Response(status=499)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        peer = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            self.hits[path] += 1
            if peer:
                self.connections.add(int(peer[1]))
            total = sum(self.hits.values())
        if total > self.max_requests:
            return error_response(503, "request budget of the test upstream exhausted",
                                  "server_error", None)
        raw = await request.read()
        self.requests.append({"path": path, "query": dict(request.query),
                              "headers": {k.lower(): v for k, v in request.headers.items()},
                              "body": raw})
        azure = path.startswith("/openai/deployments/")
        if azure:
            parts = path.split("/")
            if len(parts) < 5 or not request.query.get("api-version"):
                return web.json_response({"error": {"code": "404",
                                                    "message": "Resource not found"}},
                                         status=404)
        if not self._authorized(request):
            return error_response(401, "Incorrect API key provided.", "invalid_request_error",
                                  "invalid_api_key")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return error_response(400, "We could not parse the JSON body of your request.",
                                  "invalid_request_error", None)
        if not isinstance(body, dict):
            return error_response(400, "The body must be a JSON object.",
                                  "invalid_request_error", None)
        model = path.split("/")[3] if azure else str(body.get("model", ""))
        if path.endswith("/chat/completions"):
            op = "chat"
        elif path.endswith("/embeddings"):
            op = "embeddings"
        else:
            return error_response(404, f"Unknown path {path}", "invalid_request_error", None)
        name, arg = self._next_fault(model)
        stream = op == "chat" and body.get("stream") is True
        if name:
            answer = await answer_fault(request, name, arg, stream, self._sleep)
            if answer is not None:
                return answer
        if op == "embeddings":
            return self._embeddings(body, model)
        if stream:
            return await self._stream(request, body, model,
                                      azure or path.startswith("/openai/v1/"), name, arg)
        return web.Response(body=orjson.dumps(self._completion(body, model)),
                            content_type="application/json")

    def _completion(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        prompt = sum(_words(m.get("content")) for m in body.get("messages", [])
                     if isinstance(m, dict))
        completion = len(self.reply.split())
        usage: dict[str, Any] = ({"prompt_tokens": prompt, "completion_tokens": completion,
                                  "total_tokens": prompt + completion}
                                 if self.usage is None else dict(self.usage))
        return {"id": "chatcmpl-upstream", "object": "chat.completion",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": self.reply}}],
                "usage": usage}

    def _embeddings(self, body: dict[str, Any], model: str) -> web.Response:
        inputs = body.get("input")
        items = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for i, text in enumerate(items):
            digest = hashlib.sha256(str(text).encode()).digest()
            vector = [round(b / 255.0, 6) for b in digest[: self.dimensions]]
            data.append({"object": "embedding", "index": i, "embedding": vector})
        tokens = sum(_words(t) if isinstance(t, str) else 1 for t in items)
        return web.json_response({"object": "list", "data": data, "model": model,
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                                 dumps=lambda v: orjson.dumps(v).decode())

    async def _stream(self, request: web.Request, body: dict[str, Any], model: str,
                      azure: bool, fault: str, arg: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream",
                                           "cache-control": "no-cache"})
        await resp.prepare(request)
        complete = self._completion(body, model)
        base = {"id": "chatcmpl-upstream", "object": "chat.completion.chunk",
                "created": complete["created"], "model": model}
        chunks: list[dict[str, Any]] = []
        if azure:
            chunks.append(_PROMPT_FILTER_CHUNK)
        chunks.append({**base, "choices": [{"index": 0, "finish_reason": None,
                                            "delta": {"role": "assistant", "content": ""}}]})
        for i, word in enumerate(self.reply.split()):
            chunks.append({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {
                "content": word if i == 0 else " " + word}}]})
        chunks.append({**base, "choices": [{"index": 0, "finish_reason": "stop", "delta": {}}]})
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            chunks.append({**base, "choices": [], "usage": complete["usage"]})
        # only a stream fault's own arg is a chunk count ("delay:0.3" is seconds)
        chunk_faults = {"cut_stream": 2, "stall": 1, "stream_error": 1, "invalid_json": 1}
        limit = int(arg or chunk_faults[fault]) if fault in chunk_faults else None
        for i, chunk in enumerate(chunks):
            if limit is not None and i == limit:
                break
            if self.chunk_delay and i:
                await self._sleep(self.chunk_delay, request)
                if request.transport is None or request.transport.is_closing():
                    return resp
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        if fault == "cut_stream":
            reset_connection(request)
            return resp
        if fault == "stall":
            await self._sleep(STALL_SECONDS)
            return resp
        if fault == "stream_error":
            await resp.write(b'data: {"error": {"message": "The server had an error while '
                             b'processing your request.", "type": "server_error"}}\n\n')
        elif fault == "invalid_json":
            await resp.write(b"data: {this is not json\n\n")
        else:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
