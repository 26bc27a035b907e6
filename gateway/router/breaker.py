"""A circuit breaker per target: failures cool a target down, half-open probes bring it back.

States: ``closed`` (traffic flows), ``open`` (no traffic until the cool-down ends),
``half_open`` (one probe request may go; its outcome closes or re-opens the breaker).

- A failure with a Retry-After (429/503 from the upstream) opens the breaker at once for at
  least that long: the upstream said when to come back.
- A connection that cannot be made (refused, DNS, no route) opens it at once: the target
  is unreachable. A connection dropped after it was made (reset, cut body) is one failed
  request and counts like a 5xx: with random resets, opening at once sent whole seconds
  of traffic away from a target that answered nine requests in ten.
- Other faults (5xx, timeouts, protocol and auth errors) open it after ``threshold``
  consecutive failures.
- Each re-opening doubles the cool-down (``base_cooldown`` up to ``max_cooldown``).
- Content-filter refusals and invalid requests are not faults: the router does not report them.

Example::

    b = CircuitBreaker(clock=time.monotonic)
    if b.acquire():
        try: ...; b.success()
        except ProviderError as e: b.failure(e.kind, e.retry_after)
"""

from __future__ import annotations

import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


class CircuitBreaker:
    """Health of one target, fed by the outcome of every attempt (and by the prober)."""

    __slots__ = ("threshold", "base_cooldown", "max_cooldown", "max_retry_after", "_clock",
                 "state", "failures", "opened_until", "last_error", "_cooldown",
                 "_probe_in_flight", "reachable")

    def __init__(self, *, threshold: int = 3, base_cooldown: float = 1.0,
                 max_cooldown: float = 60.0, max_retry_after: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.base_cooldown = base_cooldown
        self.max_cooldown = max_cooldown
        self.max_retry_after = max_retry_after
        self._clock = clock
        self.state = CLOSED
        self.failures = 0
        self.opened_until = 0.0
        self.last_error: str | None = None
        self._cooldown = base_cooldown
        self._probe_in_flight = False
        #: Last reachability seen (prober or traffic): None until known.
        self.reachable: bool | None = None

    def _refresh(self) -> None:
        if self.state == OPEN and self._clock() >= self.opened_until:
            self.state = HALF_OPEN
            self._probe_in_flight = False

    def available(self) -> bool:
        """Whether an attempt could go now (no side effect)."""
        self._refresh()
        if self.state == CLOSED:
            return True
        return self.state == HALF_OPEN and not self._probe_in_flight

    def acquire(self) -> bool:
        """Take permission for one attempt; in half-open state only one probe at a time."""
        self._refresh()
        if self.state == CLOSED:
            return True
        if self.state == HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def release(self) -> None:
        """Give back a half-open probe slot whose attempt ended without a verdict."""
        self._probe_in_flight = False

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        self._refresh()
        return max(0.0, self.opened_until - self._clock()) if self.state == OPEN else 0.0

    def success(self) -> None:
        """An attempt succeeded: close and forget past failures."""
        self.state = CLOSED
        self.failures = 0
        self._cooldown = self.base_cooldown
        self._probe_in_flight = False
        self.reachable = True

    def failure(self, kind: str, retry_after: float | None = None, *,
                unreachable: bool = False) -> None:
        """An attempt failed with a fault of ``kind`` (a :class:`ProviderError` kind).

        ``unreachable``: no connection could be made (not one dropped after connecting).
        """
        self.failures += 1
        self.last_error = "unreachable" if unreachable else kind
        if unreachable:
            self.reachable = False
        immediate = retry_after is not None or unreachable
        if self.state == HALF_OPEN or immediate or self.failures >= self.threshold:
            self._open(retry_after)

    def _open(self, retry_after: float | None) -> None:
        cooldown = self._cooldown
        if self.state != CLOSED:  # re-opened from half-open or while open: back off more
            cooldown = min(self.max_cooldown, self._cooldown * 2)
        self._cooldown = cooldown
        if retry_after is not None:
            cooldown = max(cooldown, min(retry_after, self.max_retry_after))
        self.state = OPEN
        self.opened_until = self._clock() + cooldown
        self._probe_in_flight = False

    def probe_result(self, reachable: bool) -> None:
        """Outcome of a background reachability probe (a TCP connect to the endpoint).

        Unreachable opens the breaker like a connection failure; reachable only lets an
        open breaker that was opened for unreachability try a real probe (half-open) — a
        TCP connect says nothing about 5xx or throttling.
        """
        if not reachable:
            if self.state != OPEN:
                self.failure("connection", unreachable=True)
            self.reachable = False
            return
        self.reachable = True
        if self.state == OPEN and self.last_error == "unreachable":
            self.state = HALF_OPEN
            self._probe_in_flight = False

    def snapshot(self) -> dict[str, object]:
        """State for ``/readyz``."""
        self._refresh()
        return {"state": self.state, "reachable": self.reachable,
                "consecutive_failures": self.failures, "last_error": self.last_error,
                "retry_in_seconds": round(self.retry_in(), 3)}

    @property
    def healthy(self) -> bool:
        """Reachable (or not yet known to be unreachable) and not cooling down."""
        self._refresh()
        return self.state != OPEN and self.reachable is not False
