"""The VPN link flow on recorded outputs: Pulumi -> AWS, AWS (+ DescribeVpnConnections) -> Azure.

The recorded files under fixtures/vpn_link are what ``pulumi stack output --json``,
``cdk deploy --outputs-file`` and ``ec2:DescribeVpnConnections`` return for one account and
one gateway region; the DescribeVpnConnections answer is checked against botocore's model
of that operation's output, and the Secrets Manager client stand-in checks every request
against botocore's model (the cloud is what is mocked, nothing else).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from skyrelay.vpn_link import (
    TUNNELS_KEY,
    AwsVpnOutputs,
    AzureVpnOutputs,
    VpnLinkError,
    aws_link_values,
    azure_tunnels,
    secret_config_key,
    secret_settings,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vpn_link"
STACK = "demo-eu-west-1-vpn"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class SecretsManagerStandIn:
    """Answers GetSecretValue from a dict after validating the request against botocore."""

    def __init__(self, values: dict[str, str]) -> None:
        import botocore.session
        from botocore.validate import ParamValidator

        model = botocore.session.get_session().get_service_model("secretsmanager")
        self._shape = model.operation_model("GetSecretValue").input_shape
        self._validator = ParamValidator()
        self.values, self.calls = values, []

    def get_secret_value(self, **params: Any) -> dict[str, Any]:
        report = self._validator.validate(params, self._shape)
        assert not report.has_errors(), report.generate_report()
        self.calls.append(params)
        return {"ARN": params["SecretId"], "SecretString": self.values[params["SecretId"]]}


def test_recorded_describe_answer_matches_botocores_output_model() -> None:
    # If the recording drifted from what EC2 returns, every test below would prove nothing.
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("ec2")
    shape = model.operation_model("DescribeVpnConnections").output_shape
    report = ParamValidator().validate(_load("describe_vpn_connections.json"), shape)
    assert not report.has_errors(), report.generate_report()
    broken = _load("describe_vpn_connections.json")
    broken["VpnConnections"][0]["Options"]["TunnelOptions"][0]["OutsideIpAddress"] = 7
    assert ParamValidator().validate(broken, shape).has_errors()


def test_step_2_gives_aws_the_azure_addresses_resolver_and_asn() -> None:
    values = aws_link_values(_load("pulumi_outputs.json"), ["contoso-eu"])
    assert values == {"contoso-eu": {"remoteGatewayIps": ["20.61.10.1", "20.61.10.2"],
                                     "resolverIp": "10.100.1.36", "remoteAsn": 65515}}


def test_step_2_before_pulumi_up_names_the_missing_step() -> None:
    outputs = _load("pulumi_outputs.json")
    del outputs["accounts"]["contoso-eu"]["vpn"]
    with pytest.raises(VpnLinkError, match=r"accounts.contoso-eu.vpn is missing: run `pulumi up`"):
        aws_link_values(outputs, ["contoso-eu"])


def test_step_2_refuses_addresses_that_cannot_be_the_gateways() -> None:
    outputs = _load("pulumi_outputs.json")
    outputs["accounts"]["contoso-eu"]["vpn"].update(publicIps=["10.0.0.1", "20.61.10.2"],
                                                    resolverIp="8.8.8.8")
    with pytest.raises(VpnLinkError) as info:
        aws_link_values(outputs, ["contoso-eu"])
    assert len(info.value.problems) == 2  # every problem at once, not the first only


def _tunnels(describe: Any | None = None, azure_ips: list[str] | None = None) -> list[Any]:
    aws = AwsVpnOutputs.from_stack_outputs(_load("cdk_outputs.json")[STACK], STACK)
    azure = AzureVpnOutputs.from_account_outputs(_load("pulumi_outputs.json"), "contoso-eu")
    return azure_tunnels(aws, azure_ips or list(azure.public_ips),
                         describe or _load("describe_vpn_connections.json"), peer="eu-west-1")


def test_step_4_maps_each_aws_tunnel_onto_its_azure_instance() -> None:
    tunnels = _tunnels()
    # Connection i was built against Azure address i; tunnels are matched by inside /30,
    # whatever order EC2 lists them in (connection 1 lists tunnel 2 first).
    assert [t.config() for t in tunnels] == [
        {"peer": "eu-west-1", "instance": 0, "tunnel": 0, "outsideIp": "52.48.10.1"},
        {"peer": "eu-west-1", "instance": 0, "tunnel": 1, "outsideIp": "52.48.10.2"},
        {"peer": "eu-west-1", "instance": 1, "tunnel": 0, "outsideIp": "34.250.7.1"},
        {"peer": "eu-west-1", "instance": 1, "tunnel": 1, "outsideIp": "34.250.7.2"}]
    assert tunnels[1].key_arn.endswith(":secret:ToAzureConnection1Tunnel2Key-Ef34Gh")
    # DescribeVpnConnections also answers the keys; nothing of it reaches the config.
    assert "DescribeAlsoReturnsTheKeyNeverUseIt" not in json.dumps({TUNNELS_KEY: [
        t.config() for t in tunnels]})


def test_step_4_with_aws_built_against_old_azure_addresses_is_stale() -> None:
    # Azure's gateway was rebuilt (new addresses) after the AWS deploy: the customer gateways
    # point nowhere, so wiring Azure now would leave every tunnel down.
    with pytest.raises(VpnLinkError, match=r"\(stale\): run `skyrelay link` then `cdk deploy`"):
        _tunnels(azure_ips=["20.61.10.9", "20.61.10.2"])


def test_step_4_with_a_deleted_connection_is_stale() -> None:
    describe = _load("describe_vpn_connections.json")
    describe["VpnConnections"][1]["State"] = "deleted"
    with pytest.raises(VpnLinkError, match="vpn-0a1b2c3d4e5f60002 is deleted"):
        _tunnels(describe)


def test_step_4_with_a_tunnel_missing_from_ec2_names_it() -> None:
    describe = _load("describe_vpn_connections.json")
    describe["VpnConnections"][0]["Options"]["TunnelOptions"].pop()
    with pytest.raises(VpnLinkError, match="no tunnel with inside CIDR 169.254.21.0/30"):
        _tunnels(describe)


@pytest.mark.parametrize("missing", ["VpnConnectionIds", "VpnKeySecretArns"])
def test_step_4_before_cdk_deploy_reports_the_missing_output(missing: str) -> None:
    outputs = copy.deepcopy(_load("cdk_outputs.json")[STACK])
    del outputs[missing]
    with pytest.raises(VpnLinkError, match=f"{STACK}.{missing} is missing"):
        AwsVpnOutputs.from_stack_outputs(outputs, STACK)
    with pytest.raises(VpnLinkError, match="run `cdk deploy`"):
        AwsVpnOutputs.from_stack_outputs(None, STACK)


def test_keys_go_to_pulumi_as_secrets_on_stdin_only() -> None:
    tunnels = _tunnels()
    values = {t.key_arn: f"Key{t.instance}{t.tunnel}.generated_by_secrets_manager"
              for t in tunnels}
    client = SecretsManagerStandIn(values)
    settings = secret_settings(
        "contoso-eu", tunnels,
        lambda arn: client.get_secret_value(SecretId=arn)["SecretString"], stack="prod")
    assert [c["SecretId"] for c in client.calls] == [t.key_arn for t in tunnels]
    assert [s.key for s in settings] == [secret_config_key("contoso-eu", "eu-west-1", i, t)
                                         for i in (0, 1) for t in (0, 1)]
    for setting, tunnel in zip(settings, tunnels, strict=True):
        assert setting.stdin == values[tunnel.key_arn]
        assert setting.argv[:5] == ("pulumi", "config", "set", "--secret", "--stack")
        assert setting.stdin not in " ".join(setting.argv) and setting.stdin not in repr(setting)


def test_a_secret_aws_would_refuse_as_a_key_is_reported() -> None:
    tunnels = _tunnels()[:1]
    with pytest.raises(VpnLinkError, match="not a key AWS accepts"):
        secret_settings("contoso-eu", tunnels, lambda arn: "0startsWithZero", stack="prod")
