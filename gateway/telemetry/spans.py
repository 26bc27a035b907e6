"""The gateway's span records, their ids, the sampler and the client's W3C trace context.

A span here is a :class:`SpanRecord`: a slotted object the request path fills and hands to
the batch exporter (:mod:`.otlp_export`) when it ends; nothing else runs per span. The
OpenTelemetry SDK's span lifecycle (context objects, attribute validation under a lock,
processor hooks) cost the gateway more than its whole request path did, which is why the
gateway keeps these records instead (figures: bench/results/pipeline*.md).

* ids: 128-bit trace and 64-bit span ids from a :class:`random.Random` seeded from
  ``os.urandom`` in the serving process (each forked worker makes its own);
* the sampler: the SDK environment specification's samplers
  (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/#general-sdk-configuration):
  ``always_on``, ``always_off``, ``traceidratio`` and their ``parentbased_`` forms. The
  ratio decision is on the trace id's low 64 bits (as the SDK's ``TraceIdRatioBased``),
  so every service sampling at one ratio keeps the same traces;
* ``traceparent`` parsing per W3C Trace Context (https://www.w3.org/TR/trace-context/#traceparent-header):
  an invalid header is ignored and the request starts a trace of its own.

Example::

    parent = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    sampler = Sampler("parentbased_traceidratio", 0.1)
    sampler.sampled(parent.trace_id, parent.flags)    # True: the caller sampled it
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: Span.SpanKind (opentelemetry-proto trace.proto)
KIND_SERVER = 2
KIND_CLIENT = 3
#: Status.StatusCode
STATUS_UNSET = 0
STATUS_ERROR = 2
#: W3C trace flags: sampled
SAMPLED = 0x01
#: Span.flags bits 8 and 9 (trace.proto SpanFlags): "is the parent remote" is known / true
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200

SAMPLERS = ("always_on", "always_off", "traceidratio", "parentbased_always_on",
            "parentbased_always_off", "parentbased_traceidratio")
_LOW_64 = (1 << 64) - 1
_HEX = frozenset("0123456789abcdef")


class SpanRecord:
    """One finished (or finishing) span, as it will be exported."""

    __slots__ = ("trace_id", "span_id", "parent_id", "name", "kind", "start_ns", "end_ns",
                 "attributes", "fixed", "status", "status_message", "flags", "tracestate")

    def __init__(self, trace_id: int, span_id: int, parent_id: int, name: str, kind: int,
                 start_ns: int, attributes: dict[str, Any], flags: int,
                 tracestate: str | None) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id  # 0: a root span
        self.name = name
        self.kind = kind
        self.start_ns = start_ns
        self.end_ns = start_ns
        self.attributes = attributes
        #: attributes already encoded (``SpanEncoder.attributes``), written before the others:
        #: those a target or a route always has, encoded once per process
        self.fixed = b""
        self.status = STATUS_UNSET
        self.status_message = ""
        self.flags = flags  # W3C trace flags | HAS_IS_REMOTE [| IS_REMOTE]
        self.tracestate = tracestate

    def error(self, message: str) -> None:
        """Mark the span failed (status ERROR) with ``message``."""
        self.status = STATUS_ERROR
        self.status_message = message

    def __repr__(self) -> str:
        return (f"SpanRecord({self.name!r}, trace={self.trace_id:032x}, "
                f"span={self.span_id:016x}, parent={self.parent_id:016x})")


class SpanIds:
    """Random non-zero trace and span ids (make one per process, after any fork)."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = random.Random().getrandbits  # seeded from os.urandom

    def trace_id(self) -> int:
        return self._bits(128) or 1

    def span_id(self) -> int:
        return self._bits(64) or 1


@dataclass(frozen=True, slots=True)
class Parent:
    """The client's span context from its ``traceparent``."""

    trace_id: int
    span_id: int
    flags: int


def parse_traceparent(value: str) -> Parent | None:
    """The parent in a ``traceparent`` value, or None when it is not a valid one.

    >>> parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").flags
    1
    >>> parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
    True
    """
    value = value.strip()
    if len(value) < 55 or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    version, trace, span, flags = value[:2], value[3:35], value[36:52], value[53:55]
    if version == "ff" or not _HEX.issuperset(version + trace + span + flags):
        return None
    # version 00 is exactly 55 characters; a later version may append "-..." fields
    if (version == "00" and len(value) != 55) or (len(value) > 55 and value[55] != "-"):
        return None
    trace_id, span_id = int(trace, 16), int(span, 16)
    if not trace_id or not span_id:
        return None
    return Parent(trace_id, span_id, int(flags, 16))


class Sampler:
    """Whether a new span is recorded (see the module docstring for the names)."""

    __slots__ = ("name", "ratio", "_parent_based", "_root", "_bound")

    def __init__(self, name: str = "parentbased_always_on", ratio: float = 1.0) -> None:
        if name not in SAMPLERS:
            raise ValueError(f"sampler {name!r}: the gateway knows {', '.join(SAMPLERS)}")
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"sampler ratio {ratio} is outside 0..1")
        self.name, self.ratio = name, ratio
        self._parent_based = name.startswith("parentbased_")
        self._root = name.removeprefix("parentbased_")
        self._bound = round(ratio * (_LOW_64 + 1))

    def sampled(self, trace_id: int, parent_flags: int | None) -> bool:
        """The decision for a span of ``trace_id``; ``parent_flags``: the remote parent's
        trace flags, or None for a root span."""
        if self._parent_based and parent_flags is not None:
            return bool(parent_flags & SAMPLED)
        if self._root == "always_on":
            return True
        if self._root == "always_off":
            return False
        return (trace_id & _LOW_64) < self._bound
