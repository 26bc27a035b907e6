"""Route strategies (``skyrelay.gateway.router.strategies``): the order targets are tried in.

Whatever the strategy, the ranking is a permutation of the eligible targets: a target that
vanished from it would never be tried (a silent outage), one that appeared twice would be
tried twice. The exact rules (ties keep the spec's order, zero weights only as fallback,
unmeasured targets first) are pinned one by one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skyrelay.gateway.config import TargetConfig, TargetPrice
from skyrelay.gateway.router.latency import LatencyTracker
from skyrelay.gateway.router.strategies import STRATEGIES, rank, weighted_order


def target(key: str, price_in: float = 1.0, price_out: float = 2.0) -> TargetConfig:
    return TargetConfig(key=key, cloud="openai", kind="chat", region="", model=key,
                        endpoint="http://127.0.0.1:9/v1", price=TargetPrice(price_in, price_out),
                        processing=frozenset({"*"}))


class Draws(random.Random):
    """A random source that answers ``random()`` from a list (to hit exact boundaries).

    The weighted draw spends one value per target, the last one included."""

    def __init__(self, values: Sequence[float]) -> None:
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0)


def keys(targets: list[TargetConfig]) -> list[str]:
    return [t.key for t in targets]


def ranked(strategy: str, targets: list[TargetConfig], weights: list[int] | None = None, *,
           latency: LatencyTracker | None = None, rng: random.Random | None = None,
           estimate: tuple[int, int] = (100, 100), stream: bool = False,
           explore: float = 0.0) -> list[str]:
    return keys(rank(strategy, targets, weights or [1] * len(targets), estimate=estimate,
                     latency=latency or LatencyTracker(), stream=stream,
                     rng=rng or random.Random(3), explore=explore))


ABC = [target("a"), target("b"), target("c")]


def test_priority_and_single_targets_keep_the_spec_order() -> None:
    assert ranked("priority", ABC) == ["a", "b", "c"]
    # One target: nothing to rank, whatever the strategy (no draw is spent).
    for strategy in STRATEGIES:
        assert ranked(strategy, [target("x")], rng=Draws([])) == ["x"]


def test_weighted_draw_intervals_are_half_open() -> None:
    """Weights 1:1 split [0, 2) into [0, 1) for a and [1, 2) for b: a draw of exactly 1.0
    belongs to b. With ``<=`` instead of ``<`` the first target would win its boundary and
    be favoured."""
    assert keys(weighted_order(ABC[:2], [1, 1], Draws([0.5, 0.0]))) == ["b", "a"]
    assert keys(weighted_order(ABC[:2], [1, 1], Draws([0.49, 0.0]))) == ["a", "b"]
    # 3:1 -> a takes [0, 3): a draw of 0.74 * 4 = 2.96 is still a's.
    assert keys(weighted_order(ABC[:2], [3, 1], Draws([0.74, 0.0]))) == ["a", "b"]
    assert keys(weighted_order(ABC[:2], [3, 1], Draws([0.75, 0.0]))) == ["b", "a"]


def test_weighted_draws_again_from_what_is_left() -> None:
    # First draw 0.9 * 6 = 5.4 -> c (weights 1, 2, 3: c holds [3, 6)); then among a, b
    # (total 3) 0.5 * 3 = 1.5 -> b (b holds [1, 3)).
    assert keys(weighted_order(ABC, [1, 2, 3], Draws([0.9, 0.5, 0.0]))) == ["c", "b", "a"]


def test_weighted_zero_weights_go_last_in_spec_order() -> None:
    targets = [target("z1"), target("a"), target("z2"), target("b")]
    order = keys(weighted_order(targets, [0, 1, 0, 1], random.Random(5)))
    assert sorted(order[:2]) == ["a", "b"] and order[2:] == ["z1", "z2"]
    # Negative weights count as zero (fallback only), never as a draw.
    assert keys(weighted_order(targets, [-1, 1, 0, 0], Draws([0.99]))) == ["a", "z1", "z2", "b"]
    assert ranked("weighted", targets, [0, 0, 0, 0]) == ["z1", "a", "z2", "b"]


def test_weighted_rank_uses_the_weights() -> None:
    assert ranked("weighted", ABC[:2], [1, 1], rng=Draws([0.5, 0.0])) == ["b", "a"]
    firsts = {ranked("weighted", ABC, [0, 0, 1], rng=random.Random(i))[0] for i in range(20)}
    assert firsts == {"c"}


def test_lowest_cost_orders_by_the_estimated_request_cost() -> None:
    cheap_in = target("cheap-in", price_in=1.0, price_out=10.0)
    cheap_out = target("cheap-out", price_in=10.0, price_out=1.0)
    # Input-heavy request: input price dominates; output-heavy: the other way round.
    assert ranked("lowest-cost", [cheap_out, cheap_in], estimate=(1000, 1)) == [
        "cheap-in", "cheap-out"]
    assert ranked("lowest-cost", [cheap_in, cheap_out], estimate=(1, 1000)) == [
        "cheap-out", "cheap-in"]


def test_lowest_cost_ties_keep_the_spec_order() -> None:
    same = [target("p"), target("q"), target("r", price_in=0.5)]
    assert ranked("lowest-cost", same) == ["r", "p", "q"]


def test_lowest_latency_unmeasured_first_then_fastest_per_mode() -> None:
    lat = LatencyTracker()
    lat.observe("a", 0.5, stream=False)
    lat.observe("b", 0.1, stream=False)
    lat.observe("a", 0.05, stream=True)
    lat.observe("c", 0.2, stream=True)
    assert ranked("lowest-latency", ABC, latency=lat) == ["c", "b", "a"]
    assert ranked("lowest-latency", ABC, latency=lat, stream=True) == ["b", "a", "c"]
    # Equal averages keep the spec order.
    even = LatencyTracker()
    for k in ("a", "b", "c"):
        even.observe(k, 0.3, stream=False)
    assert ranked("lowest-latency", ABC, latency=even) == ["a", "b", "c"]


def test_lowest_latency_explores_a_share_of_requests() -> None:
    lat = LatencyTracker()
    for k, v in (("a", 0.3), ("b", 0.2), ("c", 0.1)):
        lat.observe(k, v, stream=False)
    # A draw under the explore share takes a random order; one at or above it does not.
    orders = {tuple(ranked("lowest-latency", ABC, latency=lat, explore=1.0,
                           rng=random.Random(i))) for i in range(30)}
    assert len(orders) > 1 and all(sorted(o) == ["a", "b", "c"] for o in orders)
    assert ranked("lowest-latency", ABC, latency=lat, explore=0.5,
                  rng=Draws([0.5])) == ["c", "b", "a"]
    assert ranked("lowest-latency", ABC, latency=lat, explore=0.0, rng=Draws([])) == [
        "c", "b", "a"]


def test_a_target_measured_at_zero_still_goes_after_the_unmeasured() -> None:
    """Unmeasured targets go first so that each gets measured, even against a target whose
    average is 0.0 (a very fast or coarse clock)."""
    lat = LatencyTracker()
    lat.observe("a", 0.0, stream=False)
    assert ranked("lowest-latency", ABC[:1] + ABC[2:], latency=lat) == ["c", "a"]


def test_lowest_latency_explores_five_percent_by_default() -> None:
    lat = LatencyTracker()
    for k, v in (("a", 0.3), ("b", 0.2), ("c", 0.1)):
        lat.observe(k, v, stream=False)
    order = rank("lowest-latency", ABC, [1, 1, 1], estimate=(1, 1), latency=lat, stream=False,
                 rng=Draws([0.05]))
    assert keys(order) == ["c", "b", "a"]  # a draw of 0.05 is not under 5 %


def test_weights_must_match_the_targets() -> None:
    """A target without a weight must not vanish from the ranking (never tried)."""
    with pytest.raises(ValueError):
        weighted_order(ABC, [1, 1], random.Random(1))
    with pytest.raises(ValueError):
        weighted_order(ABC[:2], [1, 1, 1], random.Random(1))


def test_unknown_strategy_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        ranked("fastest", ABC)
    assert "'fastest'" in str(info.value)
    assert all(name in str(info.value) for name in STRATEGIES)


@given(data=st.data(), strategy=st.sampled_from(STRATEGIES), n=st.integers(0, 6),
       stream=st.booleans(), seed=st.integers(0, 2**16))
def test_property_every_ranking_is_a_permutation_of_the_eligible_targets(
        data: st.DataObject, strategy: str, n: int, stream: bool, seed: int) -> None:
    targets = [target(f"t{i}", data.draw(st.floats(0, 50)), data.draw(st.floats(0, 50)))
               for i in range(n)]
    weights = data.draw(st.lists(st.integers(-1, 5), min_size=n, max_size=n))
    lat = LatencyTracker()
    for t in targets:
        if data.draw(st.booleans()):
            lat.observe(t.key, data.draw(st.floats(0.001, 5)), stream=stream)
    order = rank(strategy, targets, weights, estimate=(data.draw(st.integers(0, 10**5)),
                                                       data.draw(st.integers(0, 10**5))),
                 latency=lat, stream=stream, rng=random.Random(seed),
                 explore=data.draw(st.sampled_from([0.0, 0.05, 1.0])))
    assert sorted(keys(order)) == sorted(keys(targets))
    if strategy == "weighted":
        # Positive weights are drawn first; zero/negative ones follow in spec order.
        zeros = [t.key for t, w in zip(targets, weights, strict=True) if w <= 0]
        assert keys(order)[len(order) - len(zeros):] == zeros
