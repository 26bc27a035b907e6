"""Route strategies: the order in which a request tries a route's eligible targets.

- ``priority``: the order the spec lists them (ordered fallback).
- ``weighted``: a weighted random draw without replacement (weight 0 = fallback only).
- ``lowest-cost``: cheapest first for this request's estimated input and output tokens.
- ``lowest-latency``: lowest moving average first (time to first token for streams); targets
  never measured go first so each gets measured, and an ``explore`` share of requests takes
  a random order so a target that was slow once can prove it recovered.

Ties keep the spec's order. Health is not considered here: the attempt loop skips targets
whose circuit breaker is open.

Example::

    order = rank("priority", targets, weights, estimate=(100, 50), latency=tracker,
                 stream=False, rng=random.Random(1))
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from skyrelay.gateway.config import TargetConfig
from skyrelay.gateway.router.latency import LatencyTracker

STRATEGIES = ("priority", "weighted", "lowest-cost", "lowest-latency")


def weighted_order(targets: Sequence[TargetConfig], weights: Sequence[int],
                   rng: random.Random) -> list[TargetConfig]:
    """Draw targets one by one with probability proportional to weight; zeros go last."""
    pool = [(t, w) for t, w in zip(targets, weights, strict=True) if w > 0]
    out: list[TargetConfig] = []
    while pool:
        total = sum(w for _, w in pool)
        pick = rng.random() * total
        for i, (target, weight) in enumerate(pool):
            pick -= weight
            if pick < 0 or i == len(pool) - 1:
                out.append(target)
                del pool[i]
                break
    out.extend(t for t, w in zip(targets, weights, strict=True) if w <= 0)
    return out


def rank(strategy: str, targets: Sequence[TargetConfig], weights: Sequence[int], *,
         estimate: tuple[int, int], latency: LatencyTracker, stream: bool,
         rng: random.Random, explore: float = 0.05) -> list[TargetConfig]:
    """The order in which to try ``targets`` under ``strategy``."""
    if len(targets) <= 1 or strategy == "priority":
        return list(targets)
    if strategy == "weighted":
        return weighted_order(targets, weights, rng)
    if strategy == "lowest-cost":
        tokens_in, tokens_out = estimate
        indexed = sorted(range(len(targets)),
                         key=lambda i: (targets[i].price.cost(tokens_in, tokens_out), i))
        return [targets[i] for i in indexed]
    if strategy == "lowest-latency":
        if explore > 0 and rng.random() < explore:
            shuffled = list(targets)
            rng.shuffle(shuffled)
            return shuffled

        def key(i: int) -> tuple[int, float, int]:
            value = latency.value(targets[i].key, stream=stream)
            return (0, 0.0, i) if value is None else (1, value, i)

        return [targets[i] for i in sorted(range(len(targets)), key=key)]
    raise ValueError(f"unknown routing strategy {strategy!r}; expected one of {STRATEGIES}")
