"""The in-process request-path bench (bench/pipeline_bench.py, gwbench.inproc): the gateway
it measures really answers through the whole path, and the report's arithmetic."""

from __future__ import annotations

from typing import Any

import pipeline_bench
import pytest
from gwbench import inproc


def test_the_measured_gateway_answers_every_request_through_its_upstream_client() -> None:
    result = inproc.measure(requests=300, rounds=2)
    # warm-up (300) and two rounds: every request reached the (canned) upstream client
    assert result["upstream_posts"] == 900
    assert len(result["gateway"]) == len(result["floor"]) == 2
    # auth, limits, routing, metering: far more work than parsing and answering JSON
    assert min(result["gateway"]) > 3 * max(result["floor"]) > 0


def test_rounds_alternate_their_order_and_the_ratio_is_the_median_of_rounds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    cost = iter([100.0, 80.0, 90.0, 120.0, 100.0, 50.0])

    def fake_round(python: list[str], env: dict[str, str], requests: int,
                   traces_url: str | None = None) -> dict[str, Any]:
        calls.append("before" if env else "now")
        return {"gateway": [next(cost)], "floor": [5.0]}

    class Then:
        commit, argv, env = "abc123", ["python", "-P"], {"PYTHONPATH": "/x"}

    monkeypatch.setattr(pipeline_bench, "_round", fake_round)
    monkeypatch.setattr("gwbench.before.ensure_before", lambda ref, root: Then)
    result = pipeline_bench.run(1000, 3, "HEAD~1")
    assert calls == ["now", "before", "before", "now", "now", "before"]
    # now: 100, 120, 100; before: 80, 90, 50 -> ratios 1.25, 1.333, 2.0
    assert result["ratios"] == [1.25, 1.333, 2.0]
    assert result["median_ratio"] == 1.333
    text = pipeline_bench.report(result, "make bench-pipeline")
    assert "| now | 100.0 | 5.0 | 20.0 |" in text
    assert "| before (abc123) | 80.0 | 5.0 | 16.0 |" in text


def test_traced_rounds_export_two_spans_per_request_and_leave_the_environment_alone() -> None:
    import os

    from gwbench.otlp import SpanCounter

    before = dict(os.environ)
    with SpanCounter() as sink:
        result = inproc.measure(requests=200, rounds=1, only="gateway",
                                traces_url=sink.traces_url)
        counts = sink.counts()
    # warm-up and the round, each request a SERVER span and one CLIENT attempt span; the
    # spans still queued are flushed at the app's shutdown
    assert result["upstream_posts"] == 400
    assert counts["spans"] == 800 and counts["rejected"] == 0
    assert dict(os.environ) == before
