"""The figures of the plan page: the topology diagram, the residency matrix, the cost chart
and the per-region reachability table, all computed before anything is written.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.plan import build_plan
    from skyrelay.plan_page import plan_figures
    spec = load_spec("examples/platform.yaml")
    figures = plan_figures(spec, build_plan(spec))
    open("topology.svg", "w").write(figures.topology_svg)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skyrelay.render_svg_cost import cost_svg
from skyrelay.render_svg_topology import topology_svg
from skyrelay.spec.models import Spec
from skyrelay.views.residency import ResidencyMatrix, residency_matrix
from skyrelay.views.topology import PATH_LABEL, Topology, build_topology


@dataclass(frozen=True)
class ReachCell:
    """How one gateway region reaches one target: a path, or why it cannot."""

    path: str
    text: str
    leaves_vpc: bool
    reachable: bool


@dataclass(frozen=True)
class PlanFigures:
    """Everything the page draws beyond the plan document's tables."""

    topology: Topology
    topology_svg: str  # a standalone SVG document (what --svg writes)
    cost_svg: str  # an <svg> element
    residency: ResidencyMatrix
    reach_regions: tuple[str, ...]
    reach: dict[str, dict[str, ReachCell]]  # target key -> gateway region -> cell


def reach_table(document: dict[str, Any]) -> dict[str, dict[str, ReachCell]]:
    """Per route target, per gateway region: the plan's reachability facts, one cell each."""
    out: dict[str, dict[str, ReachCell]] = {}
    for gateway in document["gateways"]:
        for route in gateway["routes"]:
            for t in route["targets"]:
                out.setdefault(t["key"], {})[gateway["region"]] = ReachCell(
                    t["path"], PATH_LABEL.get(t["path"], t["path"]), t["leaves_vpc"], True)
            for u in route["unreachable"]:
                out.setdefault(u["key"], {})[gateway["region"]] = ReachCell(
                    "unreachable", u["reason"], False, False)
    return out


def write_plan_outputs(spec: Spec, document: dict[str, Any], html_file: str | None,
                       svg_file: str | None) -> list[str]:
    """Write the page (``html_file``) and/or the diagram alone (``svg_file``), each
    atomically. Every figure is computed first, so a missing Graphviz (``DotMissing``)
    writes neither. Returns the paths written."""
    from skyrelay.render_html import render_plan_html, write_text_atomically

    figures = plan_figures(spec, document)
    outputs = [(svg_file, figures.topology_svg)] if svg_file else []
    if html_file:
        outputs.append((html_file, render_plan_html(document, figures)))
    for name, text in outputs:
        write_text_atomically(Path(name), text)
    return [name for name, _ in outputs]


def plan_figures(spec: Spec, document: dict[str, Any]) -> PlanFigures:
    """Lay out and compute every figure (raises ``DotMissing`` without Graphviz)."""
    topology = build_topology(spec)
    return PlanFigures(
        topology=topology,
        topology_svg=topology_svg(topology),
        cost_svg=cost_svg(document["cost"]),
        residency=residency_matrix(spec),
        reach_regions=tuple(g["region"] for g in document["gateways"]),
        reach=reach_table(document),
    )
