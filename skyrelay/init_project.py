"""``skyrelay init [DIR]``: scaffold a platform repository that runs on the installed package.

It writes a small valid spec (``platform.yaml``), a ``cdk.json`` that runs the CDK app shipped
in skyrelay with the feature flags a current ``cdk init`` sets, the pinned CDK CLI
(``package.json`` and its lock file), a Pulumi project running the shipped Azure program,
``.gitignore`` and a README of the next commands. It never overwrites a file: if any of them
exists, nothing is written.

Example::

    from pathlib import Path
    from skyrelay.init_project import init_project
    written = init_project(Path("my-platform"), name="acme")
    print([p.name for p in written])
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import tarfile
from importlib import resources
from pathlib import Path

import click

from skyrelay.extras import MissingExtra

#: Template file (package data of ``skyrelay``, under templates/init) -> file written.
TEMPLATES: dict[str, str] = {
    "platform.yaml": "platform.yaml",
    "README.md": "README.md",
    "gitignore": ".gitignore",
    "Pulumi.yaml": "Pulumi.yaml",
    "azure/__main__.py": "azure/__main__.py",
    "package.json": "package.json",
    "package-lock.json": "package-lock.json",
}
#: Templates with ``{name}`` placeholders (str.format); the others are copied as they are.
FORMATTED = ("platform.yaml", "README.md", "Pulumi.yaml")
CDK_APP = "python3 -P -m skyrelay.cdk_app"
#: The spec's platform-name rule, at most 40 characters so derived names (the Azure account
#: ``<name>-openai``, stack names) stay inside the clouds' limits.
_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")


class InitError(Exception):
    """The folder cannot be initialised; nothing was written."""


def recommended_feature_flags() -> dict[str, object]:
    """The CDK feature flags a new project gets, from the installed aws-cdk-lib.

    aws-cdk-lib ships them as ``recommended-feature-flags.json`` (inside its jsii bundle in
    the Python package); ``cdk init`` writes the same set into a new project's cdk.json.
    """
    spec = importlib.util.find_spec("aws_cdk")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("skyrelay init", "aws", "aws-cdk-lib")
    bundles = sorted(Path(next(iter(spec.submodule_search_locations)), "_jsii")
                     .glob("aws-cdk-lib@*.jsii.tgz"))
    if not bundles:
        raise InitError("the installed aws-cdk-lib has no jsii bundle to read its feature "
                        "flags from; reinstall it")
    with tarfile.open(bundles[-1]) as bundle:
        member = bundle.extractfile("package/recommended-feature-flags.json")
        if member is None:
            raise InitError(f"{bundles[-1].name} has no recommended-feature-flags.json")
        flags: dict[str, object] = json.load(member)
    return flags


def cdk_json_text(spec_file: str = "platform.yaml") -> str:
    """The project's cdk.json: the shipped app, the spec it builds, the recommended flags."""
    document = {
        "app": CDK_APP,
        "watch": {"include": ["platform.yaml"], "exclude": ["cdk.out", "node_modules", ".venv"]},
        "context": {"skyrelay:spec": spec_file, **recommended_feature_flags()},
    }
    return json.dumps(document, indent=2) + "\n"


def _template(name: str) -> str:
    return resources.files("skyrelay").joinpath("templates", "init", name).read_text()


def planned_files(name: str) -> dict[str, str]:
    """Relative path -> content of every file ``init`` writes for platform ``name``."""
    files = {target: (_template(source).format(name=name) if source in FORMATTED
                      else _template(source))
             for source, target in TEMPLATES.items()}
    files["cdk.json"] = cdk_json_text()
    return files


def init_project(folder: Path, name: str | None = None) -> list[Path]:
    """Write the scaffold into ``folder`` (created if needed); return the files written.

    ``name`` (default: the folder's name, lower-cased) becomes the platform name. Raises
    :class:`InitError` without writing anything when a file exists or the name is invalid.
    """
    name = name or re.sub(r"[^a-z0-9-]+", "-", folder.resolve().name.lower()).strip("-")
    if not _NAME.match(name):
        raise InitError(f"platform name {name!r}: 1-40 lower-case letters, digits and '-', "
                        "starting with a letter, not ending in '-' (give one with --name)")
    files = planned_files(name)
    existing = sorted(rel for rel in files if (folder / rel).exists())
    if existing:
        raise InitError(f"{folder}: {', '.join(existing)} already exist; skyrelay init never "
                        "overwrites files (nothing was written)")
    written = []
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--name", help="Platform name (default: the folder's name).")
def init_command(directory: Path, name: str | None) -> None:
    """Scaffold a platform repository in DIRECTORY (default: here); never overwrites a file."""
    try:
        written = init_project(directory, name)
    except InitError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for path in written:
        click.echo(f"wrote {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    click.echo(f"next: {where}npm ci && skyrelay validate && skyrelay synth "
               "(README.md there lists the rest)")
