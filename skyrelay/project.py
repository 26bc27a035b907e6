"""Where a platform project's files are: the folder of ``cdk.json`` and the spec it names.

A relative path always resolves against the folder of the file that names it (``cdk.json``
for ``skyrelay:spec``, ``Pulumi.yaml`` for the Pulumi config key of the same name), never
against the working directory of some tool or against ``site-packages``.

Example::

    from pathlib import Path
    from skyrelay.project import default_spec
    print(default_spec(Path.cwd()))   # e.g. /home/me/platform/platform.yaml
"""

from __future__ import annotations

import json
from pathlib import Path

SPEC_CONTEXT_KEY = "skyrelay:spec"


class ProjectError(Exception):
    """The project's files do not say what is needed; the message says what to do."""


def find_up(start: Path, name: str) -> Path | None:
    """The file ``name`` in ``start`` or the nearest folder above it, else None."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / name).is_file():
            return folder / name
    return None


def cdk_json(start: Path | None = None) -> Path | None:
    """The nearest ``cdk.json`` at or above ``start`` (default: the working directory)."""
    return find_up(start or Path.cwd(), "cdk.json")


def read_cdk_json(path: Path) -> dict[str, object]:
    """``cdk.json`` as a dict, or :class:`ProjectError` naming the file and the problem."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ProjectError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(value, dict):
        raise ProjectError(f"{path}: expected a JSON object")
    return value


def resolve_against(base: Path, value: str | Path) -> Path:
    """``value`` as an absolute path, relative ones taken from the folder ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def default_spec(start: Path | None = None) -> Path:
    """The spec named by ``skyrelay:spec`` in the nearest cdk.json, resolved against its folder."""
    found = cdk_json(start)
    if found is None:
        raise ProjectError(f"no SPEC given and no cdk.json in {(start or Path.cwd()).resolve()} "
                           "or above it (`skyrelay init` creates one)")
    context = read_cdk_json(found).get("context")
    value = context.get(SPEC_CONTEXT_KEY) if isinstance(context, dict) else None
    if not value or not isinstance(value, str):
        raise ProjectError(f"{found}: no '{SPEC_CONTEXT_KEY}' in its context; pass SPEC "
                           "explicitly or add it")
    return resolve_against(found.parent, value)


def pulumi_project_dir(root: Path) -> Path:
    """The Pulumi project of the platform at ``root``: ``root`` itself when its Pulumi.yaml is
    there (a ``skyrelay init`` project), else ``root/pulumi`` (this repository's layout)."""
    return root if (root / "Pulumi.yaml").is_file() else root / "pulumi"
