"""Pulumi's mocks with an event loop of their own, for tests that build components directly.

Pulumi's runtime creates futures on the thread's current event loop. After any
``asyncio.run()`` in the main thread (an SDK test, a server test) there is none, so a test
that relied on the implicit loop failed only when it ran after such a test. Each use gets a
fresh loop, closed afterwards, whatever ran before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pulumi

from skyrelay.pulumi.azure_mocks import AzureMocks
from skyrelay.pulumi.offline import RecordingMonitor


@contextmanager
def recording_pulumi_mocks(project: str = "skyrelay",
                           stack: str = "unit") -> Iterator[RecordingMonitor]:
    """Set Pulumi's mocks (Azure ids) and record every registration.

    Example::

        with recording_pulumi_mocks() as monitor:
            build()  # a @pulumi.runtime.test function
        assert monitor.records
    """
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recorder = RecordingMonitor(AzureMocks())
    pulumi.runtime.set_mocks(recorder.mocks, project=project, stack=stack, preview=False,
                             monitor=recorder)
    try:
        yield recorder
    finally:
        loop.close()
        asyncio.set_event_loop(None)
