"""CPU per request of the gateway's own request path, in one process (``make bench-pipeline``).

See :mod:`gwbench.inproc` for what runs. Each round runs in a fresh interpreter; with
``--before-ref`` the rounds alternate between this checkout and the gateway of that commit
(built by :mod:`gwbench.before`, on the same libraries), so a change's figure is a ratio
measured in one run. Writes ``<out>/<name>.md`` and ``.json``.

    .venv/bin/python bench/pipeline_bench.py                         # now vs the floor
    .venv/bin/python bench/pipeline_bench.py --before-ref HEAD~1     # and vs a commit
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

_RUN_ONE = ("import json, sys; sys.path.append({bench!r}); from gwbench.inproc import measure; "
            "print('INPROC ' + json.dumps(measure({requests}, 1, traces_url={traces!r})))")


def _round(python: list[str], env: dict[str, str], requests: int,
           traces_url: str | None = None) -> dict[str, Any]:
    code = _RUN_ONE.format(bench=str(BENCH_DIR), requests=requests, traces=traces_url)
    done = subprocess.run([*python, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("INPROC "):
            return json.loads(line[len("INPROC "):])
    raise SystemExit(f"a measuring round failed (exit {done.returncode}):\n"
                     f"{done.stderr[-3000:]}")


def run(requests: int, rounds: int, before_ref: str | None,
        traces_url: str | None = None) -> dict[str, Any]:
    """The rounds' figures: ``now`` (and ``before``, or ``traced``: now with tracing on,
    exporting to ``traces_url``) gateway and floor µs per request."""
    # -P: this repository's folders are not put on sys.path (the installed package is used)
    now_python = [sys.executable, "-P"]
    contenders: dict[str, tuple[list[str], dict[str, str], str | None]] = {
        "now": (now_python, {}, None)}
    if traces_url:
        contenders["traced"] = (now_python, {}, traces_url)
    commit = None
    if before_ref:
        from gwbench.before import ensure_before

        then = ensure_before(before_ref, BENCH_DIR / ".before")
        commit = then.commit
        contenders["before"] = ([*then.argv[:2]], then.env, None)
    figures: dict[str, dict[str, list[float]]] = {
        name: {"gateway": [], "floor": []} for name in contenders}
    for index in range(rounds):
        order = list(contenders.items())
        if index % 2:  # going first is not neutral on a busy machine: swap every round
            order.reverse()
        for name, (python, env, traces) in order:
            got = _round(python, env, requests, traces)
            figures[name]["gateway"] += got["gateway"]
            figures[name]["floor"] += got["floor"]
            print(f"round {index + 1} {name:6} gateway {got['gateway'][0]:7.1f} µs/req  "
                  f"floor {got['floor'][0]:5.1f} µs/req", flush=True)
    result: dict[str, Any] = {"requests_per_round": requests, "rounds": rounds,
                              "before_commit": commit, "figures": figures}
    for other, key in (("before", "ratios"), ("traced", "traced_ratios")):
        if other not in figures:
            continue
        pairs = zip(figures["now"]["gateway"], figures[other]["gateway"], strict=True)
        ratios = [n / o for n, o in pairs] if other == "before" else [o / n for n, o in pairs]
        result[key] = [round(r, 3) for r in ratios]
        result["median_" + key[:-1]] = round(statistics.median(ratios), 3)
    return result


def report(result: dict[str, Any], command: str) -> str:
    """The Markdown report of :func:`run`'s result."""
    med = statistics.median
    lines = ["# Gateway request path, in one process", "",
             f"Command: `{command}`. {result['rounds']} rounds of "
             f"{result['requests_per_round']:,} non-streamed chat requests each, every round "
             "in a fresh interpreter; CPU is `time.process_time()` (all threads) per request. "
             "The gateway is the bench spec's app as `skyrelay gateway serve` builds it, "
             "its upstream client answering at once; the floor is a bare ASGI app that "
             "parses the body and answers JSON (bench/gwbench/inproc.py).", "",
             "| build | gateway µs/req (median) | floor µs/req (median) | gateway ÷ floor |",
             "|---|---|---|---|"]
    for name, fig in result["figures"].items():
        gateway, floor = med(fig["gateway"]), med(fig["floor"])
        label = (f"before ({result['before_commit']})" if name == "before"
                 else "now, traced (every request)" if name == "traced" else name)
        lines.append(f"| {label} | {gateway:.1f} | {floor:.1f} | {gateway / floor:.1f} |")
    if "median_ratio" in result:
        lines += ["", f"Now ÷ before, per round: {', '.join(map(str, result['ratios']))}; "
                  f"median **{result['median_ratio']}**."]
    if "median_traced_ratio" in result:
        lines += ["", "Traced ÷ untraced, per round: "
                  f"{', '.join(map(str, result['traced_ratios']))}; median "
                  f"**{result['median_traced_ratio']}** (spans exported over OTLP/HTTP to a "
                  "receiver in the bench's own process, whose CPU is not counted)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before-ref", default=None, help="also measure this commit")
    parser.add_argument("--traced", action="store_true",
                        help="also measure this checkout with tracing on")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--name", default="pipeline")
    args = parser.parse_args(argv)
    if args.requests < 100 or args.rounds < 1:
        parser.error("--requests must be at least 100 and --rounds at least 1")
    began = time.monotonic()
    if args.traced:
        from gwbench.otlp import SpanCounter

        with SpanCounter() as sink:
            result = run(args.requests, args.rounds, args.before_ref, sink.traces_url)
            result["spans_received"] = sink.counts()["spans"]
    else:
        result = run(args.requests, args.rounds, args.before_ref)
    command = os.environ.get("GWBENCH_COMMAND") or "python bench/pipeline_bench.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(report(result, command.strip()))
    print(f"wrote {args.out / args.name}.md and .json in {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
