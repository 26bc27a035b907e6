"""A bounded load generator that classifies every answer of the gateway, for reliability tests.

:func:`run_load` sends ``requests`` chat completions (JSON and streamed, by a plan function)
with at most ``concurrency`` in flight over one aiohttp session, each with its own
``x-request-id``, and sorts every answer into exactly one :class:`Kind`:

- ``complete``: 200 with a whole completion (JSON with choices and usage; or a stream of
  JSON chunks ending in ``data: [DONE]``, with the usage chunk when it was asked for),
- ``http_error``: a 4xx/5xx whose body is an OpenAI error object,
- ``stream_error``: a started stream that ends with an SSE error event (OpenAI error
  object) and no ``[DONE]``,
- ``malformed``: anything else the gateway answered (wrong shape, a traceback, ...),
- ``lost``: no answer at all (connection reset, client timeout).

The first three are what a client may see; a reliability test expects the last two to be
zero. Loopback only: the URL must be ``http://127.0.0.1``.

Example::

    report = asyncio.run(run_load(url, plan, requests=2000, concurrency=200))
    assert report.counts["lost"] == 0
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import orjson

Kind = Literal["complete", "http_error", "stream_error", "malformed", "lost"]
KINDS: tuple[Kind, ...] = ("complete", "http_error", "stream_error", "malformed", "lost")


@dataclass(frozen=True, slots=True)
class Planned:
    """One request: who sends it, the body, and whether it streams."""

    key: str
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


@dataclass(slots=True)
class Answer:
    """How one request ended."""

    request_id: str
    kind: Kind
    status: int
    code: str | None = None
    detail: str = ""


@dataclass
class LoadReport:
    """Every answer, and counts by kind, status and error code."""

    answers: list[Answer] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Answers per kind, every kind present (zero included)."""
        found = collections.Counter(a.kind for a in self.answers)
        return {kind: found[kind] for kind in KINDS}

    def by_code(self) -> collections.Counter[str]:
        """``status code`` for every error answer (e.g. ``502 upstream_server``)."""
        return collections.Counter(f"{a.status} {a.code}" for a in self.answers
                                   if a.kind in ("http_error", "stream_error"))

    def count(self, kind: Kind) -> int:
        return sum(1 for a in self.answers if a.kind == kind)


def is_openai_error(obj: Any) -> bool:
    """``{"error": {"message": str, "type", "param", "code"}}`` and no traceback."""
    if not isinstance(obj, dict) or not isinstance(obj.get("error"), dict):
        return False
    err = obj["error"]
    return ({"message", "type", "param", "code"} <= set(err)
            and isinstance(err["message"], str) and bool(err["message"])
            and "Traceback" not in err["message"])


def classify_json(request_id: str, status: int, raw: bytes) -> Answer:
    """A non-streamed answer."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Answer(request_id, "malformed", status, detail=raw[:200].decode("latin-1"))
    if status == 200:
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if (isinstance(choices, list) and choices and isinstance(doc.get("usage"), dict)
                and isinstance(choices[0].get("message"), dict)):
            return Answer(request_id, "complete", status)
        return Answer(request_id, "malformed", status, detail=raw[:200].decode("latin-1"))
    if status >= 400 and is_openai_error(doc):
        return Answer(request_id, "http_error", status, code=doc["error"]["code"],
                      detail=doc["error"]["message"][:200])
    return Answer(request_id, "malformed", status, detail=raw[:200].decode("latin-1"))


def classify_stream(request_id: str, raw: bytes, want_usage: bool) -> Answer:
    """A 200 ``text/event-stream`` answer, read to its end."""
    events = [block for block in raw.split(b"\n\n") if block.strip()]
    done, usage, error = False, False, None
    for i, block in enumerate(events):
        if not block.startswith(b"data: ") or b"\n" in block.strip():
            return Answer(request_id, "malformed", 200, detail=block[:200].decode("latin-1"))
        data = block[6:].strip()
        if data == b"[DONE]":
            done = i == len(events) - 1
            if not done:
                return Answer(request_id, "malformed", 200, detail="events after [DONE]")
            continue
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return Answer(request_id, "malformed", 200, detail=data[:200].decode("latin-1"))
        if isinstance(chunk, dict) and "error" in chunk:
            if not is_openai_error(chunk) or i != len(events) - 1:
                return Answer(request_id, "malformed", 200, detail=data[:200].decode("latin-1"))
            error = chunk["error"]
        elif isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
            usage = True
    if error is not None:
        return Answer(request_id, "stream_error", 200, code=error["code"],
                      detail=error["message"][:200])
    if done and (usage or not want_usage):
        return Answer(request_id, "complete", 200)
    return Answer(request_id, "malformed", 200,
                  detail=f"stream ended without [DONE] or usage (done={done})")


async def _one(session: aiohttp.ClientSession, url: str, request_id: str,
               planned: Planned) -> Answer:
    headers = {"authorization": "Bearer " + planned.key, "x-request-id": request_id}
    try:
        async with session.post(url + "/v1/chat/completions", data=orjson.dumps(planned.body),
                                headers={**headers, "content-type": "application/json"}
                                ) as resp:
            raw = await resp.read()
            if resp.status == 200 and planned.stream:
                if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                    return Answer(request_id, "malformed", 200, detail="not an event stream")
                options = planned.body.get("stream_options") or {}
                return classify_stream(request_id, raw, bool(options.get("include_usage")))
            return classify_json(request_id, resp.status, raw)
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Answer(request_id, "lost", 0, detail=f"{type(exc).__name__}: {exc}")


async def run_load(url: str, plan: Callable[[int], Planned], *, requests: int,
                   concurrency: int, timeout: float = 60.0,
                   on_progress: Callable[[int], None] | None = None) -> LoadReport:
    """Send ``requests`` planned requests, ``concurrency`` at a time; classify each answer.

    Request ``i`` carries ``x-request-id: load-<i>``. ``on_progress(done)`` is called after
    each answer (e.g. to sample memory at a point of the run).
    """
    if not url.startswith("http://127.0.0.1"):
        raise ValueError("load runs on loopback only")
    report = LoadReport()
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def worker() -> None:
            for i in counter:  # shared iterator: each index is taken by exactly one worker
                answer = await _one(session, url, f"load-{i}", plan(i))
                report.answers.append(answer)
                if on_progress is not None:
                    on_progress(len(report.answers))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return report
