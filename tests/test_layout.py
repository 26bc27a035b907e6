"""The layout rule: root folder X is the package skyrelay.X, and the libraries named
``constructs`` and ``pulumi`` are never shadowed by our folders of the same name."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import constructs
import pulumi

import skyrelay.constructs
import skyrelay.pulumi

ROOT = Path(__file__).resolve().parents[1]
MAPPED = ("stacks", "constructs", "pulumi", "policies", "gateway")


def _is_library(module_file: str | None) -> bool:
    return module_file is not None and "site-packages" in module_file


def test_libraries_resolve_in_the_test_process() -> None:
    assert _is_library(constructs.__file__), constructs.__file__
    assert _is_library(pulumi.__file__), pulumi.__file__
    assert hasattr(constructs, "Construct")
    assert hasattr(pulumi, "ComponentResource")


def test_our_folders_are_the_skyrelay_subpackages() -> None:
    assert Path(skyrelay.constructs.__file__).parent == ROOT / "constructs"
    assert Path(skyrelay.pulumi.__file__).parent == ROOT / "pulumi"


def test_libraries_resolve_in_a_subprocess_started_like_cdk_json() -> None:
    app_cmd = json.loads((ROOT / "cdk.json").read_text())["app"]
    assert app_cmd.startswith("python3 -P ")
    probe = (
        "import constructs, pulumi, skyrelay.constructs, skyrelay.pulumi;"
        "print(constructs.__file__); print(pulumi.__file__);"
        "print(skyrelay.constructs.__file__)"
    )
    # cdk.json runs `python3 -P`: the same flag, the same working directory, our interpreter.
    out = subprocess.run(
        [sys.executable, "-P", "-c", probe], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=True,
    ).stdout.splitlines()
    assert _is_library(out[0]) and _is_library(out[1]), out
    assert Path(out[2]).parent == ROOT / "constructs"


def test_without_dash_p_the_root_would_shadow_the_library() -> None:
    """Why -P matters: run from the root without it, `import pulumi` finds our folder."""
    out = subprocess.run(
        [sys.executable, "-c", "import pulumi; print(pulumi.__file__)"], cwd=ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()
    assert Path(out) == ROOT / "pulumi" / "__init__.py"


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = config["package-dir"]
    assert {package_dir[f"skyrelay.{name}"] for name in MAPPED} == set(MAPPED)
    listed = set(config["packages"])
    found = set()
    for top in ("skyrelay", *MAPPED):
        base = ROOT / top
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base).parts
            prefix = "skyrelay" if top == "skyrelay" else f"skyrelay.{top}"
            if "__pycache__" not in rel:
                found.add(".".join((prefix, *rel)))
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
    for name in MAPPED:
        assert (ROOT / name / "__init__.py").is_file()


def test_no_test_module_loads_another_by_path_or_through_sys_modules() -> None:
    """Shared helpers are imported by name from ``tests/support`` (on pytest's pythonpath);
    a module found by file path or fished out of ``sys.modules`` breaks when the folder
    moves and hides which helper a test really uses."""
    import re

    forbidden = re.compile(r"spec_from_file_location|SourceFileLoader|sys\.modules\[|"
                           r"runpy\.run_path|importlib\.machinery")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for path in sorted((ROOT / "tests").rglob("*.py")) if path != Path(__file__)
             for n, line in enumerate(path.read_text().splitlines(), 1)
             if forbidden.search(line)]
    assert found == []
