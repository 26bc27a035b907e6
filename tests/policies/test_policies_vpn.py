"""SKY-AWS-013/014/015: the rules that keep the private path private, on careless templates
and through the cdk-nag pack (enforced at cdk synth)."""

from __future__ import annotations

from typing import Any

import pytest
from vpn_platform import private_vpn_spec

from skyrelay.policies.aws_vpn_rules import (
    check_vpn_bgp,
    check_vpn_coverage,
    check_vpn_keys,
    is_dynamic_reference,
)

REF = {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": "Key1"}, ":SecretString:::}}"]]}


def _template(**props: Any) -> dict[str, Any]:
    base = {"StaticRoutesOnly": False, "VpnTunnelOptionsSpecifications": [
        {"PreSharedKey": REF}, {"PreSharedKey": "{{resolve:secretsmanager:k2:SecretString:::}}"}]}
    return {"Resources": {"Conn": {"Type": "AWS::EC2::VPNConnection",
                                   "Properties": {**base, **props}}}}


def test_a_bgp_connection_with_referenced_keys_passes() -> None:
    assert check_vpn_bgp(_template(), "s") == [] and check_vpn_keys(_template(), "s") == []


@pytest.mark.parametrize("props", [{"StaticRoutesOnly": True}, {"StaticRoutesOnly": None},
                                   {"VpnTunnelOptionsSpecifications": [{"PreSharedKey": REF}]}])
def test_static_routing_or_one_tunnel_is_sky_aws_013(props: dict[str, Any]) -> None:
    found = check_vpn_bgp(_template(**props), "s")
    assert [(v.rule, v.resource) for v in found] == [("SKY-AWS-013", "s/Conn")]


@pytest.mark.parametrize("key", ["abcdefgh.literal", None,
                                 {"Fn::Join": ["", ["abc", {"Ref": "X"}]]},
                                 "{{resolve:ssm:param}}"])
def test_a_key_that_is_not_a_secrets_manager_reference_is_sky_aws_014(key: Any) -> None:
    tunnels = [{"PreSharedKey": REF}, {} if key is None else {"PreSharedKey": key}]
    found = check_vpn_keys(_template(VpnTunnelOptionsSpecifications=tunnels), "s")
    assert [(v.rule, v.resource) for v in found] == [("SKY-AWS-014", "s/Conn")]
    assert "tunnel 2" in found[0].message
    if isinstance(key, str):
        assert key not in found[0].message  # a literal key is never echoed


def test_dynamic_reference_shapes() -> None:
    assert is_dynamic_reference(REF)
    assert not is_dynamic_reference({"Fn::Join": ["", ["{{resolve:secretsmanager:", "a}}",
                                                       "{{x", "}}"]]})


def test_every_gateway_region_needs_its_vpn_stack_sky_aws_015() -> None:
    spec = private_vpn_spec()
    ok = {f"acme-ai-{r}-vpn": {"Resources": {**_template()["Resources"], "Conn2": _template()[
        "Resources"]["Conn"]}} for r in ("us-east-1", "eu-central-1")}
    assert check_vpn_coverage(spec, ok) == []
    missing = {"acme-ai-us-east-1-vpn": ok["acme-ai-us-east-1-vpn"],
               "acme-ai-eu-central-1-vpn": _template()}
    found = check_vpn_coverage(spec, missing)
    assert [(v.rule, v.resource) for v in found] == [("SKY-AWS-015", "acme-ai-eu-central-1-vpn")]
    found = check_vpn_coverage(spec, {})
    assert [v.resource for v in found] == ["acme-ai-us-east-1-vpn", "acme-ai-eu-central-1-vpn"]
    assert "skyrelay link" in found[0].message


def test_no_private_account_no_coverage_rule(default_spec: Any) -> None:
    assert check_vpn_coverage(default_spec, {}) == []


def test_the_nag_pack_flags_a_careless_connection_at_synth() -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2

    from skyrelay.policies.nag_pack import SkyrelayChecks

    app = cdk.App()
    stack = cdk.Stack(app, "Careless")
    ec2.CfnVPNConnection(stack, "Vpn", type="ipsec.1", customer_gateway_id="cgw-1",
                         vpn_gateway_id="vgw-1", static_routes_only=True,
                         vpn_tunnel_options_specifications=[
                             ec2.CfnVPNConnection.VpnTunnelOptionsSpecificationProperty(
                                 pre_shared_key="literal.key.in.template")])
    report = SkyrelayChecks(app).validate_scope(app)
    found = {v.rule_name: [r.construct_path for r in v.violating_resources]
             for v in report.violations}
    assert found == {"Skyrelay-SKY-AWS-013": ["Careless/Vpn"],
                     "Skyrelay-SKY-AWS-014": ["Careless/Vpn"]}
