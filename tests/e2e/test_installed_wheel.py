"""The toolkit as a platform team meets it: the wheel in a fresh virtual environment, used
from a folder outside this repository, with nothing from this checkout.

One module-scoped flow, as a user types it::

    pip install 'skyrelay-<v>-py3-none-any.whl[aws,azure,gateway]'
    skyrelay init my-platform && cd my-platform && npm ci
    skyrelay synth && skyrelay plan && skyrelay check --from cdk.out
    npx cdk synth && npx cdk ls

then a second install with only ``[aws]`` for the missing-extra answers, and the same project
synthesized by this repository's editable install (with ``aws.account`` set, no context
file) to show that asset hashes do not depend on the install.

The package index is reachable here (pip's cache keeps repeat runs short); the versions
are this repository's ``constraints.txt``, so both installs build the same templates.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from skyrelay.synth import cdk_environment

REPO = Path(__file__).resolve().parents[2]
#: Repository folder -> where its files land in the wheel (DESIGN.md: folder X is skyrelay.X).
PACKAGE_FOLDERS = {"skyrelay": "skyrelay", "stacks": "skyrelay/stacks",
                   "constructs": "skyrelay/constructs", "pulumi": "skyrelay/pulumi",
                   "policies": "skyrelay/policies", "gateway": "skyrelay/gateway",
                   "examples": "skyrelay/examples"}
pytestmark = pytest.mark.slow


def run(command: list[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None
        = None, timeout: float = 600, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``command``; with ``ok`` its failure fails the test with everything it printed."""
    proc = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
    return proc


def user_env(venv: Path) -> dict[str, str]:
    """A shell with ``venv`` activated: its bin first on PATH, nothing of this repository."""
    env = {k: v for k, v in cdk_environment().items()
           if not k.startswith(("PYTHON", "VIRTUAL_ENV", "SKYRELAY_", "PIP_REQUIRE"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def make_venv(venv: Path, requirement: str) -> Path:
    """A fresh venv with ``requirement`` installed at this repository's tested versions."""
    run([sys.executable, "-m", "venv", venv], timeout=300)
    python = venv / "bin" / "python"
    # --no-compile: compiling every module of the cloud SDKs costs minutes; skyrelay itself
    # is compiled afterwards, as pip does by default, so its package holds bytecode caches.
    run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
         "-c", REPO / "constraints.txt", requirement], timeout=1500)
    site = run([python, "-c", "import skyrelay, os; print(os.path.dirname(skyrelay.__file__))"],
               cwd=venv).stdout.strip()
    run([python, "-m", "compileall", "-q", site], timeout=300)
    return venv


@dataclass(frozen=True)
class Installed:
    """The wheel, the full install, the project it initialised and what synth wrote there."""

    wheel: Path
    venv: Path
    project: Path
    synth: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # The build backend of this environment (setuptools, dev extra), offline.
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", out, REPO], timeout=600)
    (built,) = out.glob("skyrelay-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    home = tmp_path_factory.mktemp("user")
    assert REPO not in home.parents  # the user's folder is not inside this checkout
    venv = make_venv(home / "venv", f"{wheel}[aws,azure,gateway]")
    env = user_env(venv)
    run(["skyrelay", "init", "my-platform"], cwd=home, env=env)
    project = home / "my-platform"
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=project, env=env)
    synth = run(["skyrelay", "synth"], cwd=project, env=env, timeout=900)
    return Installed(wheel, venv, project, synth)


def _wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_holds_every_file_the_packages_open(wheel: Path) -> None:
    names = _wheel_names(wheel)
    expected = set()
    for folder, target in PACKAGE_FOLDERS.items():
        for path in (REPO / folder).rglob("*"):
            rel = path.relative_to(REPO / folder)
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".")
                                          for p in rel.parts) and path.suffix != ".pyc":
                expected.add(f"{target}/{rel.as_posix()}")
    # Data opened at run time among them: the image's Dockerfile, the init templates, the
    # Pulumi project and policy pack files, the OpenAPI document, the example specs.
    assert {"skyrelay/gateway/Dockerfile", "skyrelay/templates/init/package-lock.json",
            "skyrelay/pulumi/Pulumi.yaml", "skyrelay/policies/crossguard/PulumiPolicy.yaml",
            "skyrelay/gateway/openapi.json", "skyrelay/examples/platform.yaml"} <= expected
    assert expected - names == set()
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def _templates(outdir: Path) -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".template.json"): json.loads(p.read_text())
            for p in outdir.glob("*.template.json")}


def test_init_then_synth_builds_both_clouds_from_the_wheel(installed: Installed) -> None:
    out = installed.project / "cdk.out"
    stacks = set(_templates(out))
    assert stacks == {f"my-platform-us-east-1-{s}"
                      for s in ("network", "bedrock", "observability", "gateway")}
    plan = json.loads((out / "azure-plan.json").read_text())
    types = {r["type"] for r in plan["resources"]}
    assert {"azure-native:cognitiveservices:Account",
            "azure-native:cognitiveservices:Deployment"} <= types
    # The gateway image's build context was staged from the installed package, not a checkout.
    assets = json.loads((out / "my-platform-us-east-1-gateway.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    context = out / image["source"]["directory"]
    assert (context / "Dockerfile").is_file() and (context / "pyproject.toml").is_file()
    assert (context / "skyrelay" / "gateway" / "serve.py").is_file()
    assert not (context / "skyrelay" / "stacks").exists()
    # The image's install step minus the downloads (no Docker engine here): the staged context
    # builds the gateway's wheel offline, from a copy (a build writes into its source).
    source = installed.project / "image-context"
    shutil.copytree(context, source)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", installed.project / "image-wheel", source], timeout=300)
    (image_wheel,) = (installed.project / "image-wheel").glob("skyrelay-*.whl")
    assert "skyrelay/gateway/serve.py" in _wheel_names(image_wheel)
    for asset in out.glob("asset.*"):
        assert not [p for p in asset.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]


def test_plan_and_check_work_in_the_project(installed: Installed) -> None:
    env = user_env(installed.venv)
    plan = json.loads(run(["skyrelay", "plan", "--json"], cwd=installed.project, env=env).stdout)
    assert [r["name"] for r in plan["routes"]] == ["chat"]
    graph = json.loads((installed.project / "cdk.out" / "azure-plan.json").read_text())
    assert plan["azure_resources"]["resource_count"] == sum(r["custom"] for r in
                                                            graph["resources"]) > 0
    check = run(["skyrelay", "check", "--from", "cdk.out", "--json"], cwd=installed.project,
                env=env)
    report = json.loads(check.stdout)
    results = {r["rule"]: r["result"] for r in report["rules"]}
    assert report["ok"] is True and results["SKY-AZ-001"] == results["SKY-AWS-001"] == "pass"


def test_the_cdk_cli_runs_the_shipped_app(installed: Installed) -> None:
    env = user_env(installed.venv)
    cdk = installed.project / "node_modules" / ".bin" / "cdk"
    run([cdk, "synth", "--quiet", "--no-notices", "-o", "cli.out"], cwd=installed.project,
        env=env, timeout=900)
    assert set(_templates(installed.project / "cli.out")) == set(
        _templates(installed.project / "cdk.out"))
    listed = run([cdk, "ls", "--app", "cli.out", "--no-notices"], cwd=installed.project,
                 env=env).stdout.split()
    assert sorted(listed) == sorted(_templates(installed.project / "cdk.out"))


def _asset_hashes(outdir: Path) -> dict[str, set[str]]:
    hashes: dict[str, set[str]] = {"files": set(), "dockerImages": set()}
    for manifest in outdir.glob("*.assets.json"):
        doc = json.loads(manifest.read_text())
        for kind in hashes:
            # Code assets only: each stack's template is a file asset too, and the account
            # (set in one of the two synths) is part of the templates.
            hashes[kind] |= {key for key, asset in doc.get(kind, {}).items()
                             if not str(asset["source"].get("path", "")).endswith(
                                 ".template.json")}
    return hashes


def test_assets_hash_alike_from_two_installs_and_synth_needs_no_lookup_with_an_account(
        installed: Installed) -> None:
    # The same project through this repository's editable install, with aws.account set
    # and no cdk.context.json: no availability-zone lookup, and the same asset hashes.
    project = installed.project
    spec = (project / "platform.yaml").read_text()
    (project / "with-account.yaml").write_text(
        spec.replace('  # account: "123456789012"', '  account: "123456789012"', 1))
    assert "\n  account: " in (project / "with-account.yaml").read_text()
    assert not (project / "cdk.context.json").exists()
    bin_dir = Path(sys.executable).parent
    run([bin_dir / "skyrelay", "synth", "with-account.yaml", "-o", "editable.out"], cwd=project,
        env=user_env(bin_dir.parent), timeout=900)
    gateway = _templates(project / "editable.out")["my-platform-us-east-1-gateway"]
    assert "123456789012" in json.dumps(gateway)
    wheel_hashes = _asset_hashes(project / "cdk.out")
    assert wheel_hashes["files"] and wheel_hashes["dockerImages"]
    assert _asset_hashes(project / "editable.out") == wheel_hashes


@pytest.fixture(scope="module")
def aws_only(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_venv(tmp_path_factory.mktemp("aws-only") / "venv", f"{wheel}[aws]")


@pytest.mark.parametrize(("command", "extra"), [
    (["plan"], "azure"),
    (["synth"], "azure"),
    (["gateway", "serve", "--config", "gateway.json"], "gateway"),
])
def test_a_missing_extra_is_one_line_naming_it(aws_only: Path, installed: Installed,
                                               command: list[str], extra: str) -> None:
    proc = run(["skyrelay", *command], cwd=installed.project, env=user_env(aws_only), ok=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # Catalog warnings about the spec may come first; the refusal itself is one line.
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("warning: ")]
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert f"needs the '{extra}' extra" in errors[0]
    assert errors[0].endswith(f"pip install 'skyrelay[{extra}]'")


def test_what_needs_no_extra_still_works_with_aws_only(aws_only: Path,
                                                       installed: Installed) -> None:
    env = user_env(aws_only)
    assert "ok" in run(["skyrelay", "validate"], cwd=installed.project, env=env).stdout
    config = json.loads(run(["skyrelay", "gateway", "config"], cwd=installed.project,
                            env=env).stdout)
    assert set(config["routes"]) == {"chat"}
    issued = json.loads(run(["skyrelay", "keys", "new", "app", "--json"], cwd=installed.project,
                            env=env).stdout)
    assert issued["key"].startswith("sk-sr-") and issued["hash"] != issued["key"]


def test_the_sdist_rebuilds_the_same_wheel_and_carries_the_tests(
        wheel: Path, tmp_path: Path) -> None:
    import tarfile

    out = tmp_path / "sdist"
    run([sys.executable, "-c", "import sys; from setuptools import build_meta; "
         "print(build_meta.build_sdist(sys.argv[1]))", out], cwd=REPO, timeout=600)
    (sdist,) = out.glob("skyrelay-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    (source,) = (tmp_path / "src").iterdir()
    # What `make test` needs from an unpacked sdist: the Makefile, the tests, the CDK app
    # entry, the pinned CLI, the tested versions and the system-package list.
    for needed in ("Makefile", "cdk.json", "app.py", "package-lock.json", "constraints.txt",
                   "tools/system-packages", "tests/conftest.py",
                   "tests/e2e/test_installed_wheel.py", ".ci/run"):
        assert (source / needed).is_file(), needed
    rebuilt = tmp_path / "rebuilt"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", rebuilt, source], timeout=600)
    (again,) = rebuilt.glob("skyrelay-*.whl")
    assert _wheel_names(again) == _wheel_names(wheel)
