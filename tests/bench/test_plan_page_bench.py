"""The plan page benchmark's 50-route spec really lays out (issue 26): the SVG that
``make bench-plan`` times is valid XML holding every node and edge of the topology. Its speed
is the benchmark's business, not this test's."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from plan_page.bench_plan_page import diagram, floor, spec_with_routes

from skyrelay.views.topology import build_topology

SVG = "{http://www.w3.org/2000/svg}"


def test_fifty_routes_lay_out_into_valid_svg() -> None:
    spec = spec_with_routes(50)
    assert len(spec.routes) == 50
    topo = build_topology(spec)
    root = ET.fromstring(diagram(spec).encode())
    classes = [g.get("class", "").split() for g in root.iter(f"{SVG}g")]
    drawn_nodes = [c for c in classes if "node" in c and "legend" not in c]
    drawn_edges = [c for c in classes if "edge" in c and "legend" not in c]
    assert len(drawn_nodes) == len(topo.nodes) and len(drawn_edges) == len(topo.edges)
    assert sum("route" in c for c in drawn_nodes) == 50
    # Every element got a place: no node without its polygon or path.
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class", "").split()
        if "node" in cls and "legend" not in cls:
            assert g.find(f".//{SVG}polygon") is not None or g.find(f".//{SVG}path") is not None
            assert g.find(f".//{SVG}text") is not None


def test_the_floor_is_the_page_without_the_diagram() -> None:
    page = floor(spec_with_routes(50))
    assert "route-49" in page and "<svg></svg>" in page and 'class="node' not in page
