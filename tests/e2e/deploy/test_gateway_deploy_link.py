"""``skyrelay link``: deploy outputs carried across clouds, checked, and refused when wrong.

The fixtures are what the tools write after a deploy: ``cdk deploy --outputs-file`` JSON
(fixtures/cdk-outputs.json; gateway-outputs.json once the gateway stacks exist),
``pulumi stack output --json`` (fixtures/pulumi-outputs.json: the real program's outputs
under the offline mocks, checked against them below) and a stack config file. Nothing here
calls AWS or Azure.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfn_text import render
from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.gateway.config import GatewayConfig
from skyrelay.link import LinkError, config_json, load_linked_config
from skyrelay.spec import load_spec
from skyrelay.views.gateway_config import gateway_config

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).with_name("fixtures")
SPEC_PATH = REPO / "examples" / "platform.yaml"
SPEC = load_spec(SPEC_PATH)
REGIONS = ("us-east-1", "eu-central-1")
PRINCIPAL = "6f1d2c3b-4a59-4e8f-9d0c-1b2a3c4d5e6f"


@pytest.fixture
def work(tmp_path: Path) -> dict[str, Path]:
    """A Pulumi project folder with the stack config, the output files, an out folder."""
    pulumi_dir = tmp_path / "pulumi"
    pulumi_dir.mkdir()
    (pulumi_dir / "Pulumi.prod.yaml").write_text((FIXTURES / "Pulumi.prod.yaml").read_text())
    cdk = tmp_path / "cdk-outputs.json"
    cdk.write_text((FIXTURES / "cdk-outputs.json").read_text())
    pulumi = tmp_path / "pulumi-outputs.json"
    pulumi.write_text((FIXTURES / "pulumi-outputs.json").read_text())
    return {"root": tmp_path, "pulumi_dir": pulumi_dir, "cdk": cdk, "pulumi": pulumi,
            "out": tmp_path / "link", "stack_file": pulumi_dir / "Pulumi.prod.yaml"}


def link(work: dict[str, Path], *extra: str, cdk: Path | None = None,
         pulumi: Path | None = None, spec: Path = SPEC_PATH) -> Any:
    """Run ``skyrelay link`` in-process with the work folder's files."""
    args = ["link", str(spec), "--cdk-outputs", str(cdk or work["cdk"]),
            "--pulumi-outputs", str(pulumi or work["pulumi"]), "--stack", "prod",
            "--pulumi-dir", str(work["pulumi_dir"]), "--out", str(work["out"]), *extra]
    return CliRunner().invoke(main, args)


def snapshot_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove nothing changed)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_the_pulumi_fixture_is_what_the_program_exports(synthesized: Any) -> None:
    # The fixture is not invented: it is the Pulumi program's own stack outputs (run under
    # the offline mocks by skyrelay synth), so the link reads the real shape.
    plan = json.loads((synthesized.outdir / "azure-plan.json").read_text())
    assert json.loads((FIXTURES / "pulumi-outputs.json").read_text()) == plan["outputs"]


def test_round_trip_writes_egress_addresses_and_linked_configs(work: dict[str, Path]) -> None:
    result = link(work)
    assert result.exit_code == 0, result.output
    # Pulumi side: every gateway region's NAT addresses, sorted, in the stack config.
    stack = yaml.safe_load(work["stack_file"].read_text())["config"]
    assert stack["skyrelay:gatewayEgressIps"] == [
        "198.51.100.7", "198.51.100.23", "203.0.113.40", "203.0.113.41"]
    assert stack["skyrelay:gatewayPrincipalId"] == PRINCIPAL  # other keys kept as they were
    assert stack["azure-native:subscriptionId"] == "00000000-0000-0000-0000-000000000000"
    # Gateway side: per region, the derived config plus the links, exactly what the SSM
    # parameter holds after `cdk deploy -c skyrelay:link=<out>`.
    for region in REGIONS:
        path = work["out"] / f"acme-ai-{region}-gateway-config.json"
        linked = json.loads(path.read_text())
        links = linked.pop("links")
        assert linked == gateway_config(SPEC, region)  # only what this region can call
        assert links["platform"] == "acme-ai" and links["region"] == region
        assert links["config_parameter"] == "/skyrelay/acme-ai/gateway/config"
        assert links["azure"]["principal_id"] == PRINCIPAL
        assert links["azure"]["principal_type"] == "ServicePrincipal"
        account = links["azure"]["accounts"]["acme-openai-swc"]
        assert account["endpoint"] == "https://acme-openai-swc.openai.azure.com/"
        assert account["id"].endswith("/accounts/acme-openai-swc")
        assert "aws" not in links  # the gateway stack is not deployed yet
        assert links["egress_ips"] == {"us-east-1": ["198.51.100.23", "198.51.100.7"],
                                       "eu-central-1": ["203.0.113.41", "203.0.113.40"]}[region]
        # The gateway starts from it (unknown top-level keys are ignored) ...
        assert GatewayConfig.from_dict(json.loads(path.read_text())).name == "acme-ai"
        # ... the stack accepts it, and it fits the advanced-tier parameter.
        assert load_linked_config(work["out"], SPEC, region) == json.loads(path.read_text())
        assert len(config_json(json.loads(path.read_text())).encode()) <= 8192
    # It says exactly what it changed: the Pulumi key and two new files.
    changed = [line for line in result.output.splitlines() if line.startswith("changed ")]
    assert len(changed) == 3
    assert f"changed {work['stack_file']}: skyrelay:gatewayEgressIps: (unset) -> " \
           '["198.51.100.7", "198.51.100.23", "203.0.113.40", "203.0.113.41"]' in changed
    assert "cdk deploy -c skyrelay:link=" in result.output
    # A second run finds everything linked and changes nothing.
    before = snapshot_files(work["root"])
    again = link(work)
    assert again.exit_code == 0, again.output
    assert "nothing to change" in again.output
    assert snapshot_files(work["root"]) == before


def test_with_the_gateway_deployed_it_adds_its_role_and_the_direct_commands(
        work: dict[str, Path]) -> None:
    assert link(work).exit_code == 0
    cdk = json.loads(work["cdk"].read_text())
    cdk.update(json.loads((FIXTURES / "gateway-outputs.json").read_text()))
    work["cdk"].write_text(json.dumps(cdk))
    result = link(work)
    assert result.exit_code == 0, result.output
    role = cdk["acme-ai-us-east-1-gateway"]["TaskRoleArn"]
    # Only the us-east-1 config changed: it now names the gateway's AWS identity.
    assert [line for line in result.output.splitlines() if line.startswith("changed ")] == [
        f"changed {work['out'] / 'acme-ai-us-east-1-gateway-config.json'}: "
        f"links.aws: (unset) -> {json.dumps({'task_role_arn': role})}"]
    linked = json.loads((work["out"] / "acme-ai-us-east-1-gateway-config.json").read_text())
    assert linked["links"]["aws"] == {"task_role_arn": role}
    # For the running gateway: the exact put-parameter and restart commands.
    out = " ".join(result.output.split())
    assert (f"aws ssm put-parameter --region us-east-1 --name /skyrelay/acme-ai/gateway/config "
            f"--type String --tier Advanced --overwrite --value "
            f"file://{work['out'] / 'acme-ai-us-east-1-gateway-config.json'}") in out
    assert "aws ecs update-service --region us-east-1 --cluster " \
           "acme-ai-us-east-1-gateway-GatewayCluster47699BCF-AbCdEf" in out


def test_dry_run_shows_the_changes_and_writes_nothing(work: dict[str, Path]) -> None:
    before = snapshot_files(work["root"])
    result = link(work, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count("would change ") == 3
    assert snapshot_files(work["root"]) == before


def test_the_console_script_runs_the_same_link(work: dict[str, Path]) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "skyrelay"), "link", str(SPEC_PATH),
         "--cdk-outputs", str(work["cdk"]), "--pulumi-outputs", str(work["pulumi"]),
         "--stack", "prod", "--pulumi-dir", str(work["pulumi_dir"]), "--out", str(work["out"])],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(list(work["out"].glob("*.json"))) == 2


def _edit(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


BAD_INPUTS = {
    "cdk outputs missing": (lambda w: w["cdk"].unlink(), "CDK outputs: cannot read"),
    "cdk outputs not JSON": (lambda w: w["cdk"].write_text("{not json"),
                             "CDK outputs (", ),
    "cdk outputs a list": (lambda w: w["cdk"].write_text("[]"), "expected a JSON object"),
    "another platform": (lambda w: w["cdk"].write_text(json.dumps(
        {"other-us-east-1-network": {"GatewayEgressIps": "198.51.100.1"}})),
        "no stack of platform 'acme-ai'"),
    "network stack missing": (lambda w: _edit(w["cdk"], lambda d: d.pop(
        "acme-ai-eu-central-1-network")), "stack 'acme-ai-eu-central-1-network' is missing"),
    "egress output missing": (lambda w: _edit(w["cdk"], lambda d: d[
        "acme-ai-us-east-1-network"].pop("GatewayEgressIps")), "has no 'GatewayEgressIps'"),
    "private egress address": (lambda w: _edit(w["cdk"], lambda d: d[
        "acme-ai-us-east-1-network"].update(GatewayEgressIps="10.10.0.5")),
        "10.10.0.5 is not a public address"),
    "egress not an address": (lambda w: _edit(w["cdk"], lambda d: d[
        "acme-ai-us-east-1-network"].update(GatewayEgressIps="198.51.100.7,nat-gw")),
        "'nat-gw' is not an IP address"),
    "pulumi outputs malformed": (lambda w: w["pulumi"].write_text('{"accounts": []}'),
                                 "expected objects 'accounts' and 'targets'"),
    "azure account missing": (lambda w: _edit(w["pulumi"], lambda d: d["accounts"].pop(
        "acme-openai-swc")), "accounts ['acme-openai-swc'] are missing"),
    "endpoint differs (stale)": (lambda w: _edit(w["pulumi"], lambda d: d["accounts"][
        "acme-openai-swc"].update(endpoint="https://old-name.openai.azure.com/")),
        "but the spec derives 'https://acme-openai-swc.openai.azure.com/'"),
    "account of another spec": (lambda w: _edit(w["pulumi"], lambda d: d["accounts"].update(
        {"someone-else": {}})), "accounts ['someone-else'] are not in the spec"),
    "deployment missing": (lambda w: _edit(w["pulumi"], lambda d: d["targets"].pop(
        "azure:acme-openai-swc/gpt-4o")), "targets['azure:acme-openai-swc/gpt-4o'] is missing"),
    "stack config missing": (lambda w: w["stack_file"].unlink(), "does not exist: run "
                             "`pulumi stack init`"),
    "principal not set": (lambda w: w["stack_file"].write_text("config: {}\n"),
                          "skyrelay:gatewayPrincipalId is not set"),
    "gateway parameter differs": (lambda w: _edit(w["cdk"], lambda d: d.update({
        "acme-ai-us-east-1-gateway": {"ConfigParameterName": "/other/config",
                                      "TaskRoleArn": "arn:aws:iam::1:role/x"}})),
        "ConfigParameterName is '/other/config'"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_or_stale_inputs_are_refused_and_nothing_changes(work: dict[str, Path],
                                                             case: str) -> None:
    spoil, message = BAD_INPUTS[case]
    spoil(work)
    before = snapshot_files(work["root"])
    result = link(work)
    assert result.exit_code == 2, result.output
    assert "skyrelay link changed nothing" in result.stderr
    assert message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert snapshot_files(work["root"]) == before
    assert not work["out"].exists()


def test_every_problem_is_listed_at_once(work: dict[str, Path]) -> None:
    _edit(work["cdk"], lambda d: d.pop("acme-ai-eu-central-1-network"))
    _edit(work["pulumi"], lambda d: d["accounts"]["acme-openai-swc"].update(endpoint="x"))
    work["stack_file"].write_text("config: {}\n")
    result = link(work)
    assert result.exit_code == 2
    assert "3 problem(s)" in result.stderr


def test_a_spec_with_azure_needs_the_stack_name(work: dict[str, Path]) -> None:
    result = CliRunner().invoke(main, ["link", str(SPEC_PATH), "--cdk-outputs",
                                       str(work["cdk"]), "--out", str(work["out"])])
    assert result.exit_code == 2
    assert "name the Pulumi stack with --stack" in result.stderr


def test_without_an_outputs_file_it_asks_pulumi(work: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # No --pulumi-outputs: `pulumi stack output --json --stack prod` runs in the project
    # folder. Without the Pulumi CLI on PATH that is a clear error ...
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    args = ["link", str(SPEC_PATH), "--cdk-outputs", str(work["cdk"]), "--stack", "prod",
            "--pulumi-dir", str(work["pulumi_dir"]), "--out", str(work["out"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "no `pulumi` on PATH" in result.stderr
    # ... and with one, its JSON is read (a stand-in CLI that prints the fixture and
    # records how it was called).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    script = bin_dir / "pulumi"
    script.write_text(f"#!/bin/sh\necho \"$PWD $@\" > {calls}\ncat {work['pulumi']}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin:/bin")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + result.stderr
    assert calls.read_text().split() == [str(work["pulumi_dir"]), "stack", "output", "--json",
                                         "--stack", "prod"]


def test_a_stale_link_is_refused_at_synth(work: dict[str, Path], tmp_path: Path) -> None:
    assert link(work).exit_code == 0
    # The spec changed after the link (a route's timeout): the linked config is stale.
    text = SPEC_PATH.read_text().replace("timeout_seconds: 20", "timeout_seconds: 25")
    changed = tmp_path / "platform.yaml"
    changed.write_text(text)
    with pytest.raises(LinkError, match="stale .*routes.* run `skyrelay link` again"):
        load_linked_config(work["out"], load_spec(changed), "us-east-1")
    # Another region's file, and a missing one, are refused too.
    path = work["out"] / "acme-ai-us-east-1-gateway-config.json"
    other = json.loads(path.read_text())
    other["links"]["region"] = "eu-central-1"
    path.write_text(json.dumps(other))
    with pytest.raises(LinkError, match="not 'acme-ai' in 'us-east-1'"):
        load_linked_config(work["out"], SPEC, "us-east-1")
    with pytest.raises(LinkError, match="cannot read"):
        load_linked_config(tmp_path / "nowhere", SPEC, "us-east-1")


def test_the_gateway_stack_stores_the_linked_config(work: dict[str, Path]) -> None:
    # `cdk deploy -c skyrelay:link=<out>`: the parameter then holds the linked config.
    import aws_cdk as cdk

    from skyrelay.stacks.platform import add_region_stacks

    assert link(work).exit_code == 0
    app = cdk.App(context={"skyrelay:link": str(work["out"])})
    stacks = add_region_stacks(app, SPEC, "eu-central-1")
    assert stacks.gateway is not None
    value = app.synth().get_stack_by_name(stacks.gateway.stack_name).template["Resources"]
    (param,) = [r for r in value.values() if r["Type"] == "AWS::SSM::Parameter"]
    linked = json.loads((work["out"] / "acme-ai-eu-central-1-gateway-config.json").read_text())
    stored = json.loads(render(param["Properties"]["Value"]))
    # The linked config, plus the region's guardrail ids the stack fills in at deploy.
    assert list(stored.pop("guardrails")) == ["strict"]
    assert config_json(stored) == config_json(linked)
    assert stored["links"]["azure"]["principal_id"] == PRINCIPAL
