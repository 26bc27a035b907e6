"""CPU per request of two gateways alternated round by round, in one benchmark run: the
gateway now against an earlier commit's (``--before-ref``), and traced against untraced.
A contender's own runs are minutes apart, with the other contenders between them, and a
shared machine drifts in minutes; alternating spreads the drift over both
(:func:`gwbench.before.compare_cpu`).

Example::

    results["tracing_ab"] = tracing_ab(ctx, cfg, log)   # {"levels": [{"ratio": ...}]}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gwbench import before, procs
from gwbench.contenders import CONTENDERS, Context, Endpoint
from gwbench.procs import HarnessError
from gwbench.wrk import request_body, run_wrk, write_script

if TYPE_CHECKING:
    from gwbench.runner import BenchConfig


def _checked(ep: Endpoint) -> Endpoint:
    from gwbench.runner import check_endpoint  # the runner imports this module

    check_endpoint(ep)
    return ep


def cpu_per_request(ctx: Context, cfg: BenchConfig, ep: Endpoint, conns: int) -> float:
    """CPU µs per request of ``ep``'s process tree over one wrk run (after a warm-up)."""
    url = f"http://127.0.0.1:{ep.port}{ep.json_path}"
    script = write_script(ctx.tmp, body=request_body(ep.chat_model), api_key=ep.api_key,
                          name="post-cpu")
    run_wrk(url, script, connections=conns, duration=cfg.warmup, threads=cfg.wrk_threads,
            timeout_s=cfg.wrk_timeout)
    assert ep.pid is not None
    cpu0 = procs.tree_cpu_seconds(ep.pid)
    res = run_wrk(url, script, connections=conns, duration=cfg.duration,
                  threads=cfg.wrk_threads, timeout_s=cfg.wrk_timeout)
    if not res.requests or res.errors:
        raise HarnessError(f"{ep.name}: {res.requests} requests, {res.errors} errors")
    return (procs.tree_cpu_seconds(ep.pid) - cpu0) / res.requests * 1e6


def tracing_ab(ctx: Context, cfg: BenchConfig,
               log: Callable[[str], None]) -> dict[str, Any]:
    """Traced against untraced CPU per request at the highest level, alternated round by
    round as the comparison with an earlier commit is (gwbench.before): the contenders'
    own runs are minutes apart, and a machine drifts in minutes."""
    level = max(cfg.levels)
    log(f"CPU per request, traced against untraced (c={level}, alternated):")

    def start(which: str) -> Endpoint:
        return _checked(CONTENDERS["gateway-traced" if which == "now" else "gateway"]()
                        .start(ctx))

    try:
        rounds = before.compare_cpu(start, lambda ep, conns: cpu_per_request(ctx, cfg, ep, conns),
                                    rounds=cfg.cpu_rounds, levels=(level,), log=log,
                                    pause=cfg.pause, names=("traced", "untraced"))
    except HarnessError as exc:
        log(f"  failed: {exc}")
        return {"error": str(exc), "levels": []}
    return {"error": None, "levels": before.summarize(rounds)}


def cpu_vs_before(ctx: Context, cfg: BenchConfig,
                  log: Callable[[str], None]) -> dict[str, Any]:
    """The gateway now against the gateway of ``cfg.before_ref``, alternated (gwbench.before)."""
    assert cfg.before_ref is not None
    log(f"CPU per request, now against {cfg.before_ref}:")
    try:
        earlier = before.ensure_before(cfg.before_ref, cfg.before_root, log=log)
    except HarnessError as exc:
        log(f"  skipped: {exc}")
        return {"ref": cfg.before_ref, "error": str(exc), "levels": []}
    then = replace(ctx, gateway_argv=earlier.argv, gateway_env={**ctx.gateway_env, **earlier.env})

    def start(which: str) -> Endpoint:
        return _checked(CONTENDERS["gateway"]().start(ctx if which == "now" else then))

    def measure(ep: Endpoint, conns: int) -> float:
        return cpu_per_request(ctx, cfg, ep, conns)

    rounds = before.compare_cpu(start, measure, rounds=cfg.cpu_rounds, levels=cfg.cpu_levels,
                                log=log, pause=cfg.pause)
    return {"ref": earlier.commit, "error": None,
            "levels": before.summarize(rounds)}
