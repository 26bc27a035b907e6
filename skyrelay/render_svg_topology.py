"""Draw a :class:`~skyrelay.views.topology.Topology` as SVG, laid out by Graphviz ``dot``.

The layout is Graphviz's (through the ``graphviz`` Python package, which runs the ``dot``
binary); nothing here places a coordinate. Every SVG element the diagram is made of carries
a class naming what it is, so a reader (or a test, or a stylesheet) can find it:
``node tenant|route|gateway|target|endpoint``, ``edge uses|route|path`` plus
``leaves-vpc``, ``crosses-cloud`` and ``crosses-jurisdiction`` on the paths that do, and
``legend`` on the legend's own nodes and edges.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.render_svg_topology import topology_svg
    from skyrelay.views.topology import build_topology
    svg = topology_svg(build_topology(load_spec("examples/platform.yaml")))
    assert svg.lstrip().startswith("<?xml")
"""

from __future__ import annotations

import re
import shutil

import graphviz

from skyrelay.views.topology import Cluster, Edge, Node, Topology

#: Colours (GitHub's accessible palette) by meaning.
INK, MUTED, ROUTE, INSIDE, OUTSIDE, CROSSING = (
    "#1f2328", "#8c959f", "#0969da", "#1a7f37", "#bc4c00", "#cf222e")

_NODE_STYLE = {
    "tenant": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ddf4ff"},
    "route": {"shape": "box", "style": "filled", "fillcolor": "#fff8c5"},
    "gateway": {"shape": "box3d", "style": "filled", "fillcolor": "#dafbe1"},
    "target": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "endpoint": {"shape": "box", "style": "filled,bold", "fillcolor": "#fbefff"},
}

_CLUSTER_STYLE = {
    "cloud": {"style": "rounded", "color": "#57606a", "penwidth": "1.6"},
    "default": {"style": "rounded,dashed", "color": "#afb8c1"},
}

#: The legend's entries: (class, text, edge attributes).
LEGEND = (
    ("uses", "tenant may call the route", {"color": MUTED}),
    ("route", "route target (strategy, weight)", {"color": ROUTE}),
    ("path", "network path, stays in the VPC", {"color": INSIDE}),
    ("path leaves-vpc", "leaves the VPC (NAT / public endpoint)",
     {"color": OUTSIDE, "style": "dashed"}),
    ("path crosses-jurisdiction", "crosses a jurisdiction",
     {"color": CROSSING, "penwidth": "2.6", "style": "dashed"}),
)


class DotMissing(RuntimeError):
    """Graphviz's ``dot`` is not on PATH; ``str()`` says how to install it."""

    def __init__(self) -> None:
        super().__init__("the topology diagram needs Graphviz's `dot` program, which is not "
                         "on PATH: install Graphviz (Debian/Ubuntu: apt-get install graphviz; "
                         "macOS: brew install graphviz; see https://graphviz.org/download/)")


def _svg_id(value: str) -> str:
    """An XML id for an SVG element (letters, digits, ``-``, ``_``, ``.``)."""
    return "n-" + re.sub(r"[^A-Za-z0-9_.-]", "-", value)


def _text(value: str) -> str:
    """DOT label text: backslashes stay literal (DOT reads ``\\N``, ``\\G`` as escapes)."""
    return value.replace("\\", "\\\\")


def _label(node: Node) -> str:
    return "\\n".join(_text(line) for line in (node.name, *node.detail))


def _edge_attrs(edge: Edge) -> dict[str, str]:
    classes = [edge.kind]
    attrs: dict[str, str] = {"label": _text(edge.label)}
    if edge.kind == "uses":
        attrs["color"] = MUTED
    elif edge.kind == "route":
        attrs.update(color=ROUTE, fontcolor=ROUTE)
    else:
        attrs.update(color=OUTSIDE if edge.leaves_vpc else INSIDE)
        if edge.leaves_vpc:
            classes.append("leaves-vpc")
            attrs["style"] = "dashed"
        if edge.crosses_cloud:
            classes.append("crosses-cloud")
        if edge.crosses_jurisdiction:
            classes.append("crosses-jurisdiction")
            attrs.update(color=CROSSING, fontcolor=CROSSING, penwidth="2.6",
                         label=_text(f"{edge.label}; crosses {edge.crossing}"))
    attrs["class"] = " ".join(classes)
    attrs["tooltip"] = _text(f"{edge.source} -> {edge.target}: {attrs['label'] or edge.kind}")
    return attrs


def _add_legend(graph: graphviz.Digraph) -> None:
    with graph.subgraph(name="cluster_legend") as box:
        box.attr(label="Legend", style="rounded", color="#d0d7de", fontcolor=INK,
                 **{"class": "legend"})
        box.attr("node", shape="point", width="0.06", color=INK, **{"class": "legend"})
        for i, (cls, text, attrs) in enumerate(LEGEND):
            box.node(f"legend_{i}_a", id=f"legend-{i}-a")
            box.node(f"legend_{i}_b", id=f"legend-{i}-b")
            box.edge(f"legend_{i}_a", f"legend_{i}_b", label=text, id=f"legend-{i}",
                     fontcolor=INK, **attrs, **{"class": f"legend {cls}"})


def to_dot(topology: Topology) -> graphviz.Digraph:
    """The Graphviz graph of a topology (left to right: tenants, routes, clouds)."""
    graph = graphviz.Digraph("platform", graph_attr={
        "rankdir": "LR", "fontname": "Helvetica", "fontsize": "12", "nodesep": "0.25",
        "ranksep": "0.9", "compound": "true", "newrank": "true", "bgcolor": "white",
        "id": "topology"})
    graph.attr("node", fontname="Helvetica", fontsize="10", color=INK, margin="0.12,0.05")
    graph.attr("edge", fontname="Helvetica", fontsize="9", arrowsize="0.7")
    children: dict[str | None, list[Cluster]] = {}
    for cluster in topology.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    members: dict[str | None, list[Node]] = {}
    for node in topology.nodes:
        members.setdefault(node.cluster, []).append(node)
    # DOT names by position: DOT reads ``a:b`` in an edge as node ``a``, port ``b``, and
    # names made from ids by replacing characters could collide.
    names = {node.id: f"n{i}" for i, node in enumerate(topology.nodes)}

    seen: list[str] = []  # clusters drawn so far (DOT needs unique cluster names)

    def fill(g: graphviz.Digraph, cluster_id: str | None) -> None:
        for node in members.get(cluster_id, ()):
            g.node(names[node.id], _label(node), id=_svg_id(node.id), tooltip=_text(node.id),
                   **_NODE_STYLE[node.kind], **{"class": node.kind})
        for child in children.get(cluster_id, ()):
            with g.subgraph(name=f"cluster_{len(seen)}") as sub:
                seen.append(child.id)
                style = _CLUSTER_STYLE["cloud" if child.id.startswith("cloud:") else "default"]
                sub.attr(label=_text(child.label), id=_svg_id(child.id), fontcolor=INK,
                         **style, **{"class": "group " + child.id.partition(":")[0]})
                fill(sub, child.id)

    fill(graph, None)
    for edge in topology.edges:
        graph.edge(names[edge.source], names[edge.target], **_edge_attrs(edge))
    _add_legend(graph)
    return graph


def topology_svg(topology: Topology) -> str:
    """The diagram as a standalone SVG document (raises :class:`DotMissing` without dot)."""
    if shutil.which("dot") is None:
        raise DotMissing()
    try:
        return to_dot(topology).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound as exc:  # on PATH but not runnable
        raise DotMissing() from exc


def inline_svg(document: str) -> str:
    """An SVG document without its XML declaration, DOCTYPE and comments, for embedding
    in an HTML page (the ``<svg>`` element and everything in it)."""
    start = document.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document: no <svg> element")
    return re.sub(r"<!--.*?-->\s*", "", document[start:], flags=re.S)
