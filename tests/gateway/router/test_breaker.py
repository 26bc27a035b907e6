"""Circuit breaker (``skyrelay.gateway.router.breaker``) with a hand-driven clock.

Why each rule matters: a breaker that opens too late sends traffic into an outage, one that
opens too early (or forgets to close) takes a healthy target out of service, and a cool-down
that does not back off hammers an upstream that is still down.
"""

from __future__ import annotations

import pytest

from skyrelay.gateway.router.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def breaker(clock: Clock, **kw: float) -> CircuitBreaker:
    return CircuitBreaker(clock=clock, **kw)  # type: ignore[arg-type]


def test_defaults_are_three_failures_one_second_backing_off_to_a_minute(clock: Clock) -> None:
    b = breaker(clock)
    assert (b.threshold, b.base_cooldown, b.max_cooldown, b.max_retry_after) == (
        3, 1.0, 60.0, 300.0)
    assert b.state == CLOSED and b.failures == 0 and b.last_error is None
    assert b.reachable is None and b.healthy and b.available()


def test_opens_exactly_at_the_threshold(clock: Clock) -> None:
    b = breaker(clock, threshold=3)
    b.failure("server_error")
    b.failure("server_error")
    assert b.state == CLOSED and b.failures == 2 and b.available() and b.acquire()
    b.failure("timeout")
    assert b.state == OPEN and b.last_error == "timeout"
    assert not b.available() and not b.acquire() and not b.healthy
    assert b.retry_in() == pytest.approx(1.0)


def test_success_closes_and_forgets_failures_and_backoff(clock: Clock) -> None:
    b = breaker(clock, threshold=2, base_cooldown=1.0)
    b.failure("server_error")
    b.success()
    b.failure("server_error")
    assert b.state == CLOSED, "a success in between restarts the count"
    b.failure("server_error")
    assert b.state == OPEN
    clock.now += 1.0
    assert b.acquire() and b.state == HALF_OPEN
    b.failure("server_error")  # re-opened from half-open: 2 s
    clock.now += 2.0
    assert b.acquire()
    b.success()
    assert (b.state, b.failures, b.reachable) == (CLOSED, 0, True)
    # The cool-down is back to base after a success: the next opening lasts 1 s, not 4 s.
    b.failure("server_error")
    b.failure("server_error")
    assert b.retry_in() == pytest.approx(1.0)


def test_half_open_lets_exactly_one_probe_through(clock: Clock) -> None:
    b = breaker(clock, threshold=1, base_cooldown=5.0)
    b.failure("server_error")
    clock.now += 4.999
    assert b.state == OPEN and not b.acquire()
    assert b.retry_in() == pytest.approx(0.001)
    clock.now += 0.001  # the cool-down ends at exactly opened_until
    assert b.available() and b.state == HALF_OPEN and b.retry_in() == 0.0
    assert b.acquire()
    assert not b.available() and not b.acquire(), "a second probe while one is in flight"
    b.release()  # the probe ended without a verdict: the slot is free again
    assert b.available() and b.acquire()


def test_failing_probe_reopens_with_doubled_cooldown_up_to_the_maximum(clock: Clock) -> None:
    b = breaker(clock, threshold=1, base_cooldown=1.0, max_cooldown=5.0)
    b.failure("server_error")
    cooldowns = []
    for _ in range(5):
        wait = b.retry_in()
        cooldowns.append(round(wait, 6))
        clock.now += wait
        assert b.acquire()
        b.failure("server_error")
    assert cooldowns == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_after_opens_at_once_for_at_least_that_long_capped(clock: Clock) -> None:
    b = breaker(clock, threshold=5, max_retry_after=30.0)
    b.failure("throttled", retry_after=7.0)
    assert b.state == OPEN and b.retry_in() == pytest.approx(7.0)
    b2 = breaker(clock, threshold=5, max_retry_after=30.0)
    b2.failure("throttled", retry_after=3600.0)
    assert b2.retry_in() == pytest.approx(30.0), "a hostile Retry-After is capped"
    b3 = breaker(clock, threshold=5, base_cooldown=4.0)
    b3.failure("throttled", retry_after=0.5)
    assert b3.retry_in() == pytest.approx(4.0), "never shorter than the cool-down"


def test_unreachable_opens_at_once_and_marks_the_target(clock: Clock) -> None:
    b = breaker(clock, threshold=5)
    b.failure("connection", unreachable=True)
    assert b.state == OPEN and b.reachable is False and b.last_error == "unreachable"
    assert not b.healthy
    b2 = breaker(clock, threshold=5)
    b2.failure("connection")  # dropped after connecting: counts like a 5xx
    assert b2.state == CLOSED and b2.reachable is None and b2.last_error == "connection"


def test_probe_results(clock: Clock) -> None:
    b = breaker(clock, threshold=5, base_cooldown=10.0)
    b.probe_result(False)
    assert b.state == OPEN and b.reachable is False and b.failures == 1
    b.probe_result(False)  # already open: no extra failure, no longer cool-down
    assert b.failures == 1 and b.retry_in() == pytest.approx(10.0)
    b.probe_result(True)  # opened for unreachability: a real probe may go now
    assert b.state == HALF_OPEN and b.reachable is True
    # Half-open before the cool-down ended: nothing to wait for any more.
    assert b.retry_in() == 0.0 and b.snapshot()["retry_in_seconds"] == 0.0
    assert b.acquire()
    # Reachable says nothing about 5xx: a breaker opened by errors stays open.
    c = breaker(clock, threshold=1, base_cooldown=10.0)
    c.failure("server_error")
    c.probe_result(True)
    assert c.state == OPEN and c.reachable is True and not c.acquire()
    # Reachable on a closed breaker just records it.
    d = breaker(clock)
    d.probe_result(True)
    assert d.state == CLOSED and d.reachable is True and d.healthy


def test_probe_slot_is_reset_when_a_probe_reopens_it(clock: Clock) -> None:
    b = breaker(clock, threshold=5, base_cooldown=1.0)
    b.probe_result(False)
    clock.now += 1.0
    assert b.acquire()  # probe in flight
    b.probe_result(False)  # still unreachable: stays open (state is not OPEN -> failure)
    assert b.state == OPEN
    b.probe_result(True)
    assert b.state == HALF_OPEN and b.acquire(), "the old probe's slot does not block"


def test_snapshot_reports_state_for_readyz(clock: Clock) -> None:
    b = breaker(clock, threshold=1, base_cooldown=2.5)
    assert b.snapshot() == {"state": CLOSED, "reachable": None, "consecutive_failures": 0,
                            "last_error": None, "retry_in_seconds": 0.0}
    b.failure("timeout")
    clock.now += 0.0004
    assert b.snapshot() == {"state": OPEN, "reachable": None, "consecutive_failures": 1,
                            "last_error": "timeout", "retry_in_seconds": 2.5}
    clock.now += 2.5
    assert b.snapshot()["state"] == HALF_OPEN and b.snapshot()["retry_in_seconds"] == 0.0


def test_healthy_means_reachable_and_not_cooling_down(clock: Clock) -> None:
    b = breaker(clock, threshold=1, base_cooldown=1.0)
    b.failure("server_error")
    assert not b.healthy
    clock.now += 1.0
    assert b.healthy and b.state == HALF_OPEN, "half-open may take traffic"
    b.success()
    b.reachable = False
    assert not b.healthy
