"""Exponentially weighted moving averages of observed latency, per target.

Two averages per target: whole-call latency of non-streamed requests, and time to first
token (first chunk) of streams; the ``lowest-latency`` strategy ranks by the one that
matches the request.

Example::

    ewma = LatencyTracker(alpha=0.2)
    ewma.observe("bedrock:us-east-1/claude", 0.8, stream=False)
    ewma.value("bedrock:us-east-1/claude", stream=False)  # 0.8
"""

from __future__ import annotations


class LatencyTracker:
    """EWMA latency (seconds) per target key, separately for streams (TTFT) and calls."""

    __slots__ = ("alpha", "_calls", "_ttft")

    def __init__(self, alpha: float = 0.2) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self._calls: dict[str, float] = {}
        self._ttft: dict[str, float] = {}

    def observe(self, key: str, seconds: float, *, stream: bool) -> None:
        """Fold one observation into the target's average."""
        table = self._ttft if stream else self._calls
        old = table.get(key)
        table[key] = seconds if old is None else old + self.alpha * (seconds - old)

    def value(self, key: str, *, stream: bool) -> float | None:
        """The target's average, or None before its first observation."""
        return (self._ttft if stream else self._calls).get(key)

    def snapshot(self) -> dict[str, dict[str, float]]:
        """All averages in milliseconds, for ``/readyz``."""
        out: dict[str, dict[str, float]] = {}
        for name, table in (("latency_ms", self._calls), ("ttft_ms", self._ttft)):
            for key, value in table.items():
                out.setdefault(key, {})[name] = round(value * 1000, 3)
        return out
