"""The Markdown report: results per contender and concurrency, streams, memory, targets.

Everything is computed from the JSON results :func:`gwbench.runner.run_benchmark` returns,
so a report can be rebuilt from a saved ``gateway.json``. "Added" figures are a contender's
latency minus the direct baseline's at the same concurrency in the same run.

Example::

    text = render_markdown(results, soak=None, command="make bench")
    Path("bench/results/gateway.md").write_text(text)
"""

from __future__ import annotations

from typing import Any

#: The benchmark issue's (issue 9) targets for the gateway; issue 24's are in gwbench.report24.
TARGET_ADDED_P50_MS = 0.5
TARGET_NGINX_SHARE = 0.25
TARGET_LITELLM_FACTOR = 50.0
TARGET_TTFB_ADDED_MS = 1.0
TARGET_RSS_MB = 150.0
TARGET_SOAK_GROWTH_PCT = 5.0
#: Issue 23: the chat path's CPU per request within 10 % of the gateway before it.
TARGET_CPU_VS_BEFORE_PCT = 10.0


def by_name(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Contender name -> its result entry."""
    return {c["name"]: c for c in results["contenders"]}


def level(entry: dict[str, Any] | None, conns: int) -> dict[str, Any] | None:
    """The wrk result of ``entry`` at ``conns`` connections, if measured."""
    if not entry:
        return None
    for lvl in entry.get("levels", []):
        if lvl["connections"] == conns:
            return lvl
    return None


def _rps_at(entry: dict[str, Any] | None, conns: int) -> float | None:
    lvl = level(entry, conns)
    return None if lvl is None else float(lvl["requests_per_second"])


def added(results: dict[str, Any], name: str, conns: int, key: str) -> float | None:
    """``key`` (p50_ms/p99_ms) of contender ``name`` minus direct's, same concurrency."""
    entries = by_name(results)
    mine, base = level(entries.get(name), conns), level(entries.get("direct"), conns)
    if mine is None or base is None:
        return None
    return float(mine[key]) - float(base[key])


def added_ttfb(results: dict[str, Any], name: str) -> float | None:
    """Median stream TTFB of ``name`` minus direct's."""
    entries = by_name(results)
    mine, base = entries.get(name, {}).get("ttfb"), entries.get("direct", {}).get("ttfb")
    if not mine or not base:
        return None
    return float(mine["median_ms"]) - float(base["median_ms"])


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "—" if value is None else ("+" if value >= 0 else "−") + _ms(abs(value))


def _rps(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _opt(value: object, fmt: str = "{}") -> str:
    return "—" if value is None else fmt.format(value)


def targets(results: dict[str, Any], soak: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows for the gateway; verdict is met / MISSED / n/a."""
    entries = by_name(results)
    gw = entries.get("gateway")
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "MISSED")

    a50 = added(results, "gateway", 1, "p50_ms")
    rows.append((f"added median latency at concurrency 1 ≤ {TARGET_ADDED_P50_MS} ms",
                 _opt(a50, "{:+.3f} ms"), verdict(None if a50 is None
                                                  else a50 <= TARGET_ADDED_P50_MS)))
    g64 = _rps_at(entries.get("gateway"), 64)
    for other, floor, label, fmt in (
            ("nginx", TARGET_NGINX_SHARE, f"≥ {TARGET_NGINX_SHARE:.0%} of nginx", "{:.1%}"),
            ("litellm", TARGET_LITELLM_FACTOR, f"≥ {TARGET_LITELLM_FACTOR:.0f}× LiteLLM",
             "{:.1f}×")):
        theirs = _rps_at(entries.get(other), 64)
        ratio = g64 / theirs if g64 is not None and theirs else None
        rows.append((f"req/s at concurrency 64 {label}",
                     "—" if ratio is None else
                     f"{fmt.format(ratio)} ({_rps(g64)} vs {_rps(theirs)})",
                     verdict(None if ratio is None else ratio >= floor)))
    ttfb = added_ttfb(results, "gateway")
    rows.append((f"stream TTFB added at concurrency 1 ≤ {TARGET_TTFB_ADDED_MS} ms",
                 _opt(ttfb, "{:+.3f} ms"),
                 verdict(None if ttfb is None else ttfb <= TARGET_TTFB_ADDED_MS)))
    rss = gw.get("rss_after_mb") if gw else None
    rows.append((f"memory after the run < {TARGET_RSS_MB:.0f} MB", _opt(rss, "{} MB"),
                 verdict(None if rss is None else rss < TARGET_RSS_MB)))
    growth = soak.get("growth_pct") if soak else None
    rows.append((f"soak memory growth minute 1 → 5 < {TARGET_SOAK_GROWTH_PCT:.0f}%",
                 "—" if soak is None else
                 f"{soak['rss_minute1_mb']} → {soak['rss_end_mb']} MB ({growth:+.2f}%)",
                 verdict(None if growth is None else growth < TARGET_SOAK_GROWTH_PCT)))
    return rows


def render_markdown(results: dict[str, Any], *, soak: dict[str, Any] | None = None,
                    command: str = "make bench", notes: str = "") -> str:
    """The whole report as Markdown."""
    meta = results["meta"]
    cfg = meta["config"]
    machine = meta["machine"]
    out = ["# Gateway benchmark", ""]
    out.append(f"Command: `{command}` — started {meta['started']}, took "
               f"{meta.get('elapsed_s', '?')} s. Machine: {machine['cpus']} CPUs "
               f"({machine['cpu_model'] or 'unknown CPU'}), Python {machine['python']}, "
               f"kernel {machine['kernel']}. Tools: nginx {meta['tools']['nginx']} "
               f"({meta['nginx_workers']} workers for the upstream and for the proxy), "
               f"{meta['tools']['wrk']} ({cfg['wrk_threads']} thread). "
               f"Each level runs {cfg['duration']:g} s after a {cfg['warmup']:g} s warm-up; "
               "everything on 127.0.0.1, the upstream is nginx returning a fixed body.")
    out.append("")
    out.append("## Throughput and latency (non-streamed chat completions)")
    out.append("")
    out.append("Added = this contender minus the direct baseline at the same concurrency. "
               "Errors = socket errors, timeouts and responses with status ≥ 400. "
               "CPU = proxy process-tree CPU time per request.")
    out.append("")
    out.append("| contender | conc. | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
               "| errors | CPU µs/req |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for entry in results["contenders"]:
        if entry.get("error"):
            out.append(f"| {entry['label']} | — | failed | — | — | — | — | — | — |")
            continue
        for lvl in entry["levels"]:
            conns = lvl["connections"]
            direct = entry["name"] == "direct"
            a50 = None if direct else added(results, entry["name"], conns, "p50_ms")
            a99 = None if direct else added(results, entry["name"], conns, "p99_ms")
            out.append(
                f"| {entry['label']} | {conns} | {_rps(lvl['requests_per_second'])} | "
                f"{_ms(lvl['p50_ms'])} | {_ms(lvl['p99_ms'])} | {_signed(a50)} | "
                f"{_signed(a99)} | {lvl['errors']} | {_opt(lvl.get('cpu_us_per_request'))} |")
    out.append("")
    out.append("## Streams and memory")
    out.append("")
    out.append("Stream TTFB: time from sending a streamed request to the first byte of the "
               "SSE body, one keep-alive connection (concurrency 1), median of "
               f"{cfg['ttfb_iterations']} requests. Memory: RSS of the proxy's process tree "
               "(summed over processes) after its start-up check and after all its runs.")
    out.append("")
    out.append("| contender | version | start-up s | TTFB median ms | TTFB p90 ms | "
               "added TTFB ms | RSS at start MB | RSS after MB |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for entry in results["contenders"]:
        if entry.get("error"):
            continue
        ttfb = entry.get("ttfb") or {}
        extra = None if entry["name"] == "direct" else added_ttfb(results, entry["name"])
        out.append(
            f"| {entry['label']} | {entry.get('version') or '—'} | "
            f"{_opt(entry.get('startup_s'))} | {_ms(ttfb.get('median_ms'))} | "
            f"{_ms(ttfb.get('p90_ms'))} | {_signed(extra)} | "
            f"{_opt(entry.get('rss_start_mb'))} | {_opt(entry.get('rss_after_mb'))} |")
    out += render_cpu_vs_before(results.get("cpu_vs_before"), cfg)
    from gwbench.report24 import render_issue24  # it imports this module's helpers

    out += render_issue24(results)
    failed = [e for e in results["contenders"] if e.get("error")]
    if failed:
        out.append("")
        out.append("## Failures")
        out.append("")
        for entry in failed:
            first = entry["error"].strip().splitlines()[0] if entry["error"].strip() else "?"
            out.append(f"- **{entry['label']}**: {first}")
    out.append("")
    out.append("## Targets of issue 9 (skyrelay gateway)")
    out.append("")
    out.append("| target | measured | |")
    out.append("|---|---|---|")
    for name, measured, verdict in targets(results, soak):
        out.append(f"| {name} | {measured} | {verdict} |")
    if soak:
        out.append("")
        out.append(f"Soak: {soak['contender']} at concurrency {soak['concurrency']} for "
                   f"{soak['seconds']:g} s, {_rps(soak['wrk']['requests_per_second'])} req/s, "
                   f"{soak['wrk']['errors']} errors; RSS {soak['rss_start_mb']} MB at start, "
                   f"{soak['rss_minute1_mb']} MB at minute 1, {soak['rss_end_mb']} MB at the "
                   "end.")
    if notes:
        out += ["", notes.strip()]
    out.append("")
    return "\n".join(out)


def render_cpu_vs_before(section: dict[str, Any] | None, cfg: dict[str, Any]) -> list[str]:
    """The "CPU per request against an earlier commit" section (gwbench.before), or nothing."""
    if not section:
        return []
    out = ["", f"## CPU per request against {section['ref']}", ""]
    if section.get("error"):
        return [*out, f"Not measured: {section['error'].splitlines()[0]}"]
    out.append(f"The gateway now and the gateway of commit {section['ref']} (built from this "
               "repository's history with the same libraries, gwbench/before.py), alternated "
               f"{cfg.get('cpu_rounds', '?')} times, {cfg['duration']:g} s per run. "
               f"Target: within {TARGET_CPU_VS_BEFORE_PCT:g} % of before.")
    out.append("")
    out.append("| conc. | now µs/req | before µs/req | now / before (median) | rounds | |")
    out.append("|---:|---:|---:|---:|---|---|")
    for lvl in section["levels"]:
        verdict = "met" if lvl["ratio"] <= 1 + TARGET_CPU_VS_BEFORE_PCT / 100 else "missed"
        out.append(f"| {lvl['connections']} | {lvl['now_us']} | {lvl['before_us']} | "
                   f"{lvl['ratio']:.3f} | {', '.join(f'{r:.3f}' for r in lvl['ratios'])} | "
                   f"{verdict} |")
    return out


def render_soak(soak: dict[str, Any], command: str) -> str:
    """A short Markdown report of a soak run."""
    lines = [f"# Soak: {soak['contender']}", "",
             f"Command: `{command}`. {soak['contender']} at concurrency {soak['concurrency']} "
             f"for {soak['seconds']:g} s: {_rps(soak['wrk']['requests_per_second'])} req/s, "
             f"p50 {_ms(soak['wrk']['p50_ms'])} ms, p99 {_ms(soak['wrk']['p99_ms'])} ms, "
             f"{soak['wrk']['errors']} errors.", "",
             "| moment | RSS MB |", "|---|---:|",
             f"| after start-up check | {soak['rss_start_mb']} |",
             f"| minute 1 | {soak['rss_minute1_mb']} |",
             f"| end (minute {soak['seconds'] / 60:.3g}) | {soak['rss_end_mb']} |", "",
             f"Growth from minute 1 to the end: {soak['growth_pct']:+.2f}% "
             f"(target < {TARGET_SOAK_GROWTH_PCT:g}%).", ""]
    return "\n".join(lines)
