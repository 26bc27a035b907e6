"""Missing extras answer in one line (the real [aws]-only install is in tests/e2e), and
``tools/system-packages`` names what is missing when it cannot install it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyrelay import extras
from skyrelay.cli import main

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "system-packages"


def test_an_import_error_maps_to_the_extra_that_installs_it() -> None:
    missing = extras.from_import_error(ModuleNotFoundError(name="pulumi_azure_native"), "x")
    assert missing is not None and missing.extra == "azure"
    identity = extras.from_import_error(ModuleNotFoundError(name="azure.identity"), "x")
    assert identity is not None and identity.extra == "gateway"
    assert extras.from_import_error(ModuleNotFoundError(name="numpy"), "x") is None


def test_every_extra_lists_distributions_of_pyproject() -> None:
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    for extra, distributions in extras.EXTRA_DISTRIBUTIONS.items():
        names = {d.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower()
                 .replace("_", "-") for d in declared[extra]}
        assert set(distributions) <= names, extra


def test_plan_without_the_azure_extra_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stands in for an install without pulumi-azure-native: the real one is tests/e2e.
    monkeypatch.setattr(extras, "_installed", lambda name: name != "pulumi-azure-native")
    result = CliRunner().invoke(main, ["plan", str(REPO / "examples" / "platform.yaml")])
    assert result.exit_code == 2
    # The spec's catalog warnings may come first; the refusal is one line of its own.
    errors = [line for line in result.output.splitlines() if not line.startswith("warning: ")]
    assert errors == ["error: skyrelay plan needs the 'azure' extra (pulumi-azure-native is "
                      "not installed): pip install 'skyrelay[azure]'"]
    assert "Traceback" not in result.output


def _run_copy(tmp_path: Path, listing: str, *args: str,
              path: str | None = None) -> subprocess.CompletedProcess[str]:
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(SCRIPT, tools / "system-packages")
    (tools / "system-packages.txt").write_text(listing)
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = path
    bash = shutil.which("bash") or "/bin/bash"
    return subprocess.run([bash, str(tools / "system-packages"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_nothing_missing_installs_nothing(tmp_path: Path) -> None:
    proc = _run_copy(tmp_path, "# comment\ncoreutils ls\n")
    assert proc.returncode == 0 and proc.stderr == ""


def test_check_names_the_missing_packages(tmp_path: Path) -> None:
    proc = _run_copy(tmp_path, "coreutils ls\nno-such-pkg no-such-command-xyz\n", "--check")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "missing system packages: no-such-pkg"


def test_without_apt_get_it_stops_with_one_line(tmp_path: Path) -> None:
    # A PATH with bash's helpers but no apt-get: a machine it cannot install on.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id", "sh", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    proc = _run_copy(tmp_path, "no-such-pkg no-such-command-xyz\n", path=str(bin_dir))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-pkg" in lines[0]
