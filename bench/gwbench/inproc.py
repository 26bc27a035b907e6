"""The gateway's own request path in one process: CPU per request with no sockets.

``make bench`` measures the whole gateway under wrk, where the machine's noise (two shared
cores, wrk and nginx beside it) is several times the size of one optimisation. This measures
only our code: the gateway's ASGI app, built from the bench spec exactly as ``skyrelay
gateway serve`` builds it (hashed tenant keys, limits and budgets in memory, one usage record
per request, the real provider), is called directly, request after request, with an HTTP
client that stands in for the network and answers at once with the upstream's fixed chat
completion. Beside it, in the same process and run, the floor: a bare ASGI app that reads
the body, parses it and answers JSON, the least any Python gateway must do.

CPU is ``time.process_time()`` (every thread, so the usage-record writer is counted). The
loop yields to the event loop every 64 requests, so timers and callbacks are run and freed
as under a server.

Example::

    figures = measure(requests=20_000, rounds=5)   # {"gateway": [...], "floor": [...]} µs
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

from gwbench.skyrelay_gw import CHAT_ROUTE, GATEWAY_KEY_ENV, gateway_spec
from gwbench.upstream import chat_completion_body
from gwbench.wrk import request_body

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
#: Requests between two yields to the event loop.
YIELD_EVERY = 64


class CannedResponse:
    """The upstream's 200 answer, complete on arrival (what the pooled client returns)."""

    status = 200
    reason = "OK"
    arrived = True

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.content_length = len(body)
        self.headers = {"content-type": "application/json",
                        "content-length": str(len(body))}

    async def read(self, limit: int = -1) -> bytes:
        return self._body

    def at_eof(self) -> bool:
        return True

    def release(self) -> None:
        return None

    def close(self) -> None:
        return None


class CannedHttp:
    """Stands in for :class:`skyrelay.gateway.providers.http.HttpClient`: every POST is
    answered at once with ``body``; ``posts`` counts them."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.posts = 0

    async def post(self, url: str, body: bytes, headers: Any, deadline: float) -> Any:
        self.posts += 1
        return CannedResponse(self.body)

    async def aclose(self) -> None:
        return None


def _scope(key: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 50000), "scheme": "http",
            "method": "POST", "root_path": "", "path": "/v1/chat/completions",
            "raw_path": b"/v1/chat/completions", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1:8080"), (b"user-agent", b"wrk"),
                        (b"content-type", b"application/json"),
                        (b"authorization", b"Bearer " + key.encode()),
                        (b"content-length", str(len(body)).encode())]}


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, parse it, answer the fixed completion as JSON: the least a gateway does."""
    message = await receive()
    orjson.loads(message["body"])
    out = orjson.dumps(orjson.loads(FLOOR_ANSWER))
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


FLOOR_ANSWER = chat_completion_body().encode()


def build_gateway(folder: Path, traces_url: str | None = None,
                  ) -> tuple[App, str, CannedHttp, Callable[[], None]]:
    """The gateway's app as ``serve`` builds it (bench spec), its tenant key, the canned
    client and a closer for the meter. ``traces_url``: tracing on, every request sampled,
    spans exported over OTLP/HTTP there (as the bench's ``gateway-traced``)."""
    from skyrelay.gateway.metering import Meter
    from skyrelay.gateway.providers.registry import ProviderRegistry
    from skyrelay.gateway.serve import build_app, load_config
    from skyrelay.gateway.tenancy.keys import HashedKeys, new_key
    from skyrelay.gateway.tenancy.wiring import build_hooks

    key, stored = new_key()
    spec = folder / "gateway-spec.yaml"
    spec.write_text(yaml.safe_dump(gateway_spec(upstream_port=9)))
    environ = {**os.environ, GATEWAY_KEY_ENV: stored, "OTEL_SDK_DISABLED": "true"}
    if traces_url:
        environ.update({"OTEL_SDK_DISABLED": "false", "OTEL_SERVICE_NAME": "skyrelay-bench",
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_url})
    config = load_config(spec=spec, environ=environ)
    saved = dict(os.environ)
    if traces_url:  # as a served gateway would see them (a --before-ref build may read them)
        os.environ.update(environ)
    http = CannedHttp(FLOOR_ANSWER)
    sink = open(os.devnull, "wb")  # noqa: SIM115 - closed by the closer
    meter = Meter(stream=sink)
    hooks = build_hooks(environ, meter=meter)
    app = build_app(config, providers=ProviderRegistry(config, http=http, environ=environ),
                    authenticator=HashedKeys(config, environ=environ), hooks=hooks,
                    environ=environ, probe_interval=0)

    def close() -> None:
        meter.close()
        sink.close()
        os.environ.clear()
        os.environ.update(saved)

    return app, key, http, close


async def _lifespan(app: App) -> Callable[[], Awaitable[None]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()
    outcome: list[str] = []

    async def send(message: dict[str, Any]) -> None:
        outcome.append(message["type"])
        started.set()

    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   inbox.get, send))
    await started.wait()
    if outcome[-1] != "lifespan.startup.complete":
        raise RuntimeError(f"the gateway did not start: {outcome}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(task, 10)

    return stop


async def _rounds(app: App, scope: dict[str, Any], body: bytes, requests: int,
                  rounds: int, *, warm_up: bool) -> list[float]:
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run(count: int) -> None:
        for i in range(count):
            await app(dict(scope), receive, send)
            if i % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    if warm_up:  # caches, lazily built parts
        await run(min(2000, requests))
    figures = []
    for _ in range(rounds):
        statuses.clear()
        began = time.process_time()
        await run(requests)
        figures.append((time.process_time() - began) / requests * 1e6)
        if statuses.count(200) != requests:
            raise RuntimeError(f"not every request was answered 200: {set(statuses)}")
    return figures


async def _measure(requests: int, rounds: int, only: str | None,
                   traces_url: str | None) -> dict[str, Any]:
    body = request_body(CHAT_ROUTE).encode()
    with tempfile.TemporaryDirectory(prefix="gwinproc-") as tmp:
        app, key, http, close = build_gateway(Path(tmp), traces_url)
        stop = await _lifespan(app)
        try:
            result: dict[str, Any] = {"gateway": [], "floor": []}
            for index in range(rounds):  # the two alternate, round by round
                if only in (None, "gateway"):
                    result["gateway"] += await _rounds(app, _scope(key, body), body,
                                                       requests, 1, warm_up=index == 0)
                if only in (None, "floor"):
                    result["floor"] += await _rounds(floor_app, _scope(key, body), body,
                                                     requests, 1, warm_up=index == 0)
            result["upstream_posts"] = http.posts
        finally:
            await stop()
            close()
    return result


def measure(requests: int = 20_000, rounds: int = 5, only: str | None = None,
            traces_url: str | None = None) -> dict[str, Any]:
    """µs of CPU per request, one figure per round, for ``gateway`` and ``floor`` (rounds
    alternate between the two); ``upstream_posts``: the calls the canned client answered.
    With ``traces_url`` the gateway traces every request (see :func:`build_gateway`); the
    spans still queued are flushed at shutdown, inside the measured process but after the
    rounds."""
    import uvloop

    return uvloop.run(_measure(requests, rounds, only, traces_url))


def median(values: list[float]) -> float:
    """The median, rounded to 0.1 µs."""
    return round(statistics.median(values), 1)
