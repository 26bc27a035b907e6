"""The Fargate task runs one gateway worker per vCPU when its limits are shared (Valkey),
one otherwise."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("cpu", "shared", "workers"), [
    (256, True, 1), (512, True, 1), (1024, True, 1), (2048, True, 2), (4096, True, 4),
    (4096, False, 1), (2048, False, 1)])
def test_workers_follow_the_task_size(cpu: int, shared: bool, workers: int) -> None:
    from skyrelay.constructs.gateway_service import task_workers

    assert task_workers(cpu, shared) == workers
