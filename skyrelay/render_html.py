"""Render the plan as one self-contained HTML page (no external assets) with jinja2.

The page holds the plan document's tables and the figures of :mod:`skyrelay.plan_page`:
the topology diagram (inline SVG), the reachability per gateway region under it, the
residency matrix and the cost chart. No script, stylesheet, font or image is loaded from
anywhere: the page works from a file with no network.

Example::

    figures = plan_figures(spec, document)
    write_text_atomically(Path("cdk.out/plan.html"), render_plan_html(document, figures))
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from skyrelay.plan_page import PlanFigures
from skyrelay.render_svg_topology import LEGEND, inline_svg

_env = Environment(
    loader=PackageLoader("skyrelay", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_plan_html(document: dict[str, Any], figures: PlanFigures) -> str:
    """The plan page as a string; every value is HTML-escaped (the SVG figures are made
    by Graphviz and :mod:`skyrelay.render_svg_cost`, which escape their text)."""
    return _env.get_template("plan.html.j2").render(
        plan=document, figures=figures, legend=LEGEND,
        topology_svg=Markup(inline_svg(figures.topology_svg)),  # text escaped by Graphviz
        cost_svg=Markup(figures.cost_svg))  # text escaped by render_svg_cost


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; give it the mode open() would (0666 less the umask),
        # as the page is meant to be opened and shared.
        umask = os.umask(0o022)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_plan_html(document: dict[str, Any], figures: PlanFigures, path: Path) -> None:
    """Render the page and write it atomically to ``path``."""
    write_text_atomically(path, render_plan_html(document, figures))
