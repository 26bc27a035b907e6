"""The plan page seen by a real browser (issue 26): headless Chromium loads
``skyrelay plan --html`` from a file, offline, and the test reads what the browser parsed
and laid out: a screenshot that is not blank, the diagram's node and edge counts against the
spec, the legend, every tenant and target named, and the crossing edges marked.

The shipped page has no script. To read the browser's DOM and layout, each test opens a
copy of the page with one probe script appended, which writes what it measured into the
DOM; ``--dump-dom`` returns it.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from headless_chromium import Chromium
from PIL import Image

from skyrelay.spec import Spec, load_spec
from skyrelay.spec.loader import parse_spec_text
from skyrelay.views.reachability import reachable_targets

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"

PROBE = """
<script>
(() => {
  const XLINK = "http://www.w3.org/1999/xlink";
  const svg = document.querySelector("div.figure svg");
  const own = (el) => !el.classList.contains("legend");
  const tip = (el) => {
    const a = el.querySelector("a");
    return a ? a.getAttributeNS(XLINK, "title") : "";
  };
  const frame = svg.getBoundingClientRect();
  // On-screen boxes relative to the drawing (Graphviz translates its top group).
  const box = (el) => { const b = el.getBoundingClientRect();
                        return [b.x - frame.x, b.y - frame.y, b.width, b.height]; };
  const shown = (el) => [...el.querySelectorAll("text")].map((t) => t.textContent).join("\\n");
  const nodes = [...svg.querySelectorAll("g.node")].filter(own);
  const edges = [...svg.querySelectorAll("g.edge")].filter(own);
  const out = {
    nodes: nodes.map((n) => ({kind: [...n.classList].find((c) => c !== "node"), tip: tip(n),
                              text: shown(n), box: box(n)})),
    edges: edges.map((e) => {
      const path = e.querySelector("path"), style = getComputedStyle(path);
      return {classes: [...e.classList], tip: tip(e), stroke: style.stroke,
              width: parseFloat(style.strokeWidth), dashed: style.strokeDasharray !== "none",
              length: path.getTotalLength()};
    }),
    view: [0, 0, frame.width, frame.height],
    legend: [...svg.querySelectorAll("g.edge.legend")].map((e) => ({
      classes: [...e.classList], text: shown(e), width: box(e)[2]})),
    residency_tenants: [...document.querySelectorAll("table.residency th[data-tenant]")]
      .map((th) => th.dataset.tenant),
    residency_cells: [...document.querySelectorAll("table.residency td[data-tenant]")]
      .map((td) => [td.dataset.tenant, td.dataset.target, td.className]),
    reach_rows: [...document.querySelectorAll("table.reach tr td:first-child")]
      .map((td) => td.textContent.trim()),
    cost_bars: [...document.querySelectorAll("svg.cost-chart g.bar")].map((g) => ({
      key: g.dataset.key, value: parseFloat(g.dataset.value),
      width: g.querySelector("rect").getBBox().width})),
    scripts: document.scripts.length,
    fetched: performance.getEntriesByType("resource").map((r) => r.name),
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>
"""


def spec_variant(change: Any) -> dict[str, Any]:
    """platform.yaml's document with one change."""
    doc = yaml.safe_load((EXAMPLES / "platform.yaml").read_text())
    change(doc)
    return doc


def write_page(spec_file: Path, out: Path) -> tuple[Path, Path]:
    page, svg = out / "plan.html", out / "topology.svg"
    res = subprocess.run([sys.executable, "-m", "skyrelay.cli", "plan", str(spec_file),
                          "--html", str(page), "--svg", str(svg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return page, svg


def probe(browser: Chromium, page: Path, work: Path) -> dict[str, Any]:
    text = page.read_text()
    assert "<script" not in text  # the shipped page runs nothing
    probed = work / f"probed-{page.name}"
    probed.write_text(text.replace("</body>", PROBE + "</body>"))
    dom = browser.dump_dom(probed, work)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def expected_counts(spec: Spec) -> tuple[dict[str, int], int]:
    """Node counts per kind and the edge count, worked out from the spec alone."""
    keys = {t.key for r in spec.routes for t in r.targets}
    endpoints = (len(spec.azure.accounts) if spec.azure else 0) + len(spec.openai_compatible)
    nodes = {"tenant": len(spec.tenants), "route": len(spec.routes),
             "gateway": len(spec.gateway.regions), "target": len(keys), "endpoint": endpoints}
    paths = 0
    for region in spec.gateway.regions:
        reach = reachable_targets(spec, region)
        paths += sum(k.startswith("bedrock:") for k in reach)
        # One path per Azure account / compatible endpoint with a reachable routed target.
        paths += len({k.partition("/")[0] for k in reach if not k.startswith("bedrock:")})
    edges = (sum(len(t.routes) for t in spec.tenants) + sum(len(r.targets) for r in spec.routes)
             + paths)
    return nodes, edges


@pytest.fixture(scope="module")
def browser() -> Chromium:
    return Chromium.find()


@pytest.fixture(scope="module")
def default_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_page(EXAMPLES / "platform.yaml", tmp_path_factory.mktemp("page"))


def test_screenshots_are_not_blank(browser: Chromium, default_page: tuple[Path, Path],
                                   tmp_path: Path) -> None:
    page, svg = default_page
    for source, size in ((page, "1600,1800"), (svg, "1800,1400")):
        png = browser.screenshot(source, tmp_path / f"{source.stem}.png", tmp_path, size=size)
        image = Image.open(png).convert("RGB")
        assert image.size == tuple(int(v) for v in size.split(","))
        counts = image.getcolors(maxcolors=1 << 24) or []
        total = image.size[0] * image.size[1]
        inked = sum(n for n, rgb in counts if sum(rgb) < 600) / total
        # Text, boxes and coloured lines: a blank or error page has neither.
        assert inked > 0.01 and len(counts) > 100, (source, inked, len(counts))
        # The crossing colour (#cf222e) is on screen: the legend sample and the edge.
        assert any(abs(r - 207) < 25 and g < 80 and b < 90 for _, (r, g, b) in counts), source


def test_the_diagram_matches_the_spec(browser: Chromium, default_page: tuple[Path, Path],
                                      default_spec: Spec, tmp_path: Path) -> None:
    seen = probe(browser, default_page[0], tmp_path)
    nodes, edges = expected_counts(default_spec)
    kinds: dict[str, int] = {}
    for n in seen["nodes"]:
        kinds[n["kind"]] = kinds.get(n["kind"], 0) + 1
    assert kinds == nodes
    assert len(seen["edges"]) == edges
    # Laid out: every node has a size and lies inside the drawing; every edge has a length.
    vx, vy, vw, vh = seen["view"]
    for n in seen["nodes"]:
        x, y, w, h = n["box"]
        assert w > 10 and h > 10, n
        assert vx - 1 <= x and x + w <= vx + vw + 1 and vy - 1 <= y and y + h <= vy + vh + 1, n
    assert all(e["length"] > 5 for e in seen["edges"])
    assert seen["fetched"] == [] and seen["scripts"] == 1  # nothing loaded, only the probe


def test_every_tenant_and_target_is_named(browser: Chromium, default_page: tuple[Path, Path],
                                          default_spec: Spec, tmp_path: Path) -> None:
    seen = probe(browser, default_page[0], tmp_path)
    tenants = [t.name for t in default_spec.tenants]
    keys = list(dict.fromkeys(t.key for r in default_spec.routes for t in r.targets))
    by_tip = {n["tip"]: n for n in seen["nodes"]}
    for t in default_spec.tenants:
        node = by_tip[f"tenant:{t.name}"]
        assert node["kind"] == "tenant" and t.name in node["text"]
        assert t.classification in node["text"]
    for key in keys:
        node = by_tip[key]
        assert node["kind"] == "target" and key.rpartition("/")[2] in node["text"]
    assert seen["residency_tenants"] == tenants
    assert {(t, k) for t, k, _ in seen["residency_cells"]} == {(t, k) for t in tenants
                                                               for k in keys}
    assert sorted(seen["reach_rows"]) == sorted(keys)
    # The cost chart: a bar per route, widths in proportion to the figures.
    bars = {b["key"]: b for b in seen["cost_bars"]}
    assert {r.name for r in default_spec.routes} <= set(bars)
    peak = max(b["value"] for b in bars.values())
    widest = max(b["width"] for b in bars.values())
    for b in bars.values():
        assert b["width"] == pytest.approx(widest * b["value"] / peak, abs=0.5)


def test_the_legend_is_there(browser: Chromium, default_page: tuple[Path, Path],
                             tmp_path: Path) -> None:
    seen = probe(browser, default_page[0], tmp_path)
    texts = [e["text"] for e in seen["legend"]]
    assert texts == ["tenant may call the route", "route target (strategy, weight)",
                     "network path, stays in the VPC", "leaves the VPC (NAT / public endpoint)",
                     "crosses a jurisdiction"]
    assert all(e["width"] > 20 for e in seen["legend"])
    crossing = next(e for e in seen["legend"] if "crosses-jurisdiction" in e["classes"])
    assert crossing["text"] == "crosses a jurisdiction"


def test_cross_jurisdiction_edges_are_marked(browser: Chromium, tmp_path: Path) -> None:
    doc = spec_variant(lambda d: d["gateway"].__setitem__(
        "cross_region_bedrock", {"eu-central-1": ["us-east-1"]}))
    spec_file = tmp_path / "cross.yaml"
    spec_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    spec = parse_spec_text(spec_file.read_text(), str(spec_file))
    page, _ = write_page(spec_file, tmp_path)
    seen = probe(browser, page, tmp_path)
    marked = {e["tip"].split(": ")[0]: e for e in seen["edges"]
              if "crosses-jurisdiction" in e["classes"]}
    us_targets = sorted({t.key for r in spec.routes for t in r.targets
                         if t.key.startswith("bedrock:us-east-1/")})
    assert sorted(marked) == sorted(
        ["gateway:us-east-1 -> endpoint:azure:acme-openai-swc"]
        + [f"gateway:eu-central-1 -> {k}" for k in us_targets])
    plain = [e for e in seen["edges"] if "crosses-jurisdiction" not in e["classes"]]
    for e in marked.values():  # drawn so they stand out: red, thicker, dashed
        assert e["stroke"] == "rgb(207, 34, 46)" and e["dashed"]
        assert e["width"] > max(p["width"] for p in plain)
    assert all(p["stroke"] != "rgb(207, 34, 46)" for p in plain)
    assert len(seen["edges"]) == expected_counts(spec)[1]


def test_a_spec_without_crossings_marks_none(browser: Chromium, tmp_path: Path) -> None:
    page, _ = write_page(EXAMPLES / "minimal.yaml", tmp_path)
    seen = probe(browser, page, tmp_path)
    spec = load_spec(EXAMPLES / "minimal.yaml")
    assert not [e for e in seen["edges"] if "crosses-jurisdiction" in e["classes"]]
    assert len(seen["edges"]) == expected_counts(spec)[1] == 3
    assert any("crosses-jurisdiction" in e["classes"] for e in seen["legend"])
