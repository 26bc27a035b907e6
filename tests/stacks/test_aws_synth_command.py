"""``skyrelay synth``: the real CDK CLI (npm, pinned) into cdk.out/, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.synth import SynthError, run_synth

REPO = Path(__file__).resolve().parents[2]
MINIMAL = REPO / "examples" / "minimal.yaml"
needs_cli = pytest.mark.skipif(not (REPO / "node_modules" / ".bin" / "cdk").exists(),
                               reason="the CDK CLI is installed by `npm ci` (make install)")


def test_the_pinned_cli_reads_the_libraries_cloud_assembly() -> None:
    # aws-cdk-lib 2.275 writes cloud assembly schema 55, which CLI 3.0.0 cannot read.
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["aws-cdk"]
    major, minor = (int(x) for x in pinned.split(".")[:2])
    assert (major, minor) >= (2, 1148) and major == 2


@needs_cli
@pytest.mark.slow
def test_synth_writes_templates_and_replaces_the_old_output(tmp_path: Path) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    (out / "stale.template.json").write_text("{}")
    result = run_synth(MINIMAL, out, project_root=REPO)
    names = sorted(p.name for p in result.templates)
    assert names == ["minimal-us-east-1-bedrock.template.json",
                     "minimal-us-east-1-gateway.template.json",
                     "minimal-us-east-1-network.template.json",
                     "minimal-us-east-1-observability.template.json"]
    assert not (out / "stale.template.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cdk.out"]  # no staging left behind


@needs_cli
def test_a_failing_step_leaves_the_previous_output_untouched(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    out = tmp_path / "cdk.out"
    out.mkdir()
    (out / "previous.template.json").write_text('{"kept": true}')
    monkeypatch.setenv("SKYRELAY_CDK_CLI", "false")  # a CLI that fails at once
    with pytest.raises(SynthError, match="cdk synth failed"):
        run_synth(MINIMAL, out, project_root=REPO)
    assert json.loads((out / "previous.template.json").read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["cdk.out"]


def test_an_extra_step_writes_into_the_same_all_or_nothing_output(tmp_path: Path) -> None:
    def write_note(ctx) -> None:  # type: ignore[no-untyped-def]
        (ctx.staging / "note.json").write_text(json.dumps({"spec": ctx.spec.name}))
        ctx.notes.append("wrote note.json")

    def explode(ctx) -> None:  # type: ignore[no-untyped-def]
        raise SynthError("boom")

    out = tmp_path / "out"
    result = run_synth(MINIMAL, out, project_root=REPO, steps=[write_note])
    assert json.loads((out / "note.json").read_text()) == {"spec": "minimal"}
    assert result.notes == ("wrote note.json",)
    with pytest.raises(SynthError):
        run_synth(MINIMAL, out, project_root=REPO, steps=[write_note, explode])
    assert (out / "note.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cli_rejects_a_bad_spec_before_synthesizing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad Name\n")
    result = CliRunner().invoke(main, ["synth", str(bad), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert not (tmp_path / "o").exists()


def test_missing_cli_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "cdk.json").write_text("{}")
    (tmp_path / "app.py").write_text("")
    with pytest.raises(SynthError, match="npm ci"):
        run_synth(MINIMAL, tmp_path / "cdk.out", project_root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.py", "cdk.json"]


def test_the_cdk_cli_gets_no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CDK CLI signs an STS call with any credentials it finds, even with --no-lookups:
    synth is offline, so it is given none (found by tests/reliability/test_secrets.py)."""
    from skyrelay.synth import cdk_environment

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSYNTH")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "synth-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "synth-token")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = cdk_environment()
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE"} & set(env)
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"] == "/dev/null"
    assert env["AWS_REGION"] == "eu-west-1"  # everything else passes through
