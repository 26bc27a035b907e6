"""Plan page benchmark (issue 26): how long the page takes with its Graphviz diagram, against
the same page's work without the diagram, for the default spec and a spec with 50 routes.

Cases, each timed in this process (the ``dot`` layout is a subprocess, as in the CLI), and
interleaved and repeated; medians are reported:

* ``floor``: the plan document, the residency matrix, the cost chart and the HTML tables:
  everything of ``skyrelay plan --html`` except the topology diagram;
* ``diagram``: the topology model and its Graphviz layout to SVG (``dot`` run);
* ``page``: the whole page as ``plan --html`` makes it (floor + diagram + rendering);
* ``dot start``: ``dot`` laying out a one-node graph: the fixed cost of the subprocess, so
  ``diagram - dot start`` is what the layout itself costs.

The ratios ``page / floor`` and ``diagram / floor`` say what the picture costs; the 50-route
spec (10 Bedrock models in each of two regions, the Azure account, 10 tenants with 10 routes
each) checks that a large platform still lays out, and how the layout grows.

Usage: make bench-plan  (or: .venv/bin/python bench/plan_page/bench_plan_page.py --repeats 5)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from skyrelay.plan_page import PlanFigures, reach_table
from skyrelay.render_html import render_plan_html
from skyrelay.render_svg_cost import cost_svg
from skyrelay.render_svg_topology import topology_svg
from skyrelay.spec import Spec, load_spec
from skyrelay.views.plan import build_plan
from skyrelay.views.residency import residency_matrix
from skyrelay.views.topology import build_topology

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"


def spec_with_routes(count: int) -> Spec:
    """The default platform grown to ``count`` routes over 10 more models per AWS region."""
    doc = yaml.safe_load((REPO / "examples" / "platform.yaml").read_text())
    price = {"input_per_million": 1.0, "output_per_million": 4.0}
    for region in ("us-east-1", "eu-central-1"):
        doc["aws"]["regions"][region]["bedrock_models"] += [
            {"name": f"bench-{i}", "model_id": f"amazon.bench-model-{i}-v1:0", "price": price}
            for i in range(10)]
    strategies = ("priority", "weighted", "lowest-cost", "lowest-latency")
    routes = []
    for i in range(count):
        targets: list[dict[str, Any]] = [
            {"cloud": "bedrock", "region": "us-east-1", "model": f"bench-{i % 10}"},
            {"cloud": "bedrock", "region": "eu-central-1", "model": f"bench-{(i + 3) % 10}"}]
        if i % 3 == 0:
            targets.append({"cloud": "azure", "account": "acme-openai-swc",
                            "deployment": ("gpt-4o", "gpt-4o-mini")[i % 2]})
        strategy = strategies[i % 4]
        if strategy == "weighted":
            for w, t in enumerate(targets, 1):
                t["weight"] = w
        routes.append({"name": f"route-{i:02d}", "strategy": strategy, "targets": targets})
    doc["routes"] = routes
    for account in doc["azure"]["accounts"]:  # the spec loader reads versions as text
        for d in account["deployments"]:
            d["version"] = str(d["version"])
    classes = ("public", "internal")  # both admit every target of these routes
    doc["tenants"] = [
        {"name": f"tenant-{t}", "api_key": {"secret": f"skyrelay/tenants/t{t}"},
         "routes": [f"route-{(t * 5 + k) % count:02d}" for k in range(10)],
         "classification": classes[t % 2], "monthly_budget": 1000,
         "requests_per_minute": 60, "tokens_per_minute": 100000}
        for t in range(10)]
    # Field validation only: the whole-document checks refuse this spec because its gateway
    # config outgrows the 8 KB SSM parameter (skyrelay.spec.checks), which says nothing
    # about drawing it.
    return Spec.model_validate(doc)


def floor(spec: Spec) -> str:
    """Everything the page needs except the diagram, rendered with an empty drawing."""
    document = build_plan(spec)
    figures = PlanFigures(topology=build_topology(spec), topology_svg="<svg></svg>",
                          cost_svg=cost_svg(document["cost"]), residency=residency_matrix(spec),
                          reach_regions=tuple(g["region"] for g in document["gateways"]),
                          reach=reach_table(document))
    return render_plan_html(document, figures)


def diagram(spec: Spec) -> str:
    """The topology model laid out by dot."""
    return topology_svg(build_topology(spec))


def page(spec: Spec) -> str:
    """The whole page, as ``plan --html`` makes it."""
    from skyrelay.plan_page import plan_figures

    document = build_plan(spec)
    return render_plan_html(document, plan_figures(spec, document))


def dot_start(_spec: Spec) -> str:
    """A one-node graph through dot: the subprocess's fixed cost."""
    import graphviz

    graph = graphviz.Digraph()
    graph.node("a")
    return graph.pipe(format="svg", encoding="utf-8")


def timed(fn: Callable[[Spec], str], spec: Spec) -> float:
    start = time.perf_counter()
    out = fn(spec)
    elapsed = time.perf_counter() - start
    assert out, fn.__name__
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    specs = {"default spec (5 routes)": load_spec(REPO / "examples" / "platform.yaml"),
             "50 routes": spec_with_routes(50)}
    cases = {"floor": floor, "diagram": diagram, "page": page, "dot start": dot_start}
    times: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cases} for s in specs}
    for spec in specs.values():  # warm-up: imports, the catalog, dot's plugins
        for fn in cases.values():
            fn(spec)
    for _ in range(args.repeats):
        for name, spec in specs.items():
            for case, fn in cases.items():
                times[name][case].append(timed(fn, spec))
    med = {s: {c: statistics.median(v) for c, v in by.items()} for s, by in times.items()}
    sizes = {}
    for name, spec in specs.items():
        topo = build_topology(spec)
        sizes[name] = {"routes": len(spec.routes), "nodes": len(topo.nodes),
                       "edges": len(topo.edges), "page_bytes": len(page(spec).encode())}
    result = {
        "command": "make bench-plan", "repeats": args.repeats, "cpus": os.cpu_count(),
        "median_seconds": {s: {c: round(v, 4) for c, v in by.items()} for s, by in med.items()},
        "ratio_to_floor": {s: {c: round(v / by["floor"], 2) for c, v in by.items()}
                           for s, by in med.items()},
        "sizes": sizes,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "plan_page.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Plan page benchmark", "",
             f"Command: `make bench-plan` ({args.repeats} repeats, median, in one process; "
             f"{os.cpu_count()} CPUs). Floor: the same page without the diagram.", "",
             "| spec | routes | nodes | edges | page KB | floor s | diagram s | page s "
             "| dot start s | diagram / floor | page / floor |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, by in med.items():
        size = sizes[name]
        lines.append(f"| {name} | {size['routes']} | {size['nodes']} | {size['edges']} "
                     f"| {size['page_bytes'] / 1024:.0f} | {by['floor']:.3f} "
                     f"| {by['diagram']:.3f} | {by['page']:.3f} | {by['dot start']:.3f} "
                     f"| {by['diagram'] / by['floor']:.2f} | {by['page'] / by['floor']:.2f} |")
    lines += ["", "The 50-route spec is built with field validation only: `validate` refuses it "
              "because its gateway config outgrows the 8 KB SSM parameter, which says nothing "
              "about drawing it.", ""]
    (RESULTS / "plan_page.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
