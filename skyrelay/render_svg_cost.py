"""The plan's monthly cost estimate as an SVG bar chart: one bar per route, one per target.

Reads the ``cost`` section of the plan document (:func:`skyrelay.views.plan.build_plan`), so
the chart shows exactly the figures of the table and of ``plan --json``. A target's bar is
its share of every route that sends it traffic; a deployment's fixed monthly cost
(provisioned capacity) is a bar of its own. Bars are horizontal, scaled to the largest value
of the chart; every bar carries ``data-key`` and ``data-value`` attributes and a tooltip.

Example::

    from skyrelay.spec import load_spec
    from skyrelay.views.plan import build_plan
    from skyrelay.render_svg_cost import cost_svg
    svg = cost_svg(build_plan(load_spec("examples/platform.yaml"))["cost"])
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape, quoteattr

BAR_HEIGHT, GAP, BAR_AREA, CHAR_WIDTH, TOP = 16, 6, 360, 6.6, 8
SECTION_GAP = 26
COLOURS = {"route": "#0969da", "target": "#8250df", "fixed": "#bc4c00"}


def cost_series(cost: dict[str, Any]) -> dict[str, list[tuple[str, str, float]]]:
    """The chart's bars, ``section -> [(kind, key, amount)]``, largest first per section."""
    by_target: dict[str, float] = {}
    for route in cost["routes"]:
        for key, amount in route["by_target"].items():
            by_target[key] = by_target.get(key, 0.0) + amount
    routes = [("route", r["route"], float(r["total"])) for r in cost["routes"]]
    targets = [("target", k, round(v, 2)) for k, v in by_target.items()]
    targets += [("fixed", f"fixed: {k}", float(v)) for k, v in cost["fixed"].items()]
    return {"by route": sorted(routes, key=lambda b: -b[2]),
            "by target": sorted(targets, key=lambda b: -b[2])}


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def cost_svg(cost: dict[str, Any]) -> str:
    """The bar chart as an ``<svg>`` element (no XML declaration: it is embedded)."""
    currency = cost["currency"]
    series = cost_series(cost)
    labels = [key for bars in series.values() for _, key, _ in bars]
    label_w = int(max((len(k) for k in labels), default=10) * CHAR_WIDTH) + 12
    peak = max((a for bars in series.values() for _, _, a in bars), default=0.0) or 1.0
    value_w = int(len(_money(peak, currency)) * CHAR_WIDTH) + 12
    width = label_w + BAR_AREA + value_w
    parts: list[str] = []
    y = TOP
    for title, bars in series.items():
        parts.append(f'<text class="section" x="0" y="{y + 12}" font-weight="600">'
                     f'{escape(title.capitalize())}</text>')
        y += 20
        if not bars:
            parts.append(f'<text class="empty" x="0" y="{y + 12}" fill="#57606a">none</text>')
            y += BAR_HEIGHT + GAP
        for kind, key, amount in bars:
            bar_w = round(BAR_AREA * amount / peak, 1)
            money = _money(amount, currency)
            parts.append(
                f'<g class="bar {kind}" data-key={quoteattr(key)} data-value="{amount:.2f}">'
                f"<title>{escape(key)}: {escape(money)} per month</title>"
                f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(key)}</text>'
                f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{BAR_HEIGHT}" '
                f'fill="{COLOURS[kind]}" rx="2"/>'
                f'<text x="{label_w + bar_w + 6}" y="{y + 12}">{escape(money)}</text></g>')
            y += BAR_HEIGHT + GAP
        y += SECTION_GAP - GAP
    height = y
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="cost-chart" role="img" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'font-family="system-ui, sans-serif" font-size="11" fill="#1f2328">'
            f"<title>Monthly cost estimate ({escape(currency)})</title>"
            + "".join(parts) + "</svg>")
