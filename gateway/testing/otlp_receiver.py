"""An in-process OTLP/HTTP trace receiver for tests and the bench: a tiny HTTP server on
127.0.0.1 that decodes each ``POST /v1/traces`` body (a protobuf
``ExportTraceServiceRequest``, gzip or not) with ``opentelemetry-proto`` and keeps the spans
as plain dicts. It answers like a collector (200 with an empty
``ExportTraceServiceResponse``) and stops by itself after ``max_lifetime`` seconds.

Example::

    with OtlpReceiver() as sink:
        environ = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.url + "/v1/traces"}
        ...                                   # run the gateway with that environment
        spans = sink.wait_for(2)              # [{"name", "kind", "trace_id", ...}, ...]
"""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

#: Span.SpanKind numbers (opentelemetry-proto) -> names
KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER",
         5: "CONSUMER"}
#: Status.StatusCode numbers -> names
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    if which is None:
        return None
    return getattr(any_value, which)


def decode(body: bytes) -> list[dict[str, Any]]:
    """The spans of one ``ExportTraceServiceRequest`` as dicts (ids in lower-case hex)."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "name": span.name, "kind": KINDS.get(span.kind, str(span.kind)),
                    "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "attributes": {a.key: _value(a.value) for a in span.attributes},
                    "status": STATUS.get(span.status.code, str(span.status.code)),
                    "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                    "resource": resource, "scope": scope_spans.scope.name,
                    "trace_state": span.trace_state, "flags": span.flags,
                    "status_message": span.status.message,
                })
    return spans


class OtlpReceiver:
    """The receiver (context manager; see the module docstring)."""

    def __init__(self, *, max_lifetime: float = 120.0, port: int = 0) -> None:
        self.max_lifetime = max_lifetime
        self.spans: list[dict[str, Any]] = []
        self.requests = 0
        #: the headers of every POST received (lower-case names), oldest first
        self.headers: list[dict[str, str]] = []
        #: answers to give the next POSTs instead of 200: (status, Retry-After or None)
        self.failures: list[tuple[int, str | None]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                with receiver._cond:
                    receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
                    failure = receiver.failures.pop(0) if receiver.failures else None
                if failure is not None:
                    self.send_response(failure[0])
                    if failure[1] is not None:
                        self.send_header("retry-after", failure[1])
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                if self.headers.get("content-encoding") == "gzip":
                    raw = gzip.decompress(raw)
                if self.path != "/v1/traces" or self.headers.get(
                        "content-type") != "application/x-protobuf":
                    self.send_response(404 if self.path != "/v1/traces" else 415)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                got = decode(raw)
                with receiver._cond:
                    receiver.spans.extend(got)
                    receiver.requests += 1
                    receiver._cond.notify_all()
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(max_lifetime, self._server.shutdown)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (append ``/v1/traces`` for the traces endpoint)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OtlpReceiver:
        """Serve from a daemon thread (stops by itself after ``max_lifetime``)."""
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, *statuses: int, retry_after: str | None = None) -> None:
        """Answer the next POSTs with ``statuses`` (in order), then 200 again."""
        with self._cond:
            self.failures.extend((status, retry_after) for status in statuses)

    def clear(self) -> None:
        """Forget the spans received so far."""
        with self._cond:
            self.spans.clear()

    def wait_for(self, count: int, timeout: float = 10.0, **match: Any) -> list[dict[str, Any]]:
        """The spans received (those whose keys equal ``match``) once there are at least
        ``count``; raises TimeoutError after ``timeout`` seconds."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [s for s in self.spans if all(s.get(k) == v for k, v in match.items())]
                if len(got) >= count:
                    return got
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(got)} matching span(s) received, {count} "
                                       f"expected within {timeout} s")
                self._cond.wait(left)
