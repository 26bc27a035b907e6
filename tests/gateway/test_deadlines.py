"""skyrelay.gateway.deadlines: asyncio.timeout_at's behaviour with one timer per loop."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvloop

from skyrelay.gateway.deadlines import _deadlines_of, alarm_at, deadline_at, deadline_in

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    def runner(main: Callable[[], Awaitable[Any]]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            return r.run(main())
    return runner


def test_a_block_past_its_deadline_gets_timeout_error(run: Any) -> None:
    async def main() -> bool:
        never = asyncio.Event()
        block = deadline_in(0.02)
        with pytest.raises(TimeoutError), block:
            await never.wait()  # only the deadline can end this
        return block.expired()
    assert run(main) is True


def test_a_block_that_ends_in_time_leaves_nothing_behind(run: Any) -> None:
    async def main() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        block = deadline_at(loop.time() + 30)
        with block:
            await asyncio.sleep(0)
        return block.expired(), len(_deadlines_of(loop).open)
    assert run(main) == (False, 0)


def test_the_outer_deadline_converts_only_its_own_expiry(run: Any) -> None:
    async def main() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        outer, inner = deadline_at(loop.time() + 0.02), deadline_at(loop.time() + 30)
        with pytest.raises(TimeoutError), outer:
            try:
                with inner:
                    await asyncio.Event().wait()
            except TimeoutError:
                pytest.fail("the inner block's deadline had not come")
        return outer.expired(), inner.expired()
    assert run(main) == (True, False)


def test_an_inner_expiry_is_caught_inside_and_the_outer_block_goes_on(run: Any) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()
        with deadline_at(loop.time() + 30) as outer:
            try:
                with deadline_at(loop.time() + 0.01):
                    await asyncio.Event().wait()
            except TimeoutError:
                pass
            await asyncio.sleep(0.02)  # still inside the outer block: not cancelled
        return "outer expired" if outer.expired() else "done"
    assert run(main) == "done"


def test_a_cancellation_from_outside_stays_a_cancellation(run: Any) -> None:
    async def main() -> str:
        loop = asyncio.get_running_loop()

        async def work() -> None:
            with deadline_at(loop.time() - 1):  # already past: expires on the next turn
                await asyncio.Event().wait()

        task = loop.create_task(work())
        await asyncio.sleep(0)  # the task is inside its block now
        task.cancel()  # and someone else cancels it too
        try:
            await task
        except asyncio.CancelledError:
            return "cancelled"
        except TimeoutError:
            return "timeout"
        return "finished"
    assert run(main) == "cancelled"


def test_no_deadline_never_expires_and_registers_nothing(run: Any) -> None:
    async def main() -> int:
        with deadline_at(None) as block:
            await asyncio.sleep(0.01)
        assert not block.expired()
        return len(_deadlines_of(asyncio.get_running_loop()).open)
    assert run(main) == 0


def test_one_timer_serves_many_blocks_and_each_expires_at_its_own_time(run: Any) -> None:
    async def main() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        release = asyncio.Event()

        async def one(i: int) -> str:
            # even: a short deadline they outlive; odd: a long one they finish within
            with deadline_at(loop.time() + (0.01 if i % 2 == 0 else 30)):
                try:
                    await release.wait()
                except asyncio.CancelledError:
                    raise
            return "done"

        async def guarded(i: int) -> str:
            try:
                return await one(i)
            except TimeoutError:
                return "timeout"

        tasks = [loop.create_task(guarded(i)) for i in range(200)]
        await asyncio.sleep(0.1)  # the short deadlines have all come
        release.set()
        results = await asyncio.gather(*tasks)
        return results, len(_deadlines_of(loop).open)

    results, still_open = run(main)
    assert results == ["timeout" if i % 2 == 0 else "done" for i in range(200)]
    assert still_open == 0


def test_a_later_earlier_deadline_moves_the_timer_forward(run: Any) -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        with deadline_at(loop.time() + 30):  # arms the loop's timer 30 s out
            block = deadline_at(loop.time() + 0.01)
            with pytest.raises(TimeoutError), block:
                await asyncio.Event().wait()
        return block.expired()
    assert run(main) is True


def test_misuse_is_refused(run: Any) -> None:
    with pytest.raises(RuntimeError, match="asyncio task"), deadline_at(1.0):
        pass

    async def main() -> None:
        block = deadline_in(30)
        with block:
            pass
        with pytest.raises(RuntimeError, match="only once"), block:
            pass
    run(main)


def test_alarms_ring_unless_cancelled_and_one_failing_does_not_stop_the_rest(run: Any) -> None:
    async def main() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        rang: list[str] = []
        errors: list[str] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context["message"]))

        def fail() -> None:
            raise ValueError("boom")

        alarm_at(loop, loop.time() + 0.01, lambda: rang.append("a"))
        alarm_at(loop, loop.time() + 0.01, fail)
        alarm_at(loop, loop.time() + 0.01, lambda: rang.append("b"))
        alarm_at(loop, loop.time() + 0.02, lambda: rang.append("cancelled")).cancel()
        with deadline_at(loop.time() + 30):  # a deadline beside them keeps its own course
            await asyncio.sleep(0.05)
        return sorted(rang), errors
    assert run(main) == (["a", "b"], ["alarm callback failed"])


def test_a_closed_loop_is_not_kept_alive_by_its_deadlines_or_alarms() -> None:
    # the shared timer holds its loop; the map from loops to their deadlines must not
    refs: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        refs.append(weakref.ref(loop))
        with deadline_at(loop.time() + 30):
            await asyncio.sleep(0)
        alarm_at(loop, loop.time() + 30, lambda: None)  # still pending at the close

    for factory in LOOPS.values():
        for _ in range(5):
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(main())
    gc.collect()
    assert [r for r in refs if r() is not None] == []
