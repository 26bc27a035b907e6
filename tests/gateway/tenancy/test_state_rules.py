"""Rate limits and budgets (``skyrelay.gateway.tenancy.state``), exact rules, both backends.

The memory backend and the Redis backend (a real redis-server) must agree to the token: a
tenant limited to 1,000 tokens a minute gets 1,000, not 1,100 and not 900, on one replica
or on ten. The sliding window weighs the previous minute by the share of it that still
overlaps the last 60 seconds; a budget reservation never takes the spend past the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skyrelay.gateway.tenancy.state import (
    BUDGET_TTL,
    SETTLE_TTL,
    MemoryState,
    StateUnavailable,
    current_period,
    retry_after,
)
from skyrelay.gateway.tenancy.state_redis import RedisState

State = MemoryState | RedisState
MINUTE = 1_800_000_000.0  # the start of a one-minute bucket (divisible by 60)


@pytest.fixture(params=["memory", "redis"])
def make_state(request: pytest.FixtureRequest) -> Callable[[], State]:
    """A factory: Redis clients must be made inside the event loop that uses them."""
    if request.param == "memory":
        return MemoryState
    url = request.getfixturevalue("redis_server").url
    # Generous timeouts: these tests are about counting, and the production 0.5 s socket
    # timeout is sometimes exceeded on a busy machine (tests/gateway_tenancy: a flake).
    return lambda: RedisState(url, timeout=30.0)


def run(make_state: Callable[[], State], body: Callable[[State], Awaitable[None]]) -> None:
    async def main() -> None:
        state = make_state()
        try:
            await body(state)
        finally:
            await state.aclose()
    asyncio.run(main())


def test_tokens_window_weighs_the_previous_minute_by_its_overlap(make_state) -> None:  # type: ignore[no-untyped-def]
    """600 tokens in one minute; 15 s into the next, 75 % of them (450) still count."""
    async def body(state: State) -> None:
        assert await state.hit("t", 100, 1000, 600, MINUTE + 30) is None
        at = MINUTE + 60 + 15
        assert await state.hit("t", 100, 1000, 551, at) is not None  # 450 + 551 > 1000
        assert await state.hit("t", 100, 1000, 550, at) is None      # 450 + 550 = 1000
        assert await state.hit("t", 100, 1000, 1, at) is not None
    run(make_state, body)


def test_requests_window_weighs_the_previous_minute_by_its_overlap(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        for _ in range(4):
            assert await state.hit("t", 5, 10**6, 1, MINUTE + 1) is None
        at = MINUTE + 60 + 30  # half of the 4 still count: 2 + 3 new = 5 = rpm
        results = [await state.hit("t", 5, 10**6, 1, at) for _ in range(4)]
        assert results[:3] == [None] * 3 and results[3] is not None
    run(make_state, body)


def test_two_minutes_later_nothing_counts(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        assert await state.hit("t", 1, 1000, 1000, MINUTE) is None
        assert await state.hit("t", 1, 1000, 1, MINUTE + 59) is not None
        assert await state.hit("t", 1, 1000, 1000, MINUTE + 120) is None
    run(make_state, body)


def test_a_refused_request_counts_nothing(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        assert await state.hit("t", 2, 100, 60, MINUTE) is None
        assert await state.hit("t", 2, 100, 60, MINUTE) is not None  # tokens refused
        assert await state.hit("t", 2, 100, 40, MINUTE) is None      # nothing was added
        assert await state.hit("t", 2, 100, 0, MINUTE) is not None   # 2 requests = rpm
    run(make_state, body)


def test_memory_cleanup_never_drops_the_minute_the_window_still_reads() -> None:
    """With many tenants the in-process state drops old buckets, but never the previous
    minute: dropping it would hand every tenant a fresh limit at each minute boundary."""
    async def body() -> None:
        state = MemoryState()
        assert await state.hit("t0", 1, 10**6, 1, MINUTE + 59) is None
        for i in range(4100):
            await state.hit(f"x{i}", 10, 10**6, 1, MINUTE + 59)
        # 1 s into the next minute, 59/60 of t0's request still counts: refused.
        assert await state.hit("t0", 1, 10**6, 1, MINUTE + 61) is not None
        for i in range(4100):
            await state.hit(f"y{i}", 10, 10**6, 1, MINUTE + 121)
        assert await state.hit("t0", 1, 10**6, 1, MINUTE + 181) is None
    asyncio.run(body())


def test_token_corrections_count_both_ways(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        assert await state.hit("t", 100, 1000, 900, MINUTE) is None
        await state.add_tokens("t", -800, MINUTE + 1)  # the answer was shorter than estimated
        assert await state.hit("t", 100, 1000, 900, MINUTE + 2) is None
        await state.add_tokens("t", 5, MINUTE + 3)
        assert await state.hit("t", 100, 1000, 1, MINUTE + 4) is not None  # 1005 + 1 > 1000
        # A correction for a tenant with no request in this minute yet starts from zero.
        await state.add_tokens("fresh", 500, MINUTE)
        assert await state.hit("fresh", 100, 1000, 501, MINUTE) is not None
        assert await state.hit("fresh", 100, 1000, 500, MINUTE) is None
    run(make_state, body)


def test_refusal_says_when_the_minute_rolls_over(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        assert await state.hit("t", 1, 10, 1, MINUTE + 10) is None
        assert await state.hit("t", 1, 10, 1, MINUTE + 10) == 50.0
        assert await state.hit("t", 1, 10, 1, MINUTE + 59.5) == 1.0  # never under a second
    run(make_state, body)
    assert retry_after(MINUTE + 0.25) == 59.75


def test_budget_boundary_and_settling(make_state) -> None:  # type: ignore[no-untyped-def]
    async def body(state: State) -> None:
        assert await state.spent("t", "2027-02") == 0
        await state.adjust("t", "2027-01", 5)  # a settlement with no reservation counts too
        assert await state.spent("t", "2027-01") == 5
        assert await state.reserve("t", "2027-02", 1000, 1000)  # exactly the budget: ok
        assert not await state.reserve("t", "2027-02", 1000, 1)
        await state.adjust("t", "2027-02", -300)  # settled 300 cheaper
        assert await state.spent("t", "2027-02") == 700
        assert not await state.reserve("t", "2027-02", 1000, 301)
        assert await state.reserve("t", "2027-02", 1000, 300)
        await state.adjust("t", "2027-02", 50)  # delivered more than reserved: billed
        assert await state.spent("t", "2027-02") == 1050
        # Other periods and tenants have their own counters.
        assert await state.spent("t", "2027-03") == 0 and await state.spent("u", "2027-02") == 0
        assert await state.reserve("u", "2027-02", 1000, 1000)
        assert await state.ping() is True and state.healthy
    run(make_state, body)


def test_redis_prefixes_keep_deployments_apart(redis_server) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        a = RedisState(redis_server.url, prefix="blue", timeout=30.0)
        b = RedisState(redis_server.url, prefix="green", timeout=30.0)
        try:
            assert await a.reserve("t", "p", 10, 10)
            assert await b.reserve("t", "p", 10, 10)
            assert await a.hit("t", 1, 100, 1, MINUTE) is None
            assert await b.hit("t", 1, 100, 1, MINUTE) is None
            assert await a.spent("t", "p") == 10 and await b.spent("t", "p") == 10
        finally:
            await a.aclose()
            await b.aclose()
    asyncio.run(body())


def test_redis_keys_are_shared_by_every_replica(redis_server) -> None:  # type: ignore[no-untyped-def]
    """Replicas (and old and new versions during a rolling deploy) must count in the same
    keys: a replica counting elsewhere would grant each tenant its limit once more."""
    import redis.asyncio as redis

    async def body() -> None:
        state = RedisState(redis_server.url, timeout=30.0)
        raw = redis.Redis.from_url(redis_server.url)
        try:
            assert state.healthy is True
            await state.hit("acme", 5, 100, 7, MINUTE + 61)
            await state.add_tokens("acme", 3, MINUTE + 62)
            await state.reserve("acme", "2027-06", 100, 9)
            await state.adjust("acme", "2027-06", -2, settle_id="req-1")
            bucket = int((MINUTE + 61) // 60)
            assert sorted(k.decode() for k in await raw.keys("*")) == sorted([
                f"skyrelay:rq:acme:{bucket}", f"skyrelay:tk:acme:{bucket}",
                "skyrelay:budget:acme:2027-06", "skyrelay:settled:req-1"])
            # The once-only marker is a deployment's own key and goes away by itself.
            assert 0 < await raw.ttl("skyrelay:settled:req-1") <= SETTLE_TTL
            assert int(await raw.get(f"skyrelay:tk:acme:{bucket}")) == 10
            # What another replica wrote counts here.
            await raw.set(f"skyrelay:tk:acme:{bucket}", 100)
            assert await state.hit("acme", 5, 100, 1, MINUTE + 62) is not None
        finally:
            await state.aclose()
            await raw.aclose()
    asyncio.run(body())


def test_redis_connections_to_the_store_stay_bounded(redis_server) -> None:  # type: ignore[no-untyped-def]
    """ElastiCache limits connections per node: 50 concurrent requests share one pipelined
    connection (tenancy/redis_client.py)."""
    import redis.asyncio as redis

    async def body() -> None:
        state = RedisState(redis_server.url, timeout=10.0)
        raw = redis.Redis.from_url(redis_server.url)
        try:
            results = await asyncio.gather(*(state.reserve("t", "p", 10**6, 1)
                                             for _ in range(50)))
            assert results == [True] * 50
            clients = (await raw.info("clients"))["connected_clients"]
            assert clients <= 1 + 1, f"{clients - 1} connections from one state store"
        finally:
            await state.aclose()
            await raw.aclose()
    asyncio.run(body())


def test_a_store_that_never_answers_fails_closed_instead_of_hanging() -> None:
    """A wedged store (accepts connections, answers nothing) must cost a request its socket
    timeout, not hang it: the request path fails closed with StateUnavailable."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]

    async def body() -> None:
        state = RedisState(f"redis://:pw@127.0.0.1:{port}/0", timeout=0.3)
        try:
            with pytest.raises(StateUnavailable):
                # The guard only catches a hang; it asserts no speed.
                await asyncio.wait_for(state.reserve("t", "p", 10, 1), timeout=60)
            assert state.healthy is False
        finally:
            await state.aclose()
    try:
        asyncio.run(body())
    finally:
        listener.close()


def test_a_store_that_stops_answering_after_the_handshake_fails_closed(redis_server) -> None:  # type: ignore[no-untyped-def]
    """The per-command socket timeout (not only the connect timeout) bounds a request: a
    store that accepted the connection and the password, then hangs, costs the request
    its timeout and fails closed. A proxy in front of a real redis-server passes the
    handshake and swallows everything after it."""
    handshake = (b"HELLO", b"AUTH", b"CLIENT", b"SELECT")

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   until_command: bool) -> None:
        while data := await reader.read(65536):
            if until_command and not any(w in data.upper() for w in handshake):
                return  # a real command: never forwarded, never answered
            writer.write(data)
            await writer.drain()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", redis_server.port)
        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False),
                             return_exceptions=True)

    async def body() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"redis://:{redis_server.password}@127.0.0.1:{port}/0"
        state = RedisState(url, timeout=0.5)
        try:
            with pytest.raises(StateUnavailable) as info:
                await asyncio.wait_for(state.spent("t", "p"), timeout=60)  # a hang guard
            assert str(info.value) == ("state store unreachable: no answer from Redis within "
                                       "0.5 s")
        finally:
            await state.aclose()
            server.close()
    asyncio.run(body())


def test_every_request_on_a_wedged_store_fails_within_its_own_timeout() -> None:
    """Twenty concurrent requests on one pipelined connection to a store that accepted it
    and answers nothing: each fails closed with StateUnavailable (none hangs behind the
    others), and the next request opens a new connection rather than reuse the stuck one."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    port = listener.getsockname()[1]

    async def body() -> None:
        state = RedisState(f"redis://127.0.0.1:{port}/0", timeout=0.3)
        loop = asyncio.get_running_loop()
        accepted: list[socket.socket] = []

        async def accept() -> None:
            while True:
                conn, _ = await loop.sock_accept(listener)
                accepted.append(conn)

        acceptor = asyncio.ensure_future(accept())
        try:
            results = await asyncio.wait_for(asyncio.gather(
                *(state.reserve("t", "p", 10, 1) for _ in range(20)),
                return_exceptions=True), timeout=60)  # a hang guard, not a speed check
            assert all(isinstance(r, StateUnavailable) for r in results), results
            with pytest.raises(StateUnavailable):
                await asyncio.wait_for(state.reserve("t", "p", 10, 1), timeout=60)
            assert len(accepted) == 2  # the stuck connection was dropped, a new one made
        finally:
            acceptor.cancel()
            with contextlib.suppress(BaseException):
                await acceptor
            for conn in accepted:
                conn.close()
            await state.aclose()
    try:
        asyncio.run(body())
    finally:
        listener.close()


def test_redis_budget_counter_outlives_its_month(redis_server) -> None:  # type: ignore[no-untyped-def]
    """The month's spend must survive the month (late settlements), then go away."""
    import redis.asyncio as redis

    async def body() -> None:
        state = RedisState(redis_server.url, prefix="ttl", timeout=30.0)
        raw = redis.Redis.from_url(redis_server.url)
        try:
            assert await state.reserve("t", "2027-04", 10, 1)
            ttl = await raw.ttl("ttl:budget:t:2027-04")
            assert BUDGET_TTL - 60 <= ttl <= BUDGET_TTL and BUDGET_TTL >= 31 * 24 * 3600
            await state.hit("t", 5, 100, 1, time.time())
            keys = sorted(k.decode() for k in await raw.keys("ttl:rq:*"))
            assert len(keys) == 1 and 0 < await raw.ttl(keys[0]) <= 150
        finally:
            await state.aclose()
            await raw.aclose()
    asyncio.run(body())


def test_redis_errors_are_unavailable_without_details(redis_server) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        state = RedisState(redis_server.url, timeout=0.5)
        try:
            assert await state.ping()
            redis_server.stop()
            for call in (state.hit("t", 1, 1, 1, MINUTE), state.add_tokens("t", 1, MINUTE),
                         state.reserve("t", "p", 1, 1), state.adjust("t", "p", 1),
                         state.spent("t", "p")):
                with pytest.raises(StateUnavailable) as info:
                    await call
                assert str(info.value).startswith("state store unreachable: ")
                assert redis_server.password not in str(info.value)
                assert "NoneType" not in str(info.value)  # names the failure's class
                assert state.healthy is False
        finally:
            await state.aclose()
    asyncio.run(body())


def test_current_period_matches_the_calendar_in_any_order_of_times() -> None:
    """The kept month is used only inside its bounds: times jumping back and forth across
    month and year ends (cache hits and misses) all get their own month."""
    import calendar
    import random

    edges = [float(calendar.timegm((year, month, 1, 0, 0, 0)))
             for year in (2026, 2027, 2028) for month in range(1, 13)]
    times = [t + d for t in edges for d in (-1.0, -0.001, 0.0, 0.5)]
    times += [edges[0] + k * 21_601.5 for k in range(1500)]
    rng = random.Random(24)
    for _ in range(3):
        rng.shuffle(times)
        for when in times:
            assert current_period(when) == time.strftime("%Y-%m", time.gmtime(when)), when
        for when in sorted(times):  # and in order, where the kept month is hit most
            assert current_period(when) == time.strftime("%Y-%m", time.gmtime(when)), when


def test_current_period_is_the_utc_calendar_month() -> None:
    assert current_period(1_801_439_999.0) == "2027-01"  # 2027-01-31 23:59:59 UTC
    assert current_period(1_801_440_000.0) == "2027-02"
    assert current_period() == time.strftime("%Y-%m", time.gmtime())


# --- property: no interleaving of reserve / settle / release overspends ------------------

operations = st.lists(
    st.tuples(st.integers(1, 400),                        # reserved amount
              st.one_of(st.none(), st.floats(0, 1))),     # None: released; x: settled x*amount
    min_size=1, max_size=40)


async def _spend(state: State, budget: int, ops: list[tuple[int, float | None]]) -> None:
    peak = 0
    lock = asyncio.Lock()

    async def one(amount: int, settle: float | None) -> int:
        nonlocal peak
        if not await state.reserve("t", "2027-05", budget, amount):
            return 0
        async with lock:
            peak = max(peak, await state.spent("t", "2027-05"))
        await asyncio.sleep(0)  # let the others interleave while this one is "in flight"
        actual = 0 if settle is None else int(amount * settle)
        await state.adjust("t", "2027-05", actual - amount)
        return actual

    charged = await asyncio.gather(*(one(a, s) for a, s in ops))
    spent = await state.spent("t", "2027-05")
    assert peak <= budget, f"spend reached {peak} with reservations in flight"
    assert spent == sum(charged) <= budget


@given(budget=st.integers(0, 2000), ops=operations)
def test_property_concurrent_reserve_settle_release_never_overspend_memory(
        budget: int, ops: list[tuple[int, float | None]]) -> None:
    async def main() -> None:
        await _spend(MemoryState(), budget, ops)
    asyncio.run(main())


@settings(max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(0, 2000), ops=operations)
def test_property_concurrent_reserve_settle_release_never_overspend_redis(
        redis_server, budget: int, ops: list[tuple[int, float | None]]) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        state = RedisState(redis_server.url, prefix=f"p{time.monotonic_ns()}", timeout=30.0)
        try:
            await _spend(state, budget, ops)
        finally:
            await state.aclose()
    asyncio.run(main())


def test_a_retried_settle_counts_once_and_another_request_s_settle_still_counts(
        redis_server) -> None:  # type: ignore[no-untyped-def]
    """A settle retried after the store came back (``settle_retry``) may have reached it the
    first time: counted twice, the tenant would be billed twice for one request. A marker
    shared by every id would instead drop every other request's settlement."""
    async def body() -> None:
        state = RedisState(redis_server.url, prefix="once", timeout=30.0)
        try:
            assert await state.reserve("t", "2027-05", 1000, 500)
            await state.adjust("t", "2027-05", -100, settle_id="req-a")
            await state.adjust("t", "2027-05", -100, settle_id="req-a")  # the retry
            assert await state.spent("t", "2027-05") == 400
            await state.adjust("t", "2027-05", -50, settle_id="req-b")
            await state.adjust("t", "2027-05", -25)  # no id: always applied
            assert await state.spent("t", "2027-05") == 325
        finally:
            await state.aclose()
    asyncio.run(body())


def test_a_token_correction_below_zero_leaves_the_whole_limit(make_state) -> None:  # type: ignore[no-untyped-def]
    """An estimate far above the real answer is corrected down to nothing, not to one
    token: the tenant may then spend exactly its limit in that minute."""
    async def body(state: State) -> None:
        assert await state.hit("t", 100, 1000, 100, MINUTE) is None
        await state.add_tokens("t", -500, MINUTE + 1)
        assert await state.hit("t", 100, 1000, 1000, MINUTE + 2) is None
    run(make_state, body)


def test_hit_counts_report_the_window_after_the_request(make_state) -> None:  # type: ignore[no-untyped-def]
    """What ``x-ratelimit-remaining-*`` is computed from: the requests and tokens used in
    the window once this request is counted (a refused one adds nothing). Both backends
    must report the same numbers, or the headers differ by replica."""
    async def body(state: State) -> None:
        assert await state.hit_counts("t", 3, 1000, 100, MINUTE) == (None, 1, 100)
        assert await state.hit_counts("t", 3, 1000, 50, MINUTE + 1) == (None, 2, 150)
        wait, req, tok = await state.hit_counts("t", 3, 1000, 900, MINUTE + 2)
        assert wait is not None and (req, tok) == (2, 150)
    run(make_state, body)
