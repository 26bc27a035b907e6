"""Benchmark the skyrelay gateway against a direct baseline, an nginx hop, LiteLLM and Portkey.

Run from the repository root with the project's interpreter (``make bench`` does this)::

    .venv/bin/python bench/gateway_bench.py                      # full run -> bench/results/
    .venv/bin/python bench/gateway_bench.py --duration 2 --levels 1,16 \\
        --contenders direct,nginx,gateway --out /tmp/quick      # quick look
    .venv/bin/python bench/gateway_bench.py --soak              # 5-minute memory soak
    .venv/bin/python bench/gateway_bench.py --profile           # py-spy under load

Everything runs on 127.0.0.1; every process the harness starts is stopped when it ends, fails
or is interrupted. Outputs (in ``--out``): ``<name>.md`` (tables and targets), ``<name>.json``
(raw figures) and ``<name>.png`` (plot); ``soak.md``/``soak.json``; ``profile-<contender>.txt``.
The exit code is 1 when a contender failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from gwbench.before import BEFORE_REF
from gwbench.contenders import CONTENDERS, DEFAULT_CONTENDERS
from gwbench.procs import HarnessError

BENCH_DIR = Path(__file__).resolve().parent


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 1,16,64") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: concurrency levels must be >= 1")
    return values


def _names(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [n for n in names if n not in CONTENDERS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown contender(s) {bad}; choose from "
                                         f"{', '.join(CONTENDERS)}")
    return names


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--gateway-env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20.0,
                   help="seconds per concurrency level (default 20)")
    p.add_argument("--levels", type=_ints, default=(1, 16, 64, 256),
                   help="concurrency levels, comma-separated (default 1,16,64,256)")
    p.add_argument("--contenders", type=_names, default=DEFAULT_CONTENDERS,
                   help=f"comma-separated, in order (default {','.join(DEFAULT_CONTENDERS)})")
    p.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per contender")
    p.add_argument("--ttfb-iterations", type=int, default=500,
                   help="streamed requests for the TTFB median (default 500)")
    p.add_argument("--long-iterations", type=int, default=20,
                   help="1,000-chunk streams per contender for the long-stream median "
                        "(default 20; 0 skips them)")
    p.add_argument("--wrk-threads", type=int, default=1,
                   help="wrk threads (default 1: on 2 cores the load generator, upstream and "
                        "proxy share the CPU)")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results", help="output folder")
    p.add_argument("--name", default="gateway", help="base name of the output files")
    p.add_argument("--litellm-venv", type=Path, default=BENCH_DIR / ".venv-litellm")
    p.add_argument("--portkey-dir", type=Path, default=BENCH_DIR / ".portkey",
                   help="where npm ci installs the pinned Portkey (default bench/.portkey)")
    p.add_argument("--workers-args", default="--workers 2",
                   help="extra arguments of the gateway-2w contender (default '--workers 2')")
    p.add_argument("--gateway-cmd", default=None,
                   help="gateway command before --spec (default: skyrelay gateway serve)")
    p.add_argument("--gateway-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the gateway (repeatable)")
    p.add_argument("--keep-logs", type=Path, default=None,
                   help="copy the servers' logs into this folder")
    p.add_argument("--before-ref", default=BEFORE_REF,
                   help="also compare the gateway's CPU per request with this commit's, "
                        "alternating rounds (gwbench/before.py; 'none' to skip)")
    p.add_argument("--cpu-rounds", type=int, default=3,
                   help="rounds of the CPU comparison per concurrency (default 3)")
    p.add_argument("--soak", action="store_true", help="run the memory soak instead")
    p.add_argument("--soak-seconds", type=float, default=300.0)
    p.add_argument("--soak-concurrency", type=int, default=16)
    p.add_argument("--soak-contender", default="gateway", choices=sorted(CONTENDERS))
    p.add_argument("--profile", action="store_true",
                   help="profile the gateway with py-spy under load instead")
    p.add_argument("--profile-seconds", type=float, default=20.0)
    p.add_argument("--profile-concurrency", type=int, default=64)
    p.add_argument("--profile-contender", default="gateway", choices=sorted(CONTENDERS))
    return p.parse_args(argv)


def _write(path: Path, text: str) -> None:
    """Write via a temp file and rename, so a crash never leaves half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _command(argv: list[str]) -> str:
    return os.environ.get("GWBENCH_COMMAND") or shlex.join(
        ["python", "bench/gateway_bench.py", *argv])


def _log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run what the flags ask for; return the exit code."""
    raw = sys.argv[1:] if argv is None else argv
    args = parse_args(raw)
    from gwbench import plot, profile, report, runner

    gateway_argv = shlex.split(args.gateway_cmd) if args.gateway_cmd else None
    gateway_env = _env_pairs(args.gateway_env)
    command = _command(raw)
    results: dict[str, Any]
    try:
        if args.soak:
            soak = runner.run_soak(runner.SoakConfig(
                seconds=args.soak_seconds, concurrency=args.soak_concurrency,
                contender=args.soak_contender,
                wrk_threads=args.wrk_threads, litellm_venv=args.litellm_venv,
                gateway_argv=gateway_argv, gateway_env=gateway_env), log=_log)
            soak["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            _write(args.out / "soak.json", json.dumps(soak, indent=2) + "\n")
            _write(args.out / "soak.md", report.render_soak(soak, command))
            _log(f"soak: {soak['rss_minute1_mb']} MB at minute 1 -> {soak['rss_end_mb']} MB "
                 f"at the end ({soak['growth_pct']:+.2f}%); wrote {args.out / 'soak.md'}")
            return 0
        if args.profile:
            raw_path = args.out / f"profile-{args.profile_contender}.raw.tmp"
            info = runner.run_profile(runner.ProfileConfig(
                seconds=args.profile_seconds, concurrency=args.profile_concurrency,
                contender=args.profile_contender, wrk_threads=args.wrk_threads,
                gateway_argv=gateway_argv, gateway_env=gateway_env), raw_path, log=_log)
            summary = profile.summarize(raw_path.read_text())
            title = (f"py-spy profile of {info['contender']} at concurrency "
                     f"{args.profile_concurrency} for {args.profile_seconds:g} s "
                     f"({info['wrk']['requests_per_second']} req/s under the sampler); "
                     f"command: {command}")
            text = profile.render_summary(summary, title=title)
            _write(args.out / f"profile-{args.profile_contender}.txt", text)
            _log(text)
            return 0
        results = runner.run_benchmark(runner.BenchConfig(
            duration=args.duration, levels=args.levels, contenders=args.contenders,
            warmup=args.warmup, ttfb_iterations=args.ttfb_iterations,
            long_iterations=args.long_iterations,
            wrk_threads=args.wrk_threads, litellm_venv=args.litellm_venv,
            portkey_dir=args.portkey_dir, workers_args=tuple(shlex.split(args.workers_args)),
            gateway_argv=gateway_argv, gateway_env=gateway_env, keep_tmp=args.keep_logs,
            before_ref=None if args.before_ref.lower() == "none" else args.before_ref,
            cpu_rounds=args.cpu_rounds), log=_log)
    except HarnessError as exc:
        _log(f"benchmark failed: {exc}")
        return 2
    except KeyboardInterrupt:
        _log("interrupted: every started process was stopped")
        return 130
    results["meta"]["command"] = command
    saved_soak = _load_soak(args.out)
    _write(args.out / f"{args.name}.json", json.dumps(results, indent=2) + "\n")
    _write(args.out / f"{args.name}.md", report.render_markdown(results, soak=saved_soak,
                                                                command=command))
    png = args.out / f"{args.name}.png"
    plot.write_plot(results, png.with_name(png.name + ".tmp.png"))
    os.replace(png.with_name(png.name + ".tmp.png"), png)
    _log(f"wrote {args.out / (args.name + '.md')}, .json and .png "
         f"in {results['meta']['elapsed_s']} s")
    return 1 if any(c.get("error") for c in results["contenders"]) else 0


def _load_soak(out: Path) -> dict[str, Any] | None:
    path = out / "soak.json"
    if not path.exists():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
