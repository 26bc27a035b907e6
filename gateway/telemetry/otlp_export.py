"""Batched OTLP/HTTP export of the gateway's span records, on a thread of its own.

The request path calls :meth:`SpanBatcher.add` (a deque append); the thread wakes every
schedule delay, or as soon as a batch is full, encodes the queued records
(:mod:`.otlp_encode`) and POSTs them as ``application/x-protobuf``. Only the standard
library's ``http.client`` is used, so tracing needs no package of its own.

The ``OTEL_*`` variables honoured (the OTLP exporter configuration,
https://opentelemetry.io/docs/languages/sdk-configuration/otlp-exporter/, and the batch span
processor's, https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#batch-span-processor);
the ``_TRACES_`` form of each exporter variable wins over the general one:

* ``OTEL_EXPORTER_OTLP_(TRACES_)HEADERS``: ``key=value`` pairs, comma separated, values
  percent-decoded;
* ``OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT``: milliseconds per export, retries included
  (default 10000; the unit of the specification; the Python SDK reads seconds);
* ``OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION``: ``gzip`` or ``none``;
* ``OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE``: CA bundle for an ``https`` endpoint;
  ``_CLIENT_CERTIFICATE`` and ``_CLIENT_KEY``: the client's certificate and key (mTLS);
* ``OTEL_BSP_SCHEDULE_DELAY`` (ms, 5000), ``OTEL_BSP_MAX_QUEUE_SIZE`` (2048; spans beyond
  it are dropped and counted), ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE`` (512).

Retries follow OTLP/HTTP (https://opentelemetry.io/docs/specs/otlp/#otlphttp-response):
429, 502, 503 and 504 and connection failures are retried with exponential backoff (or
after ``Retry-After``) until the export timeout; any other answer drops the batch, logged.

Example::

    options = ExportOptions.from_environ(os.environ)
    batcher = SpanBatcher(encoder, OtlpHttpExporter("http://127.0.0.1:4318/v1/traces", options),
                          options)
    batcher.add(record)           # from the request path
    batcher.shutdown()            # exports what is queued, stops the thread
"""

from __future__ import annotations

import collections
import gzip
import http.client
import logging
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from skyrelay.gateway.telemetry.otlp_encode import SpanEncoder
from skyrelay.gateway.telemetry.spans import SpanRecord

log = logging.getLogger("skyrelay.gateway.telemetry")

RETRYABLE = frozenset((429, 502, 503, 504))
_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 8.0


def _setting(environ: Mapping[str, str], name: str) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``, else ''."""
    return (environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}")
            or environ.get(f"OTEL_EXPORTER_OTLP_{name}") or "").strip()


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be above 0")
    return value


def parse_pairs(raw: str, variable: str) -> dict[str, str]:
    """``key=value`` pairs, comma separated, values percent-decoded (the format of
    ``OTEL_EXPORTER_OTLP_HEADERS`` and ``OTEL_RESOURCE_ATTRIBUTES``); ValueError naming
    ``variable`` for a pair without ``=``.

    >>> parse_pairs("team=ml%20platform, tier=gold", "OTEL_RESOURCE_ATTRIBUTES")
    {'team': 'ml platform', 'tier': 'gold'}
    """
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{variable}: {pair!r} is not key=value")
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def parse_headers(raw: str) -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_HEADERS`` as a dict (names in lower case).

    >>> parse_headers("Api-Key=abc%20d, x-tenant=acme")
    {'api-key': 'abc d', 'x-tenant': 'acme'}
    """
    return {name.lower(): value
            for name, value in parse_pairs(raw, "OTEL_EXPORTER_OTLP_HEADERS").items()}


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """The exporter's and the batcher's settings (see the module docstring)."""

    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    gzip: bool = False
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None
    schedule_delay_s: float = 5.0
    max_queue: int = 2048
    max_batch: int = 512

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ExportOptions:
        """The options in ``environ``; ValueError names a variable with a bad value."""
        compression = _setting(environ, "COMPRESSION").lower()
        if compression not in ("", "none", "gzip"):
            raise ValueError(f"OTEL_EXPORTER_OTLP_COMPRESSION={compression!r}: gzip or none")
        timeout_raw = _setting(environ, "TIMEOUT")
        try:
            timeout_ms = float(timeout_raw) if timeout_raw else 10_000.0
        except ValueError:
            raise ValueError(f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout_raw!r} is not a number "
                             "of milliseconds") from None
        if timeout_ms <= 0:
            raise ValueError(f"OTEL_EXPORTER_OTLP_TIMEOUT={timeout_raw!r} must be above 0")
        max_queue = _positive_int(environ, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)
        return cls(headers=parse_headers(_setting(environ, "HEADERS")),
                   timeout_s=timeout_ms / 1000, gzip=compression == "gzip",
                   certificate=_setting(environ, "CERTIFICATE") or None,
                   client_certificate=_setting(environ, "CLIENT_CERTIFICATE") or None,
                   client_key=_setting(environ, "CLIENT_KEY") or None,
                   schedule_delay_s=_positive_int(environ, "OTEL_BSP_SCHEDULE_DELAY",
                                                  5000) / 1000,
                   max_queue=max_queue,
                   max_batch=min(max_queue, _positive_int(
                       environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)))


class OtlpHttpExporter:
    """POSTs encoded ``ExportTraceServiceRequest`` bodies to one endpoint, keeping the
    connection alive between exports (used by one thread only)."""

    def __init__(self, endpoint: str, options: ExportOptions) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OTLP endpoint {endpoint!r} is not an http(s) URL")
        self.endpoint = endpoint
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._options = options
        self._headers = {"content-type": "application/x-protobuf",
                         "user-agent": "skyrelay-gateway-otlp", **options.headers}
        if options.gzip:
            self._headers["content-encoding"] = "gzip"
        self._tls: ssl.SSLContext | None = None
        if self._https:
            self._tls = ssl.create_default_context(cafile=options.certificate)
            if options.client_certificate:
                self._tls.load_cert_chain(options.client_certificate, options.client_key)
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._https:
                self._conn = http.client.HTTPSConnection(self._host, self._port,
                                                         timeout=timeout, context=self._tls)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port,
                                                        timeout=timeout)
        else:
            self._conn.timeout = timeout
            if self._conn.sock is not None:
                self._conn.sock.settimeout(timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _post(self, body: bytes, timeout: float) -> tuple[int, str | None]:
        conn = self._connection(timeout)
        try:
            conn.request("POST", self._path, body=body, headers=self._headers)
            response = conn.getresponse()
            response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, response.getheader("retry-after")

    def export(self, body: bytes, give_up_at: float | None = None) -> bool:
        """POST ``body`` (retrying as the module docstring says); True when accepted.
        ``give_up_at``: a ``time.monotonic()`` instant that cuts the export timeout short."""
        if self._options.gzip:
            body = gzip.compress(body, compresslevel=6)
        deadline = time.monotonic() + self._options.timeout_s
        if give_up_at is not None:
            deadline = min(deadline, give_up_at)
        backoff = _BACKOFF_START_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("OTLP export to %s timed out; the batch is dropped", self.endpoint)
                return False
            try:
                status, retry_after = self._post(body, left)
            except (OSError, http.client.HTTPException) as exc:
                status, retry_after, reason = 0, None, f"{type(exc).__name__}: {exc}"
            else:
                if 200 <= status < 300:
                    return True
                reason = f"HTTP {status}"
                if status not in RETRYABLE:
                    log.warning("OTLP export to %s refused (%s); the batch is dropped",
                                self.endpoint, reason)
                    return False
            wait = backoff
            if retry_after and retry_after.strip().isdigit():
                wait = float(retry_after)
            if wait >= deadline - time.monotonic():
                log.warning("OTLP export to %s failed (%s); the batch is dropped",
                            self.endpoint, reason)
                return False
            time.sleep(wait)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)


class SpanBatcher:
    """The queue between the request path and the exporting thread."""

    def __init__(self, encoder: SpanEncoder, exporter: OtlpHttpExporter,
                 options: ExportOptions) -> None:
        self._encoder, self._exporter, self._options = encoder, exporter, options
        self._queue: collections.deque[SpanRecord] = collections.deque()
        self._wake = threading.Event()
        self._flushes: list[threading.Event] = []
        self._lock = threading.Lock()  # guards _flushes
        self._stopping = False
        self._give_up_at: float | None = None  # set by shutdown: when to stop exporting
        #: spans lost: the queue was full, the export failed or shutdown ran out of time
        self.dropped = 0
        self.exported = 0  # spans the endpoint accepted
        self._thread = threading.Thread(target=self._run, name="skyrelay-otlp", daemon=True)
        self._thread.start()

    @property
    def encoder(self) -> SpanEncoder:
        """The encoder of the batches (for pre-encoded attributes)."""
        return self._encoder

    def add(self, record: SpanRecord) -> None:
        """Queue an ended span (drops and counts it when the queue is full)."""
        queue = self._queue
        if len(queue) >= self._options.max_queue:
            self.dropped += 1
            return
        queue.append(record)
        if len(queue) == self._options.max_batch:  # a full batch: export it now
            self._wake.set()

    def force_flush(self, timeout_ms: float = 30_000) -> bool:
        """Export everything queued now; False when that took longer than ``timeout_ms``."""
        done = threading.Event()
        with self._lock:
            self._flushes.append(done)
        self._wake.set()
        return done.wait(timeout_ms / 1000)

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Export what is queued and stop the thread, in at most ``timeout_s`` (default:
        the export timeout) however many batches are queued; what is left is dropped."""
        timeout_s = self._options.timeout_s if timeout_s is None else timeout_s
        self._give_up_at = time.monotonic() + timeout_s
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout_s + 1.0)
        self._exporter.close()

    def _drain(self, everything: bool) -> None:
        """Export full batches (and, with ``everything``, the rest too)."""
        queue, limit = self._queue, self._options.max_batch
        while len(queue) >= limit or (everything and queue):
            if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                log.warning("shutting down: %d spans not exported in time", len(queue))
                self.dropped += len(queue)
                queue.clear()
                return
            batch = [queue.popleft() for _ in range(min(limit, len(queue)))]
            try:
                sent = self._exporter.export(self._encoder.request(batch), self._give_up_at)
            except Exception:  # the thread must outlive one bad batch
                log.exception("could not export %d spans", len(batch))
                sent = False
            if sent:
                self.exported += len(batch)
            else:
                self.dropped += len(batch)

    def _run(self) -> None:
        while True:
            # woken early by a full batch, a flush or shutdown; the timeout is the schedule
            timed_out = not self._wake.wait(self._options.schedule_delay_s)
            self._wake.clear()
            with self._lock:
                flushes, self._flushes = self._flushes, []
            self._drain(everything=timed_out or bool(flushes) or self._stopping)
            for done in flushes:
                done.set()
            if self._stopping:
                self._drain(everything=True)
                return
