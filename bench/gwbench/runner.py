"""One benchmark run: the upstream, then each contender in turn at every concurrency.

For each contender: start it, check one JSON and one streamed answer end to end, warm up,
run wrk at each concurrency (ascending, fixed duration; with the CPU time of the proxy's
process tree, the upstream's and wrk's over each run), measure streamed time to first byte
and the long stream's total time at concurrency 1, read the memory of its process tree, stop
it, and compare the requests the upstream counted (nginx ``stub_status``) with those the
clients sent: a proxy must call only the loopback upstream. A contender that fails is
recorded with its error and the run goes on with the next one; the caller decides the exit
code. The soak runs one contender at steady load and samples its memory.

Example::

    cfg = BenchConfig(duration=2, levels=(1, 16), contenders=("direct", "nginx"))
    results = run_benchmark(cfg)
    print(results["contenders"][1]["levels"][0]["requests_per_second"])
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gwbench import cpu_ab, procs, upstream
from gwbench.contenders import CONTENDERS, DEFAULT_CONTENDERS, Context, Endpoint
from gwbench.endpoint import BENCH_DIR
from gwbench.longstream import measure_long_stream
from gwbench.measure import Levels, upstream_requests
from gwbench.procs import HarnessError
from gwbench.ttfb import measure_ttfb
from gwbench.wrk import request_body, run_wrk, write_script, wrk_binary


@dataclass
class BenchConfig:
    """Everything a run can be told (the CLI maps its flags onto this)."""

    duration: float = 20.0
    levels: tuple[int, ...] = (1, 16, 64, 256)
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS
    warmup: float = 3.0
    ttfb_iterations: int = 500
    long_iterations: int = 20  # long streams per contender (median); 0: skip
    wrk_threads: int = 1
    wrk_timeout: float = 30.0
    pause: float = 1.0
    litellm_venv: Path | None = None
    portkey_dir: Path = BENCH_DIR / ".portkey"
    gateway_argv: list[str] | None = None
    gateway_env: dict[str, str] = field(default_factory=dict)
    workers_args: tuple[str, ...] = ("--workers", "2")
    keep_tmp: Path | None = None  # copy the temp folder's logs here (debugging)
    # CPU per request against the gateway of an earlier commit (gwbench.before); None: skip.
    before_ref: str | None = None
    before_root: Path = Path(__file__).resolve().parent.parent / ".before"
    cpu_rounds: int = 3
    cpu_levels: tuple[int, ...] = (1, 16)


def _post(ep: Endpoint, path: str, body: str, timeout: float = 30,
          kind: str = "json") -> tuple[int, str, bytes]:
    headers = {"Content-Type": "application/json", **ep.headers_for(kind)}
    if ep.api_key:
        headers["Authorization"] = f"Bearer {ep.api_key}"
    req = urllib.request.Request(f"http://127.0.0.1:{ep.port}{path}", data=body.encode(),
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def check_endpoint(ep: Endpoint) -> None:
    """One JSON and one streamed request must return the upstream's answer, or raise."""
    status, ctype, data = _post(ep, ep.json_path, request_body(ep.chat_model))
    if status != 200:
        raise HarnessError(f"{ep.name}: chat completion answered {status}: {data[:500]!r}")
    content = json.loads(data)["choices"][0]["message"]["content"]
    expected = json.loads(upstream.chat_completion_body())["choices"][0]["message"]["content"]
    if content != expected:
        raise HarnessError(f"{ep.name}: unexpected completion {content!r}")
    status, ctype, data = _post(ep, ep.sse_path, request_body(ep.stream_model, stream=True),
                                kind="sse")
    if status != 200 or not ctype.startswith("text/event-stream"):
        raise HarnessError(f"{ep.name}: stream answered {status} {ctype!r}: {data[:500]!r}")
    text = data.decode()
    if "early." not in text or "data: [DONE]" not in text:
        raise HarnessError(f"{ep.name}: stream is missing content or [DONE]: {text[:500]!r}")


def _mb(value: int) -> float:
    return round(value / 1e6, 1)


def _run_contender(name: str, ctx: Context, cfg: BenchConfig,
                   log: Callable[[str], None]) -> dict[str, Any]:
    cls = CONTENDERS[name]
    out: dict[str, Any] = {"name": name, "label": cls.label, "levels": [], "error": None}
    started = time.monotonic()
    seen0 = upstream_requests(ctx.upstream_port)
    ep = cls().start(ctx)
    sent = 0
    try:
        out["version"] = ep.version
        out["workers"] = ep.workers
        out["startup_s"] = round(time.monotonic() - started, 2)
        check_endpoint(ep)
        sent += 2
        out["rss_start_mb"] = _mb(procs.tree_rss_bytes(ep.pid)) if ep.pid else None
        levels = Levels(ep, ctx, cfg)
        levels.warmup()
        for conns in cfg.levels:
            time.sleep(cfg.pause)
            level = levels.run(conns)
            out["levels"].append(level)
            log(f"  {name:8s} c={conns:<4d} {level['requests_per_second']:10.1f} req/s  "
                f"p50 {level['p50_ms']:8.3f} ms  p99 {level['p99_ms']:8.3f} ms  "
                f"errors {level['errors']}  CPU {level.get('cpu_us_per_request', '-')} µs/req")
        sent += levels.sent
        time.sleep(cfg.pause)
        ttfb_warmup = max(5, cfg.ttfb_iterations // 10)
        ttfb = measure_ttfb("127.0.0.1", ep.port, ep.sse_path,
                            request_body(ep.stream_model, stream=True), api_key=ep.api_key,
                            iterations=cfg.ttfb_iterations, warmup=ttfb_warmup,
                            headers=ep.headers_for("sse"))
        sent += ttfb_warmup + ttfb.iterations
        out["ttfb"] = ttfb.to_dict()
        log(f"  {name:8s} stream TTFB median {ttfb.median_ms:.3f} ms "
            f"(p90 {ttfb.p90_ms:.3f} ms, {ttfb.iterations} requests)")
        if cfg.long_iterations > 0 and ep.long_path:
            long_warmup = max(1, cfg.long_iterations // 10)
            stats = measure_long_stream("127.0.0.1", ep.port, ep.long_path,
                                        request_body(ep.long_model, stream=True),
                                        api_key=ep.api_key, iterations=cfg.long_iterations,
                                        warmup=long_warmup, headers=ep.headers_for("long"))
            sent += long_warmup + stats.iterations
            out["long_stream"] = stats.to_dict()
            log(f"  {name:8s} long stream ({stats.chunks} chunks) median "
                f"{stats.median_ms:.2f} ms")
        if ep.pid:
            out["rss_after_mb"] = _mb(procs.tree_rss_bytes(ep.pid))
            out["pss_after_mb"] = _mb(procs.tree_pss_bytes(ep.pid)) or None
            out["largest_rss_after_mb"] = _mb(procs.largest_rss_bytes(ep.pid))
        else:
            out["rss_after_mb"] = None
    finally:
        ep.stop()
    out.update(ep.facts)
    seen = upstream_requests(ctx.upstream_port) - seen0 - 1
    out["upstream"] = {"client_requests": sent, "upstream_requests": seen}
    return out


def _tool_versions() -> dict[str, str]:
    nginx = subprocess.run([upstream.nginx_binary(), "-v"], capture_output=True, text=True,
                           check=False).stderr.strip()
    wrk = subprocess.run([wrk_binary(), "-v"], capture_output=True, text=True,
                         check=False).stdout.splitlines()
    return {"nginx": nginx.replace("nginx version: ", ""),
            "wrk": (wrk[0].split(" [")[0] if wrk else "")}


def _machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "cpu_model": cpu, "python": platform.python_version(), "kernel": platform.release()}


def _context(tmp: Path, procs_group: procs.ProcessGroup, upstream_port: int, cfg: BenchConfig,
             log: Callable[[str], None]) -> Context:
    ctx = Context(tmp=tmp, procs=procs_group, upstream_port=upstream_port, log=log,
                  gateway_argv=cfg.gateway_argv, gateway_env=dict(cfg.gateway_env),
                  portkey_dir=cfg.portkey_dir, workers_args=tuple(cfg.workers_args))
    if cfg.litellm_venv is not None:
        ctx.litellm_venv = cfg.litellm_venv
    return ctx


def _start_upstream(tmp: Path, group: procs.ProcessGroup) -> tuple[int, int]:
    """Start the nginx upstream; return (port, pid)."""
    port = procs.free_port()
    child = group.start("upstream", upstream.nginx_argv(upstream.write_upstream_conf(tmp, port)),
                        log_dir=tmp)
    procs.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=15, proc=child)
    return port, child.pid


def _keep_logs(tmp: Path, dest: Path | None) -> None:
    if dest is None:
        return
    dest.mkdir(parents=True, exist_ok=True)
    for path in tmp.glob("*.log"):
        (dest / path.name).write_bytes(path.read_bytes())


def run_benchmark(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every contender of ``cfg`` and return the results (JSON-ready dict)."""
    unknown = [c for c in cfg.contenders if c not in CONTENDERS]
    if unknown:
        raise HarnessError(f"unknown contender(s) {unknown}; choose from {list(CONTENDERS)}")
    if "direct" not in cfg.contenders:
        raise HarnessError("the 'direct' baseline is required: added latency is measured "
                           "against it")
    results: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": _machine(),
                 "tools": _tool_versions(), "nginx_workers": upstream.workers(),
                 "config": {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in asdict(cfg).items() if k != "gateway_env"}},
        "contenders": [],
    }
    begin = time.monotonic()
    with procs.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="gwbench-") as tmp_s, \
            procs.ProcessGroup() as group:
        tmp = Path(tmp_s)
        try:
            upstream_port, upstream_pid = _start_upstream(tmp, group)
            ctx = _context(tmp, group, upstream_port, cfg, log)
            ctx.upstream_pid = upstream_pid
            for name in cfg.contenders:
                log(f"{name}:")
                try:
                    results["contenders"].append(_run_contender(name, ctx, cfg, log))
                except HarnessError as exc:
                    log(f"  {name} FAILED: {exc}")
                    results["contenders"].append(
                        {"name": name, "label": CONTENDERS[name].label, "levels": [],
                         "error": str(exc)})
            if cfg.before_ref and "gateway" in cfg.contenders:
                results["cpu_vs_before"] = cpu_ab.cpu_vs_before(ctx, cfg, log)
            if {"gateway", "gateway-traced"} <= set(cfg.contenders):
                results["tracing_ab"] = cpu_ab.tracing_ab(ctx, cfg, log)
        finally:
            _keep_logs(tmp, cfg.keep_tmp)
    results["meta"]["elapsed_s"] = round(time.monotonic() - begin, 1)
    return results


@dataclass
class SoakConfig:
    """The soak: one contender at steady load (fixed concurrency) for ``seconds``."""

    seconds: float = 300.0
    concurrency: int = 16
    contender: str = "gateway"
    sample_every: float = 5.0
    wrk_threads: int = 1
    litellm_venv: Path | None = None
    gateway_argv: list[str] | None = None
    gateway_env: dict[str, str] = field(default_factory=dict)


def run_soak(cfg: SoakConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Hold steady load on one contender and sample its memory (RSS of its process tree)."""
    from gwbench.wrk import parse_output, wrk_argv

    bcfg = BenchConfig(litellm_venv=cfg.litellm_venv, gateway_argv=cfg.gateway_argv,
                       gateway_env=cfg.gateway_env)
    samples: list[tuple[float, float]] = []
    with procs.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="gwsoak-") as tmp_s, \
            procs.ProcessGroup() as group:
        tmp = Path(tmp_s)
        upstream_port, _pid = _start_upstream(tmp, group)
        ctx = _context(tmp, group, upstream_port, bcfg, log)
        ep = CONTENDERS[cfg.contender]().start(ctx)
        if ep.pid is None:
            raise HarnessError(f"{cfg.contender} has no process whose memory could be sampled")
        check_endpoint(ep)
        rss_start = procs.tree_rss_bytes(ep.pid)
        script = write_script(tmp, body=request_body(ep.chat_model), api_key=ep.api_key)
        argv = wrk_argv(f"http://127.0.0.1:{ep.port}{ep.json_path}", script,
                        connections=cfg.concurrency, duration=cfg.seconds,
                        threads=cfg.wrk_threads, timeout_s=30)
        wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            begin = time.monotonic()
            next_sample = 0.0
            while wrk.poll() is None:
                elapsed = time.monotonic() - begin
                if elapsed >= next_sample:
                    samples.append((round(elapsed, 1), _mb(procs.tree_rss_bytes(ep.pid))))
                    next_sample += cfg.sample_every
                if elapsed > cfg.seconds + 60:
                    raise HarnessError("wrk did not end after the soak duration")
                time.sleep(0.2)
            stdout, stderr = wrk.communicate(timeout=10)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
        if wrk.returncode != 0:
            raise HarnessError(f"wrk exited with {wrk.returncode}: {stderr}")
        res = parse_output(stdout, cfg.concurrency)
        rss_end = procs.tree_rss_bytes(ep.pid)
        ep.stop()

    def at(second: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - second))[1]

    minute1 = at(60.0)
    last = samples[-1][1] if rss_end == 0 else _mb(rss_end)
    return {
        "contender": cfg.contender, "seconds": cfg.seconds, "concurrency": cfg.concurrency,
        "wrk": res.to_dict(), "rss_start_mb": _mb(rss_start), "rss_minute1_mb": minute1,
        "rss_end_mb": last,
        "growth_pct": round((last - minute1) / minute1 * 100, 2) if minute1 else None,
        "samples": samples, "machine": _machine(),
    }


@dataclass
class ProfileConfig:
    """Profile one contender with py-spy while wrk holds ``concurrency`` for ``seconds``."""

    seconds: float = 20.0
    concurrency: int = 64
    contender: str = "gateway"
    rate: int = 200
    wrk_threads: int = 1
    gateway_argv: list[str] | None = None
    gateway_env: dict[str, str] = field(default_factory=dict)


def run_profile(cfg: ProfileConfig, raw_out: Path,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Sample the contender's process tree under load; write py-spy's raw stacks to ``raw_out``.

    The wrk figures of this run are returned too, but they are not comparable with the
    benchmark's: the sampler takes CPU from the same two cores.
    """
    from gwbench import profile

    bcfg = BenchConfig(gateway_argv=cfg.gateway_argv, gateway_env=cfg.gateway_env)
    with procs.terminate_on_sigterm(), tempfile.TemporaryDirectory(prefix="gwprof-") as tmp_s, \
            procs.ProcessGroup() as group:
        tmp = Path(tmp_s)
        ctx = _context(tmp, group, _start_upstream(tmp, group)[0], bcfg, log)
        ep = CONTENDERS[cfg.contender]().start(ctx)
        if ep.pid is None:
            raise HarnessError(f"{cfg.contender} has no process to profile")
        check_endpoint(ep)
        url = f"http://127.0.0.1:{ep.port}{ep.json_path}"
        script = write_script(tmp, body=request_body(ep.chat_model), api_key=ep.api_key)
        run_wrk(url, script, connections=16, duration=3, threads=cfg.wrk_threads)
        raw_out.parent.mkdir(parents=True, exist_ok=True)
        sampler = profile.start_record(ep.pid, raw_out, cfg.seconds, rate=cfg.rate)
        time.sleep(0.5)  # let py-spy attach before the load starts
        res = run_wrk(url, script, connections=cfg.concurrency, duration=cfg.seconds,
                      threads=cfg.wrk_threads)
        profile.finish_record(sampler)
        ep.stop()
    log(f"  profiled {cfg.contender} at c={cfg.concurrency}: {res.requests_per_second:.0f} "
        f"req/s under the sampler, {res.errors} errors")
    return {"contender": cfg.contender, "wrk": res.to_dict(), "rate": cfg.rate}
