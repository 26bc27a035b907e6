"""The long stream: total time of a 1,000-chunk SSE response through a proxy, raw socket.

One keep-alive connection sends the same streamed request again and again (concurrency 1);
the clock runs from just before ``sendall`` to the last byte of the body
(:func:`gwbench.ttfb.exchange`). The upstream sends its :data:`~gwbench.upstream.LONG_CHUNKS`
chunks as fast as loopback carries them, so the time a proxy adds over nginx is what it spends
per chunk (parsing, metering, re-framing) times the chunk count: the report divides the
difference of the medians by the chunk count.

Each answer is checked: 200 ``text/event-stream``, at least as many JSON ``data:`` chunks as
the upstream sent minus the usage chunk (a proxy may fold it), the last content word and
``data: [DONE]``; anything else is a :class:`HarnessError`.

Example::

    stats = measure_long_stream("127.0.0.1", 8080, "/long/v1/chat/completions", body,
                                api_key=None, iterations=20)
    print(stats.median_ms, stats.chunks)
    added_us = per_chunk_us(gateway_stats.median_ms, nginx_stats.median_ms, 1000)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from gwbench.procs import HarnessError
from gwbench.ttfb import Conn, build_request, exchange
from gwbench.upstream import LONG_CHUNKS, LONG_LAST_WORD


@dataclass(frozen=True)
class LongStreamStats:
    """Total times (ms) of ``iterations`` long streams and what the last one carried."""

    iterations: int
    median_ms: float
    min_ms: float
    max_ms: float
    chunks: int  # JSON data: chunks in the last answer
    bytes: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for the JSON results."""
        return {"iterations": self.iterations, "median_ms": round(self.median_ms, 4),
                "min_ms": round(self.min_ms, 4), "max_ms": round(self.max_ms, 4),
                "chunks": self.chunks, "bytes": self.bytes}


def count_chunks(body: bytes) -> tuple[int, bool, bool]:
    """(JSON ``data:`` chunks, whether the last content word is there, whether ``[DONE]`` is).

    >>> count_chunks(b'data: {"a":1}\\n\\ndata: {"b":"end."}\\n\\ndata: [DONE]\\n\\n')
    (2, True, True)
    """
    text = body.decode("utf-8", "replace")
    events = [e.strip() for e in text.replace("\r\n", "\n").split("\n\n") if e.strip()]
    data = [e[5:].strip() for e in events if e.startswith("data:")]
    json_chunks = sum(1 for d in data if d.startswith("{"))
    return json_chunks, f'"{LONG_LAST_WORD}"' in text, "[DONE]" in data


def check_answer(status: int, content_type: str, body: bytes, where: str,
                 expected: int = LONG_CHUNKS) -> int:
    """The answer's chunk count, or a HarnessError saying what is wrong with it."""
    if status != 200 or not content_type.startswith("text/event-stream"):
        raise HarnessError(f"long stream from {where} answered {status} {content_type!r}: "
                           f"{body[:300]!r}")
    chunks, last_word, done = count_chunks(body)
    if chunks < expected - 1 or not last_word or not done:
        raise HarnessError(f"long stream from {where} carried {chunks} of {expected} chunks "
                           f"(last word {'present' if last_word else 'missing'}, [DONE] "
                           f"{'present' if done else 'missing'})")
    return chunks


def measure_long_stream(host: str, port: int, path: str, body: str, *, api_key: str | None,
                        iterations: int = 20, warmup: int = 3, timeout: float = 60.0,
                        headers: Mapping[str, str] | None = None) -> LongStreamStats:
    """Median total time of ``iterations`` sequential long streams (after ``warmup``)."""
    if iterations < 1:
        raise ValueError("iterations must be >= 1")
    where = f"{host}:{port}{path}"
    request = build_request(host, port, path, body.encode(), api_key, headers)
    totals: list[int] = []
    chunks = size = 0
    conn = Conn(host, port, timeout)
    try:
        for i in range(warmup + iterations):
            try:
                got = exchange(conn, request, keep_body=True)
            except ConnectionError:
                conn.close()
                conn = Conn(host, port, timeout)
                got = exchange(conn, request, keep_body=True)
            chunks = check_answer(got.status, got.content_type, got.body, where)
            size = len(got.body)
            if i >= warmup:
                totals.append(got.total_ns)
            if not got.keep_alive:
                conn.close()
                conn = Conn(host, port, timeout)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"long stream from {where} failed: {exc}") from None
    finally:
        conn.close()
    return LongStreamStats(iterations=len(totals), median_ms=statistics.median(totals) / 1e6,
                           min_ms=min(totals) / 1e6, max_ms=max(totals) / 1e6, chunks=chunks,
                           bytes=size)


def per_chunk_us(proxy_ms: float, floor_ms: float, chunks: int = LONG_CHUNKS) -> float:
    """Time a proxy adds per chunk over the floor, in µs.

    >>> per_chunk_us(25.0, 5.0, 1000)
    20.0
    """
    return (proxy_ms - floor_ms) * 1000.0 / chunks
