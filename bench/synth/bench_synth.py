"""Synth benchmark: the default platform against an empty CDK app, and growth per model.

Each measurement is one fresh Python process that builds and synthesizes an app (what
``cdk synth`` runs), so jsii start-up is included the same way for every case. Cases are
interleaved and repeated; the median wall time of each is reported as a ratio to the empty
app measured in the same run. Model growth uses the minimal spec with 1, 10 and 50 Bedrock
models in one region. Writes bench/results/synth.{json,md} and prints the table.

Usage: make bench-synth  (or: .venv/bin/python bench/synth/bench_synth.py --repeats 5)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"

APP = r"""
import sys
import aws_cdk as cdk
app = cdk.App(outdir=sys.argv[2])
if sys.argv[1] != "-":
    from skyrelay.cdk_app import compose_app
    from skyrelay.spec import load_spec
    compose_app(load_spec(sys.argv[1]), app, checks=sys.argv[3] == "checks")
app.synth()
"""


def spec_with_models(count: int, folder: Path) -> Path:
    """The minimal spec with ``count`` distinct Bedrock models in us-east-1."""
    spec = yaml.safe_load((REPO / "examples" / "minimal.yaml").read_text())
    models = [{"name": f"model-{i}", "model_id": f"amazon.bench-model-{i}-v1:0",
               "price": {"input_per_million": 1.0, "output_per_million": 2.0}}
              for i in range(count)]
    models[0]["name"] = "nova-lite"  # the route's target
    spec["aws"]["regions"]["us-east-1"]["bedrock_models"] = models
    path = folder / f"models-{count}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run_once(spec: str, folder: Path, checks: bool) -> float:
    out = tempfile.mkdtemp(dir=folder)
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20,22"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-P", "-c", APP, spec, out,
                    "checks" if checks else "none"], check=True, env=env, cwd=folder,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = {
            "empty app": ("-", False),
            "default platform (with cdk-nag)": (str(REPO / "examples" / "platform.yaml"), True),
            "default platform (no checks)": (str(REPO / "examples" / "platform.yaml"), False),
        }
        for n in (1, 10, 50):
            cases[f"{n} Bedrock models"] = (str(spec_with_models(n, folder)), True)
        times: dict[str, list[float]] = {name: [] for name in cases}
        run_once("-", folder, False)  # warm the file cache and jsii's package cache
        for _ in range(args.repeats):
            for name, (spec, checks) in cases.items():
                times[name].append(run_once(spec, folder, checks))
    med = {name: statistics.median(v) for name, v in times.items()}
    empty = med["empty app"]
    one, fifty = med["1 Bedrock models"], med["50 Bedrock models"]
    per_model_pct = (fifty - one) / 49 / one * 100
    result = {
        "command": "make bench-synth",
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "ratio_to_empty_app": {k: round(v / empty, 2) for k, v in med.items()},
        "per_extra_model_percent": round(per_model_pct, 2),
        "targets": {"default platform within 2x empty app": med[
            "default platform (with cdk-nag)"] / empty <= 2.0,
                    "each further model under 2%": per_model_pct < 2.0},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "synth.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Synth benchmark", "", f"Command: `make bench-synth` ({args.repeats} repeats, "
             f"median; {os.cpu_count()} CPUs; one fresh process per synth)", "",
             "| case | median s | ratio to empty app |", "|---|---:|---:|"]
    lines += [f"| {k} | {v:.2f} | {v / empty:.2f} |" for k, v in med.items()]
    lines += ["", f"Each further Bedrock model (1 -> 50): {per_model_pct:+.2f}% of the "
              "1-model synth time.", "",
              "Targets: default platform within 2x the empty app: "
              f"{result['targets']['default platform within 2x empty app']}; each further "
              f"model under 2%: {result['targets']['each further model under 2%']}.", ""]
    (RESULTS / "synth.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
