"""What keeps the request path cheap, and what it must not cost: no disconnect watcher task
for a request shorter than WATCH_AFTER (a client leaving a longer one still cancels it), and
the heap loaded at start-up frozen out of the garbage collector's scans."""

from __future__ import annotations

import asyncio
from typing import Any

from skyrelay.gateway.server.inflight import CLIENT_CLOSED, InFlight


def _tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


def test_a_short_request_starts_no_watcher() -> None:
    asyncio.run(_short())


async def _short() -> None:
    received = []

    async def receive() -> dict[str, Any]:
        received.append(1)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    inflight = InFlight()
    guard = inflight.guard(receive, stream=False)
    await asyncio.sleep(0.01)  # a request well under WATCH_AFTER
    assert not _tasks() and not received  # no watcher task was started for it
    guard.close()
    await asyncio.sleep(0.08)  # past WATCH_AFTER: the cancelled timer never fires
    assert not _tasks() and not received and not inflight.active


def test_a_client_leaving_a_long_request_cancels_it() -> None:
    asyncio.run(_long())


async def _long() -> None:
    gone = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await gone.wait()
        return {"type": "http.disconnect"}

    inflight = InFlight()

    async def request() -> str:
        guard = inflight.guard(receive, stream=False)
        try:
            await asyncio.sleep(10)  # the upstream call
            return "answered"
        except asyncio.CancelledError:
            assert guard.cancelled_by_us() and guard.reason == CLIENT_CLOSED
            guard.uncancel()
            return "cut"
        finally:
            guard.close()

    task = asyncio.get_running_loop().create_task(request())
    await asyncio.sleep(0.1)  # the watcher is up by now
    assert len(_tasks()) == 2
    gone.set()
    assert await asyncio.wait_for(task, 2) == "cut"
    await asyncio.sleep(0)
    assert not inflight.active


def test_startup_moves_the_loaded_heap_out_of_the_collectors_reach() -> None:
    # The gateway's CPU per request depends on it (bench: ~10 % at c=64): full collections
    # must not rescan the modules, config and catalogs on every request's allocations.
    import gc

    from skyrelay.gateway.serve import build_app
    from skyrelay.gateway.testing.harness import base_config, ops_for_tests

    gc.unfreeze()
    app = build_app(base_config({"t": {}}, {"chat": {"targets": ["t"]}}), probe_interval=0,
                    environ={"T1_KEY": "k"}, ops=ops_for_tests())
    assert gc.get_freeze_count() == 0
    try:
        asyncio.run(app.startup())
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def test_startup_stops_the_young_collections_that_find_nothing() -> None:
    # 64 connections' in-flight objects pushed CPython's net allocation count past the
    # default 700 ~400 times a second; each collection rescanned live objects only (~5 µs of
    # CPU per request). Startup raises the threshold; it never lowers one, nor turns a
    # disabled collector on.
    import gc

    from skyrelay.gateway.serve import build_app
    from skyrelay.gateway.server.app import YOUNG_GC_THRESHOLD, tune_young_collections
    from skyrelay.gateway.testing.harness import base_config, ops_for_tests

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        app = build_app(base_config({"t": {}}, {"chat": {"targets": ["t"]}}), probe_interval=0,
                        environ={"T1_KEY": "k"}, ops=ops_for_tests())
        asyncio.run(app.startup())
        assert gc.get_threshold() == (YOUNG_GC_THRESHOLD, 10, 10)
        gc.set_threshold(50_000, 10, 10)
        tune_young_collections()
        assert gc.get_threshold()[0] == 50_000
        gc.set_threshold(0)
        tune_young_collections()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
        gc.unfreeze()
