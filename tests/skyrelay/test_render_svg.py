"""The plan page's drawings (issue 26): the Graphviz topology SVG and the cost bar chart are
valid XML whose elements say what they are, with every value escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from skyrelay.render_svg_cost import BAR_AREA, cost_series, cost_svg
from skyrelay.render_svg_topology import LEGEND, DotMissing, inline_svg, topology_svg
from skyrelay.spec import Spec
from skyrelay.spec.loader import parse_spec_text
from skyrelay.views.plan import build_plan
from skyrelay.views.topology import build_topology

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    """``<g>`` elements whose class list holds every word of ``cls``."""
    want = set(cls.split())
    return [g for g in root.iter(f"{SVG}g") if want <= set(g.get("class", "").split())]


def tooltip(g: ET.Element) -> str:
    link = g.find(f".//{SVG}a")
    return "" if link is None else link.get(f"{XLINK}title", "")


def test_topology_svg_holds_every_node_and_edge(default_spec: Spec) -> None:
    topo = build_topology(default_spec)
    root = ET.fromstring(topology_svg(topo).encode())
    assert root.tag == f"{SVG}svg"
    for kind in ("tenant", "route", "gateway", "target", "endpoint"):
        drawn = sorted(tooltip(g) for g in groups(root, f"node {kind}"))
        assert drawn == sorted(n.id for n in topo.of_kind(kind)), kind
    edges = [g for g in groups(root, "edge") if "legend" not in g.get("class", "")]
    assert len(edges) == len(topo.edges)
    crossing = [tooltip(g) for g in groups(root, "edge crosses-jurisdiction")
                if "legend" not in g.get("class", "")]
    assert crossing == ["gateway:us-east-1 -> endpoint:azure:acme-openai-swc: "
                        "NAT egress; crosses us → eu"]
    # The crossing edge is drawn in the crossing colour, thicker than the others.
    edge = next(g for g in groups(root, "edge crosses-jurisdiction")
                if "legend" not in g.get("class", ""))
    stroke = edge.find(f".//{SVG}path")
    assert stroke is not None and stroke.get("stroke") == "#cf222e"
    assert stroke.get("stroke-width") == "2.6"


def test_the_legend_has_one_sample_per_edge_style(default_spec: Spec) -> None:
    root = ET.fromstring(topology_svg(build_topology(default_spec)).encode())
    legend = groups(root, "edge legend")
    texts = ["".join(t.itertext()) for g in legend for t in g.iter(f"{SVG}text")]
    assert texts == [text for _, text, _ in LEGEND]
    assert [set(g.get("class", "").split()) - {"edge", "legend"} for g in legend] == [
        set(cls.split()) for cls, _, _ in LEGEND]


def test_hostile_names_are_escaped_and_backslashes_kept(default_spec: Spec) -> None:
    doc = yaml.safe_load((ROOT / "examples" / "local-clouds.yaml").read_text())
    doc["openai_compatible"][0]["base_url"] = "http://127.0.0.1:9/<script>alert(1)</script>\\N"
    spec = parse_spec_text(yaml.safe_dump(doc), "local-clouds.yaml")
    svg = topology_svg(build_topology(spec))
    assert "<script>" not in svg
    root = ET.fromstring(svg.encode())
    endpoint = groups(root, "node endpoint")
    texts = ["".join(t.itertext()) for g in endpoint for t in g.iter(f"{SVG}text")]
    # Graphviz would expand \N to the node's name: the URL is shown as written.
    assert "http://127.0.0.1:9/<script>alert(1)</script>\\N" in texts


def test_inline_svg_drops_the_prologue(default_spec: Spec) -> None:
    document = topology_svg(build_topology(default_spec))
    assert document.startswith("<?xml") and "<!DOCTYPE" in document
    inline = inline_svg(document)
    assert inline.startswith("<svg") and "<!--" not in inline and "<!DOCTYPE" not in inline
    ET.fromstring(inline.encode())
    with pytest.raises(ValueError, match="no <svg> element"):
        inline_svg("<html></html>")


def test_a_missing_dot_is_a_clear_error(default_spec: Spec, monkeypatch: Any,
                                        tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DotMissing, match="Graphviz's `dot` program, which is not on PATH"):
        topology_svg(build_topology(default_spec))


def _bars(svg: str) -> list[ET.Element]:
    root = ET.fromstring(svg.encode())
    return [g for g in root.iter(f"{SVG}g") if "bar" in g.get("class", "").split()]


def test_cost_chart_bars_are_the_plan_figures_to_scale(default_spec: Spec) -> None:
    cost = build_plan(default_spec)["cost"]
    bars = _bars(cost_svg(cost))
    by_route = {g.get("data-key"): float(g.get("data-value", "nan")) for g in bars
                if "route" in g.get("class", "")}
    assert by_route == {r["route"]: r["total"] for r in cost["routes"]}
    by_target = {g.get("data-key"): float(g.get("data-value", "nan")) for g in bars
                 if "target" in g.get("class", "")}
    spent: dict[str, float] = {}
    for r in cost["routes"]:
        for key, amount in r["by_target"].items():
            spent[key] = spent.get(key, 0.0) + amount
    assert by_target == pytest.approx(spent)
    widths = {g.get("data-key"): float(g.find(f"{SVG}rect").get("width"))  # type: ignore
              for g in bars}
    peak = max(by_target.values())
    for key, value in {**by_route, **by_target}.items():
        assert widths[key] == pytest.approx(BAR_AREA * value / peak, abs=0.06)


def test_cost_chart_shows_fixed_costs_and_escapes_names(default_spec: Spec) -> None:
    cost = {"currency": "EUR", "fixed": {"azure:a/<b>": 730.0},
            "routes": [{"route": "r&d", "total": 10.0, "by_target": {"bedrock:x/y": 10.0}}]}
    svg = cost_svg(cost)
    assert "<b>" not in svg and "r&amp;d" in svg
    kinds = [(g.get("class"), g.get("data-key")) for g in _bars(svg)]
    assert kinds == [("bar route", "r&d"), ("bar fixed", "fixed: azure:a/<b>"),
                     ("bar target", "bedrock:x/y")]
    assert list(cost_series(cost)) == ["by route", "by target"]


def test_ids_that_differ_only_in_punctuation_stay_two_nodes() -> None:
    from skyrelay.views.topology import Edge, Node, Topology

    topo = Topology(clusters=(), nodes=(Node("route:a_b", "route", "a_b"),
                                        Node("route:a:b", "route", "a:b")),
                    edges=(Edge("route:a_b", "route:a:b", "uses"),))
    root = ET.fromstring(topology_svg(topo).encode())
    assert sorted(tooltip(g) for g in groups(root, "node route")) == ["route:a:b", "route:a_b"]
    (edge,) = [g for g in groups(root, "edge uses") if "legend" not in g.get("class", "")]
    assert tooltip(edge) == "route:a_b -> route:a:b: uses"
