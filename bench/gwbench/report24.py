"""The report's issue-24 parts: long stream, workers, tracing cost, upstream check, targets.

Computed from the JSON results like :mod:`gwbench.report`. The long stream's added time per
chunk is against nginx (the floor for a proxy), ``(proxy_total - nginx_total) / chunks``; the
worker ratio is req/s at concurrency 64 of ``gateway-2w`` over ``gateway``; the tracing cost is
CPU µs per request at concurrency 64 of ``gateway-traced`` over ``gateway``.

Example::

    lines = render_issue24(results)
    rows = targets24(results)     # [(target, measured, "met" | "MISSED" | "n/a"), ...]
"""

from __future__ import annotations

from typing import Any

from gwbench.longstream import per_chunk_us
from gwbench.report import added, added_ttfb, by_name, level
from gwbench.upstream import LONG_CHUNKS

TARGET_CPU_US_64 = 150.0
TARGET_PORTKEY_FACTOR = 5.0
TARGET_LITELLM_FACTOR = 100.0
TARGET_WORKERS_RATIO = 1.7
TARGET_ADDED_P50_MS = 0.3
TARGET_TTFB_ADDED_MS = 0.5
TARGET_RSS_PER_WORKER_MB = 100.0
TARGET_TRACING_PCT = 20.0
TARGET_LONG_US_PER_CHUNK = 20.0
#: The concurrency at which capacity and CPU figures are read.
CAPACITY_LEVEL = 64


def _cpu(results: dict[str, Any], name: str, conns: int = CAPACITY_LEVEL) -> float | None:
    lvl = level(by_name(results).get(name), conns)
    value = lvl.get("cpu_us_per_request") if lvl else None
    return None if value is None else float(value)


def _rps(results: dict[str, Any], name: str, conns: int = CAPACITY_LEVEL) -> float | None:
    lvl = level(by_name(results).get(name), conns)
    return None if lvl is None else float(lvl["requests_per_second"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def long_stream_added_us(results: dict[str, Any], name: str = "gateway") -> float | None:
    """µs per chunk ``name``'s long stream takes over nginx's (medians), or None."""
    entries = by_name(results)
    mine = (entries.get(name) or {}).get("long_stream")
    floor = (entries.get("nginx") or {}).get("long_stream")
    if not mine or not floor:
        return None
    return per_chunk_us(float(mine["median_ms"]), float(floor["median_ms"]),
                        int(mine.get("chunks") or LONG_CHUNKS))


def workers_ratio(results: dict[str, Any]) -> float | None:
    """req/s at concurrency 64 with two workers over one worker."""
    return _ratio(_rps(results, "gateway-2w"), _rps(results, "gateway"))


def tracing_alternated(results: dict[str, Any]) -> dict[str, Any] | None:
    """The alternated traced/untraced comparison at concurrency 64 (``now_us``: traced,
    ``before_us``: untraced, ``ratio``: their rounds' median), or None when not run."""
    section = results.get("tracing_ab") or {}
    return next((lvl for lvl in section.get("levels", [])
                 if lvl["connections"] == CAPACITY_LEVEL), None)


def tracing_ratio(results: dict[str, Any]) -> float | None:
    """CPU µs per request at concurrency 64, traced over untraced: the alternated rounds'
    median when they ran, else the two contenders' own runs."""
    alternated = tracing_alternated(results)
    if alternated is not None:
        return float(alternated["ratio"])
    return _ratio(_cpu(results, "gateway-traced"), _cpu(results, "gateway"))


def tracing_cpus(results: dict[str, Any]) -> tuple[float | None, float | None]:
    """(traced, untraced) CPU µs per request at concurrency 64, from the same figures as
    :func:`tracing_ratio`."""
    alternated = tracing_alternated(results)
    if alternated is not None:
        return alternated["now_us"], alternated["before_us"]
    return _cpu(results, "gateway-traced"), _cpu(results, "gateway")


def rss_per_worker(entry: dict[str, Any] | None) -> float | None:
    """RSS of the whole process tree after the run (supervisor included) ÷ workers."""
    if not entry or entry.get("rss_after_mb") is None:
        return None
    return float(entry["rss_after_mb"]) / max(1, int(entry.get("workers") or 1))


def memory_per_worker(entry: dict[str, Any] | None) -> tuple[float, str] | None:
    """(MB per worker, what was measured) after the run, supervisor included: the tree's
    PSS ÷ workers when known (forked workers share their start-up pages, which a sum of
    RSS counts once per process), else its RSS ÷ workers."""
    if not entry:
        return None
    workers = max(1, int(entry.get("workers") or 1))
    if entry.get("pss_after_mb"):
        return float(entry["pss_after_mb"]) / workers, "PSS"
    rss = rss_per_worker(entry)
    return None if rss is None else (rss, "RSS")


def _memory_row(entries: dict[str, dict[str, Any]]) -> tuple[str, str, str]:
    parts, ok = [], []
    for name in ("gateway", "gateway-2w"):
        entry = entries.get(name)
        got = memory_per_worker(entry)
        if got is None or entry is None:
            continue
        value, basis = got
        text = f"{name}: {value:.1f} MB {basis}"
        if basis == "PSS":
            text += (f" (RSS summed {float(entry['rss_after_mb']):.1f} MB ÷ "
                     f"{max(1, int(entry.get('workers') or 1))}"
                     + (f", largest process {entry['largest_rss_after_mb']} MB RSS"
                        if entry.get("largest_rss_after_mb") else "") + ")")
        parts.append(text)
        ok.append(value <= TARGET_RSS_PER_WORKER_MB)
    measured = ("; ".join(parts) + "; process tree ÷ workers, supervisor included"
                if parts else "—")
    return (f"RSS after the run ≤ {TARGET_RSS_PER_WORKER_MB:g} MB per worker", measured,
            _verdict(all(ok) if ok else None))


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def _fmt(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def targets24(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for issue 24's figures; verdict met / MISSED / n/a."""
    entries = by_name(results)
    rows: list[tuple[str, str, str]] = []
    cpu = _cpu(results, "gateway")
    rows.append((f"CPU per request at concurrency 64 ≤ {TARGET_CPU_US_64:g} µs",
                 _fmt(cpu, "{:.1f} µs"), _verdict(None if cpu is None
                                                  else cpu <= TARGET_CPU_US_64)))
    g64 = _rps(results, "gateway")
    for other, factor, label in (("portkey", TARGET_PORTKEY_FACTOR, "Portkey"),
                                 ("litellm", TARGET_LITELLM_FACTOR, "LiteLLM")):
        theirs = _rps(results, other)
        ratio = _ratio(g64, theirs)
        rows.append((f"req/s at concurrency 64 ≥ {factor:g}× {label}",
                     "—" if ratio is None else f"{ratio:.1f}× ({g64:,.0f} vs {theirs:,.0f})",
                     _verdict(None if ratio is None else ratio >= factor)))
    ratio = workers_ratio(results)
    two, one = _rps(results, "gateway-2w"), _rps(results, "gateway")
    rows.append((f"req/s at concurrency 64, 2 workers ≥ {TARGET_WORKERS_RATIO:g}× 1 worker",
                 "—" if ratio is None else f"{ratio:.2f}× ({two:,.0f} vs {one:,.0f})",
                 _verdict(None if ratio is None else ratio >= TARGET_WORKERS_RATIO)))
    a50 = added(results, "gateway", 1, "p50_ms")
    rows.append((f"added p50 at concurrency 1 ≤ {TARGET_ADDED_P50_MS:g} ms",
                 _fmt(a50, "{:+.3f} ms"),
                 _verdict(None if a50 is None else a50 <= TARGET_ADDED_P50_MS)))
    ttfb = added_ttfb(results, "gateway")
    rows.append((f"stream TTFB added ≤ {TARGET_TTFB_ADDED_MS:g} ms", _fmt(ttfb, "{:+.3f} ms"),
                 _verdict(None if ttfb is None else ttfb <= TARGET_TTFB_ADDED_MS)))
    rows.append(_memory_row(entries))
    tr = tracing_ratio(results)
    traced_cpu, untraced_cpu = tracing_cpus(results)
    how = " alternated" if tracing_alternated(results) is not None else ""
    rows.append((f"tracing on costs ≤ +{TARGET_TRACING_PCT:g} % CPU per request (c=64)",
                 "—" if tr is None else
                 f"{(tr - 1) * 100:+.1f} % ({traced_cpu} vs {untraced_cpu} µs{how})",
                 _verdict(None if tr is None else tr <= 1 + TARGET_TRACING_PCT / 100)))
    per_chunk = long_stream_added_us(results)
    rows.append((f"long stream added ≤ {TARGET_LONG_US_PER_CHUNK:g} µs per chunk (vs nginx)",
                 _fmt(per_chunk, "{:.2f} µs"),
                 _verdict(None if per_chunk is None
                          else per_chunk <= TARGET_LONG_US_PER_CHUNK)))
    return rows


def _ok_entries(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in results["contenders"] if not e.get("error")]


def render_long_stream(results: dict[str, Any]) -> list[str]:
    """The long-stream section: total time per contender and the added µs per chunk."""
    rows = [e for e in _ok_entries(results) if e.get("long_stream")]
    if not rows:
        return []
    out = ["", f"## Long stream ({LONG_CHUNKS:,} chunks)", "",
           f"One streamed request whose upstream answer is {LONG_CHUNKS:,} `data:` chunks "
           "(about 250 KB, sent by nginx as fast as loopback carries it), timed from sending "
           "the request to the last body byte on a raw socket, one keep-alive connection, "
           f"median of {rows[0]['long_stream']['iterations']} after a warm-up. Added per chunk "
           "= (contender − nginx) ÷ chunks: what a proxy spends per chunk beyond the floor.",
           "", "| contender | total median ms | min ms | chunks delivered | added µs per chunk "
           "vs nginx |", "|---|---:|---:|---:|---:|"]
    for entry in rows:
        stats = entry["long_stream"]
        extra = None if entry["name"] in ("direct", "nginx") else \
            long_stream_added_us(results, entry["name"])
        out.append(f"| {entry['label']} | {stats['median_ms']:.3f} | {stats['min_ms']:.3f} | "
                   f"{stats['chunks']} | {_fmt(extra, '{:.2f}')} |")
    return out


def _cores(entry: dict[str, Any] | None) -> str:
    lvl = level(entry, CAPACITY_LEVEL)
    cores = (lvl or {}).get("cpu_cores")
    if not cores:
        return "—"
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items())


def render_workers(results: dict[str, Any]) -> list[str]:
    """The workers section: req/s at 64 with 1 and 2 workers, the ratio, how cores were shared."""
    entries = by_name(results)
    one, two, shared = (entries.get("gateway"), entries.get("gateway-2w"),
                        entries.get("gateway-redis"))
    if not two:
        return []
    machine = results["meta"]["machine"]
    out = ["", "## Workers", ""]
    if two.get("error"):
        first = two["error"].strip().splitlines()[0] if two["error"].strip() else "?"
        return [*out, f"`gateway-2w` did not run: {first}"]
    ratio = workers_ratio(results)
    out.append(f"How the cores were shared: this machine has {machine['cpus']} CPUs "
               f"({machine.get('cpus_usable', machine['cpus'])} usable by the harness) and "
               "nothing is pinned: wrk (1 thread), the nginx upstream "
               f"({results['meta']['nginx_workers']} workers), the gateway's workers and, with "
               "2 workers, the Redis that shares limits and budgets between them, all run on "
               "the same cores, scheduled by the kernel. The cores each used during the "
               f"concurrency-{CAPACITY_LEVEL} run (CPU seconds per second) are below; what the "
               "gateway cannot get, the load generator and the upstream took, so the ratio is "
               "lower than on a dedicated machine.")
    out += ["", "| contender | workers | state | req/s at c=64 | CPU µs/req (gateway) "
            "| cores used at c=64 |", "|---|---:|---|---:|---:|---|"]
    for entry in (one, shared, two):
        if not entry or entry.get("error"):
            continue
        state = "Redis" if entry.get("shared_state") else "in process"
        out.append(f"| {entry['label']} | {entry.get('workers', 1)} | {state} | "
                   f"{_fmt(_rps(results, entry['name']), '{:,.0f}')} | "
                   f"{_fmt(_cpu(results, entry['name']), '{:.1f}')} | {_cores(entry)} |")
    out += ["", f"2 workers ÷ 1 worker: {_fmt(ratio, '{:.2f}×')} "
                f"(target ≥ {TARGET_WORKERS_RATIO:g}×)."]
    same_state = _ratio(_rps(results, "gateway-2w"), _rps(results, "gateway-redis"))
    if same_state is not None:
        out[-1] += (f" Against one worker with the same Redis state (`gateway-redis`): "
                    f"{same_state:.2f}×; the gap between the two ratios is the shared "
                    "state's cost, not the workers'.")
    return out


def render_tracing(results: dict[str, Any]) -> list[str]:
    """The tracing section: CPU per request traced against untraced, spans received."""
    traced = by_name(results).get("gateway-traced")
    if not traced:
        return []
    out = ["", "## Tracing cost", ""]
    if traced.get("error"):
        first = traced["error"].strip().splitlines()[0] if traced["error"].strip() else "?"
        return [*out, f"`gateway-traced` did not run: {first}"]
    ratio = tracing_ratio(results)
    spans = (traced.get("traces") or {}).get("spans")
    sent = (traced.get("upstream") or {}).get("client_requests")
    out.append("`gateway-traced` is the gateway with `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` "
               "pointing at a loopback OTLP/HTTP receiver in the harness (it counts spans; "
               "its CPU is not the gateway's), sample ratio 1.0: every request traced.")
    out += ["", "| conc. | untraced CPU µs/req | traced CPU µs/req | traced ÷ untraced |",
            "|---:|---:|---:|---:|"]
    for lvl in traced.get("levels", []):
        conns = lvl["connections"]
        mine, base = _cpu(results, "gateway-traced", conns), _cpu(results, "gateway", conns)
        out.append(f"| {conns} | {_fmt(base, '{:.1f}')} | {_fmt(mine, '{:.1f}')} | "
                   f"{_fmt(_ratio(mine, base), '{:.3f}')} |")
    ab_levels = (results.get("tracing_ab") or {}).get("levels") or []
    if ab_levels:
        out += ["", "The two contenders' runs above are minutes apart (the others run between "
                    "them), so the target uses the same two gateways alternated round by round "
                    "(traced, untraced, untraced, traced, ...):",
                "", "| conc. | rounds | untraced CPU µs/req (median) | traced CPU µs/req "
                    "(median) | traced ÷ untraced per round | median |",
                "|---:|---:|---:|---:|---|---:|"]
        out += [f"| {lvl['connections']} | {lvl['rounds']} | {lvl['before_us']} | "
                f"{lvl['now_us']} | {', '.join(f'{r:.3f}' for r in lvl['ratios'])} | "
                f"{lvl['ratio']:.3f} |" for lvl in ab_levels]
    elif (results.get("tracing_ab") or {}).get("error"):
        out += ["", f"The alternated comparison failed: "
                    f"{results['tracing_ab']['error'].splitlines()[0]}"]
    out += ["", f"At concurrency {CAPACITY_LEVEL}: "
                f"{_fmt(None if ratio is None else (ratio - 1) * 100, '{:+.1f} %')} "
                f"(target ≤ +{TARGET_TRACING_PCT:g} %). Spans received: "
                f"{_fmt(spans, '{:,}')} for {_fmt(sent, '{:,}')} requests sent."]
    return out


def render_upstream_check(results: dict[str, Any]) -> list[str]:
    """Requests the upstream counted against those the clients sent, per contender."""
    rows = [e for e in _ok_entries(results) if e.get("upstream")]
    if not rows:
        return []
    all_ok = all(e["upstream"]["upstream_requests"] >= e["upstream"]["client_requests"]
                 for e in rows)
    verdict = ("Each proxy answered with the upstream's fixed bodies and the upstream saw at "
               "least as many requests as were sent (a few more: wrk stops with requests in "
               "flight), so every request was served by the loopback upstream." if all_ok else
               "The upstream saw FEWER requests than were sent for a contender marked below: "
               "some of its requests were answered by something else.")
    out = ["", "## Requests that reached the upstream", "",
           "The upstream's own counter (nginx `stub_status`) over each contender's turn, "
           "against the requests the clients completed (checks, wrk, streams). " + verdict, "",
           "| contender | sent | upstream saw | |", "|---|---:|---:|---|"]
    for entry in rows:
        up = entry["upstream"]
        ok = up["upstream_requests"] >= up["client_requests"]
        out.append(f"| {entry['label']} | {up['client_requests']:,} | "
                   f"{up['upstream_requests']:,} | {'ok' if ok else 'FEWER'} |")
    return out


def render_issue24(results: dict[str, Any]) -> list[str]:
    """Every issue-24 section, then its targets table."""
    out = [*render_long_stream(results), *render_workers(results), *render_tracing(results),
           *render_upstream_check(results)]
    out += ["", "## Targets of issue 24 (skyrelay gateway)", "",
            "| target | measured | |", "|---|---|---|"]
    out += [f"| {name} | {measured} | {verdict} |" for name, measured, verdict
            in targets24(results)]
    return out
