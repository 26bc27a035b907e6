"""Time to first byte of a streamed response, measured on a raw socket.

One HTTP/1.1 keep-alive connection sends the same POST again and again (concurrency 1). For
each request the clock starts just before ``sendall`` and stops when the first byte of the
response *body* (the first SSE byte, after the headers and the chunk-size line) has arrived;
the rest of the response is read to its end so the next request starts clean. Timing with
``perf_counter_ns`` around blocking socket calls, without an HTTP library in between, keeps the
measurer's own overhead in the microseconds.

Example::

    stats = measure_ttfb("127.0.0.1", 8080, "/sse/v1/chat/completions", body, api_key=None,
                         iterations=200)
    print(stats.median_ms)
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gwbench.procs import HarnessError


class Conn:
    """A blocking socket with a read buffer."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        self.buf += data

    def read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            self.fill()
        head, _, self.buf = self.buf.partition(sep)
        return head

    def read_exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            self.fill()
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class TtfbStats:
    """Time to first body byte (ms) over many requests, and the time to the full response."""

    iterations: int
    median_ms: float
    p90_ms: float
    min_ms: float
    total_median_ms: float
    status: int
    content_type: str

    def to_dict(self) -> dict[str, float | int | str]:
        """Plain dict for the JSON results."""
        return {"iterations": self.iterations, "median_ms": round(self.median_ms, 4),
                "p90_ms": round(self.p90_ms, 4), "min_ms": round(self.min_ms, 4),
                "total_median_ms": round(self.total_median_ms, 4), "status": self.status,
                "content_type": self.content_type}


def build_request(host: str, port: int, path: str, body: bytes, api_key: str | None,
                  headers: Mapping[str, str] | None = None) -> bytes:
    """The raw bytes of a streamed POST (bearer key and extra headers if given)."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}",
             "Content-Type: application/json", "Accept: text/event-stream",
             f"Content-Length: {len(body)}"]
    if api_key:
        lines.append(f"Authorization: Bearer {api_key}")
    for key, value in (headers or {}).items():
        if any(c in key + value for c in "\r\n"):
            raise ValueError(f"header {key!r} must not contain line breaks")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass(frozen=True)
class Exchange:
    """One timed request: ns to the first body byte and to the end, the answer and its body."""

    ttfb_ns: int
    total_ns: int
    status: int
    content_type: str
    keep_alive: bool
    body: bytes


def exchange(conn: Conn, request: bytes, *, keep_body: bool = False) -> Exchange:
    """Send one request on ``conn`` and read the whole response, timing it.

    The body is kept (its parts joined after the clock stops) only when ``keep_body``.
    """
    start = time.perf_counter_ns()
    conn.sock.sendall(request)
    head = conn.read_until(b"\r\n\r\n").decode("latin-1")
    status_line, *header_lines = head.split("\r\n")
    status = int(status_line.split()[1])
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    keep_alive = headers.get("connection", "").lower() != "close"
    first = 0
    parts: list[bytes] = []
    keep = parts.append if keep_body else (lambda _b: None)
    if chunked:
        while True:
            size = int(conn.read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                conn.read_until(b"\r\n")  # end of (empty) trailers
                break
            if not first:
                while not conn.buf:
                    conn.fill()
                first = time.perf_counter_ns()
            keep(conn.read_exact(size + 2)[:-2])
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length:
            while not conn.buf:
                conn.fill()
            first = time.perf_counter_ns()
            keep(conn.read_exact(length))
    else:  # body ends when the server closes the connection
        while not conn.buf:
            conn.fill()
        first = time.perf_counter_ns()
        try:
            while True:
                conn.fill()
        except ConnectionError:
            pass
        keep(conn.buf)
        conn.buf = b""
        keep_alive = False
    end = time.perf_counter_ns()
    return Exchange((first or end) - start, end - start, status, headers.get("content-type", ""),
                    keep_alive, b"".join(parts))


def measure_ttfb(host: str, port: int, path: str, body: str, *, api_key: str | None,
                 iterations: int = 300, warmup: int = 30, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None) -> TtfbStats:
    """Median time to the first body byte of ``iterations`` sequential streamed requests.

    Raises :class:`HarnessError` when a response is not 200 ``text/event-stream``.
    """
    request = build_request(host, port, path, body.encode(), api_key, headers)
    ttfbs: list[int] = []
    totals: list[int] = []
    status, ctype = 0, ""
    conn = Conn(host, port, timeout)
    try:
        for i in range(warmup + iterations):
            try:
                got = exchange(conn, request)
            except ConnectionError:
                conn.close()
                conn = Conn(host, port, timeout)
                got = exchange(conn, request)
            ttfb, total, status, ctype, keep = (got.ttfb_ns, got.total_ns, got.status,
                                                got.content_type, got.keep_alive)
            if status != 200 or not ctype.startswith("text/event-stream"):
                raise HarnessError(f"stream request to {host}:{port}{path} answered {status} "
                                   f"{ctype!r}, expected 200 text/event-stream")
            if i >= warmup:
                ttfbs.append(ttfb)
                totals.append(total)
            if not keep:
                conn.close()
                conn = Conn(host, port, timeout)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"stream request to {host}:{port}{path} failed: {exc}") from None
    finally:
        conn.close()
    ttfbs.sort()
    return TtfbStats(
        iterations=len(ttfbs), median_ms=statistics.median(ttfbs) / 1e6,
        p90_ms=ttfbs[int(0.9 * (len(ttfbs) - 1))] / 1e6, min_ms=ttfbs[0] / 1e6,
        total_median_ms=statistics.median(totals) / 1e6, status=status, content_type=ctype,
    )
