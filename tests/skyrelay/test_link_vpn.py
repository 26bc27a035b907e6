"""``skyrelay link``'s VPN steps on recorded outputs (tests/skyrelay/fixtures/vpn_platform).

Step 2 (Pulumi outputs -> the link folder's AWS values) and step 4 (the VPN stacks' outputs
plus a DescribeVpnConnections answer -> the tunnels in the Pulumi stack config and one
``pulumi config set --secret`` per key, the key on standard input). The clouds are what is
stood in for: the AWS clients check every request against botocore's service model
(tests/support/aws_oracle.py), and ``pulumi`` is a recorder of argv and stdin.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_oracle import validate_call
from click.testing import CliRunner
from vpn_platform import ACCOUNT, FIXTURES, fixture, private_vpn_spec

from skyrelay.link import LinkError, LinkInputs, apply_link, next_steps, plan_link
from skyrelay.link_vpn import VpnInputs, aws_vpn_inputs, load_vpn_values
from skyrelay.vpn_link import TUNNELS_KEY

SPEC = private_vpn_spec()
KEYS = {arn: f"Key{n}.from_secrets_manager_{n:02d}" for n, arn in enumerate(
    arn for stack in fixture("vpn-stack-outputs.json").values()
    for arn in stack["VpnKeySecretArns"].split(","))}


class FakePulumi:
    """Records every ``pulumi`` call; ``config get`` answers from what was set."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[str, ...], str | None]] = []
        self.config: dict[str, str] = {}

    def __call__(self, argv: Any, stdin: str | None) -> tuple[int, str]:
        argv = tuple(argv)
        self.calls.append((argv, stdin))
        if argv[1:3] == ("config", "get"):
            key = argv[-1]
            return (0, self.config[key] + "\n") if key in self.config else (1, "")
        if argv[1:4] == ("config", "set", "--secret"):
            assert stdin is not None
            self.config[argv[-1]] = stdin
            return 0, ""
        raise AssertionError(f"unexpected pulumi call {argv}")


@pytest.fixture
def work(tmp_path: Path) -> dict[str, Path]:
    shutil.copy(FIXTURES / "Pulumi.prod.yaml", tmp_path / "Pulumi.prod.yaml")
    return {"stack": tmp_path / "Pulumi.prod.yaml", "out": tmp_path / "link"}


def _cdk(with_vpn: bool = True) -> dict[str, Any]:
    return {**fixture("cdk-outputs.json"), **(fixture("vpn-stack-outputs.json") if with_vpn
                                              else {})}


def _link(work: dict[str, Path], cdk: dict[str, Any], pulumi: dict[str, Any] | None = None,
          vpn: VpnInputs | None = None) -> Any:
    plan = plan_link(SPEC, LinkInputs(cdk, pulumi or fixture("pulumi-outputs.json"),
                                      work["stack"], vpn), work["out"])
    return plan, apply_link(plan)


def _inputs(pulumi: FakePulumi, described: Any = None) -> VpnInputs:
    return VpnInputs(described=described or fixture("describe-vpn-connections.json"),
                     get_secret=KEYS.__getitem__, run=pulumi)


def test_step_2_writes_the_aws_values_and_a_repeat_changes_nothing(work: dict[str, Path]) -> None:
    plan, changes = _link(work, _cdk(with_vpn=False))
    assert load_vpn_values(work["out"], SPEC) == {ACCOUNT: {
        "remoteGatewayIps": ["20.61.10.1", "20.61.10.2"], "resolverIp": "10.100.0.164",
        "remoteAsn": 65515}}
    assert any("vpn-link.json" in str(c) for c in changes)
    steps = "\n".join(next_steps(plan, work["out"], _cdk(False), "prod"))
    assert "acme-ai-us-east-1-vpn acme-ai-eu-central-1-vpn" in steps and "step 3" in steps
    _, again = _link(work, _cdk(with_vpn=False))
    assert again == []


def test_step_2_before_the_vpn_exists_on_azure_names_pulumi_up(work: dict[str, Path]) -> None:
    outputs = fixture("pulumi-outputs.json")
    del outputs["accounts"][ACCOUNT]["vpn"]
    with pytest.raises(LinkError, match=r"accounts.acme-openai-swc.vpn is missing: run "
                                        r"`pulumi up` first \(step 1\)"):
        _link(work, _cdk(False), outputs)
    assert not work["out"].exists()  # nothing written


def test_step_4_writes_tunnels_and_sets_each_key_on_stdin_only(work: dict[str, Path]) -> None:
    pulumi = FakePulumi()
    plan, changes = _link(work, _cdk(), vpn=_inputs(pulumi))
    config = yaml.safe_load(work["stack"].read_text())["config"]
    tunnels = config[TUNNELS_KEY][ACCOUNT]
    assert [(t["peer"], t["instance"], t["tunnel"]) for t in tunnels] == [
        (r, i, t) for r in ("us-east-1", "eu-central-1") for i in (0, 1) for t in (0, 1)]
    assert len({t["outsideIp"] for t in tunnels}) == 8
    assert config["skyrelay:gatewayEgressIps"]  # the egress link still ran in the same file
    sets = [(argv, stdin) for argv, stdin in pulumi.calls if argv[2] == "set"]
    assert sorted(stdin for _, stdin in sets) == sorted(KEYS.values())
    for argv, _ in sets:  # keys never in argv, in the file we write, or in a change
        assert argv[:5] == ("pulumi", "config", "set", "--secret", "--stack")
        assert not set(argv) & set(KEYS.values())
    text = work["stack"].read_text() + json.dumps([str(c) for c in changes]) + repr(plan.vpn)
    assert not [k for k in KEYS.values() if k in text]
    assert "DescribeAlsoReturnsTheKeyNeverUseIt" not in text
    assert any("pulumi up" in s for s in next_steps(plan, work["out"], _cdk(), "prod"))
    # A repeated link with the same outputs and keys changes nothing (the order terminates).
    _, again = _link(work, _cdk(), vpn=_inputs(pulumi))
    assert again == [] and [c for c in pulumi.calls if c[0][2] == "set"] == sets


def test_step_4_stale_aws_built_for_old_azure_addresses(work: dict[str, Path]) -> None:
    outputs = fixture("pulumi-outputs.json")
    outputs["accounts"][ACCOUNT]["vpn"]["publicIps"] = ["20.61.10.9", "20.61.10.2"]
    with pytest.raises(LinkError) as info:
        _link(work, _cdk(), outputs, _inputs(FakePulumi()))
    assert any("(stale): run `skyrelay link` then `cdk deploy` again (steps 2-3)" in p
               for p in info.value.problems)
    assert not work["out"].exists()


def test_step_4_missing_output_and_gone_connection_name_the_step(work: dict[str, Path]) -> None:
    cdk = _cdk()
    del cdk["acme-ai-eu-central-1-vpn"]["VpnKeySecretArns"]
    described = copy.deepcopy(fixture("describe-vpn-connections.json"))
    described["VpnConnections"][0]["State"] = "deleted"
    with pytest.raises(LinkError) as info:
        _link(work, cdk, vpn=_inputs(FakePulumi(), described))
    problems = "\n".join(info.value.problems)
    assert "CDK outputs: acme-ai-eu-central-1-vpn.VpnKeySecretArns is missing" in problems
    assert "vpn-0a1b2c3d4e5f61000 is deleted in DescribeVpnConnections (stale outputs): run " \
           "`cdk deploy` again" in problems


def test_step_4_refuses_a_stack_built_in_another_regions_slot(work: dict[str, Path]) -> None:
    cdk = _cdk()
    east, central = "acme-ai-us-east-1-vpn", "acme-ai-eu-central-1-vpn"
    cdk[central]["VpnTunnelInsideCidrs"] = cdk[east]["VpnTunnelInsideCidrs"]
    with pytest.raises(LinkError, match=r"peer eu-central-1 owns"):
        _link(work, cdk, vpn=_inputs(FakePulumi()))


class Boto3StandIn:
    """``boto3.client`` for ec2 and secretsmanager: each request checked against botocore's
    model of the operation, answered from the recorded files."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, dict[str, Any]]] = []

    def __call__(self, service: str, region_name: str) -> Any:
        outer = self

        class Client:
            def describe_vpn_connections(self, **params: Any) -> Any:
                assert validate_call("ec2", "DescribeVpnConnections", params) == []
                outer.requests.append((service, region_name, "DescribeVpnConnections", params))
                wanted = set(params["VpnConnectionIds"])
                return {"VpnConnections": [c for c in fixture("describe-vpn-connections.json")[
                    "VpnConnections"] if c["VpnConnectionId"] in wanted]}

            def get_secret_value(self, **params: Any) -> Any:
                assert validate_call("secretsmanager", "GetSecretValue", params) == []
                outer.requests.append((service, region_name, "GetSecretValue", params))
                return {"ARN": params["SecretId"], "SecretString": KEYS[params["SecretId"]]}

        return Client()


def test_without_a_recording_aws_is_asked_per_region_with_valid_requests(
        work: dict[str, Path]) -> None:
    boto = Boto3StandIn()
    inputs = aws_vpn_inputs(None, work["stack"].parent, client=boto)
    inputs.run = FakePulumi()
    _link(work, _cdk(), vpn=inputs)
    describes = [(r, p["VpnConnectionIds"]) for s, r, op, p in boto.requests
                 if op == "DescribeVpnConnections"]
    assert describes == [
        ("us-east-1", ["vpn-0a1b2c3d4e5f61000", "vpn-0a1b2c3d4e5f61001"]),
        ("eu-central-1", ["vpn-0a1b2c3d4e5f62000", "vpn-0a1b2c3d4e5f62001"])]
    # Each key is read in its own region (the ARN's), once.
    reads = [(r, p["SecretId"]) for s, r, op, p in boto.requests if op == "GetSecretValue"]
    assert sorted(a for _, a in reads) == sorted(KEYS)
    assert all(arn.split(":")[3] == region for region, arn in reads)


def test_cli_step_2_with_recorded_files(work: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from skyrelay.cli import main

    spec_file = tmp_path / "platform-vpn.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC.model_dump(mode="json", exclude_unset=True)))
    monkeypatch.setattr("skyrelay.cli.load_or_exit", lambda *_a, **_k: (spec_file, SPEC))
    cdk, pulumi = tmp_path / "cdk.json.out", tmp_path / "pulumi.json"
    cdk.write_text(json.dumps(_cdk(False)))
    pulumi.write_text(json.dumps(fixture("pulumi-outputs.json")))
    result = CliRunner().invoke(main, [
        "link", str(spec_file), "--cdk-outputs", str(cdk), "--pulumi-outputs", str(pulumi),
        "--stack", "prod", "--pulumi-dir", str(work["stack"].parent), "--out", str(work["out"]),
        "--vpn-connections", str(FIXTURES / "describe-vpn-connections.json")])
    assert result.exit_code == 0, result.output
    assert "acme-ai-vpn-link.json: new file" in result.output
    assert "step 3: the AWS end of the private VPN" in result.output
