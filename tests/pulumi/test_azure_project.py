"""The Pulumi project folder as the real CLI sees it, and the real CLI when it exists.

The Pulumi CLI runs ``pulumi/__main__.py`` with ``pulumi/`` first on ``sys.path``, so no
module in that folder may share a name with anything the program imports. The real-CLI
tests skip (saying why) where no ``pulumi`` binary is installed, as on this project's CI:
the CLI is not distributed through PyPI or Debian.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "pulumi"
PULUMI = shutil.which("pulumi")
NO_CLI = "no `pulumi` binary on PATH (install: https://www.pulumi.com/docs/install/)"


def _top_level_names(folder: Path) -> set[str]:
    names = {p.stem for p in folder.glob("*.py") if p.stem not in ("__main__", "__init__")}
    names |= {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return names


def test_no_module_in_the_project_folder_shadows_a_library() -> None:
    names = _top_level_names(PROJECT)
    assert {"program", "offline", "components"} <= names
    clashes = set()
    for name in names:
        if name in sys.stdlib_module_names:
            clashes.add(name)
            continue
        spec = importlib.util.find_spec(name) if name not in sys.modules else None
        origin = getattr(spec, "origin", None) or ""
        if spec is not None and not origin.startswith(str(PROJECT)):
            clashes.add(name)
    assert clashes == set(), f"modules in pulumi/ shadow installed modules: {sorted(clashes)}"


def test_project_file() -> None:
    project = yaml.safe_load((PROJECT / "Pulumi.yaml").read_text())
    # The project name is the config namespace the program reads (skyrelay:spec, ...).
    assert project["name"] == "skyrelay"
    assert project["runtime"]["name"] == "python"
    # The file ships in the wheel: a relative virtualenv would point into site-packages, so
    # Pulumi runs the python3 on PATH (the activated environment) instead.
    assert "virtualenv" not in project["runtime"].get("options", {})


def test_main_runs_like_the_cli_host(tmp_path: Path) -> None:
    """Like pulumi-language-python-exec: import the SDK first, then run the project folder
    from inside it (runpy puts the folder first on sys.path). The repository root is on
    sys.path too, as the worst case; __main__.py must drop both before importing."""
    script = tmp_path / "host.py"
    script.write_text(
        "import sys\n"
        "import pulumi, pulumi.runtime\n"
        f"sys.path[:0] = ['.', {str(ROOT)!r}]\n"
        "from skyrelay.pulumi.offline import run_offline\n"
        f"graph = run_offline({str(ROOT / 'examples' / 'platform.yaml')!r})\n"
        "import pulumi_azure_native\n"
        "print(pulumi_azure_native.__file__)\n"
        f"print({str(ROOT)!r} in sys.path, '.' in sys.path)\n"
        "print(sum(r.custom for r in graph.resources))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    res = subprocess.run([sys.executable, "-P", str(script)], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lib, root_left, dot_left, count = res.stdout.split()
    assert "site-packages" in lib
    assert (root_left, dot_left) == ("False", "False")  # the guard in __main__.py ran
    assert int(count) == 19  # 17 + the Foundry DNS zone and its link


@pytest.mark.skipif(PULUMI is None, reason=NO_CLI)
def test_real_cli_loads_the_project_and_its_config(tmp_path: Path) -> None:
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "offline-test",
           "PULUMI_BACKEND_URL": f"file://{tmp_path}", "PULUMI_SKIP_UPDATE_CHECK": "1"}
    assert PULUMI

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PULUMI, *args, "--non-interactive"], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=300)

    stack = "skyrelay-test"
    try:
        assert cli("stack", "init", stack).returncode == 0
        assert cli("config", "set", "skyrelay:gatewayPrincipalId",
                   "6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d").returncode == 0
        got = cli("config", "get", "skyrelay:gatewayPrincipalId")
        assert got.stdout.strip() == "6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d"
    finally:
        cli("stack", "rm", stack, "--yes", "--force")
        (PROJECT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)


@pytest.mark.skipif(PULUMI is None, reason=NO_CLI)
@pytest.mark.skipif(not os.environ.get("ARM_SUBSCRIPTION_ID"),
                    reason="real `pulumi preview` needs Azure credentials (ARM_SUBSCRIPTION_ID "
                           "and a login); none are configured here")
def test_real_cli_preview(tmp_path: Path) -> None:  # pragma: no cover - needs a cloud
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "offline-test",
           "PULUMI_BACKEND_URL": f"file://{tmp_path}"}
    assert PULUMI
    stack = "skyrelay-preview"
    try:
        for args in (["stack", "init", stack],
                     ["config", "set", "skyrelay:gatewayPrincipalId",
                      "6f1c2b9e-0a43-4c55-9a0e-2d7f5a1b3c4d"]):
            subprocess.run([PULUMI, *args], cwd=PROJECT, env=env, check=True, timeout=300)
        res = subprocess.run([PULUMI, "preview", "--non-interactive", "--diff"], cwd=PROJECT,
                             env=env, capture_output=True, text=True, timeout=1800)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "azure-native:cognitiveservices:Deployment" in res.stdout
    finally:
        subprocess.run([PULUMI, "stack", "rm", stack, "--yes", "--force"], cwd=PROJECT,
                       env=env, timeout=300)
        (PROJECT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)
