"""Span records to an OTLP ``ExportTraceServiceRequest`` in protobuf's wire format.

Written by hand because the gateway's spans repeat the same few attributes: each
``(key, value)`` pair is encoded once and its bytes reused, and the resource and scope are
encoded once per process, so a batch is mostly a join of cached bytes. The field numbers
are those of opentelemetry-proto (``opentelemetry/proto/trace/v1/trace.proto``,
``common/v1/common.proto``, ``resource/v1/resource.proto``,
https://github.com/open-telemetry/opentelemetry-proto); the tests decode the output with
the official generated classes and compare it field by field.

Wire format (https://protobuf.dev/programming-guides/encoding/): a field is a varint tag
``number << 3 | wire type`` (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32) followed
by its value; an embedded message or a string is its length as a varint, then its bytes.

Example::

    encoder = SpanEncoder({"service.name": "skyrelay-gateway"}, "skyrelay.gateway", "1.0")
    body = encoder.request([record])     # POST it to /v1/traces (application/x-protobuf)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from skyrelay.gateway.telemetry.spans import STATUS_UNSET, SpanRecord

_CACHE_LIMIT = 4096  # encoded attributes kept; cleared when full (unique values churn it)
_CACHED_TEXT = 128  # longer strings are encoded each time, never cached
_CACHED_ITEMS = 8  # nor are longer tuples
_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack


def varint(value: int) -> bytes:
    """``value`` (non-negative, below 2**64) as a protobuf varint.

    >>> varint(300)
    b'\\xac\\x02'
    """
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def any_value(value: Any) -> bytes:
    """An ``AnyValue`` message: str, bool, int, float, or a list/tuple of those."""
    if isinstance(value, str):
        return _delimited(b"\x0a", value.encode("utf-8", "replace"))
    if isinstance(value, bool):  # before int: bool is an int
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):  # int64: negative values as their 64-bit two's complement
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    if isinstance(value, (list, tuple)):
        values = b"".join(_delimited(b"\x0a", any_value(v)) for v in value)
        return _delimited(b"\x2a", values)  # ArrayValue { repeated AnyValue values = 1 }
    return _delimited(b"\x0a", str(value).encode("utf-8", "replace"))


def key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue`` message (key = 1, value = 2)."""
    return _delimited(b"\x0a", key.encode()) + _delimited(b"\x12", any_value(value))


class SpanEncoder:
    """Encodes batches of :class:`SpanRecord` for one resource and instrumentation scope."""

    def __init__(self, resource: Mapping[str, Any], scope_name: str,
                 scope_version: str, unique_keys: frozenset[str] = frozenset()) -> None:
        attrs = b"".join(_delimited(b"\x0a", key_value(k, v)) for k, v in resource.items())
        #: ResourceSpans.resource (field 1): Resource { repeated KeyValue attributes = 1 }
        self._resource = _delimited(b"\x0a", attrs)
        #: ScopeSpans.scope (field 1): InstrumentationScope { name = 1; version = 2 }
        self._scope = _delimited(b"\x0a", _delimited(b"\x0a", scope_name.encode())
                                 + _delimited(b"\x12", scope_version.encode()))
        self._attributes: dict[tuple[str, Any, type], bytes] = {}
        self._names: dict[tuple[str, int], bytes] = {}
        self._frames: dict[int, bytes] = {}
        #: unique key -> its encoded ``KeyValue.key`` and the value's tag, for str values
        self._unique_heads = {key: _delimited(b"\x0a", key.encode()) + b"\x12"
                              for key in unique_keys}
        #: keys whose values differ on every span (ids): caching them would only churn
        self._unique_keys = unique_keys

    def _attribute(self, key: str, value: Any) -> bytes:
        """Span.attributes (field 9) entry for one pair, from the cache when seen."""
        kind = type(value)
        head = self._unique_heads.get(key)
        if head is not None and kind is str:  # an id: only the value is new
            text = value.encode("utf-8", "replace")
            any_value = b"\x0a" + varint(len(text)) + text
            pair = head + varint(len(any_value)) + any_value
            return b"\x4a" + varint(len(pair)) + pair
        if key in self._unique_keys or (kind is str and len(value) > _CACHED_TEXT) or (
                kind is list) or (kind is tuple and len(value) > _CACHED_ITEMS):
            # ids, prompt text (log_prompts) and the like: never kept
            return _delimited(b"\x4a", key_value(key, value))
        cache_key = (key, value, kind)  # the type: True == 1 == 1.0
        try:
            found = self._attributes.get(cache_key)
        except TypeError:  # an unhashable item in a tuple
            return _delimited(b"\x4a", key_value(key, value))
        if found is None:
            if len(self._attributes) >= _CACHE_LIMIT:
                self._attributes.clear()
            found = self._attributes[cache_key] = _delimited(b"\x4a", key_value(key, value))
        return found

    def _name_and_kind(self, name: str, kind: int) -> bytes:
        """Span.name (5) and Span.kind (6), encoded; kept (span names repeat)."""
        encoded = name.encode("utf-8", "replace")
        out = (_delimited(b"\x2a", encoded) if encoded else b"") + b"\x30" + varint(kind)
        if len(name) <= _CACHED_TEXT:  # proto3 leaves out an empty name, as above
            if len(self._names) >= _CACHE_LIMIT:
                self._names.clear()
            self._names[(name, kind)] = out
        return out

    def attributes(self, attributes: Mapping[str, Any]) -> bytes:
        """``attributes`` as encoded Span.attributes fields, for :attr:`SpanRecord.fixed`."""
        return b"".join(_delimited(b"\x4a", key_value(k, v)) for k, v in attributes.items())

    def span(self, record: SpanRecord) -> bytes:
        """One ``Span`` message."""
        parts = [b"\x0a\x10", record.trace_id.to_bytes(16, "big"),
                 b"\x12\x08", record.span_id.to_bytes(8, "big")]
        if record.tracestate:
            state = record.tracestate.encode()
            parts += (b"\x1a", varint(len(state)), state)
        if record.parent_id:
            parts += (b"\x22\x08", record.parent_id.to_bytes(8, "big"))
        named = self._names.get((record.name, record.kind))
        if named is None:
            named = self._name_and_kind(record.name, record.kind)
        parts += (named, b"\x39", _FIXED64(record.start_ns), b"\x41", _FIXED64(record.end_ns))
        if record.fixed:
            parts.append(record.fixed)
        cached, attribute = self._attributes.get, self._attribute
        for key, value in record.attributes.items():
            # the common case inline (a value seen before); _attribute does the rest
            try:
                found = cached((key, value, type(value)))
            except TypeError:  # unhashable (a list)
                found = None
            parts.append(found if found is not None else attribute(key, value))
        if record.status != STATUS_UNSET:  # Status { message = 2; code = 3 }
            status = b"\x18" + varint(record.status)
            if record.status_message:
                status = _delimited(b"\x12", record.status_message.encode()) + status
            parts.append(_delimited(b"\x7a", status))
        parts += (b"\x85\x01", _FIXED32(record.flags))  # flags = 16, fixed32
        return b"".join(parts)

    def request(self, records: Iterable[SpanRecord]) -> bytes:
        """An ``ExportTraceServiceRequest`` holding ``records``."""
        spans: list[bytes] = []
        append, span, frame = spans.append, self.span, self._frame
        for record in records:  # ScopeSpans.spans = 2
            encoded = span(record)
            append(frame(len(encoded)))
            append(encoded)
        # the sizes of the enclosing messages are sums, so the whole batch is one join
        scope_spans = len(self._scope) + sum(map(len, spans))
        head = b"\x12" + varint(scope_spans)  # ResourceSpans.scope_spans = 2
        resource_spans = len(self._resource) + len(head) + scope_spans
        return b"".join([b"\x0a", varint(resource_spans), self._resource, head, self._scope,
                         *spans])

    def _frame(self, size: int) -> bytes:
        """The tag and length before a span of ``size`` bytes (kept: sizes repeat)."""
        found = self._frames.get(size)
        if found is None:
            if len(self._frames) >= _CACHE_LIMIT:
                self._frames.clear()
            found = self._frames[size] = b"\x12" + varint(size)
        return found
