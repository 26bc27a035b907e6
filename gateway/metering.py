"""One usage record per request: a CloudWatch EMF line on stdout and Prometheus metrics.

The record holds tenant, route, target, region, input and output tokens, cost, latency,
time to first token, attempts and outcome; never prompt or completion text. CloudWatch
turns the EMF line (written by the ECS awslogs driver) into metrics with no agent.

Lines go to a background thread through a queue, so a slow stdout reader never stalls
the event loop.

Example::

    meter = Meter(stream=sys.stdout)
    meter.record(UsageRecord(tenant="web", route="gpt-4o", ...))
    meter.prometheus_text()   # body for GET /metrics
"""

from __future__ import annotations

import logging
import os
import queue
import select
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import IO, Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger("skyrelay.gateway.metering")

NAMESPACE = "Skyrelay/Gateway"
#: How long the record writer waits after a first record for more to batch with it.
LINGER_SECONDS = 0.02
#: Bytes a pipe writes atomically (4096 on Linux).
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)
_LATENCY_BUCKETS = (.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120)


@dataclass(slots=True)  # not frozen: that costs an object.__setattr__ per field, per request
class UsageRecord:
    """What one request used and how it ended (built once per request, then only read)."""

    request_id: str
    tenant: str
    route: str
    target: str
    region: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency_ms: float
    ttft_ms: float | None
    attempts: int
    status: int
    outcome: str  # "success" | "error" | "refused" | "client_closed"
    error_code: str | None = None
    #: where the token counts come from: "upstream" (its sane figures), "estimate" (the
    #: input estimate plus the output counted as delivered), "none" (no upstream worked)
    usage_source: str = "none"
    #: the client's own x-request-id, when it sent a safe one (never the record's id)
    client_request_id: str | None = None


def _cloudwatch_metrics(with_ttft: bool) -> bytes:
    """The EMF ``CloudWatchMetrics`` directive, the same for every record (so built once)."""
    metrics = [
        {"Name": "Requests", "Unit": "Count"},
        {"Name": "Errors", "Unit": "Count"},
        {"Name": "InputTokens", "Unit": "Count"},
        {"Name": "OutputTokens", "Unit": "Count"},
        {"Name": "Cost", "Unit": "None"},
        {"Name": "Latency", "Unit": "Milliseconds"},
    ]
    if with_ttft:
        metrics.append({"Name": "TimeToFirstToken", "Unit": "Milliseconds"})
    return orjson.dumps([{"Namespace": NAMESPACE,
                          "Dimensions": [["Route"], ["Tenant"], ["Route", "Target"]],
                          "Metrics": metrics}])


_DIRECTIVE = {False: _cloudwatch_metrics(False), True: _cloudwatch_metrics(True)}


def emf_line(record: UsageRecord, now_ms: int | None = None) -> bytes:
    """The record as one CloudWatch Embedded Metric Format JSON line."""
    doc: dict[str, Any] = {
        "Route": record.route or "none",
        "Tenant": record.tenant,
        "Target": record.target or "none",
        "Region": record.region,
        "Outcome": record.outcome,
        "Status": record.status,
        "ErrorCode": record.error_code,
        "RequestId": record.request_id,
        "ClientRequestId": record.client_request_id,
        "UsageSource": record.usage_source,
        "Attempts": record.attempts,
        "Requests": 1,
        "Errors": 0 if record.outcome == "success" else 1,
        "InputTokens": record.input_tokens,
        "OutputTokens": record.output_tokens,
        "Cost": round(record.cost, 8),
        "Latency": round(record.latency_ms, 3),
    }
    if record.ttft_ms is not None:
        doc["TimeToFirstToken"] = round(record.ttft_ms, 3)
    timestamp = now_ms if now_ms is not None else int(time.time() * 1000)
    # the fixed directive is spliced in as bytes: "{" + "_aws" + the fields' object body
    return b'{"_aws":{"Timestamp":%d,"CloudWatchMetrics":%b},%b\n' % (
        timestamp, _DIRECTIVE[record.ttft_ms is not None], orjson.dumps(doc)[1:])


def pipe_writes(lines: list[bytes], limit: int = PIPE_BUF) -> list[bytes]:
    """Whole lines grouped into writes of at most ``limit`` bytes (a longer line alone).

    A write of at most ``PIPE_BUF`` bytes to a pipe is atomic, so the records of several
    gateway workers sharing one stdout never interleave within a line
    (https://man7.org/linux/man-pages/man7/pipe.7.html).
    """
    writes: list[bytes] = []
    group: list[bytes] = []
    size = 0
    for line in lines:
        if group and size + len(line) > limit:
            writes.append(b"".join(group))
            group, size = [], 0
        group.append(line)
        size += len(line)
    if group:
        writes.append(b"".join(group))
    return writes


def aggregated_text(environ: Mapping[str, str] | None = None) -> bytes | None:
    """Every worker's metrics summed (``serve --workers N``), or None in one process."""
    folder = (os.environ if environ is None else environ).get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return None
    from prometheus_client import multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    return generate_latest(registry)


#: Label sets whose metric children :class:`Meter` keeps at hand (tenants x routes x
#: targets x outcomes of one spec stay far below it; past it the cache starts again).
_MAX_CACHED_CHILDREN = 4096


@dataclass(frozen=True, slots=True)
class _Children:
    """The labelled metrics one (tenant, route, target, outcome) updates."""

    requests: Any
    input_tokens: Any
    output_tokens: Any
    cost: Any
    latency: Any
    ttft: Any


class _LineWriter:
    """Writes lines from a queue on a daemon thread."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="skyrelay-emf", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                break
            # linger: the records of the next few milliseconds go out in the same write, so
            # the thread (and the GIL hand-over) wakes once per batch, not once per request
            time.sleep(LINGER_SECONDS)
            chunk = [line]
            while True:  # batch whatever is already queued into one write
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                chunk.append(more)
            try:
                for piece in pipe_writes(chunk):
                    self._stream.write(piece)
                    self._stream.flush()
            except (OSError, ValueError):
                pass  # stdout closed: nothing sensible to do from a logging thread

    def put(self, line: bytes) -> None:
        self._queue.put(line)

    def close(self, timeout: float = 2.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)


class Meter:
    """Emits usage records as EMF lines and keeps Prometheus counters and histograms."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        self._writer = _LineWriter(stream if stream is not None else sys.stdout.buffer)
        self.registry = CollectorRegistry()
        self.requests = Counter("skyrelay_requests", "Requests by outcome",
                                ["tenant", "route", "target", "outcome"], registry=self.registry)
        self.tokens = Counter("skyrelay_tokens", "Tokens used",
                              ["tenant", "route", "direction"], registry=self.registry)
        self.cost = Counter("skyrelay_cost", "Cost in the spec's currency",
                            ["tenant", "route"], registry=self.registry)
        self.latency = Histogram("skyrelay_request_latency_seconds", "Request latency",
                                 ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("skyrelay_time_to_first_token_seconds", "Time to first token",
                              ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.count = 0
        self._children: dict[tuple[str, str, str, str], _Children] = {}

    def record(self, rec: UsageRecord) -> None:
        """Emit one record (never raises into the request path)."""
        self.count += 1
        self._writer.put(emf_line(rec))
        try:
            self._observe(rec)
        except Exception:  # the record is out; a metric failing must not undo that
            log.exception("could not update the metrics of request %s", rec.request_id)

    def _observe(self, rec: UsageRecord) -> None:
        key = (rec.tenant, rec.route, rec.target, rec.outcome)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a tuple: once per key
            if len(self._children) >= _MAX_CACHED_CHILDREN:
                self._children.clear()
            children = self._children[key] = self._labelled(rec)
        children.requests.inc()
        if rec.input_tokens:
            children.input_tokens.inc(rec.input_tokens)
        if rec.output_tokens:
            children.output_tokens.inc(rec.output_tokens)
        if rec.cost:
            children.cost.inc(rec.cost)
        children.latency.observe(rec.latency_ms / 1000)
        if rec.ttft_ms is not None:
            children.ttft.observe(rec.ttft_ms / 1000)

    def _labelled(self, rec: UsageRecord) -> _Children:
        route = rec.route or "none"
        return _Children(
            requests=self.requests.labels(rec.tenant, route, rec.target or "none", rec.outcome),
            input_tokens=self.tokens.labels(rec.tenant, route, "input"),
            output_tokens=self.tokens.labels(rec.tenant, route, "output"),
            cost=self.cost.labels(rec.tenant, route),
            latency=self.latency.labels(route),
            ttft=self.ttft.labels(route))

    def prometheus_text(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def close(self) -> None:
        """Flush and stop the writer thread."""
        self._writer.close()


def as_dict(rec: UsageRecord) -> dict[str, Any]:
    """Plain dict of a record (for tests and logs)."""
    return asdict(rec)
