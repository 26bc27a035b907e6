"""A loopback OTLP/HTTP trace receiver for the traced gateway: counts, keeps nothing.

``gateway/testing/otlp_receiver.py`` keeps every span as a dict for the tests' assertions;
under load that would grow the harness by hundreds of thousands of dicts. This one answers
like a collector (200, an empty ``ExportTraceServiceResponse``) and only counts the export
requests, their bytes and the spans in them (one protobuf parse per batch, in C). It runs in a
daemon thread of the harness, so its CPU is not charged to the gateway's process tree.

Example::

    with SpanCounter() as sink:
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.traces_url}
        ...                       # run the gateway with that environment
        print(sink.spans, sink.requests)
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def count_spans(body: bytes) -> int:
    """Spans in one serialized ``ExportTraceServiceRequest``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    return sum(len(scope.spans) for resource in request.resource_spans
               for scope in resource.scope_spans)


class SpanCounter:
    """The receiver (context manager; see the module docstring)."""

    def __init__(self) -> None:
        self.spans = 0
        self.requests = 0
        self.bytes = 0
        self.rejected = 0
        self._lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a collector would

            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                ok = (self.path == "/v1/traces"
                      and self.headers.get("content-type") == "application/x-protobuf")
                spans = 0
                if ok:
                    try:
                        if self.headers.get("content-encoding") == "gzip":
                            raw = gzip.decompress(raw)
                        spans = count_spans(raw)
                    except (OSError, ValueError, RuntimeError):
                        ok = False
                with counter._lock:
                    if ok:
                        counter.requests += 1
                        counter.spans += spans
                        counter.bytes += len(raw)
                    else:
                        counter.rejected += 1
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                    ExportTraceServiceResponse,
                )
                answer = ExportTraceServiceResponse().SerializeToString() if ok else b""
                self.send_response(200 if ok else 400)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def traces_url(self) -> str:
        """``http://127.0.0.1:PORT/v1/traces``, the OTLP/HTTP traces endpoint."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/traces"

    def start(self) -> SpanCounter:
        """Serve from a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def counts(self) -> dict[str, int]:
        """Export requests, spans, bytes received so far, and rejected posts."""
        with self._lock:
            return {"export_requests": self.requests, "spans": self.spans,
                    "bytes": self.bytes, "rejected": self.rejected}

    def __enter__(self) -> SpanCounter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
