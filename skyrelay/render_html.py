"""Render the plan as one self-contained HTML page (no external assets) with jinja2."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
    loader=PackageLoader("skyrelay", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_plan_html(document: dict[str, Any]) -> str:
    """The plan page as a string; every value is HTML-escaped."""
    return _env.get_template("plan.html.j2").render(plan=document)


def write_plan_html(document: dict[str, Any], path: Path) -> None:
    """Write the page atomically: a reader never sees a half-written file."""
    html = render_plan_html(document)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
