"""``skyrelay init``: what it writes, that it never overwrites, and that what it writes is
what CDK and Pulumi expect (the CDK CLI's own ``cdk init`` flags are the oracle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.init_project import CDK_APP, InitError, init_project
from skyrelay.project import default_spec
from skyrelay.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
CDK_INIT_FLAGS = REPO / "node_modules" / "aws-cdk" / "lib" / "init-templates" / \
    ".recommended-feature-flags.json"


def test_init_writes_a_project_whose_spec_validates(tmp_path: Path) -> None:
    written = init_project(tmp_path / "acme-ai")
    names = {p.relative_to(tmp_path / "acme-ai").as_posix() for p in written}
    assert names == {"platform.yaml", "cdk.json", "package.json", "package-lock.json",
                     "Pulumi.yaml", "azure/__main__.py", ".gitignore", "README.md"}
    spec_path = default_spec(tmp_path / "acme-ai")
    assert spec_path == tmp_path / "acme-ai" / "platform.yaml"
    spec = load_spec(spec_path)  # raises SpecError with every problem if it did not validate
    assert spec.name == "acme-ai" and spec.azure is not None and spec.aws is not None


def test_cdk_json_runs_the_shipped_app_with_the_flags_cdk_init_sets(tmp_path: Path) -> None:
    init_project(tmp_path / "p1")
    doc = json.loads((tmp_path / "p1" / "cdk.json").read_text())
    assert doc["app"] == CDK_APP
    context = dict(doc["context"])
    assert context.pop("skyrelay:spec") == "platform.yaml"
    # The pinned CDK CLI's init templates carry the flags `cdk init` writes into a new app.
    assert context == json.loads(CDK_INIT_FLAGS.read_text())


def test_pulumi_project_runs_the_shipped_program(tmp_path: Path) -> None:
    init_project(tmp_path / "p1")
    project = yaml.safe_load((tmp_path / "p1" / "Pulumi.yaml").read_text())
    assert project["name"] == "p1" and project["runtime"]["name"] == "python"
    main_file = tmp_path / "p1" / project["main"] / "__main__.py"
    assert "from skyrelay.pulumi.program import main" in main_file.read_text()
    lock = json.loads((tmp_path / "p1" / "package-lock.json").read_text())
    pinned = json.loads((tmp_path / "p1" / "package.json").read_text())["devDependencies"]
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == pinned["aws-cdk"]


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "p1"
    folder.mkdir()
    (folder / "cdk.json").write_text("{}")
    with pytest.raises(InitError, match="cdk.json already exist"):
        init_project(folder)
    assert [p.name for p in folder.iterdir()] == ["cdk.json"]
    assert (folder / "cdk.json").read_text() == "{}"


def test_init_on_the_command_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["init", str(tmp_path / "p1"), "--name", "team-ai"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "npm ci" in result.output
    assert load_spec(tmp_path / "p1" / "platform.yaml").name == "team-ai"
    again = runner.invoke(main, ["init", str(tmp_path / "p1")])
    assert again.exit_code == 2 and "never overwrites" in again.output
    bad = runner.invoke(main, ["init", str(tmp_path / "p2"), "--name", "Not_Valid"])
    assert bad.exit_code == 2 and "platform name 'Not_Valid'" in bad.output
    assert not (tmp_path / "p2").exists()
