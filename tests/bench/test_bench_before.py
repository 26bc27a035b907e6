"""The CPU comparison against an earlier commit (gwbench.before): alternation, medians,
the report's verdict, and a clear error for a commit the history does not have."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from gwbench import before, report
from gwbench.procs import HarnessError


@dataclass
class _Stub:
    which: str
    stopped: bool = False

    def stop(self) -> None:
        self.stopped = True


def test_rounds_alternate_which_gateway_goes_first_and_stop_each() -> None:
    """Going first is not neutral on a busy machine; each round swaps the order."""
    started: list[_Stub] = []

    def start(which: str) -> _Stub:
        started.append(_Stub(which))
        return started[-1]

    cost = {"now": 120.0, "before": 100.0}
    rounds = before.compare_cpu(start, lambda ep, conns: cost[ep.which] * conns, rounds=3,
                                levels=(1, 16), log=lambda _m: None, pause=0)
    assert [s.which for s in started] == ["now", "before", "before", "now", "now", "before"]
    assert all(s.stopped for s in started)
    assert [(r.connections, r.now_us, r.before_us) for r in rounds[:2]] == [
        (1, 120.0, 100.0), (16, 1920.0, 1600.0)]
    assert all(r.ratio == pytest.approx(1.2) for r in rounds)


def test_a_failed_measurement_still_stops_the_gateway() -> None:
    started: list[_Stub] = []

    def start(which: str) -> _Stub:
        started.append(_Stub(which))
        return started[-1]

    def measure(ep: _Stub, conns: int) -> float:
        raise HarnessError("wrk saw errors")

    with pytest.raises(HarnessError):
        before.compare_cpu(start, measure, rounds=2, levels=(1,), log=lambda _m: None, pause=0)
    assert started and all(s.stopped for s in started)


def test_summary_is_the_median_of_the_ratios_per_concurrency() -> None:
    """One outlier round must not decide the figure."""
    rounds = [before.CpuRound(1, 105.0, 100.0), before.CpuRound(1, 300.0, 100.0),
              before.CpuRound(1, 98.0, 100.0), before.CpuRound(16, 50.0, 40.0)]
    by_level = {row["connections"]: row for row in before.summarize(rounds)}
    assert by_level[1]["ratio"] == 1.05
    assert by_level[1]["rounds"] == 3 and by_level[1]["before_us"] == 100.0
    assert by_level[16]["ratio"] == 1.25


def test_report_says_met_or_missed_against_ten_percent() -> None:
    section = {"ref": "9409c83abcde", "error": None, "levels": [
        {"connections": 1, "rounds": 3, "now_us": 700.0, "before_us": 680.0, "ratio": 1.029,
         "ratios": [1.0, 1.029, 1.05]},
        {"connections": 16, "rounds": 3, "now_us": 900.0, "before_us": 700.0, "ratio": 1.286,
         "ratios": [1.2, 1.286, 1.3]}]}
    lines = report.render_cpu_vs_before(section, {"cpu_rounds": 3, "duration": 5})
    rows = [line for line in lines if line.startswith("| 1 |") or line.startswith("| 16 |")]
    assert rows[0].endswith("| met |") and rows[1].endswith("| missed |")
    assert report.render_cpu_vs_before(None, {}) == []


def test_an_unknown_commit_is_a_harness_error_naming_it() -> None:
    with pytest.raises(HarnessError, match="0000000deadbeef"):
        before.resolve("0000000deadbeef")


def test_the_default_ref_is_in_this_repository_or_the_error_says_shallow() -> None:
    """make bench builds the baseline from history: a full clone has the commit; a shallow
    one must be told how to get it."""
    if before.is_shallow():
        with pytest.raises(HarnessError, match="shallow"):
            before.resolve(before.BEFORE_REF)
    else:
        assert before.resolve(before.BEFORE_REF).startswith(before.BEFORE_REF)
