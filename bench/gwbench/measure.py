"""Measuring one contender at one concurrency: wrk, and the CPU time of everyone involved.

:class:`Levels` runs wrk at a concurrency level and records, besides wrk's figures, the CPU
time the proxy's process tree, the upstream's and wrk itself used during the run (as cores:
CPU seconds per second of the run), which shows how the machine's cores were shared.
:func:`upstream_requests` reads the upstream's request counter (nginx ``stub_status``).

Example::

    levels = Levels(endpoint, ctx, cfg)
    levels.warmup()
    row = levels.run(64)    # wrk figures + cpu_us_per_request + cpu_cores
"""

from __future__ import annotations

import resource
import urllib.request
from typing import TYPE_CHECKING, Any

from gwbench import procs, upstream
from gwbench.endpoint import Context, Endpoint
from gwbench.wrk import request_body, run_wrk, write_script

if TYPE_CHECKING:
    from gwbench.runner import BenchConfig


def upstream_requests(port: int) -> int:
    """The upstream's request counter (nginx ``stub_status``; the reading counts itself)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{upstream.STATUS_PATH}",
                                timeout=10) as resp:
        return upstream.parse_stub_status(resp.read().decode())


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Levels:
    """wrk at every level, with the CPU the proxy, the upstream and wrk used over each run."""

    def __init__(self, ep: Endpoint, ctx: Context, cfg: BenchConfig) -> None:
        self.ep, self.ctx, self.cfg = ep, ctx, cfg
        self.url = f"http://127.0.0.1:{ep.port}{ep.json_path}"
        self.script = write_script(ctx.tmp, body=request_body(ep.chat_model),
                                   api_key=ep.api_key, name=f"post-{ep.name}",
                                   headers=ep.headers_for("json"))
        self.sent = 0  # requests wrk completed, warm-up included

    def warmup(self) -> None:
        """wrk for the configured warm-up (counted in :attr:`sent`)."""
        if self.cfg.warmup > 0:
            res = run_wrk(self.url, self.script, connections=min(16, max(self.cfg.levels)),
                          duration=self.cfg.warmup, threads=self.cfg.wrk_threads,
                          timeout_s=self.cfg.wrk_timeout)
            self.sent += res.requests

    def run(self, conns: int) -> dict[str, Any]:
        """One level: wrk's result dict plus ``cpu_us_per_request`` and ``cpu_cores``."""
        ep, up_pid = self.ep, self.ctx.upstream_pid
        cpu0 = procs.tree_cpu_seconds(ep.pid) if ep.pid else 0.0
        up0 = procs.tree_cpu_seconds(up_pid) if up_pid else 0.0
        aux0 = {k: procs.tree_cpu_seconds(pid) for k, pid in ep.aux_pids.items()}
        wrk0 = _children_cpu_seconds()
        res = run_wrk(self.url, self.script, connections=conns, duration=self.cfg.duration,
                      threads=self.cfg.wrk_threads, timeout_s=self.cfg.wrk_timeout)
        wrk_cpu = _children_cpu_seconds() - wrk0
        self.sent += res.requests
        level: dict[str, Any] = res.to_dict()
        cores: dict[str, float] = {}
        if ep.pid and res.requests:
            cpu = procs.tree_cpu_seconds(ep.pid) - cpu0
            level["cpu_us_per_request"] = round(cpu / res.requests * 1e6, 1)
            cores["proxy"] = cpu
        if up_pid:
            cores["upstream"] = procs.tree_cpu_seconds(up_pid) - up0
        for key, pid in ep.aux_pids.items():
            cores[key] = procs.tree_cpu_seconds(pid) - aux0[key]
        cores["wrk"] = wrk_cpu
        if res.duration_s:
            level["cpu_cores"] = {k: round(v / res.duration_s, 3) for k, v in cores.items()}
        return level
