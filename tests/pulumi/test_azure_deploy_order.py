"""The README's deploy order, end to end, with output files shaped like the tools write them.

``cdk deploy <network stacks> --outputs-file`` JSON -> ``skyrelay link`` (the Pulumi stack
has no outputs yet: ``pulumi stack output --json`` prints ``{}``) writes the NAT addresses
into ``Pulumi.prod.yaml`` -> ``pulumi up`` (the real program under mocks, reading that very
stack file) -> its outputs as ``pulumi stack output --json`` prints them -> a second
``skyrelay link`` wires them into the gateway configs. Before the first link the program
refuses, naming the link: that is the deadlock the order breaks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from skyrelay.cli import main
from skyrelay.link import linked_config_filename
from skyrelay.pulumi.offline import StackConfigError, read_stack_config, run_offline
from skyrelay.pulumi.program import ProgramError
from skyrelay.pulumi.type_tokens import ACCOUNT

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "platform.yaml"
PRINCIPAL = "6f1d2c3b-4a59-4e8f-9d0c-1b2a3c4d5e6f"
#: What `cdk deploy acme-ai-us-east-1-network acme-ai-eu-central-1-network --outputs-file`
#: writes: stack name -> output name -> string.
NETWORK_OUTPUTS = {
    "acme-ai-us-east-1-network": {"VpcId": "vpc-0a1b2c3d4e5f60718",
                                  "GatewayEgressIps": "198.51.100.23,198.51.100.7"},
    "acme-ai-eu-central-1-network": {"VpcId": "vpc-0f1e2d3c4b5a69788",
                                     "GatewayEgressIps": "203.0.113.41,203.0.113.40"},
}
EGRESS = ["198.51.100.7", "198.51.100.23", "203.0.113.40", "203.0.113.41"]


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    """A platform repository after `pulumi stack init prod` and the principal's config set."""
    pulumi_dir = tmp_path / "pulumi"
    pulumi_dir.mkdir()
    stack = pulumi_dir / "Pulumi.prod.yaml"
    stack.write_text(yaml.safe_dump({"config": {
        "azure-native:location": "swedencentral",
        "skyrelay:gatewayPrincipalId": PRINCIPAL,
        "skyrelay:spec": str(SPEC)}}))
    cdk = tmp_path / "cdk-outputs.json"
    cdk.write_text(json.dumps(NETWORK_OUTPUTS, indent=2))
    return {"pulumi_dir": pulumi_dir, "stack": stack, "cdk": cdk, "out": tmp_path / "link",
            "pulumi_outputs": tmp_path / "pulumi-outputs.json"}


def _link(p: dict[str, Path]) -> Any:
    return CliRunner().invoke(main, [
        "link", str(SPEC), "--cdk-outputs", str(p["cdk"]),
        "--pulumi-outputs", str(p["pulumi_outputs"]), "--stack", "prod",
        "--pulumi-dir", str(p["pulumi_dir"]), "--out", str(p["out"])])


def test_link_up_link_terminates(project: dict[str, Path]) -> None:
    # `pulumi up` before any link: refused, and the message names the way out.
    with pytest.raises(ProgramError) as info:
        run_offline(SPEC, stack_config=project["stack"])
    assert "skyrelay:gatewayEgressIps is empty" in str(info.value)
    assert "skyrelay link --cdk-outputs" in str(info.value)

    # 1. link right after the network stacks; the new stack has no outputs.
    project["pulumi_outputs"].write_text("{}\n")
    first = _link(project)
    assert first.exit_code == 0, first.output
    config = yaml.safe_load(project["stack"].read_text())["config"]
    assert config["skyrelay:gatewayEgressIps"] == EGRESS
    assert config["azure-native:location"] == "swedencentral"  # other keys kept
    assert not project["out"].exists()  # no gateway config without the Azure outputs
    assert "pulumi up --stack prod" in first.output
    assert "skyrelay link" in first.output.split("next:", 1)[1]

    # 2. pulumi up with that stack config: the accounts admit exactly the NAT addresses.
    graph = run_offline(SPEC, stack_config=project["stack"])
    (account,) = graph.of_type(ACCOUNT)
    assert [r["value"] for r in account.inputs["properties"]["networkAcls"]["ipRules"]] == EGRESS
    assert graph.config["gatewayPrincipalId"] == PRINCIPAL  # the stack's, not a placeholder
    assert graph.as_dict()["placeholders"] == []
    project["pulumi_outputs"].write_text(json.dumps(graph.outputs, indent=2))

    # 3. link again: the gateway configs carry the Azure account and the principal.
    second = _link(project)
    assert second.exit_code == 0, second.output
    for region in ("us-east-1", "eu-central-1"):
        linked = json.loads((project["out"] / linked_config_filename("acme-ai", region))
                            .read_text())
        azure = linked["links"]["azure"]
        assert azure["principal_id"] == PRINCIPAL
        assert azure["accounts"]["acme-openai-swc"]["endpoint"] == \
            "https://acme-openai-swc.openai.azure.com/"
        assert azure["accounts"]["acme-openai-swc"]["id"] == \
            graph.outputs["accounts"]["acme-openai-swc"]["id"]
    assert "cdk deploy -c skyrelay:link=" in second.output

    # 4. a third link changes nothing: the order has a fixed point.
    third = _link(project)
    assert third.exit_code == 0 and "nothing to change" in third.output


def test_plan_reads_the_stack_config(project: dict[str, Path]) -> None:
    stack = yaml.safe_load(project["stack"].read_text())
    stack["config"]["skyrelay:gatewayEgressIps"] = ["198.51.100.99"]
    stack["config"]["skyrelay:gatewayPrincipalType"] = "Group"
    project["stack"].write_text(yaml.safe_dump(stack))
    res = CliRunner().invoke(main, ["plan", "--json", str(SPEC),
                                    "--stack-config", str(project["stack"])])
    assert res.exit_code == 0, res.output
    out = json.dumps(json.loads(res.stdout)["azure_resources"]["tree"])  # warnings: stderr
    assert "allow 198.51.100.99" in out and "203.0.113.10" not in out  # no placeholder
    assert f"Cognitive Services OpenAI User -> Group {PRINCIPAL}" in out


def test_stack_config_refusals(tmp_path: Path) -> None:
    secret = tmp_path / "Pulumi.s.yaml"
    secret.write_text("config:\n  skyrelay:gatewayPrincipalId:\n    secure: AAABAL==\n")
    with pytest.raises(StackConfigError, match="gatewayPrincipalId is a secret"):
        read_stack_config(secret)
    relative = tmp_path / "Pulumi.r.yaml"
    relative.write_text("config:\n  skyrelay:spec: ../platform.yaml\n  aws:region: x\n")
    assert read_stack_config(relative) == {"spec": str((tmp_path.parent / "platform.yaml")
                                                       .resolve())}
