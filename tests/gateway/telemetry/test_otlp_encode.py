"""The hand-written OTLP encoder against the official generated classes
(``opentelemetry-proto``): the same spans built as ``ExportTraceServiceRequest`` messages
serialise to the very same bytes, for generated attribute values of every type the
gateway writes, and what we send parses back field for field."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from skyrelay.gateway.telemetry.otlp_encode import SpanEncoder, varint
from skyrelay.gateway.telemetry.spans import KIND_CLIENT, KIND_SERVER, SpanRecord

RESOURCE = {"service.name": "skyrelay-gateway", "deployment.environment": "prod",
            "telemetry.sdk.version": "0.1.0"}


def _any(value: Any) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))


def _official(records: list[SpanRecord]) -> bytes:
    """The same request, built and serialised by the official classes."""
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(KeyValue(key=k, value=_any(v)) for k, v in RESOURCE.items())
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "skyrelay.gateway", "1.2.3"
    for r in records:
        span = Span(trace_id=r.trace_id.to_bytes(16, "big"), span_id=r.span_id.to_bytes(8, "big"),
                    trace_state=r.tracestate or "", name=r.name, kind=r.kind,  # type: ignore[arg-type]
                    start_time_unix_nano=r.start_ns, end_time_unix_nano=r.end_ns,
                    flags=r.flags)
        if r.parent_id:
            span.parent_span_id = r.parent_id.to_bytes(8, "big")
        for attributes in (getattr(r, "fixed_source", {}), r.attributes):
            span.attributes.extend(KeyValue(key=k, value=_any(v)) for k, v in attributes.items())
        if r.status:
            span.status.CopyFrom(Status(code=r.status, message=r.status_message))  # type: ignore[arg-type]
        ss.spans.append(span)
    return request.SerializeToString(deterministic=True)


def _record(**overrides: Any) -> SpanRecord:
    return _build(SpanRecord, overrides)


class _Traced(SpanRecord):
    """A record that remembers the attributes its ``fixed`` bytes were encoded from."""

    __slots__ = ("fixed_source",)

    def __init__(self, **overrides: Any) -> None:
        _fill(self, overrides)
        self.fixed_source: dict[str, Any] = {}


def _build(cls: type[SpanRecord], overrides: dict[str, Any]) -> SpanRecord:
    record = cls.__new__(cls)
    _fill(record, overrides)
    return record


def _fill(record: SpanRecord, overrides: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "trace_id": 0x4BF92F3577B34DA6A3CE929D0E0E4736, "span_id": 0x00F067AA0BA902B7,
        "parent_id": 0x1122334455667788, "name": "chat m-a", "kind": KIND_CLIENT,
        "start_ns": 1_764_000_000_123_456_789,
        "attributes": {"gen_ai.operation.name": "chat", "skyrelay.attempt": 2,
                       "skyrelay.retry": False, "server.port": 443,
                       "gen_ai.response.finish_reasons": ("stop", "length")},
        "flags": 0x101, "tracestate": "vendor=abc"}
    values.update(overrides)
    SpanRecord.__init__(record, **values)
    record.end_ns = record.start_ns + 12_345


scalars = st.one_of(st.text(max_size=40), st.booleans(),
                    st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.floats(allow_nan=False))
attribute_values = st.one_of(scalars, st.tuples(st.text(max_size=10)),
                             st.lists(st.text(max_size=10), max_size=3).map(tuple))


@settings(max_examples=300, deadline=None)
@given(attributes=st.dictionaries(st.text(min_size=1, max_size=30), attribute_values,
                                  max_size=12),
       name=st.text(max_size=60), error=st.one_of(st.none(), st.text(max_size=20)),
       parent=st.integers(min_value=0, max_value=2**64 - 1),
       trace_id=st.integers(min_value=1, max_value=2**128 - 1),
       fixed=st.dictionaries(st.text(min_size=1, max_size=30), attribute_values, max_size=6))
def test_byte_identical_to_the_official_serialisation(
        attributes: dict[str, Any], name: str, error: str | None, parent: int,
        trace_id: int, fixed: dict[str, Any]) -> None:
    encoder = SpanEncoder(RESOURCE, "skyrelay.gateway", "1.2.3")
    record = _Traced(attributes=attributes, name=name, parent_id=parent, trace_id=trace_id)
    record.fixed, record.fixed_source = encoder.attributes(fixed), fixed  # written first
    if error is not None:
        record.error(error)
    other = _record(kind=KIND_SERVER, parent_id=0, tracestate=None, attributes={})
    assert encoder.request([record, other]) == _official([record, other])
    # again, now from the attribute cache
    assert encoder.request([record, other]) == _official([record, other])
    # every key unique (ids): encoded apart each time, the same bytes
    unique = SpanEncoder(RESOURCE, "skyrelay.gateway", "1.2.3",
                         unique_keys=frozenset(attributes))
    assert unique.request([record, other]) == _official([record, other])


def test_what_we_send_parses_back_field_for_field() -> None:
    record = _record()
    record.error("server")
    body = SpanEncoder(RESOURCE, "skyrelay.gateway", "1.2.3").request([record])
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    (rs,) = request.resource_spans
    assert {a.key: a.value.string_value for a in rs.resource.attributes} == RESOURCE
    (ss,) = rs.scope_spans
    assert (ss.scope.name, ss.scope.version) == ("skyrelay.gateway", "1.2.3")
    (span,) = ss.spans
    assert span.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.span_id.hex() == "00f067aa0ba902b7"
    assert span.parent_span_id.hex() == "1122334455667788"
    assert (span.name, span.kind, span.trace_state, span.flags) == (
        "chat m-a", Span.SPAN_KIND_CLIENT, "vendor=abc", 0x101)
    assert span.end_time_unix_nano - span.start_time_unix_nano == 12_345
    assert (span.status.code, span.status.message) == (Status.STATUS_CODE_ERROR, "server")
    attrs = {a.key: a.value for a in span.attributes}
    assert attrs["skyrelay.attempt"].int_value == 2
    assert attrs["skyrelay.retry"].HasField("bool_value") and not attrs["skyrelay.retry"].bool_value
    assert [v.string_value for v in attrs["gen_ai.response.finish_reasons"].array_value.values] \
        == ["stop", "length"]


def test_equal_values_of_other_types_are_not_confused_by_the_cache() -> None:
    encoder = SpanEncoder({}, "s", "v")
    flags = [_record(attributes={"k": v}) for v in (True, 1, 1.0)]
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(encoder.request(flags))
    kinds = [s.attributes[0].value.WhichOneof("value")
             for s in decoded.resource_spans[0].scope_spans[0].spans]
    assert kinds == ["bool_value", "int_value", "double_value"]


def test_prompt_text_is_never_kept_in_the_attribute_cache() -> None:
    encoder = SpanEncoder({}, "s", "v")
    prompt = "a long prompt " * 1000
    records = [_record(attributes={"gen_ai.input.messages": prompt + str(i), "short": "x"})
               for i in range(50)]
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(encoder.request(records))
    spans = decoded.resource_spans[0].scope_spans[0].spans
    assert spans[7].attributes[0].value.string_value == prompt + "7"
    assert len(encoder._attributes) == 1  # only ("short", "x"): memory stays bounded


def test_unique_keys_are_encoded_but_not_cached() -> None:
    encoder = SpanEncoder({}, "s", "v", unique_keys=frozenset({"id"}))
    body = encoder.request([_record(attributes={"id": f"req_{i}", "k": "v"}) for i in range(9)])
    decoded = ExportTraceServiceRequest()
    decoded.ParseFromString(body)
    ids = [s.attributes[0].value.string_value
           for s in decoded.resource_spans[0].scope_spans[0].spans]
    assert ids == [f"req_{i}" for i in range(9)]
    assert list(encoder._attributes) == [("k", "v", str)]


def test_varint_matches_the_wire_format() -> None:
    # https://protobuf.dev/programming-guides/encoding/#varints: 150 is 96 01
    assert varint(150) == b"\x96\x01"
    assert [len(varint(v)) for v in (0, 127, 128, 16383, 16384, 2**64 - 1)] == [1, 1, 2, 2, 3, 10]


def test_a_long_unique_value_and_a_large_batch_keep_their_lengths() -> None:
    # two- and three-byte varints: a 300-character id, a batch of a few hundred KB
    encoder = SpanEncoder(RESOURCE, "skyrelay.gateway", "1.2.3",
                          unique_keys=frozenset({"skyrelay.request_id"}))
    records = [_record(attributes={"skyrelay.request_id": f"{i:04d}" + "x" * 300,
                                   "skyrelay.attempt": i % 3}) for i in range(600)]
    assert encoder.request(records) == _official(records)
