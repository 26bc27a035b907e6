"""Span ids, the sampler, ``traceparent`` parsing (W3C Trace Context) and the batched
OTLP/HTTP export against the in-process receiver: headers, gzip, retries on 429/503 with
``Retry-After``, a refused batch dropped, a full queue counted, and a shutdown bounded
while the collector is down."""

from __future__ import annotations

import socket
import time

import pytest

from skyrelay.gateway.telemetry.otlp_encode import SpanEncoder
from skyrelay.gateway.telemetry.otlp_export import (
    ExportOptions,
    OtlpHttpExporter,
    SpanBatcher,
    parse_headers,
)
from skyrelay.gateway.telemetry.spans import (
    KIND_SERVER,
    Sampler,
    SpanIds,
    SpanRecord,
    parse_traceparent,
)
from skyrelay.gateway.testing.otlp_receiver import OtlpReceiver

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(("value", "expected"), [
    (VALID, (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 1)),
    (VALID[:-2] + "00", (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 0)),
    ("  " + VALID + " ", (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 1)),
    # a later version may append fields after a dash (W3C: "future versions")
    ("01" + VALID[2:] + "-extra", (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, 1)),
])
def test_valid_traceparents(value: str, expected: tuple[int, int, int]) -> None:
    parent = parse_traceparent(value)
    assert parent is not None and (parent.trace_id, parent.span_id, parent.flags) == expected


@pytest.mark.parametrize("value", [
    "", "garbage", VALID + "-x",                        # version 00 is exactly 55 long
    "ff" + VALID[2:],                                    # version ff is invalid
    VALID.replace("4bf9", "4BF9"),                       # upper-case hex
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   # all-zero parent id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "01" + VALID[2:] + "x",
])
def test_invalid_traceparents_are_ignored(value: str) -> None:
    assert parse_traceparent(value) is None


def test_ids_are_random_and_never_zero() -> None:
    ids = SpanIds()
    traces = {ids.trace_id() for _ in range(1000)}
    spans = {ids.span_id() for _ in range(1000)}
    assert len(traces) == 1000 and len(spans) == 1000
    assert all(0 < t < 2**128 for t in traces) and all(0 < s < 2**64 for s in spans)
    assert max(t.bit_length() for t in traces) > 120  # the whole 128 bits are used


def test_the_samplers() -> None:
    low, high = 5, (2**64 - 1)  # the ratio looks at the low 64 bits of the trace id
    assert Sampler("always_on").sampled(high, 0) and not Sampler("always_off").sampled(low, 1)
    ratio = Sampler("traceidratio", 0.5)
    assert ratio.sampled(low, None) and not ratio.sampled(high, None)
    assert ratio.sampled(low, 0)  # not parent based: the caller's flag does not count
    parent_based = Sampler("parentbased_traceidratio", 0.5)
    assert parent_based.sampled(high, 1) and not parent_based.sampled(low, 0)
    assert not parent_based.sampled(high, None) and parent_based.sampled(low, None)
    assert not Sampler("parentbased_always_off").sampled(low, None)
    ids = SpanIds()
    kept = sum(Sampler("traceidratio", 0.25).sampled(ids.trace_id(), None) for _ in range(8000))
    assert 1700 < kept < 2300  # about a quarter
    with pytest.raises(ValueError, match="jaeger_remote"):
        Sampler("jaeger_remote")
    with pytest.raises(ValueError, match="outside 0..1"):
        Sampler("traceidratio", 2.0)


def test_headers_and_options_from_the_environment() -> None:
    assert parse_headers("Api-Key=a%3Db , x-team = ml") == {"api-key": "a=b", "x-team": "ml"}
    with pytest.raises(ValueError, match="not key=value"):
        parse_headers("novalue")
    got = ExportOptions.from_environ({
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BSP_MAX_QUEUE_SIZE": "100",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "512"})
    assert got.headers == {"b": "2"}  # the signal's own variable wins
    assert (got.timeout_s, got.gzip, got.schedule_delay_s) == (2.5, True, 0.2)
    assert (got.max_queue, got.max_batch) == (100, 100)  # a batch is never above the queue
    for bad, named in [({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "gzip or none"),
                       ({"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "milliseconds"),
                       ({"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, "above 0")]:
        with pytest.raises(ValueError, match=named):
            ExportOptions.from_environ(bad)


def _records(count: int) -> list[SpanRecord]:
    ids = SpanIds()
    return [SpanRecord(ids.trace_id(), ids.span_id(), 0, f"span {i}", KIND_SERVER,
                       time.time_ns(), {"i": i}, 1, None) for i in range(count)]


def _batcher(url: str, **options: object) -> SpanBatcher:
    opts = ExportOptions(**options)  # type: ignore[arg-type]
    return SpanBatcher(SpanEncoder({"service.name": "t"}, "s", "1"),
                       OtlpHttpExporter(url + "/v1/traces", opts), opts)


def test_headers_gzip_and_a_full_batch_exported_before_the_schedule() -> None:
    with OtlpReceiver(max_lifetime=60) as sink:
        batcher = _batcher(sink.url, headers={"api-key": "k1"}, gzip=True,
                           schedule_delay_s=30.0, max_batch=10)
        try:
            for record in _records(25):
                batcher.add(record)
            got = sink.wait_for(20, timeout=10)  # two full batches, long before 30 s
            assert sorted(s["attributes"]["i"] for s in got)[:20] == list(range(20))
            assert batcher.force_flush(10_000)
            assert len(sink.spans) == 25 and batcher.exported == 25
        finally:
            batcher.shutdown()
    first = sink.headers[0]
    assert first["api-key"] == "k1" and first["content-encoding"] == "gzip"
    assert first["content-type"] == "application/x-protobuf"


def test_retryable_answers_are_retried_and_others_drop_the_batch() -> None:
    with OtlpReceiver(max_lifetime=60) as sink:
        exporter = OtlpHttpExporter(sink.url + "/v1/traces", ExportOptions(timeout_s=10))
        body = SpanEncoder({}, "s", "1").request(_records(3))
        sink.fail_next(503, 429, retry_after="0")
        began = time.monotonic()
        assert exporter.export(body)  # third time lucky
        assert time.monotonic() - began < 3  # Retry-After: 0 beat the backoff
        assert sink.requests == 1 and len(sink.headers) == 3
        sink.fail_next(400)
        assert not exporter.export(body)  # not retryable: dropped at once
        assert len(sink.headers) == 4
        exporter.close()


def test_a_full_queue_drops_and_counts() -> None:
    with OtlpReceiver(max_lifetime=60) as sink:
        batcher = _batcher(sink.url, schedule_delay_s=30.0, max_queue=5, max_batch=5)
        try:
            batcher._wake.set = lambda: None  # type: ignore[method-assign]  # hold the thread
            for record in _records(8):
                batcher.add(record)
            assert batcher.dropped == 3
        finally:
            batcher.shutdown()


def test_shutdown_is_bounded_while_the_collector_is_down() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    batcher = _batcher(f"http://127.0.0.1:{port}", schedule_delay_s=30.0, max_batch=2,
                       timeout_s=30.0)
    for record in _records(20):  # ten batches, each would retry for 30 s
        batcher.add(record)
    began = time.monotonic()
    batcher.shutdown(timeout_s=1.0)
    assert time.monotonic() - began < 5
    assert batcher.exported == 0 and batcher.dropped > 0
