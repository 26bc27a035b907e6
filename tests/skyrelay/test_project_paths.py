"""Relative spec paths resolve against the file that names them, never the working directory
or ``site-packages``; a missing spec is an error, never a silently smaller rule set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skyrelay.cdk_app import spec_location
from skyrelay.project import ProjectError, default_spec, pulumi_project_dir


def _project(root: Path, spec: str = "specs/platform.yaml") -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "cdk.json").write_text(json.dumps({"context": {"skyrelay:spec": spec}}))
    return root


def test_the_default_spec_is_relative_to_cdk_json_from_any_subfolder(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert default_spec(root / "sub" / "deeper") == root / "specs" / "platform.yaml"
    assert spec_location("other.yaml", root / "sub") == root / "other.yaml"
    assert spec_location("/abs/x.yaml", root / "sub") == Path("/abs/x.yaml")


def test_no_cdk_json_or_no_spec_key_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="skyrelay init"):
        default_spec(tmp_path)
    (tmp_path / "cdk.json").write_text(json.dumps({"context": {}}))
    with pytest.raises(ProjectError, match="no 'skyrelay:spec'"):
        default_spec(tmp_path)
    (tmp_path / "cdk.json").write_text("{not json")
    with pytest.raises(ProjectError, match="cannot read it"):
        default_spec(tmp_path)


def test_the_pulumi_program_resolves_against_its_project_folder(tmp_path: Path) -> None:
    from skyrelay.pulumi.program import ProgramError
    from skyrelay.pulumi.program import spec_location as pulumi_spec_location

    root = _project(tmp_path)
    project = root / "sub"  # a Pulumi.yaml one level below cdk.json, as in this repository
    assert pulumi_spec_location("../a.yaml", project) == root / "a.yaml"
    assert pulumi_spec_location(None, project) == root / "specs" / "platform.yaml"
    with pytest.raises(ProgramError, match="pulumi config set skyrelay:spec"):
        pulumi_spec_location(None, tmp_path.parent / "elsewhere")


def test_the_policy_pack_refuses_to_run_without_its_spec(tmp_path: Path) -> None:
    from skyrelay.policies.crossguard.validations import PolicySpecError, spec_for_pack

    with pytest.raises(PolicySpecError, match="SKYRELAY_SPEC"):
        spec_for_pack({}, tmp_path)
    with pytest.raises(PolicySpecError, match="no such file"):
        spec_for_pack({"SKYRELAY_SPEC": str(tmp_path / "missing.yaml")}, tmp_path)
    root = _project(tmp_path)
    assert spec_for_pack({}, root / "sub") == root / "specs" / "platform.yaml"
    (root / "x.yaml").write_text("name: x\n")
    assert spec_for_pack({"SKYRELAY_SPEC": str(root / "x.yaml")}, tmp_path) == root / "x.yaml"


def test_link_finds_the_pulumi_project_of_either_layout(tmp_path: Path) -> None:
    from skyrelay.init_project import init_project

    assert pulumi_project_dir(tmp_path) == tmp_path / "pulumi"  # this repository's layout
    init_project(tmp_path / "p")
    assert pulumi_project_dir(tmp_path / "p") == tmp_path / "p"  # skyrelay init's layout
